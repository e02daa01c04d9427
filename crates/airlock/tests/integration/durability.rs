//! Crash and restart: what the broker acknowledged survives `kill -9`, retained messages and
//! persistent subscriptions survive, and SIGTERM is a clean, announced shutdown.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{Connect, Packet, ProtocolVersion, QoS};
use tokio::time::Instant;

use crate::harness::{
    Airlock, Device, RawMqtt, Rx, assert_serving, connect_packet, expiring_connect, puback,
    publish_packet,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;
/// Publishes the stream may carry at most; the crash comes long before.
const STREAM_MAX: u32 = 20_000;
/// QoS 1 publishes in flight (below the broker's Receive Maximum of 100).
const WINDOW: u32 = 32;
/// Acknowledgements to collect before the crash.
const ACKS_BEFORE_CRASH: usize = 400;
/// Room for every message of the stream in the offline session's queue.
const CONFIG: &str = "[mqtt]\nmax_queued_messages = 100000\n";

fn block<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Publish `stream/n` QoS 1 with payload `n` for n = 1, 2, ... (packet id n), `WINDOW` at a
/// time, recording every n whose PUBACK arrived, until the connection breaks.
async fn run_stream(mut c: RawMqtt, acked: Arc<Mutex<Vec<u32>>>) -> u32 {
    let mut next = 1u32;
    let mut inflight = 0u32;
    loop {
        while inflight < WINDOW && next <= STREAM_MAX {
            let topic = format!("stream/{}", next % 7);
            let payload = next.to_string();
            let p = publish_packet(
                &topic,
                payload.as_bytes(),
                QoS::AtLeastOnce,
                next as u16,
                false,
            );
            if c.try_send(&p).await.is_err() {
                return next - 1;
            }
            next += 1;
            inflight += 1;
        }
        if inflight == 0 {
            return next - 1;
        }
        match c.recv(Duration::from_secs(30)).await {
            Rx::Packet(Packet::PubAck(a)) => {
                assert_eq!(a.reason, rc::SUCCESS, "negative PUBACK {a:?}");
                acked.lock().unwrap().push(u32::from(a.packet_id));
                inflight -= 1;
            }
            Rx::Packet(other) => panic!("publisher got {other:?}"),
            Rx::Closed | Rx::Error(_) => return next - 1,
            Rx::Timeout => panic!("publisher: no PUBACK for 30 s with {inflight} in flight"),
        }
    }
}

/// Read the stream as `c` delivers it (acking QoS 1), until `silence` passes without a
/// message or the connection closes. Returns whether it closed.
async fn collect(c: &mut RawMqtt, got: &Mutex<Vec<u32>>, silence: Duration) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        match c.recv(silence).await {
            Rx::Packet(Packet::Publish(p)) => {
                let seq: u32 = std::str::from_utf8(&p.payload)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected payload {:?} on {}", p.payload, p.topic));
                assert!(p.topic.starts_with("stream/"), "{}", p.topic);
                got.lock().unwrap().push(seq);
                if let Some(pid) = p.packet_id
                    && c.try_send(&puback(pid)).await.is_err()
                {
                    return true;
                }
            }
            Rx::Packet(_) => {}
            Rx::Timeout => return false,
            Rx::Closed | Rx::Error(_) => return true,
        }
    }
    panic!("the stream did not go quiet within 120 s");
}

/// Start the publisher, wait for `ACKS_BEFORE_CRASH` acknowledgements, `kill -9`, restart.
/// Returns the acknowledged sequence numbers.
async fn stream_and_crash(a: &mut Airlock, dev: &Device) -> BTreeSet<u32> {
    let publisher = RawMqtt::client(a, dev, V5, "stream-pub").await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let task = tokio::spawn(run_stream(publisher, acked.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < ACKS_BEFORE_CRASH {
        assert!(
            Instant::now() < deadline,
            "only {} PUBACKs in 60 s",
            acked.lock().unwrap().len()
        );
        assert!(!task.is_finished(), "publisher ended early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    block(|| a.kill9());
    let sent = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("publisher did not notice the crash")
        .expect("publisher task");
    let acked: BTreeSet<u32> = acked.lock().unwrap().iter().copied().collect();
    assert!(sent < STREAM_MAX, "the stream finished before the crash");
    assert!(acked.len() >= ACKS_BEFORE_CRASH);
    eprintln!(
        "crash: {sent} published, {} acknowledged before kill -9",
        acked.len()
    );
    block(|| a.spawn());
    acked
}

fn assert_all_delivered(acked: &BTreeSet<u32>, got: &[u32]) {
    let got_set: BTreeSet<u32> = got.iter().copied().collect();
    let missing: Vec<u32> = acked.difference(&got_set).copied().collect();
    eprintln!(
        "acknowledged {}, received {} ({} distinct, {} duplicates, {} never acknowledged), missing {}",
        acked.len(),
        got.len(),
        got_set.len(),
        got.len() - got_set.len(),
        got_set.difference(acked).count(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost across kill -9, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}

/// Connect `connect` (a persistent session) and subscribe it to `filter` at QoS 1.
async fn persistent_subscriber(
    a: &Airlock,
    dev: &Device,
    connect: Connect,
    filter: &str,
) -> RawMqtt {
    let (mut c, _) = RawMqtt::connect_ok(a, dev, connect).await;
    c.subscribe(1, filter, QoS::AtLeastOnce).await; // granted QoS 1
    c
}

/// Reconnect with `connect` (clean start off) after a crash: CONNACK success with the
/// session present.
async fn resume_after_crash(a: &Airlock, dev: &Device, connect: Connect) -> RawMqtt {
    let (c, ack) = RawMqtt::connect_ok(a, dev, connect).await;
    assert!(
        ack.session_present,
        "persistent session lost across kill -9"
    );
    c
}

/// After the restart: resume the subscriber's session with `connect`, read until the stream
/// goes quiet (adding to `got`), and check every acknowledged message arrived at some point.
async fn resume_and_assert_all_delivered(
    a: &mut Airlock,
    dev: &Device,
    connect: Connect,
    acked: &BTreeSet<u32>,
    got: &Mutex<Vec<u32>>,
) {
    let mut sub = resume_after_crash(a, dev, connect).await;
    let closed = collect(&mut sub, got, Duration::from_secs(3)).await;
    assert!(!closed, "broker closed the resumed session");
    assert_all_delivered(acked, &got.lock().unwrap());
    sub.disconnect().await;
    assert_serving(a, dev).await;
}

/// A fresh subscriber `id` on `cfg/#` gets exactly the retained (`topic`, `payload`) first.
async fn assert_retained(a: &Airlock, dev: &Device, id: &str, topic: &str, payload: &[u8]) {
    let mut n = RawMqtt::client(a, dev, V5, id).await;
    n.subscribe(1, "cfg/#", QoS::AtLeastOnce).await; // granted QoS 1
    let m = n.expect_publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.retain),
        (topic, payload, true)
    );
    n.disconnect().await;
}

/// THE crash test: a persistent QoS 1 subscriber is offline while a QoS 1 stream is
/// acknowledged; kill -9 mid-stream; after restart the subscriber gets every acknowledged
/// message (duplicates allowed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_message_for_offline_subscriber() {
    let mut a = Airlock::start(CONFIG);
    let dev = a.device("durable");
    let connect = || connect_packet(V311, "durable-sub", false);
    let mut sub = persistent_subscriber(&a, &dev, connect(), "stream/#").await;
    sub.disconnect().await;

    let acked = stream_and_crash(&mut a, &dev).await;
    assert!(!acked.is_empty());

    let got = Mutex::new(Vec::new());
    resume_and_assert_all_delivered(&mut a, &dev, connect(), &acked, &got).await;
}

/// The same with the subscriber online during the stream: what it did not receive (and ack)
/// before the crash it receives after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_message_for_online_subscriber() {
    let mut a = Airlock::start(CONFIG);
    let dev = a.device("durable-on");
    let connect = |clean| expiring_connect("durable-sub", clean, 3600);
    let mut sub = persistent_subscriber(&a, &dev, connect(true), "stream/#").await;
    let got = Arc::new(Mutex::new(Vec::new()));
    let live = {
        let got = got.clone();
        tokio::spawn(async move {
            // Silence far longer than the test: this ends when the broker dies.
            let closed = collect(&mut sub, &got, Duration::from_secs(60)).await;
            assert!(
                closed,
                "live subscriber went quiet without the broker closing"
            );
        })
    };

    let acked = stream_and_crash(&mut a, &dev).await;
    tokio::time::timeout(Duration::from_secs(30), live)
        .await
        .expect("live subscriber did not notice the crash")
        .expect("live subscriber");
    let live_count = got.lock().unwrap().len();
    eprintln!("live subscriber received {live_count} before the crash");

    resume_and_assert_all_delivered(&mut a, &dev, connect(false), &acked, &got).await;
}

/// A retained message and a persistent session's subscription survive kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_and_subscriptions_survive_kill9() {
    let mut a = Airlock::start("");
    let dev = a.device("keep");
    let mut p = RawMqtt::client(&a, &dev, V5, "keep-pub").await;
    p.publish_qos1("cfg/device-1", b"retained-v1", 1, true)
        .await;
    p.disconnect().await;

    let connect = |clean| expiring_connect("keep-sub", clean, 3600);
    let mut s = persistent_subscriber(&a, &dev, connect(true), "alerts/#").await;
    s.disconnect().await;

    block(|| a.kill9());
    block(|| a.spawn());

    // A new subscriber gets the retained message.
    assert_retained(&a, &dev, "keep-new", "cfg/device-1", b"retained-v1").await;

    // The persistent subscription still routes: publish while the session is offline...
    let mut p = RawMqtt::client(&a, &dev, V5, "keep-pub").await;
    p.publish_qos1("alerts/fire", b"after-restart", 2, false)
        .await;
    p.disconnect().await;
    // ...and the resumed session receives it.
    let mut s = resume_after_crash(&a, &dev, connect(false)).await;
    let m = s.expect_publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("alerts/fire", &b"after-restart"[..])
    );
    if let Some(pid) = m.packet_id {
        s.puback(pid).await;
    }
    s.disconnect().await;
    assert_serving(&mut a, &dev).await;
}

/// SIGTERM: connected v5 clients get DISCONNECT 0x8B, the process exits 0, and a restart
/// finds the state intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_disconnects_with_0x8b_and_keeps_state() {
    let mut a = Airlock::start("");
    let dev = a.device("term");
    let mut p = RawMqtt::client(&a, &dev, V5, "term-pub").await;
    p.publish_qos1("cfg/term", b"before-sigterm", 1, true).await;
    p.disconnect().await;

    let mut c = RawMqtt::client(&a, &dev, V5, "term-client").await;
    let mut old = RawMqtt::client(&a, &dev, V311, "term-311").await;

    let clean = block(|| a.sigterm());
    assert!(
        clean,
        "SIGTERM did not end in exit status 0; log:\n{}",
        a.log()
    );
    c.expect_close(Some(rc::SERVER_SHUTTING_DOWN)).await;
    // 3.1.1 has no server DISCONNECT: just closed.
    old.expect_close(None).await;

    block(|| a.spawn());
    assert_retained(&a, &dev, "term-new", "cfg/term", b"before-sigterm").await;
    assert_serving(&mut a, &dev).await;
}
