//! A 256 MiB object round-trips through the service (streamed PUT, streamed GET) with flat
//! memory. The process's peak RSS (VmHWM) before and after is printed for BENCHMARKS/notes;
//! only content equality is asserted. Run alone (it is its own test binary) with
//! `cargo test -p airlock-artifacts --test big_object -- --nocapture`.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::Harness;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

const CHUNK: usize = 1024 * 1024;
const CHUNKS: usize = 256;

/// Chunk `i` of the object: deterministic, different in every chunk and every 8 bytes.
fn chunk(i: usize) -> Bytes {
    let mut v = Vec::with_capacity(CHUNK);
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..CHUNK / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(v)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_of_256_mib_round_trips_with_flat_memory() {
    let h = Harness::start().await;
    let c = h.creds("robot-1");
    assert_eq!(h.call(&c, "PUT", "/artifacts", b"").await.status, 200);

    let mut want = ring::digest::Context::new(&ring::digest::SHA256);
    for i in 0..CHUNKS {
        want.update(&chunk(i));
    }
    let want = want.finish();
    let total = CHUNK * CHUNKS;

    let (hwm0, rss0) = (status_kib("VmHWM:"), status_kib("VmRSS:"));

    let len = total.to_string();
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/big/firmware.bin",
        airlock_sigv4::UNSIGNED_PAYLOAD,
        &[("content-length", &len)],
    );
    let body = StreamBody::new(
        futures_util::stream::iter(0..CHUNKS).map(|i| Ok::<_, Infallible>(Frame::data(chunk(i)))),
    );
    let resp = h.send_body(&req, body).await;
    let status = resp.status();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&text));
    let (hwm1, rss1) = (status_kib("VmHWM:"), status_kib("VmRSS:"));

    let req = h.signed(&c, "GET", "/artifacts/big/firmware.bin", b"");
    let resp = h
        .send_body(&req, http_body_util::Empty::<Bytes>::new())
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = ring::digest::Context::new(&ring::digest::SHA256);
    let mut n = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            n += data.len();
            got.update(&data);
        }
    }
    let (hwm2, rss2) = (status_kib("VmHWM:"), status_kib("VmRSS:"));
    println!(
        "256 MiB round trip: VmHWM {hwm0} kB before, {hwm1} kB after PUT, {hwm2} kB after GET; \
         VmRSS {rss0} / {rss1} / {rss2} kB"
    );
    assert_eq!(n, total);
    assert_eq!(
        got.finish().as_ref(),
        want.as_ref(),
        "downloaded bytes differ"
    );
}
