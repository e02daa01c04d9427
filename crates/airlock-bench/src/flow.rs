//! Message scenarios: fan-in, fan-out and publisher/subscriber pairs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use airlock_mqtt::{Packet, Properties, PubAck, QoS, decode, encode};
use anyhow::{Result, anyhow, bail};
use bytes::BytesMut;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::sync::{Notify, watch};

use crate::conn::{Conn, READ_BUF, Stream, Target, Template, now_ns, parse_stamp};
use crate::procfs::{Usage, round3};

/// Which topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// N publishers, one subscriber to all of them.
    FanIn,
    /// One publisher, N subscribers to its topic.
    FanOut,
    /// N publishers each with its own subscriber on a distinct topic.
    Pairs,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::FanIn => "fan-in",
            Shape::FanOut => "fan-out",
            Shape::Pairs => "pairs",
        }
    }
}

/// Parameters of a message scenario.
#[derive(Debug, Clone)]
pub struct FlowParams {
    pub shape: Shape,
    pub clients: usize,
    pub qos: QoS,
    pub payload: usize,
    /// Total publish rate, msg/s; `None` = as fast as possible (closed loop).
    pub rate: Option<f64>,
    /// QoS 1: unacknowledged PUBLISHes per publisher.
    pub window: usize,
    /// Most messages encoded into one write.
    pub batch: usize,
    /// Closed loop: most deliveries still due (published × subscribers per message, less
    /// received), over all publishers; keeps broker queues short so the figure is sustainable
    /// throughput rather than the rate at which a broker can queue.
    pub max_outstanding: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub drain: Duration,
    pub broker_pid: Option<u32>,
    pub connect_concurrency: usize,
}

/// Counters shared by all tasks; each task adds its local counts once per batch.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    sent_in_window: AtomicU64,
    received: AtomicU64,
    /// Received with a send timestamp inside the measurement window (matches `sent_in_window`).
    received_of_window: AtomicU64,
    /// Received while the wall clock was inside the window (arrival rate).
    arrived_in_window: AtomicU64,
    acked: AtomicU64,
    errors: std::sync::Mutex<Vec<String>>,
}

impl Counters {
    fn error(&self, e: impl std::fmt::Display) {
        let mut v = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < 20 {
            v.push(e.to_string());
        }
    }
}

/// The measurement window on the [`now_ns`] clock: messages stamped in [start, end) count.
#[derive(Clone, Copy)]
struct Window {
    start: u64,
    end: u64,
}

impl Window {
    fn contains(&self, t: u64) -> bool {
        t >= self.start && t < self.end
    }
}

/// Connect `n` clients with at most `conc` handshakes at a time.
async fn connect_many(target: &Target, prefix: &str, n: usize, conc: usize) -> Result<Vec<Conn>> {
    let mut out = Vec::with_capacity(n);
    let conc = conc.max(1);
    let mut i = 0;
    while i < n {
        let mut set = tokio::task::JoinSet::new();
        for j in i..(i + conc).min(n) {
            let t = target.clone();
            let id = format!("{prefix}-{j}");
            set.spawn(async move { (j, t.connect(&id, None).await) });
        }
        let mut batch = Vec::new();
        while let Some(r) = set.join_next().await {
            let (j, c) = r.map_err(|e| anyhow!("connect task: {e}"))?;
            batch.push((j, c?));
        }
        batch.sort_by_key(|(j, _)| *j);
        out.extend(batch.into_iter().map(|(_, c)| c));
        i += conc;
    }
    Ok(out)
}

/// Run one message scenario; returns the result object.
pub async fn run(target: Target, p: FlowParams, label: &str) -> Result<serde_json::Value> {
    if p.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if p.qos == QoS::ExactlyOnce {
        bail!("QoS 2 is not supported by the load generator");
    }
    let run_id = format!("{:x}", now_ns() ^ u64::from(std::process::id()) << 20);
    let prefix = format!("bench/{run_id}");
    let (npub, nsub) = match p.shape {
        Shape::FanIn => (p.clients, 1),
        Shape::FanOut => (1, p.clients),
        Shape::Pairs => (p.clients, p.clients),
    };
    let fanout = match p.shape {
        Shape::FanOut => p.clients as u64,
        _ => 1,
    };
    let pub_topic = |i: usize| match p.shape {
        Shape::FanIn | Shape::Pairs => format!("{prefix}/t/{i}"),
        Shape::FanOut => format!("{prefix}/t/0"),
    };
    let sub_filter = |i: usize| match p.shape {
        Shape::FanIn => format!("{prefix}/t/+"),
        Shape::FanOut => format!("{prefix}/t/0"),
        Shape::Pairs => format!("{prefix}/t/{i}"),
    };

    // Subscribers first, each with a granted subscription, then the publishers.
    let mut subs = connect_many(
        &target,
        &format!("bs-{run_id}"),
        nsub,
        p.connect_concurrency,
    )
    .await?;
    for (i, s) in subs.iter_mut().enumerate() {
        s.subscribe(&sub_filter(i), p.qos).await?;
    }
    let pubs = connect_many(
        &target,
        &format!("bp-{run_id}"),
        npub,
        p.connect_concurrency,
    )
    .await?;

    let counters = Arc::new(Counters::default());
    let t0 = now_ns();
    let win = Window {
        start: t0 + p.warmup.as_nanos() as u64,
        end: t0 + (p.warmup + p.duration).as_nanos() as u64,
    };
    let (stop_tx, stop_rx) = watch::channel(false);

    let mut sub_tasks = Vec::new();
    for s in subs {
        let c = counters.clone();
        let rx = stop_rx.clone();
        sub_tasks.push(tokio::spawn(subscriber(s, c, win, rx)));
    }
    let per_pub_rate = p.rate.map(|r| r / npub as f64);
    let mut pub_tasks = Vec::new();
    for (i, conn) in pubs.into_iter().enumerate() {
        let tpl = Template::new(&pub_topic(i), p.qos, p.payload, target.version)?;
        let c = counters.clone();
        let rx = stop_rx.clone();
        let prm = p.clone();
        pub_tasks.push(tokio::spawn(publisher(
            conn,
            tpl,
            prm,
            Pace {
                rate: per_pub_rate,
                fanout,
            },
            c,
            win,
            rx,
        )));
    }

    // Progress once per second on stderr, until the drain is over.
    let progress = {
        let c = counters.clone();
        let label = format!("{label} {}", p.shape.name());
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let mut last = (0, 0);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            for sec in 1u64..=86_400 {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = rx.changed() => return,
                }
                let now = (c.sent.load(Relaxed), c.received.load(Relaxed));
                let phase = match now_ns() {
                    t if t < win.start => "warmup",
                    t if t < win.end => "measure",
                    _ => "drain",
                };
                eprintln!(
                    "[{label}] {sec:>3}s {phase:<7} sent {:>9}/s  recv {:>9}/s  (total sent {} recv {})",
                    now.0 - last.0,
                    now.1 - last.1,
                    now.0,
                    now.1
                );
                last = now;
            }
        })
    };

    // Broker / own CPU over exactly the measurement window.
    sleep_until_ns(win.start).await;
    let usage = Usage::start(p.broker_pid);
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let u = usage.clone();
        let peak = rss_peak.clone();
        tokio::spawn(async move {
            while now_ns() < win.end {
                if let Some(r) = u.broker_rss_kib() {
                    peak.fetch_max(r, Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    sleep_until_ns(win.end).await;
    let usage_json = usage.finish();
    let _ = sampler.await;

    // Publishers stop on their own at the end of the window (bounded by their write timeout).
    for t in pub_tasks {
        match tokio::time::timeout(Duration::from_secs(35), t).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => counters.error(format!("publisher: {e:#}")),
            Ok(Err(e)) => counters.error(format!("publisher task: {e}")),
            Err(_) => counters.error("publisher did not stop within 35 s"),
        }
    }
    let expected = counters.sent_in_window.load(Relaxed) * fanout;
    let drain_deadline = tokio::time::Instant::now() + p.drain;
    while counters.received_of_window.load(Relaxed) < expected
        && tokio::time::Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let _ = progress.await;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    for t in sub_tasks {
        match tokio::time::timeout(Duration::from_secs(10), t).await {
            Ok(Ok(Ok(h))) => hist.add(&h)?,
            Ok(Ok(Err(e))) => counters.error(format!("subscriber: {e:#}")),
            Ok(Err(e)) => counters.error(format!("subscriber task: {e}")),
            Err(_) => counters.error("subscriber did not stop within 10 s"),
        }
    }

    let secs = p.duration.as_secs_f64();
    let sent_w = counters.sent_in_window.load(Relaxed);
    let recv_w = counters.received_of_window.load(Relaxed);
    let lost = expected.saturating_sub(recv_w);
    let us = |q: f64| round3(hist.value_at_quantile(q) as f64 / 1000.0);
    let errors = counters
        .errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut r = serde_json::json!({
        "scenario": p.shape.name(),
        "label": label,
        "params": {
            "publishers": npub, "subscribers": nsub, "qos": p.qos as u8, "payload_bytes": p.payload.max(16),
            "rate": p.rate, "window": p.window, "batch": p.batch, "max_outstanding": p.max_outstanding,
            "warmup_s": p.warmup.as_secs_f64(), "duration_s": secs, "drain_s": p.drain.as_secs_f64(),
            "tls": target.tls.is_some(), "mqtt": format!("{:?}", target.version),
        },
        "sent": sent_w,
        "sent_per_s": round3(sent_w as f64 / secs),
        "expected": expected,
        "received": recv_w,
        "received_per_s": round3(counters.arrived_in_window.load(Relaxed) as f64 / secs),
        "lost": lost,
        "loss_pct": round3(if expected == 0 { 0.0 } else { 100.0 * lost as f64 / expected as f64 }),
        "extra": recv_w.saturating_sub(expected),
        "latency_us": {
            "count": hist.len(),
            "p50": us(0.5), "p90": us(0.9), "p99": us(0.99), "p999": us(0.999),
            "max": round3(hist.max() as f64 / 1000.0), "mean": round3(hist.mean() / 1000.0),
        },
        "errors": errors,
    });
    let obj = r.as_object_mut().expect("object");
    if let serde_json::Value::Object(u) = usage_json {
        obj.extend(u);
    }
    let sampled = rss_peak.load(Relaxed);
    obj.insert(
        "broker_rss_sampled_peak_kib".into(),
        if sampled > 0 {
            sampled.into()
        } else {
            serde_json::Value::Null
        },
    );
    Ok(r)
}

async fn sleep_until_ns(t: u64) {
    let now = now_ns();
    if t > now {
        tokio::time::sleep(Duration::from_nanos(t - now)).await;
    }
}

/// Read, decode and time every PUBLISH until told to stop; PUBACKs QoS 1 (one write per read).
async fn subscriber(
    mut c: Conn,
    counters: Arc<Counters>,
    win: Window,
    mut stop: watch::Receiver<bool>,
) -> Result<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    let mut buf = std::mem::take(&mut c.buf);
    buf.reserve(READ_BUF);
    let mut acks = BytesMut::with_capacity(16 * 1024);
    // Bounded by the stop signal, which the scenario always sends after its drain.
    loop {
        if buf.capacity() - buf.len() < READ_BUF / 4 {
            buf.reserve(READ_BUF);
        }
        let n = tokio::select! {
            r = c.io.read_buf(&mut buf) => r?,
            _ = stop.changed() => break,
        };
        if n == 0 {
            bail!("connection closed by the broker");
        }
        let now = now_ns();
        let (mut got, mut of_win) = (0u64, 0u64);
        while let Some(pkt) = decode(&mut buf, c.version, usize::MAX)
            .map_err(|e| anyhow!("undecodable bytes from the broker: {e:?}"))?
        {
            let Packet::Publish(publish) = pkt else {
                continue;
            };
            got += 1;
            if let Some((ts, _seq)) = parse_stamp(&publish.payload)
                && win.contains(ts)
            {
                of_win += 1;
                let _ = hist.record(now.saturating_sub(ts).max(1));
            }
            if let Some(pid) = publish.packet_id {
                let ack = Packet::PubAck(PubAck {
                    packet_id: pid,
                    reason: 0,
                    properties: Properties::default(),
                });
                encode(&ack, c.version, &mut acks).map_err(|e| anyhow!("encode: {e:?}"))?;
            }
        }
        counters.received.fetch_add(got, Relaxed);
        counters.received_of_window.fetch_add(of_win, Relaxed);
        if win.contains(now) {
            counters.arrived_in_window.fetch_add(got, Relaxed);
        }
        if !acks.is_empty() {
            c.io.write_all(&acks).await?;
            c.io.flush().await?;
            acks.clear();
        }
    }
    c.disconnect().await;
    Ok(hist)
}

/// A publisher's own rate (open loop) and the subscribers each message goes to.
#[derive(Clone, Copy)]
struct Pace {
    rate: Option<f64>,
    fanout: u64,
}

/// Publish until the window ends: closed loop (as fast as the socket / QoS 1 window allow)
/// or open loop at `rate` msg/s.
async fn publisher(
    c: Conn,
    tpl: Template,
    p: FlowParams,
    pace: Pace,
    counters: Arc<Counters>,
    win: Window,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let Pace { rate, fanout } = pace;
    let version = c.version;
    let leftover = c.buf;
    let (rd, mut wr) = tokio::io::split(c.io);
    let acked = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let reader = tokio::spawn(ack_reader(
        rd,
        leftover,
        version,
        acked.clone(),
        notify.clone(),
        counters.clone(),
        stop,
    ));
    let qos1 = p.qos == QoS::AtLeastOnce;
    let window = p.window.clamp(1, 32_768) as u64;
    // Keep one write near 64 KiB.
    let batch = p.batch.clamp(1, (64 * 1024 / tpl.len()).max(1)) as u64;
    let mut out = BytesMut::with_capacity((batch as usize + 1) * tpl.len());
    let started = now_ns();
    let mut seq: u64 = 0;
    let write_timeout = Duration::from_secs(30);
    let result: Result<()> = async {
        loop {
            let now = now_ns();
            if now >= win.end {
                break;
            }
            let mut allowed = batch;
            if let Some(r) = rate {
                let due = ((now - started) as f64 * r / 1e9) as u64;
                allowed = allowed.min(due.saturating_sub(seq));
            } else {
                // In deliveries: each publish is due at `fanout` subscribers.
                let outstanding = (counters.sent.load(Relaxed) * fanout)
                    .saturating_sub(counters.received.load(Relaxed));
                let max_out = p.max_outstanding.max(fanout);
                allowed = allowed.min(max_out.saturating_sub(outstanding) / fanout);
            }
            if qos1 {
                let inflight = seq - acked.load(Relaxed);
                allowed = allowed.min(window.saturating_sub(inflight));
            }
            if allowed == 0 {
                if qos1 && seq - acked.load(Relaxed) >= window {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(50), notify.notified()).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                continue;
            }
            out.clear();
            let (mut in_win, mut n) = (0u64, 0u64);
            for _ in 0..allowed {
                let ts = now_ns();
                if ts >= win.end {
                    break;
                }
                seq += 1;
                let pid = (seq % 65_535) as u16 + 1;
                tpl.write(&mut out, pid, ts, seq);
                n += 1;
                if win.contains(ts) {
                    in_win += 1;
                }
            }
            if n == 0 {
                break;
            }
            tokio::time::timeout(write_timeout, async {
                wr.write_all(&out).await?;
                wr.flush().await
            })
            .await
            .map_err(|_| anyhow!("write blocked for {write_timeout:?}"))??;
            counters.sent.fetch_add(n, Relaxed);
            counters.sent_in_window.fetch_add(in_win, Relaxed);
        }
        // QoS 1: wait (bounded) for the outstanding PUBACKs before disconnecting.
        if qos1 {
            let deadline = tokio::time::Instant::now() + p.drain;
            while acked.load(Relaxed) < seq && tokio::time::Instant::now() < deadline {
                let _ = tokio::time::timeout(Duration::from_millis(50), notify.notified()).await;
            }
        }
        Ok(())
    }
    .await;
    // Normal DISCONNECT on the write half; the reader ends at the close or the stop signal.
    let mut d = BytesMut::new();
    let _ = encode(
        &Packet::Disconnect(airlock_mqtt::Disconnect {
            reason: 0,
            properties: Properties::default(),
        }),
        version,
        &mut d,
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = wr.write_all(&d).await;
        let _ = wr.flush().await;
        let _ = wr.shutdown().await;
    })
    .await;
    drop(wr);
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    result
}

/// Count PUBACKs (and anything else the broker sends a publisher).
async fn ack_reader(
    mut rd: ReadHalf<Stream>,
    mut buf: BytesMut,
    version: airlock_mqtt::ProtocolVersion,
    acked: Arc<AtomicU64>,
    notify: Arc<Notify>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        buf.reserve(64 * 1024);
        let n = tokio::select! {
            r = rd.read_buf(&mut buf) => r,
            _ = stop.changed() => return,
        };
        match n {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut k = 0;
        loop {
            match decode(&mut buf, version, usize::MAX) {
                Ok(Some(Packet::PubAck(a))) => {
                    if a.reason >= 0x80 {
                        counters.error(format!("PUBACK reason 0x{:02X}", a.reason));
                    }
                    k += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    counters.error(format!("publisher: undecodable bytes: {e:?}"));
                    return;
                }
            }
        }
        if k > 0 {
            acked.fetch_add(k, Relaxed);
            counters.acked.fetch_add(k, Relaxed);
            notify.notify_one();
        }
    }
}
