//! The decision cache: the broker asks the same questions for the same connection over and
//! over (every PUBLISH, every delivery), and the answers change only when the registry does.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use airlock_broker::Authorization;

/// Shards, so connections on different cores rarely wait for each other.
const SHARDS: usize = 16;

/// What a cached decision was about. CONNECT is never cached: it happens once per
/// connection and carries attributes (will, persistence) the other requests do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Request {
    Publish,
    RetainPublish,
    Subscribe,
    Receive,
}

/// Everything a decision depends on besides the registry: who (certificate, or the
/// endpoint for anonymous clients), from where (endpoint id for `aws:SourceVpce`, address
/// for `aws:SourceIp`, SNI for `iot:DomainName`), as which client id, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyRef<'a> {
    /// Certificate id, or `""` for an anonymous principal (distinguished by `endpoint`).
    pub principal: &'a str,
    pub endpoint: &'a str,
    /// VPC endpoint id from a PROXY header, if any (`aws:SourceVpce`).
    pub vpce: Option<&'a str>,
    /// The handshake's SNI (`iot:DomainName`).
    pub domain: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub client_id: &'a str,
    pub request: Request,
    /// Topic name or filter.
    pub path: &'a str,
}

struct Entry {
    principal: Box<str>,
    endpoint: Box<str>,
    vpce: Option<Box<str>>,
    domain: Option<Box<str>>,
    ip: Option<IpAddr>,
    client_id: Box<str>,
    request: Request,
    path: Box<str>,
    answer: Authorization,
}

impl Entry {
    fn is(&self, k: &KeyRef<'_>) -> bool {
        *self.path == *k.path
            && *self.client_id == *k.client_id
            && self.request == k.request
            && *self.principal == *k.principal
            && *self.endpoint == *k.endpoint
            && self.vpce.as_deref() == k.vpce
            && self.domain.as_deref() == k.domain
            && self.ip == k.ip
    }
}

#[derive(Default)]
struct Shard {
    /// Registry generation the entries were computed at.
    generation: u64,
    len: usize,
    /// Keyed by the full key's hash; entries whose hashes collide share a bucket.
    map: HashMap<u64, Vec<Entry>>,
}

/// Bounded, generation-checked decision cache. A lookup allocates nothing.
pub(crate) struct DecisionCache {
    hasher: RandomState,
    per_shard: usize,
    shards: Vec<Mutex<Shard>>,
}

impl DecisionCache {
    pub fn new(max_entries: usize) -> DecisionCache {
        DecisionCache {
            hasher: RandomState::new(),
            per_shard: max_entries.div_ceil(SHARDS),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // SHARDS is a power of two and the shard count is fixed at construction.
        &self.shards[(hash as usize) % SHARDS]
    }

    /// The cached answer for `key` if it was computed at `generation`.
    pub fn get(&self, key: &KeyRef<'_>, generation: u64) -> Option<Authorization> {
        let hash = self.hasher.hash_one(key);
        let mut shard = self
            .shard(hash)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.generation > generation {
            // The caller read the generation before a change this shard has already seen.
            return None;
        }
        if shard.generation < generation {
            // The registry changed (policy, attachment, certificate status...): everything
            // in this shard may be stale.
            shard.map.clear();
            shard.len = 0;
            shard.generation = generation;
            return None;
        }
        shard
            .map
            .get(&hash)?
            .iter()
            .find(|e| e.is(key))
            .map(|e| e.answer.clone())
    }

    /// Remember `answer`, computed from the registry at `generation` (read before the
    /// registry was consulted, so a change during the computation only makes it look older
    /// and the next lookup recomputes).
    pub fn put(&self, key: &KeyRef<'_>, generation: u64, answer: Authorization) {
        if self.per_shard == 0 {
            return;
        }
        let hash = self.hasher.hash_one(key);
        let mut shard = self
            .shard(hash)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.generation != generation {
            if shard.generation > generation {
                // Computed from an older registry than the shard now holds: do not keep it.
                return;
            }
            shard.map.clear();
            shard.len = 0;
            shard.generation = generation;
        }
        if shard.len >= self.per_shard {
            // Bounded by entries; starting over is cheap and needs no bookkeeping per hit.
            shard.map.clear();
            shard.len = 0;
        }
        let bucket = shard.map.entry(hash).or_default();
        if bucket.iter().any(|e| e.is(key)) {
            return;
        }
        bucket.push(Entry {
            principal: key.principal.into(),
            endpoint: key.endpoint.into(),
            vpce: key.vpce.map(Into::into),
            domain: key.domain.map(Into::into),
            ip: key.ip,
            client_id: key.client_id.into(),
            request: key.request,
            path: key.path.into(),
            answer,
        });
        shard.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> KeyRef<'_> {
        KeyRef {
            principal: "cert",
            endpoint: "ep",
            vpce: None,
            domain: None,
            ip: None,
            client_id: "c",
            request: Request::Publish,
            path,
        }
    }

    #[test]
    fn hit_until_the_generation_moves() {
        let c = DecisionCache::new(100);
        assert_eq!(c.get(&key("a"), 1), None);
        c.put(&key("a"), 1, Authorization::Allow);
        assert_eq!(c.get(&key("a"), 1), Some(Authorization::Allow));
        assert_eq!(c.get(&key("b"), 1), None);
        assert_eq!(c.get(&key("a"), 2), None);
        assert_eq!(c.get(&key("a"), 2), None);
    }

    #[test]
    fn every_key_field_counts() {
        let c = DecisionCache::new(100);
        c.put(&key("a"), 0, Authorization::Allow);
        let variants = [
            KeyRef {
                principal: "other",
                ..key("a")
            },
            KeyRef {
                endpoint: "other",
                ..key("a")
            },
            KeyRef {
                ip: Some(IpAddr::from([10, 0, 0, 1])),
                ..key("a")
            },
            KeyRef {
                client_id: "other",
                ..key("a")
            },
            KeyRef {
                request: Request::Receive,
                ..key("a")
            },
            KeyRef {
                vpce: Some("vpce-1"),
                ..key("a")
            },
            // iot:DomainName: the same device via another SNI may get another answer.
            KeyRef {
                domain: Some("a.plant.test"),
                ..key("a")
            },
        ];
        for k in variants {
            assert_eq!(c.get(&k, 0), None, "{k:?}");
        }
    }

    #[test]
    fn bounded() {
        let c = DecisionCache::new(SHARDS * 2);
        let paths: Vec<String> = (0..1000).map(|i| format!("t/{i}")).collect();
        for p in &paths {
            c.put(&key(p), 0, Authorization::Allow);
        }
        let held: usize = c
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len)
            .sum();
        assert!(held <= SHARDS * 2, "{held}");
    }

    #[test]
    fn a_stale_answer_is_not_stored() {
        let c = DecisionCache::new(100);
        assert_eq!(c.get(&key("a"), 5), None);
        c.put(&key("a"), 4, Authorization::Allow);
        assert_eq!(c.get(&key("a"), 5), None);
    }
}
