//! Crash durability: a child process (this test binary, re-executed) writes batches and
//! reports each one whose Commit resolved Ok; the parent SIGKILLs it mid-stream, reopens the
//! store and checks that every reported batch is there, whole.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use airlock_store::{Op, RedbStore, Store, StoreOptions};

const CHILD_ENV: &str = "AIRLOCK_STORE_CRASH_CHILD_PATH";
const TEST_NAME: &str = "kill_9_keeps_every_acknowledged_batch";
/// The child never gets this far; the parent kills it long before.
const CHILD_BATCHES: u64 = 10_000_000;
/// Acknowledged batches the parent waits for before killing.
const KILL_AFTER: usize = 300;

fn batch(i: u64) -> Vec<Op> {
    // Two keyspaces per batch, so a torn batch would be visible.
    vec![
        Op::PutSession {
            client_id: format!("s{i:08}"),
            value: i.to_be_bytes().repeat(16),
        },
        Op::PutMessage {
            client_id: format!("c{}", i % 7),
            seq: i,
            value: i.to_le_bytes().repeat(16),
        },
    ]
}

fn child(path: PathBuf) {
    let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
    let (tx, rx) = mpsc::sync_channel(4096);
    // Submitter: keep the queue full so commits group up.
    let submitter = std::thread::spawn(move || {
        for i in 0..CHILD_BATCHES {
            if tx.send((i, store.submit(batch(i)))).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::stdout().lock();
    for (i, commit) in rx {
        commit.wait().unwrap();
        writeln!(out, "durable {i}").unwrap();
        out.flush().unwrap();
    }
    submitter.join().unwrap();
}

/// Parses an acknowledgement line. With `--nocapture` the first one follows libtest's
/// "test NAME ... " on the same line, so the marker is searched, not a prefix.
fn parse_ack(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once("durable ")?;
    Some(rest.trim().parse().expect("malformed acknowledgement"))
}

#[test]
fn kill_9_keeps_every_acknowledged_batch() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(PathBuf::from(path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "child too slow");
        let line = lines
            .next()
            .expect("child exited before being killed")
            .unwrap();
        if let Some(i) = parse_ack(&line) {
            acked.insert(i);
        }
    }
    proc.kill().unwrap(); // SIGKILL on unix
    proc.wait().unwrap();
    // Lines already in the pipe were printed after their Commit resolved: durable too.
    for line in lines {
        if let Some(i) = parse_ack(&line.unwrap()) {
            acked.insert(i);
        }
    }
    let max_acked = *acked.last().unwrap();
    // Acknowledgements are printed in order, so they form a prefix.
    let gaps: Vec<u64> = (0..=max_acked).filter(|i| !acked.contains(i)).collect();
    assert!(
        gaps.is_empty(),
        "acknowledgements not a prefix, gaps {gaps:?}, max {max_acked}"
    );

    let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
    let snap = store.load().unwrap();
    let sessions: BTreeSet<u64> = snap
        .sessions
        .iter()
        .map(|(k, v)| {
            let i: u64 = k[1..].parse().unwrap();
            assert_eq!(v, &i.to_be_bytes().repeat(16), "session {i} value torn");
            i
        })
        .collect();
    let messages: BTreeSet<u64> = snap
        .messages
        .iter()
        .map(|(c, seq, v)| {
            assert_eq!(c, &format!("c{}", seq % 7));
            assert_eq!(v, &seq.to_le_bytes().repeat(16), "message {seq} value torn");
            *seq
        })
        .collect();
    // Batches are atomic: both halves or neither.
    assert_eq!(sessions, messages);
    // Every acknowledged batch survived.
    let missing: Vec<u64> = acked.difference(&sessions).copied().collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // Batches apply in submission order: what survived is a prefix too.
    let survived = sessions.len() as u64;
    assert_eq!(sessions.last().copied(), survived.checked_sub(1));
    eprintln!(
        "crash test: {} acknowledged, {survived} survived the kill",
        acked.len()
    );
    store.close().unwrap();
}
