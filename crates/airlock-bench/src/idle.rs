//! Idle connections: hold K MQTT-over-mTLS connections and read the broker's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::conn::{Conn, Target, now_ns, source_ip};
use crate::procfs::{Usage, round3};

/// Parameters of the idle scenario.
#[derive(Debug, Clone)]
pub struct IdleParams {
    pub connections: u64,
    pub concurrency: usize,
    /// Give up connecting after this long.
    pub max_setup: Duration,
    /// Hold the connections this long after they are all up.
    pub hold: Duration,
    /// Connections per loopback source address.
    pub per_source_ip: u64,
    pub broker_pid: Option<u32>,
}

/// Run the idle scenario; returns the result object.
pub async fn run(target: Target, p: IdleParams, label: &str) -> Result<serde_json::Value> {
    let usage = Usage::start(p.broker_pid);
    // Let the broker settle before the baseline reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = usage.broker_rss_kib();
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let deadline = started + p.max_setup;
    let run_id = format!("{:x}", now_ns());
    let per_ip = p.per_source_ip.max(1);

    let progress = {
        let (ok, failed) = (ok.clone(), failed.clone());
        let label = label.to_string();
        let u = usage.clone();
        tokio::spawn(async move {
            for sec in 1u64..=86_400 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!(
                    "[{label} idle] {sec:>3}s connected {} failed {} broker RSS {} KiB",
                    ok.load(Relaxed),
                    failed.load(Relaxed),
                    u.broker_rss_kib().map_or("?".into(), |r| r.to_string())
                );
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
        let k = p.connections;
        workers.spawn(async move {
            let mut held: Vec<Conn> = Vec::new();
            // Bounded by the connection count and by the deadline.
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= k || Instant::now() >= deadline {
                    return held;
                }
                let src = Some(source_ip((i / per_ip) as usize));
                match target.connect(&format!("idle-{run_id}-{i}"), src).await {
                    Ok(c) => {
                        ok.fetch_add(1, Relaxed);
                        held.push(c);
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
    let mut held = Vec::new();
    while let Some(h) = workers.join_next().await {
        held.extend(h?);
    }
    let setup_s = started.elapsed().as_secs_f64();
    // Let the broker finish per-connection work (lifecycle events, buffers) before reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_settle = usage.broker_rss_kib();
    tokio::time::sleep(p.hold).await;
    let rss_after = usage.broker_rss_kib();
    progress.abort();
    let n = held.len() as u64;
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if n > 0 => {
            Some(round3((a.saturating_sub(b) as f64 * 1024.0) / n as f64))
        }
        _ => None,
    };
    let mut r = serde_json::json!({
        "scenario": "idle",
        "label": label,
        "params": {
            "connections": p.connections, "concurrency": p.concurrency, "hold_s": p.hold.as_secs_f64(),
            "per_source_ip": per_ip, "source_ips": p.connections.div_ceil(per_ip), "tls": target.tls.is_some(),
        },
        "connected": n,
        "failed": failed.load(Relaxed),
        "setup_s": round3(setup_s),
        "connects_per_s": round3(n as f64 / setup_s.max(1e-9)),
        "broker_rss_before_kib": rss_before,
        "broker_rss_settled_kib": rss_after_settle,
        "broker_rss_after_kib": rss_after,
        "bytes_per_connection": per_conn,
        "errors": errors.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    });
    if let (Some(obj), serde_json::Value::Object(u)) = (r.as_object_mut(), usage.finish()) {
        obj.extend(u);
    }
    // Close everything (bounded per connection).
    let closing: Vec<_> = held
        .into_iter()
        .map(|c| tokio::spawn(c.disconnect()))
        .collect();
    for c in closing {
        let _ = c.await;
    }
    Ok(r)
}
