//! [`MemoryStore`]: the [`Store`] trait without durability.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{Commit, Op, Snapshot, Store, StoreError, StoreStats, validate};

/// A [`Store`] that keeps everything in memory; nothing is durable.
///
/// For embedding the broker without persistence and for tests of callers. `submit` applies
/// the batch at once (atomically, under a lock) and returns an already-resolved [`Commit`];
/// `load` returns what was written. Each submit counts as one commit in [`StoreStats`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    sessions: BTreeMap<String, Vec<u8>>,
    retained: BTreeMap<String, Vec<u8>>,
    messages: BTreeMap<(String, u64), Vec<u8>>,
    stats: StoreStats,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only mutated by infallible map operations, so it stays consistent even
        // if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn apply(&mut self, op: Op) {
        match op {
            Op::PutSession { client_id, value } => {
                self.sessions.insert(client_id, value);
            }
            Op::DeleteSession { client_id } => {
                self.sessions.remove(&client_id);
                let doomed: Vec<(String, u64)> = self
                    .messages
                    .range((client_id.clone(), 0)..=(client_id, u64::MAX))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    self.messages.remove(&k);
                }
            }
            Op::PutRetained { topic, value } => {
                self.retained.insert(topic, value);
            }
            Op::DeleteRetained { topic } => {
                self.retained.remove(&topic);
            }
            Op::PutMessage {
                client_id,
                seq,
                value,
            } => {
                self.messages.insert((client_id, seq), value);
            }
            Op::DeleteMessage { client_id, seq } => {
                self.messages.remove(&(client_id, seq));
            }
        }
    }
}

impl Store for MemoryStore {
    fn submit(&self, ops: Vec<Op>) -> Commit {
        if let Err(e) = validate(&ops) {
            return Commit::failed(e);
        }
        let mut state = self.lock();
        if state.closed {
            return Commit::failed(StoreError::Closed);
        }
        let n = ops.len() as u64;
        for op in ops {
            state.apply(op);
        }
        let stats = &mut state.stats;
        stats.commits += 1;
        stats.batches += 1;
        stats.ops += n;
        stats.last_commit_batches = 1;
        stats.last_commit_ops = n;
        Commit::ready()
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        let state = self.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        Ok(Snapshot {
            sessions: state
                .sessions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            retained: state
                .retained
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            messages: state
                .messages
                .iter()
                .map(|((c, s), v)| (c.clone(), *s, v.clone()))
                .collect(),
        })
    }

    fn close(&self) -> Result<(), StoreError> {
        self.lock().closed = true;
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        self.lock().stats
    }
}
