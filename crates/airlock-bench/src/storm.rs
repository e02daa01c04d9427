//! Connect storm: M complete MQTT-over-mTLS connections as fast as C workers can make them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;

use crate::conn::{Target, now_ns, source_ip};
use crate::procfs::{Usage, round3};

/// Parameters of the connect storm.
#[derive(Debug, Clone)]
pub struct StormParams {
    pub connections: u64,
    pub concurrency: usize,
    /// Stop starting new connections after this long.
    pub max_time: Duration,
    /// Spread connections over this many loopback source addresses (0: let the kernel choose).
    pub source_ips: usize,
    pub broker_pid: Option<u32>,
}

/// Run the storm; returns the result object.
pub async fn run(target: Target, p: StormParams, label: &str) -> Result<serde_json::Value> {
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let deadline = started + p.max_time;
    let usage = Usage::start(p.broker_pid);
    let run_id = format!("{:x}", now_ns());

    let progress = {
        let (ok, failed) = (ok.clone(), failed.clone());
        let label = label.to_string();
        tokio::spawn(async move {
            let mut last = 0;
            for sec in 1u64..=86_400 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = ok.load(Relaxed);
                eprintln!(
                    "[{label} connect-storm] {sec:>3}s {:>6} conn/s  (total ok {now} failed {})",
                    now - last,
                    failed.load(Relaxed)
                );
                last = now;
            }
        })
    };

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..p.concurrency.max(1) {
        let (target, next, ok, failed, errors) = (
            target.clone(),
            next.clone(),
            ok.clone(),
            failed.clone(),
            errors.clone(),
        );
        let run_id = run_id.clone();
        let (m, nips) = (p.connections, p.source_ips);
        workers.spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3).expect("bounds");
            // Bounded by the connection count and by the deadline.
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= m || Instant::now() >= deadline {
                    return hist;
                }
                let src = (nips > 0).then(|| source_ip(i as usize % nips));
                let t0 = Instant::now();
                match target.connect(&format!("st-{run_id}-{i}"), src).await {
                    Ok(c) => {
                        let _ = hist.record(t0.elapsed().as_nanos().max(1) as u64);
                        ok.fetch_add(1, Relaxed);
                        c.disconnect().await;
                    }
                    Err(e) => {
                        failed.fetch_add(1, Relaxed);
                        let mut v = errors.lock().unwrap_or_else(|p| p.into_inner());
                        if v.len() < 20 {
                            v.push(format!("{e:#}"));
                        }
                    }
                }
            }
        });
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3)?;
    while let Some(h) = workers.join_next().await {
        hist.add(&h?)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    progress.abort();
    let (ok, failed) = (ok.load(Relaxed), failed.load(Relaxed));
    let us = |q: f64| round3(hist.value_at_quantile(q) as f64 / 1000.0);
    let mut r = serde_json::json!({
        "scenario": "connect-storm",
        "label": label,
        "params": {
            "connections": p.connections, "concurrency": p.concurrency, "max_time_s": p.max_time.as_secs_f64(),
            "source_ips": p.source_ips, "tls": target.tls.is_some(),
        },
        "attempted": ok + failed,
        "ok": ok,
        "failed": failed,
        "elapsed_s": round3(elapsed),
        "handshakes_per_s": round3(ok as f64 / elapsed.max(1e-9)),
        "connect_latency_us": {
            "p50": us(0.5), "p90": us(0.9), "p99": us(0.99), "p999": us(0.999),
            "max": round3(hist.max() as f64 / 1000.0),
        },
        "errors": errors.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    });
    if let (Some(obj), serde_json::Value::Object(u)) = (r.as_object_mut(), usage.finish()) {
        obj.extend(u);
    }
    Ok(r)
}
