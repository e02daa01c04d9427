//! Durable embedded storage for the Airlock broker, with group commit.
//!
//! This crate owns the on-disk state of a broker: persistent sessions, the queued and
//! in-flight messages of each session, and retained messages, kept in three keyspaces of
//! a single [redb](https://docs.rs/redb) file. It knows nothing about MQTT: keys are
//! UTF-8 client ids, topic names and sequence numbers, values are opaque bytes that the
//! broker serializes itself. Writes are submitted as small batches of [`Op`]s from any
//! number of tasks; one dedicated writer thread commits everything queued so far in a single
//! write transaction (one fsync) and then resolves each batch's [`Commit`] future. When a
//! `Commit` resolves `Ok`, its batch is durable (with [`StoreOptions::fsync`] on) and every
//! batch submitted before it is too: batches are applied atomically and in submission order.
//! [`MemoryStore`] implements the same [`Store`] trait without durability, for embedding
//! without persistence and for tests of callers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod memory;
mod redb_store;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;

pub use memory::MemoryStore;
pub use redb_store::{RedbStore, create_private_file};

/// Largest value accepted in one [`Op`], in bytes (1 GiB).
///
/// Larger values are refused at [`Store::submit`] with [`StoreError::TooLarge`] so that one
/// oversized write cannot fail the other batches of its group commit.
pub const MAX_VALUE_LEN: usize = 1 << 30;

/// One write. Keys are UTF-8 client ids / topic names; values are opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Insert or overwrite the session record of `client_id`.
    PutSession {
        /// Client id of the session.
        client_id: String,
        /// Serialized session, opaque to the store.
        value: Vec<u8>,
    },
    /// Delete the session record of `client_id` and every queued message of that client.
    DeleteSession {
        /// Client id of the session.
        client_id: String,
    },
    /// Insert or overwrite the retained message of `topic`.
    PutRetained {
        /// Topic name.
        topic: String,
        /// Serialized retained message, opaque to the store.
        value: Vec<u8>,
    },
    /// Delete the retained message of `topic` (no-op if absent).
    DeleteRetained {
        /// Topic name.
        topic: String,
    },
    /// Insert or overwrite a queued / in-flight message of a session.
    PutMessage {
        /// Client id of the session that owns the message.
        client_id: String,
        /// Broker-chosen sequence number; messages load sorted by it.
        seq: u64,
        /// Serialized message, opaque to the store.
        value: Vec<u8>,
    },
    /// Delete one queued / in-flight message of a session (no-op if absent).
    DeleteMessage {
        /// Client id of the session that owns the message.
        client_id: String,
        /// Sequence number of the message.
        seq: u64,
    },
}

impl Op {
    /// Size of the value carried by this op, 0 for deletes.
    fn value_len(&self) -> usize {
        match self {
            Op::PutSession { value, .. }
            | Op::PutRetained { value, .. }
            | Op::PutMessage { value, .. } => value.len(),
            _ => 0,
        }
    }
}

/// Checks a batch before it is queued; see [`MAX_VALUE_LEN`].
fn validate(ops: &[Op]) -> Result<(), StoreError> {
    validate_max(ops, MAX_VALUE_LEN)
}

fn validate_max(ops: &[Op], max: usize) -> Result<(), StoreError> {
    match ops.iter().map(Op::value_len).max() {
        Some(len) if len > max => Err(StoreError::TooLarge { len, max }),
        _ => Ok(()),
    }
}

/// Everything stored, read once at startup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `(client_id, session record)`, sorted by client id.
    pub sessions: Vec<(String, Vec<u8>)>,
    /// `(topic, retained message)`, sorted by topic.
    pub retained: Vec<(String, Vec<u8>)>,
    /// `(client_id, seq, message)`, sorted by `(client_id, seq)`.
    pub messages: Vec<(String, u64, Vec<u8>)>,
}

/// Errors of the store. Every message says what happened and what to do about it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error(
        "cannot open store {}: {reason}; check that the directory exists and is writable, that the disk is not full and that no other Airlock process uses this file, then restart",
        path.display()
    )]
    Open {
        /// Path of the database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A group commit failed; none of its batches were stored. The store keeps accepting
    /// later batches.
    #[error("{0}")]
    Commit(String),
    /// Reading the stored state failed.
    #[error("{0}")]
    Read(String),
    /// The database file is damaged.
    #[error("{0}")]
    Corrupt(String),
    /// A value is larger than the store accepts; the batch was refused and nothing of it stored.
    #[error(
        "value of {len} bytes exceeds the store limit of {max} bytes; the batch was refused: split or shrink the value"
    )]
    TooLarge {
        /// Size of the offending value.
        len: usize,
        /// Largest accepted value, [`MAX_VALUE_LEN`].
        max: usize,
    },
    /// The store was closed (or its writer stopped); the batch was not stored.
    #[error(
        "store is closed: the batch was not stored (submitted during or after shutdown, or the writer thread stopped; see earlier errors)"
    )]
    Closed,
}

/// Resolves when a submitted batch is durable (or failed).
///
/// Dropping a `Commit` does not cancel the write; it only discards the notification.
/// Cheap: either an already-known result or a oneshot receiver.
#[derive(Debug)]
pub struct Commit {
    inner: CommitInner,
}

#[derive(Debug)]
enum CommitInner {
    Ready(Option<Result<(), StoreError>>),
    Waiting(oneshot::Receiver<Result<(), StoreError>>),
}

impl Commit {
    /// A commit that is already durable (resolves `Ok` at once).
    pub fn ready() -> Commit {
        Commit {
            inner: CommitInner::Ready(Some(Ok(()))),
        }
    }

    /// A commit that already failed with `err`.
    pub fn failed(err: StoreError) -> Commit {
        Commit {
            inner: CommitInner::Ready(Some(Err(err))),
        }
    }

    fn waiting(rx: oneshot::Receiver<Result<(), StoreError>>) -> Commit {
        Commit {
            inner: CommitInner::Waiting(rx),
        }
    }

    /// Blocks the current thread until the batch is durable (or failed).
    ///
    /// For synchronous callers and threads outside an async runtime.
    ///
    /// # Panics
    /// Panics if called from within an asynchronous execution context (a tokio runtime
    /// worker); `.await` the `Commit` there instead.
    pub fn wait(self) -> Result<(), StoreError> {
        match self.inner {
            CommitInner::Ready(r) => r.unwrap_or(Err(StoreError::Closed)),
            CommitInner::Waiting(rx) => rx.blocking_recv().unwrap_or(Err(StoreError::Closed)),
        }
    }
}

impl Future for Commit {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.inner {
            CommitInner::Ready(r) => Poll::Ready(r.take().expect("Commit polled after completion")),
            // A dropped sender means the writer went away without answering.
            CommitInner::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(StoreError::Closed))),
        }
    }
}

/// Counters for metrics. All counts are since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Successful (group) commits, i.e. write transactions made durable.
    pub commits: u64,
    /// Group commits that failed (their batches resolved `Err`).
    pub failed_commits: u64,
    /// Batches (submits) written by successful commits.
    pub batches: u64,
    /// Ops written by successful commits.
    pub ops: u64,
    /// Batches in the last successful commit.
    pub last_commit_batches: u64,
    /// Ops in the last successful commit.
    pub last_commit_ops: u64,
    /// Duration of the last successful commit (apply + commit/fsync), in microseconds.
    pub last_commit_micros: u64,
}

/// A store of sessions, session messages and retained messages.
pub trait Store: Send + Sync + 'static {
    /// Queue a batch for the next group commit. Never blocks on disk; returns at once.
    ///
    /// The batch is applied atomically and after every batch submitted before it. The
    /// returned [`Commit`] resolves once it is durable, or with the error that prevented it.
    fn submit(&self, ops: Vec<Op>) -> Commit;

    /// Read everything (startup). Sees every batch submitted before the call.
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Commit everything submitted so far, stop the writer, block until done. Idempotent.
    ///
    /// After `close`, `submit` resolves [`StoreError::Closed`] and `load` fails.
    fn close(&self) -> Result<(), StoreError>;

    /// Counters for metrics.
    fn stats(&self) -> StoreStats;
}

/// Options of [`RedbStore::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Make every commit durable with fsync before resolving its batches (default `true`).
    ///
    /// With `false`, commits use redb's `Durability::None`: they are visible and resolve `Ok`
    /// without fsync, and the file stays consistent, but a process crash (including
    /// `kill -9`) or power loss rolls the store back to the last durable commit. The writer
    /// makes a durable commit at least every second while non-durable ones are pending, and
    /// on close, so at most about one second of acknowledged writes can be lost. Use it only
    /// when losing recent session state after a crash is acceptable.
    pub fsync: bool,
    /// Soft cap on the ops in one group commit (default 4096). A single batch larger than
    /// this is still committed whole, alone.
    pub max_batch_ops: usize,
    /// How long the writer waits for more batches after the first one of a group (default 0:
    /// commit as soon as the writer is free; batches that arrive while a commit runs go in the
    /// next one).
    pub max_batch_delay: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync: true,
            max_batch_ops: 4096,
            max_batch_delay: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ready_and_failed_resolve() {
        assert_eq!(Commit::ready().wait(), Ok(()));
        assert_eq!(
            Commit::failed(StoreError::Closed).wait(),
            Err(StoreError::Closed)
        );
    }

    #[test]
    fn dropped_sender_resolves_closed() {
        let (tx, rx) = oneshot::channel();
        drop(tx);
        assert_eq!(Commit::waiting(rx).wait(), Err(StoreError::Closed));
    }

    #[test]
    fn oversized_value_is_refused() {
        let op = Op::PutRetained {
            topic: "t".into(),
            value: vec![0; 8],
        };
        assert!(validate(std::slice::from_ref(&op)).is_ok());
        assert!(validate_max(std::slice::from_ref(&op), 8).is_ok());
        assert_eq!(
            validate_max(&[Op::DeleteRetained { topic: "t".into() }, op], 7),
            Err(StoreError::TooLarge { len: 8, max: 7 })
        );
    }

    #[test]
    fn default_options() {
        let o = StoreOptions::default();
        assert!(o.fsync);
        assert_eq!(o.max_batch_ops, 4096);
        assert_eq!(o.max_batch_delay, Duration::ZERO);
    }
}
