//! [`RedbStore`]: durable store on a redb file with a group-commit writer thread.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use tokio::sync::oneshot;

use crate::{Commit, Op, Snapshot, Store, StoreError, StoreOptions, StoreStats, validate};

const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("messages");

/// With `fsync` off, the longest the writer lets non-durable commits pile up before it makes
/// a durable one.
const NON_DURABLE_WINDOW: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// Opens (or reopens) the database.
type Opener = Box<dyn Fn() -> Result<Database, StoreError> + Send>;

enum Request {
    Batch {
        ops: Vec<Op>,
        reply: Reply,
    },
    Load {
        reply: Sender<Result<Snapshot, StoreError>>,
    },
    Close {
        reply: Sender<Result<(), StoreError>>,
    },
}

/// A durable [`Store`] in one redb file, with group commit.
///
/// A dedicated writer thread owns the database. [`Store::submit`] only enqueues the batch;
/// the writer takes the first queued batch, drains every other batch already queued (up to
/// [`StoreOptions::max_batch_ops`]), applies them in order in one write transaction, commits
/// it (one fsync) and then resolves all their [`Commit`]s. If a commit fails (disk full, I/O
/// error), every batch of that group resolves `Err`, the error is logged, the database is
/// reopened and later batches are committed normally.
///
/// The file is created with mode 0600 (it holds session state), and its parent directory is
/// created if missing. Dropping the store closes it like [`Store::close`].
#[derive(Debug)]
pub struct RedbStore {
    tx: Sender<Request>,
    writer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    stats: Arc<Mutex<StoreStats>>,
    path: PathBuf,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Batch { ops, .. } => write!(f, "Batch({} ops)", ops.len()),
            Request::Load { .. } => f.write_str("Load"),
            Request::Close { .. } => f.write_str("Close"),
        }
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file (mode 0600) and its parent directory if
    /// missing, and starts the writer thread.
    ///
    /// Fails with [`StoreError::Open`] if the file cannot be created or opened (e.g. another
    /// process has it open) and [`StoreError::Corrupt`] if it is not a valid database.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<RedbStore, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| open_err(format!("cannot create directory: {e}")))?;
        }
        create_private_file(path).map_err(|e| open_err(format!("cannot create file: {e}")))?;
        let file = path.to_path_buf();
        Self::start(path, opts, Box::new(move || open_database(&file)))
    }

    /// Opens the database with `opener` (also used to reopen it after an I/O failure) and
    /// starts the writer thread.
    fn start(path: &Path, opts: StoreOptions, opener: Opener) -> Result<RedbStore, StoreError> {
        let db = opener()?;
        init_tables(&db, path)?;

        let stats = Arc::new(Mutex::new(StoreStats::default()));
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            db: Some(db),
            path: path.to_path_buf(),
            opts: StoreOptions {
                max_batch_ops: opts.max_batch_ops.max(1),
                ..opts
            },
            stats: Arc::clone(&stats),
            rx,
            pending_non_durable: None,
            opener,
        };
        let handle = std::thread::Builder::new()
            .name("airlock-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                reason: format!("cannot start writer thread: {e}"),
            })?;
        tracing::debug!(path = %path.display(), fsync = opts.fsync, "store opened");
        Ok(RedbStore {
            tx,
            writer: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
            stats,
            path: path.to_path_buf(),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for RedbStore {
    fn submit(&self, ops: Vec<Op>) -> Commit {
        if let Err(e) = validate(&ops) {
            return Commit::failed(e);
        }
        if self.closed.load(Ordering::Acquire) {
            return Commit::failed(StoreError::Closed);
        }
        let (reply, rx) = oneshot::channel();
        // If the writer is gone the request (and its reply sender) is dropped, and the
        // Commit resolves Closed.
        let _ = self.tx.send(Request::Batch { ops, reply });
        Commit::waiting(rx)
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Load { reply })
            .map_err(|_| StoreError::Closed)?;
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    fn close(&self) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(handle) = writer.take() else {
            return Ok(());
        };
        self.closed.store(true, Ordering::Release);
        let (reply, rx) = mpsc::channel();
        let result = match self.tx.send(Request::Close { reply }) {
            Ok(()) => rx.recv().unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        if handle.join().is_err() {
            return Err(StoreError::Commit(format!(
                "store writer thread for {} panicked; batches not yet acknowledged were not stored, restart the broker",
                self.path.display()
            )));
        }
        result
    }

    fn stats(&self) -> StoreStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(path = %self.path.display(), error = %e, "closing store on drop failed");
        }
    }
}

/// Creates `path` with mode 0600 if it does not exist, and makes its directory entry durable.
/// Shared with the other embedded databases (the registry) so every state file is private.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(file) => {
            file.sync_all()?;
            #[cfg(unix)]
            if let Some(parent) = path.parent() {
                let dir = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn open_database(path: &Path) -> Result<Database, StoreError> {
    Database::builder().create(path).map_err(|e| {
        let reason = match &e {
            DatabaseError::DatabaseAlreadyOpen => {
                "the file is already open (another Airlock process or store instance uses it; stop it first)".to_string()
            }
            _ => e.to_string(),
        };
        match redb::Error::from(e) {
            redb::Error::Corrupted(msg) => corrupt(path, &msg),
            _ => StoreError::Open {
                path: path.to_path_buf(),
                reason,
            },
        }
    })
}

fn corrupt(path: &Path, detail: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "store file {} is corrupt ({detail}); restore it from a backup, or move it aside to start with empty state (persistent sessions and retained messages are then lost)",
        path.display()
    ))
}

/// Creates the three tables, so that readers never find them missing.
fn init_tables(db: &Database, path: &Path) -> Result<(), StoreError> {
    let run = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(SESSIONS)?;
        txn.open_table(RETAINED)?;
        txn.open_table(MESSAGES)?;
        txn.commit()?;
        Ok(())
    };
    run().map_err(|e| match e {
        redb::Error::Corrupted(msg) => corrupt(path, &msg),
        e => StoreError::Open {
            path: path.to_path_buf(),
            reason: format!("cannot initialise tables: {e}"),
        },
    })
}

/// Applies ops in order to an open write transaction.
fn apply<'a>(txn: &WriteTransaction, ops: impl Iterator<Item = &'a Op>) -> Result<(), redb::Error> {
    let mut sessions = txn.open_table(SESSIONS)?;
    let mut retained = txn.open_table(RETAINED)?;
    let mut messages = txn.open_table(MESSAGES)?;
    for op in ops {
        match op {
            Op::PutSession { client_id, value } => {
                sessions.insert(client_id.as_str(), value.as_slice())?;
            }
            Op::DeleteSession { client_id } => {
                let c = client_id.as_str();
                sessions.remove(c)?;
                messages.retain_in((c, 0u64)..=(c, u64::MAX), |_, _| false)?;
            }
            Op::PutRetained { topic, value } => {
                retained.insert(topic.as_str(), value.as_slice())?;
            }
            Op::DeleteRetained { topic } => {
                retained.remove(topic.as_str())?;
            }
            Op::PutMessage {
                client_id,
                seq,
                value,
            } => {
                messages.insert((client_id.as_str(), *seq), value.as_slice())?;
            }
            Op::DeleteMessage { client_id, seq } => {
                messages.remove((client_id.as_str(), *seq))?;
            }
        }
    }
    Ok(())
}

/// Whether after this error the database handle must be dropped and the file reopened.
fn needs_reopen(e: &redb::Error) -> bool {
    matches!(
        e,
        redb::Error::Io(_)
            | redb::Error::PreviousIo
            | redb::Error::DatabaseClosed
            | redb::Error::Corrupted(_)
            | redb::Error::TransactionPoisoned
    )
}

struct Writer {
    /// `None` after a failure that requires reopening the file; reopened lazily.
    db: Option<Database>,
    path: PathBuf,
    opts: StoreOptions,
    stats: Arc<Mutex<StoreStats>>,
    rx: Receiver<Request>,
    /// With fsync off: when the oldest non-durable commit not yet followed by a durable one
    /// was made.
    pending_non_durable: Option<Instant>,
    opener: Opener,
}

impl Writer {
    fn run(mut self) {
        let mut held: Option<Request> = None;
        loop {
            let first = match held.take() {
                Some(r) => r,
                None => match self.next_request() {
                    Some(r) => r,
                    None => {
                        // Every handle is gone without close(): flush and stop.
                        let _ = self.shutdown();
                        return;
                    }
                },
            };
            match first {
                Request::Load { reply } => {
                    let _ = reply.send(self.snapshot());
                }
                Request::Close { reply } => {
                    let result = self.shutdown();
                    // Refuse whatever raced in after close; requests still arriving are
                    // dropped with the receiver, which resolves their Commits as Closed.
                    while let Ok(r) = self.rx.try_recv() {
                        reject(r);
                    }
                    let _ = reply.send(result);
                    return;
                }
                Request::Batch { ops, reply } => {
                    let mut n_ops = ops.len();
                    let mut group = vec![(ops, reply)];
                    let deadline = Instant::now() + self.opts.max_batch_delay;
                    while n_ops < self.opts.max_batch_ops {
                        let next = match self.rx.try_recv() {
                            Ok(r) => r,
                            Err(TryRecvError::Disconnected) => break,
                            Err(TryRecvError::Empty) => {
                                let now = Instant::now();
                                if now >= deadline {
                                    break;
                                }
                                match self.rx.recv_timeout(deadline - now) {
                                    Ok(r) => r,
                                    Err(_) => break,
                                }
                            }
                        };
                        match next {
                            Request::Batch { ops, reply }
                                if n_ops + ops.len() <= self.opts.max_batch_ops =>
                            {
                                n_ops += ops.len();
                                group.push((ops, reply));
                            }
                            other => {
                                // A control request, or a batch for the next group: handle
                                // it after this group is committed, to keep the order.
                                held = Some(other);
                                break;
                            }
                        }
                    }
                    self.commit_group(group, n_ops);
                }
            }
        }
    }

    /// Blocks for the next request. With fsync off, wakes up to make pending non-durable
    /// commits durable within [`NON_DURABLE_WINDOW`].
    fn next_request(&mut self) -> Option<Request> {
        loop {
            let Some(since) = self.pending_non_durable else {
                return self.rx.recv().ok();
            };
            let due = since + NON_DURABLE_WINDOW;
            let now = Instant::now();
            if now >= due {
                if let Err(e) = self.make_durable() {
                    tracing::error!(path = %self.path.display(), error = %e, "durable flush failed");
                }
                continue;
            }
            match self.rx.recv_timeout(due - now) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn db(&mut self) -> Result<&Database, StoreError> {
        if self.db.is_none() {
            tracing::warn!(path = %self.path.display(), "reopening store after an earlier failure");
            self.db = Some((self.opener)()?);
        }
        Ok(self.db.as_ref().expect("just opened"))
    }

    fn commit_group(&mut self, group: Vec<(Vec<Op>, Reply)>, n_ops: usize) {
        let started = Instant::now();
        let durable = self.opts.fsync
            || self
                .pending_non_durable
                .is_some_and(|t| t.elapsed() >= NON_DURABLE_WINDOW);
        let result = self.write(group.iter().flat_map(|(ops, _)| ops.iter()), durable);
        let batches = group.len() as u64;
        match result {
            Ok(()) => {
                if !self.opts.fsync {
                    self.pending_non_durable = if durable {
                        None
                    } else {
                        self.pending_non_durable.or(Some(started))
                    };
                }
                {
                    let mut s = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
                    s.commits += 1;
                    s.batches += batches;
                    s.ops += n_ops as u64;
                    s.last_commit_batches = batches;
                    s.last_commit_ops = n_ops as u64;
                    s.last_commit_micros =
                        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                }
                for (_, reply) in group {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(reason) => {
                let dir = self
                    .path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let err = StoreError::Commit(format!(
                    "group commit of {batches} batch(es) ({n_ops} ops) to {} failed: {}; these batches were NOT stored. Disk full or read-only filesystem? Free space under {} and check the filesystem; the store keeps accepting new batches",
                    self.path.display(),
                    reason.trim_end_matches('.'),
                    dir.display()
                ));
                tracing::error!(error = %err, "store commit failed");
                self.stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .failed_commits += 1;
                for (_, reply) in group {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Writes `ops` in one transaction. On an I/O-class failure drops the database so that
    /// the next write reopens it.
    fn write<'a>(
        &mut self,
        ops: impl Iterator<Item = &'a Op>,
        durable: bool,
    ) -> Result<(), String> {
        let db = self.db().map_err(|e| e.to_string())?;
        let run = || -> Result<(), redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::None
            })?;
            // On error the transaction is dropped, which aborts it.
            apply(&txn, ops)?;
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| {
            if needs_reopen(&e) {
                self.db = None;
                // A reopened file rolls back to the last durable commit.
                self.pending_non_durable = None;
            }
            e.to_string()
        })
    }

    /// With fsync off, commits an empty durable transaction so that earlier non-durable
    /// commits reach the disk.
    fn make_durable(&mut self) -> Result<(), String> {
        if self.pending_non_durable.is_none() {
            return Ok(());
        }
        self.write(std::iter::empty(), true)?;
        self.pending_non_durable = None;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot, StoreError> {
        let path = self.path.clone();
        let db = self.db()?;
        let read = || -> Result<Snapshot, redb::Error> {
            let txn = db.begin_read()?;
            let mut snap = Snapshot::default();
            for entry in txn.open_table(SESSIONS)?.iter()? {
                let (k, v) = entry?;
                snap.sessions
                    .push((k.value().to_owned(), v.value().to_vec()));
            }
            for entry in txn.open_table(RETAINED)?.iter()? {
                let (k, v) = entry?;
                snap.retained
                    .push((k.value().to_owned(), v.value().to_vec()));
            }
            for entry in txn.open_table(MESSAGES)?.iter()? {
                let (k, v) = entry?;
                let (client_id, seq) = k.value();
                snap.messages
                    .push((client_id.to_owned(), seq, v.value().to_vec()));
            }
            Ok(snap)
        };
        read().map_err(|e| match e {
            redb::Error::Corrupted(msg) => corrupt(&path, &msg),
            e => StoreError::Read(format!(
                "reading store {} failed: {e}; check the disk and file permissions, then restart",
                path.display()
            )),
        })
    }

    /// Makes everything durable and closes the database.
    fn shutdown(&mut self) -> Result<(), StoreError> {
        let flushed = self.make_durable().map_err(|reason| {
            StoreError::Commit(format!(
                "final durable commit to {} failed on close: {reason}; writes acknowledged in the last second may be lost (fsync is off)",
                self.path.display()
            ))
        });
        let closed = match self.db.take() {
            Some(db) => db.close().map_err(|e| {
                StoreError::Commit(format!(
                    "closing store {} failed: {e}; committed data is safe, but check the disk before restarting",
                    self.path.display()
                ))
            }),
            None => Ok(()),
        };
        tracing::debug!(path = %self.path.display(), "store closed");
        flushed.and(closed)
    }
}

fn reject(r: Request) {
    match r {
        Request::Batch { reply, .. } => {
            let _ = reply.send(Err(StoreError::Closed));
        }
        Request::Load { reply } => {
            let _ = reply.send(Err(StoreError::Closed));
        }
        Request::Close { reply } => {
            let _ = reply.send(Ok(()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::StorageBackend;
    use redb::backends::InMemoryBackend;
    use std::sync::atomic::AtomicBool;

    /// In-memory backend whose writes and syncs fail while `fail` is set, like a full disk.
    #[derive(Debug)]
    struct FaultyBackend {
        inner: Arc<InMemoryBackend>,
        fail: Arc<AtomicBool>,
    }

    impl FaultyBackend {
        fn check(&self) -> io::Result<()> {
            if self.fail.load(Ordering::SeqCst) {
                Err(io::Error::other("injected: no space left on device"))
            } else {
                Ok(())
            }
        }
    }

    impl StorageBackend for FaultyBackend {
        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> io::Result<()> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.check()?;
            self.inner.write(offset, data)
        }
    }

    fn put(c: &str) -> Op {
        Op::PutSession {
            client_id: c.into(),
            value: c.as_bytes().to_vec(),
        }
    }

    #[test]
    fn failed_commit_errors_its_batches_and_store_keeps_working() {
        let memory = Arc::new(InMemoryBackend::new());
        let fail = Arc::new(AtomicBool::new(false));
        let (m, f) = (memory.clone(), fail.clone());
        let opener: Opener = Box::new(move || {
            Database::builder()
                .create_with_backend(FaultyBackend {
                    inner: m.clone(),
                    fail: f.clone(),
                })
                .map_err(|e| StoreError::Open {
                    path: "mem".into(),
                    reason: e.to_string(),
                })
        });
        let store = RedbStore::start(
            Path::new("/srv/airlock/mem.redb"),
            StoreOptions::default(),
            opener,
        )
        .unwrap();
        store.submit(vec![put("before")]).wait().unwrap();

        fail.store(true, Ordering::SeqCst);
        let failed: Vec<Commit> = ["lost1", "lost2", "lost3"]
            .iter()
            .map(|c| store.submit(vec![put(c)]))
            .collect();
        for c in failed {
            match c.wait() {
                Err(StoreError::Commit(msg)) => {
                    assert!(msg.contains("NOT stored"), "{msg}");
                    assert!(msg.contains("/srv/airlock"), "{msg}");
                }
                other => panic!("expected commit error, got {other:?}"),
            }
        }
        assert!(store.stats().failed_commits >= 1);

        fail.store(false, Ordering::SeqCst);
        store.submit(vec![put("after")]).wait().unwrap();
        let names: Vec<String> = store
            .load()
            .unwrap()
            .sessions
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(names, vec!["after".to_string(), "before".to_string()]);
        store.close().unwrap();
    }
}
