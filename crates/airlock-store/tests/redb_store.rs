//! Behaviour of `RedbStore`: round trips through reopen, ordering, group commit.

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use airlock_store::{Commit, Op, RedbStore, Snapshot, Store, StoreError, StoreOptions};

fn put_session(c: &str, v: &[u8]) -> Op {
    Op::PutSession {
        client_id: c.into(),
        value: v.to_vec(),
    }
}
fn put_msg(c: &str, seq: u64, v: &[u8]) -> Op {
    Op::PutMessage {
        client_id: c.into(),
        seq,
        value: v.to_vec(),
    }
}
fn put_retained(t: &str, v: &[u8]) -> Op {
    Op::PutRetained {
        topic: t.into(),
        value: v.to_vec(),
    }
}

fn open(dir: &tempfile::TempDir) -> RedbStore {
    RedbStore::open(&dir.path().join("store.redb"), StoreOptions::default()).unwrap()
}

#[tokio::test]
async fn round_trip_all_keyspaces_through_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store
            .submit(vec![
                put_session("alice", b"sa"),
                put_session("bob", b"sb"),
                put_session("carol", b"sc"),
                put_retained("a/b", b"r1"),
                put_retained("a/c", b"r2"),
                put_retained("x", b"r3"),
                put_msg("alice", 2, b"a2"),
                put_msg("alice", 1, b"a1"),
                put_msg("alice", 3, b"a3"),
                put_msg("bob", 7, b"b7"),
                put_msg("carol", 1, b"c1"),
            ])
            .await
            .unwrap();
        store
            .submit(vec![
                Op::DeleteRetained {
                    topic: "a/c".into(),
                },
                Op::DeleteMessage {
                    client_id: "alice".into(),
                    seq: 2,
                },
                put_msg("alice", 3, b"a3-overwritten"),
                put_session("bob", b"sb2"),
                // Deleting a missing key is a no-op, not an error.
                Op::DeleteRetained {
                    topic: "missing".into(),
                },
            ])
            .await
            .unwrap();
        store.close().unwrap();
    }
    let store = open(&dir);
    let snap = store.load().unwrap();
    assert_eq!(
        snap,
        Snapshot {
            sessions: vec![
                ("alice".into(), b"sa".to_vec()),
                ("bob".into(), b"sb2".to_vec()),
                ("carol".into(), b"sc".to_vec()),
            ],
            retained: vec![("a/b".into(), b"r1".to_vec()), ("x".into(), b"r3".to_vec())],
            messages: vec![
                ("alice".into(), 1, b"a1".to_vec()),
                ("alice".into(), 3, b"a3-overwritten".to_vec()),
                ("bob".into(), 7, b"b7".to_vec()),
                ("carol".into(), 1, b"c1".to_vec()),
            ],
        }
    );
    store.close().unwrap();
}

#[tokio::test]
async fn delete_session_removes_only_that_clients_messages() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store
            .submit(vec![
                put_session("a", b"1"),
                put_session("ab", b"2"),
                put_session("b", b"3"),
                put_msg("a", 0, b"x"),
                put_msg("a", 5, b"x"),
                put_msg("a", u64::MAX, b"x"),
                // Prefix of "ab": must survive deleting "a".
                put_msg("ab", 0, b"y"),
                put_msg("b", 1, b"z"),
                put_retained("a", b"r"),
            ])
            .await
            .unwrap();
        store
            .submit(vec![Op::DeleteSession {
                client_id: "a".into(),
            }])
            .await
            .unwrap();
        drop(store); // Drop closes too.
    }
    let store = open(&dir);
    let snap = store.load().unwrap();
    assert_eq!(
        snap.sessions,
        vec![("ab".into(), b"2".to_vec()), ("b".into(), b"3".to_vec())]
    );
    assert_eq!(
        snap.messages,
        vec![
            ("ab".into(), 0, b"y".to_vec()),
            ("b".into(), 1, b"z".to_vec())
        ]
    );
    assert_eq!(snap.retained, vec![("a".into(), b"r".to_vec())]);
}

#[test]
fn messages_load_sorted_by_client_then_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut commits = Vec::new();
    for (c, s) in [("b", 10u64), ("a", 300), ("b", 2), ("a", 1), ("a", 20)] {
        commits.push(store.submit(vec![put_msg(c, s, b"")]));
    }
    for c in commits {
        c.wait().unwrap();
    }
    let keys: Vec<(String, u64)> = store
        .load()
        .unwrap()
        .messages
        .into_iter()
        .map(|(c, s, _)| (c, s))
        .collect();
    let expect: Vec<(String, u64)> = [("a", 1), ("a", 20), ("a", 300), ("b", 2), ("b", 10)]
        .into_iter()
        .map(|(c, s)| (c.to_string(), s))
        .collect();
    assert_eq!(keys, expect);
}

#[test]
fn later_submission_wins_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    // Submitting under this lock defines a global submission order; the counter records it.
    let order = Arc::new(Mutex::new(0u64));
    let threads = 6;
    let per_thread = 200;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, order, barrier) = (store.clone(), order.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut commits = Vec::new();
                for i in 0..per_thread {
                    let mut n = order.lock().unwrap();
                    *n += 1;
                    let value = n.to_be_bytes().to_vec();
                    commits.push(store.submit(vec![
                        // Contended key: every thread overwrites it.
                        Op::PutRetained {
                            topic: "shared".into(),
                            value: value.clone(),
                        },
                        // Per-thread key: must end at this thread's last write.
                        put_session(&format!("t{t}"), &(i as u64).to_be_bytes()),
                        // Put here; every odd round deletes it again in a separate batch.
                        put_msg("m", t as u64, &value),
                    ]));
                    if i % 2 == 1 {
                        commits.push(store.submit(vec![Op::DeleteMessage {
                            client_id: "m".into(),
                            seq: t as u64,
                        }]));
                    }
                    drop(n);
                }
                for c in commits {
                    c.wait().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = *order.lock().unwrap();
    let snap = store.load().unwrap();
    assert_eq!(
        snap.retained,
        vec![("shared".to_string(), total.to_be_bytes().to_vec())]
    );
    for t in 0..threads {
        let v = &snap
            .sessions
            .iter()
            .find(|(c, _)| *c == format!("t{t}"))
            .unwrap()
            .1;
        assert_eq!(v, &((per_thread - 1) as u64).to_be_bytes().to_vec());
    }
    // per_thread is even, so every thread's last action was the delete.
    assert!(snap.messages.is_empty(), "{:?}", snap.messages);
    store.close().unwrap();
}

#[test]
fn group_commit_batches_concurrent_submits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let threads = 8;
    let per_thread = 250;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                // Submit everything first, then wait: the writer can only ever see a queue.
                let commits: Vec<Commit> = (0..per_thread)
                    .map(|i| store.submit(vec![put_msg(&format!("c{t}"), i, b"payload")]))
                    .collect();
                for c in commits {
                    c.wait().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = store.stats();
    let total = (threads * per_thread as usize) as u64;
    assert_eq!(stats.batches, total);
    assert_eq!(stats.ops, total);
    assert_eq!(stats.failed_commits, 0);
    assert!(
        stats.commits < total,
        "no batching: {} commits for {total} batches",
        stats.commits
    );
    assert_eq!(store.load().unwrap().messages.len(), total as usize);
    store.close().unwrap();
}

#[test]
fn max_batch_ops_caps_group_size() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        max_batch_ops: 10,
        // Let the writer wait for a full group, so the cap is what limits it.
        max_batch_delay: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let store = RedbStore::open(&dir.path().join("s.redb"), opts).unwrap();
    let commits: Vec<Commit> = (0..100)
        .map(|i| store.submit(vec![put_msg("c", i, b"")]))
        .collect();
    for c in commits {
        c.wait().unwrap();
    }
    let stats = store.stats();
    assert!(stats.commits >= 10, "{stats:?}");
    assert!(stats.last_commit_ops <= 10, "{stats:?}");
    // A batch larger than the cap is still committed whole, alone.
    store
        .submit((0..25).map(|i| put_msg("big", i, b"")).collect())
        .wait()
        .unwrap();
    assert_eq!(store.stats().last_commit_ops, 25);
    assert_eq!(store.load().unwrap().messages.len(), 125);
}

#[test]
fn close_flushes_pending_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/store.redb");
    let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
    // Submitted but never awaited before close.
    let commits: Vec<Commit> = (0..500)
        .map(|i| store.submit(vec![put_session(&format!("s{i}"), b"v")]))
        .collect();
    store.close().unwrap();
    store.close().unwrap();
    for c in commits {
        c.wait().unwrap();
    }
    assert_eq!(
        store.submit(vec![put_session("late", b"")]).wait(),
        Err(StoreError::Closed)
    );
    assert_eq!(store.load(), Err(StoreError::Closed));
    drop(store);
    let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.load().unwrap().sessions.len(), 500);
}

#[cfg(unix)]
#[test]
fn file_is_private_and_second_open_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    match RedbStore::open(&path, StoreOptions::default()) {
        Err(e @ StoreError::Open { .. }) => {
            assert!(e.to_string().contains("already open"), "{e}")
        }
        other => panic!("second open must fail, got {other:?}"),
    }
    drop(store);
}

#[test]
fn garbage_file_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    std::fs::write(&path, vec![0xAB; 64 * 1024]).unwrap();
    let err = RedbStore::open(&path, StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Open { .. } | StoreError::Corrupt(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("store.redb"), "{err}");
}

#[test]
fn fsync_off_still_round_trips_through_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let opts = StoreOptions {
        fsync: false,
        ..StoreOptions::default()
    };
    {
        let store = RedbStore::open(&path, opts).unwrap();
        let commits: Vec<Commit> = (0..50)
            .map(|i| store.submit(vec![put_retained(&format!("t{i}"), b"v")]))
            .collect();
        for c in commits {
            c.wait().unwrap();
        }
        store.close().unwrap();
    }
    let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.load().unwrap().retained.len(), 50);
}

#[test]
fn stats_count_commits_and_ops() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.stats().commits, 0);
    store
        .submit(vec![put_session("a", b""), put_session("b", b"")])
        .wait()
        .unwrap();
    let s = store.stats();
    assert_eq!((s.commits, s.batches, s.ops), (1, 1, 2));
    assert_eq!((s.last_commit_batches, s.last_commit_ops), (1, 2));
    // An empty batch is legal and durable trivially.
    store.submit(vec![]).wait().unwrap();
    assert_eq!(store.stats().batches, 2);
}
