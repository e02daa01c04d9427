//! `MemoryStore` must load exactly what `RedbStore` loads after the same submits.

use airlock_store::{MemoryStore, Op, RedbStore, Snapshot, Store, StoreError, StoreOptions};

fn script() -> Vec<Vec<Op>> {
    let s = |c: &str, v: &str| Op::PutSession {
        client_id: c.into(),
        value: v.into(),
    };
    let m = |c: &str, seq: u64, v: &str| Op::PutMessage {
        client_id: c.into(),
        seq,
        value: v.into(),
    };
    let r = |t: &str, v: &str| Op::PutRetained {
        topic: t.into(),
        value: v.into(),
    };
    vec![
        vec![
            s("a", "1"),
            s("ab", "2"),
            s("b", "3"),
            r("t/1", "x"),
            r("t/2", "y"),
        ],
        vec![
            m("a", 3, "a3"),
            m("a", 1, "a1"),
            m("ab", 1, "ab1"),
            m("b", 9, "b9"),
        ],
        vec![m("a", 1, "a1'"), s("a", "1'")],
        vec![Op::DeleteSession {
            client_id: "a".into(),
        }],
        vec![s("a", "again"), m("a", 4, "a4")],
        vec![
            Op::DeleteRetained {
                topic: "t/1".into(),
            },
            Op::DeleteMessage {
                client_id: "b".into(),
                seq: 9,
            },
            Op::DeleteMessage {
                client_id: "b".into(),
                seq: 10,
            },
        ],
        vec![],
    ]
}

fn run(store: &dyn Store) -> Snapshot {
    let commits: Vec<_> = script().into_iter().map(|b| store.submit(b)).collect();
    for c in commits {
        c.wait().unwrap();
    }
    store.load().unwrap()
}

#[test]
fn memory_store_loads_what_redb_store_loads() {
    let mem = MemoryStore::new();
    let mem_snap = run(&mem);
    assert_eq!(
        mem_snap,
        Snapshot {
            sessions: vec![
                ("a".into(), b"again".to_vec()),
                ("ab".into(), b"2".to_vec()),
                ("b".into(), b"3".to_vec()),
            ],
            retained: vec![("t/2".into(), b"y".to_vec())],
            messages: vec![
                ("a".into(), 4, b"a4".to_vec()),
                ("ab".into(), 1, b"ab1".to_vec()),
            ],
        }
    );
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbStore::open(&dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    assert_eq!(run(&redb), mem_snap);
    assert_eq!(mem.stats().commits, script().len() as u64);
}

#[tokio::test]
async fn memory_store_resolves_immediately_and_closes() {
    let mem = MemoryStore::new();
    mem.submit(vec![Op::PutRetained {
        topic: "x".into(),
        value: vec![1],
    }])
    .await
    .unwrap();
    assert_eq!(mem.load().unwrap().retained.len(), 1);
    mem.close().unwrap();
    mem.close().unwrap();
    assert_eq!(
        mem.submit(vec![Op::DeleteRetained { topic: "x".into() }])
            .await,
        Err(StoreError::Closed)
    );
    assert_eq!(mem.load(), Err(StoreError::Closed));
}

#[test]
fn store_is_object_safe_and_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<std::sync::Arc<dyn Store>>();
    fn assert_commit<T: std::future::Future + Send + Unpin>() {}
    assert_commit::<airlock_store::Commit>();
    let stores: Vec<Box<dyn Store>> = vec![Box::new(MemoryStore::default())];
    assert!(stores[0].load().unwrap().sessions.is_empty());
}
