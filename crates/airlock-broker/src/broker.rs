//! The broker: shared state, routing, session attach/detach, restore and shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use airlock_mqtt::{ProtocolVersion, QoS, SubscriptionOptions, topic};
use airlock_store::{Commit, Op, Store, StoreError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};

use crate::auth::{AllowAll, Authorizer};
use crate::config::{BrokerConfig, OverflowPolicy};
use crate::context::ConnectionContext;
use crate::message::{Message, now_ms};
use crate::metrics_names as m;
use crate::persist::{self, DeliveryRecord, DeliveryState, RetainedRecord, SessionRecord};
use crate::retained::RetainedMessages;
use crate::session::{ConnLink, Delivery, Inflight, InflightState, Kick, Session};
use crate::subscriptions::{SubEntry, SubscriptionTree};

pub(crate) type SessionRef = Arc<Mutex<Session>>;

/// Lock a mutex, recovering the data if a panicking thread poisoned it: broker state stays
/// usable, and the panic itself is already reported by the runtime.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What was read back from the store at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Persistent sessions restored.
    pub sessions: usize,
    /// Queued or in-flight messages restored.
    pub messages: usize,
    /// Retained messages restored.
    pub retained: usize,
    /// Records that could not be decoded and were skipped (each logged).
    pub skipped: usize,
}

/// A point-in-time view for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Live MQTT connections (CONNECT accepted).
    pub connections: usize,
    /// Sessions, online and offline.
    pub sessions: usize,
    /// Subscriptions.
    pub subscriptions: usize,
    /// Retained messages.
    pub retained: usize,
    /// Messages queued in all sessions.
    pub queued: usize,
}

pub(crate) struct Inner {
    pub cfg: BrokerConfig,
    pub sessions: Mutex<HashMap<Arc<str>, SessionRef>>,
    pub subs: RwLock<SubscriptionTree>,
    pub retained: RwLock<RetainedMessages>,
    pub store: Arc<dyn Store>,
    pub authorizer: Arc<dyn Authorizer>,
    pub next_conn_id: AtomicU64,
    pub shutdown: watch::Sender<bool>,
    pub live: AtomicUsize,
    pub idle: Notify,
    pub connections: AtomicUsize,
}

/// An MQTT broker. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Broker {
    pub(crate) inner: Arc<Inner>,
}

/// Counts a connection task for graceful shutdown.
pub(crate) struct LiveGuard(Arc<Inner>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Broker {
    /// Build a broker over `store`, restoring persistent sessions, their queued messages and
    /// retained messages. Must be called inside a tokio runtime (it starts the expiry sweeper).
    pub fn new(
        cfg: BrokerConfig,
        store: Arc<dyn Store>,
    ) -> Result<(Broker, RestoreSummary), StoreError> {
        Broker::with_authorizer(cfg, store, Arc::new(AllowAll))
    }

    /// Like [`Broker::new`], with every connect, publish, subscribe and delivery authorized by
    /// `authorizer`.
    pub fn with_authorizer(
        cfg: BrokerConfig,
        store: Arc<dyn Store>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<(Broker, RestoreSummary), StoreError> {
        let snapshot = store.load()?;
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            cfg,
            sessions: Mutex::new(HashMap::new()),
            subs: RwLock::new(SubscriptionTree::default()),
            retained: RwLock::new(RetainedMessages::default()),
            store,
            authorizer,
            next_conn_id: AtomicU64::new(1),
            shutdown,
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            connections: AtomicUsize::new(0),
        });
        let broker = Broker { inner };
        let summary = broker.restore(snapshot);
        broker.spawn_expiry_sweeper();
        Ok((broker, summary))
    }

    pub(crate) fn authorizer(&self) -> &dyn Authorizer {
        &*self.inner.authorizer
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.cfg
    }

    /// Serve one client connection until it ends. The transport has already authenticated
    /// the peer and put the result in `ctx`.
    pub async fn serve<S>(&self, stream: S, ctx: ConnectionContext)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let _guard = self.live_guard();
        crate::connection::run(self.clone(), stream, ctx).await;
    }

    /// Publish a message from inside the process (HTTPS publish, lifecycle events, bridges).
    /// Resolves when the message is durable for every persistent subscriber.
    pub fn publish(&self, msg: Message) -> Commit {
        self.route(Arc::new(msg))
    }

    /// Current counts.
    pub fn stats(&self) -> BrokerStats {
        let sessions = lock(&self.inner.sessions);
        let queued = sessions.values().map(|s| lock(s).queue.len()).sum();
        BrokerStats {
            connections: self.inner.connections.load(Ordering::Relaxed),
            sessions: sessions.len(),
            subscriptions: self.inner.subs.read().map(|t| t.len()).unwrap_or(0),
            retained: self.inner.retained.read().map(|r| r.len()).unwrap_or(0),
            queued,
        }
    }

    /// Graceful shutdown: every connection gets DISCONNECT 0x8B (v5) and is closed, then the
    /// store is flushed and closed. Waits at most `grace` for connections to finish.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), StoreError> {
        let _ = self.inner.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.inner.live.load(Ordering::Acquire) > 0 {
            let idle = self.inner.idle.notified();
            if self.inner.live.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!(
                    connections = self.inner.live.load(Ordering::Acquire),
                    "shutdown grace period over with connections still open"
                );
                break;
            }
        }
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap_or(Ok(()))
    }

    /// Disconnect every live connection authenticated by certificate `certificate_id`
    /// (v5: DISCONNECT `reason`, e.g. 0x98 administrative action or 0x87 not authorized).
    /// Returns how many were told. Identity calls this when a certificate is revoked or
    /// deactivated; the connection tasks close within one scheduling round.
    pub fn disconnect_certificate(&self, certificate_id: &str, reason: u8) -> usize {
        let sessions = lock(&self.inner.sessions);
        let mut told = 0;
        for session in sessions.values() {
            let s = lock(session);
            if let Some(link) = &s.link
                && link.certificate_id.as_deref() == Some(certificate_id)
                && link
                    .kick
                    .try_send(Kick {
                        reason,
                        lifecycle: "AUTH_ERROR",
                    })
                    .is_ok()
            {
                told += 1;
            }
        }
        told
    }

    pub(crate) fn live_guard(&self) -> LiveGuard {
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        LiveGuard(self.inner.clone())
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.inner.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn submit(&self, ops: Vec<Op>) -> Commit {
        if ops.is_empty() {
            Commit::ready()
        } else {
            self.inner.store.submit(ops)
        }
    }

    /// Submit writes whose completion nobody waits for; they still commit in submission order.
    pub(crate) fn submit_detached(&self, ops: Vec<Op>) {
        drop(self.submit(ops));
    }

    /// Route a message to every matching subscriber and update retained state.
    pub(crate) fn route(&self, msg: Arc<Message>) -> Commit {
        let cfg = &self.inner.cfg;
        let now = now_ms();
        let mut ops = Vec::new();
        if msg.retain && cfg.retain_available {
            let mut retained = self
                .inner
                .retained
                .write()
                .unwrap_or_else(|e| e.into_inner());
            retained.apply(msg.clone());
            metrics::gauge!(m::RETAINED).set(retained.len() as f64);
            if msg.payload.is_empty() {
                ops.push(Op::DeleteRetained {
                    topic: msg.topic.clone(),
                });
            } else {
                ops.push(Op::PutRetained {
                    topic: msg.topic.clone(),
                    value: persist::encode(&RetainedRecord {
                        message: (*msg).clone(),
                    }),
                });
            }
        }
        let (direct, shared) = self
            .inner
            .subs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .matches(&msg.topic);

        // One delivery per client for its non-shared subscriptions: the highest QoS granted,
        // every subscription identifier (MQTT 3.3.4 allows either form; one copy is cheaper).
        let mut per_client: HashMap<Arc<str>, (SubEntry, Vec<u32>)> = HashMap::new();
        for mt in direct {
            if mt.entry.options.no_local && msg.publisher.as_deref() == Some(&*mt.client_id) {
                continue;
            }
            let slot = per_client
                .entry(mt.client_id.clone())
                .or_insert((mt.entry, Vec::new()));
            if mt.entry.options.qos > slot.0.options.qos {
                slot.0.options.qos = mt.entry.options.qos;
            }
            slot.0.options.retain_as_published |= mt.entry.options.retain_as_published;
            if let Some(id) = mt.entry.identifier {
                slot.1.push(id);
            }
        }
        let mut targets: Vec<(Arc<str>, SubEntry, Vec<u32>)> = per_client
            .into_iter()
            .map(|(c, (e, ids))| (c, e, ids))
            .collect();
        if !shared.is_empty() {
            let sessions = lock(&self.inner.sessions);
            for group in shared {
                let n = group.members.len();
                let online = (0..n).map(|i| (group.start + i) % n).find(|&i| {
                    sessions
                        .get(&group.members[i].0)
                        .is_some_and(|s| lock(s).link.is_some())
                });
                let pick = online.unwrap_or(group.start % n);
                let (client, entry) = group.members[pick].clone();
                targets.push((client, entry, entry.identifier.into_iter().collect()));
            }
        }

        for (client, entry, ids) in targets {
            let Some(session) = lock(&self.inner.sessions).get(&client).cloned() else {
                continue;
            };
            let qos = msg.qos().min(entry.options.qos);
            let retain = msg.retain && entry.options.retain_as_published;
            let delivery = Delivery {
                msg: msg.clone(),
                qos,
                retain,
                subscription_ids: ids,
                seq: None,
            };
            self.deliver(&session, delivery, now, &mut ops);
        }
        self.submit(ops)
    }

    /// Put one delivery into a session's queue, with its store op when it must be durable.
    pub(crate) fn deliver(
        &self,
        session: &SessionRef,
        mut delivery: Delivery,
        now: u64,
        ops: &mut Vec<Op>,
    ) {
        let cfg = &self.inner.cfg;
        if delivery.msg.expired(now) {
            metrics::counter!(m::DROPPED, "reason" => "expired").increment(1);
            return;
        }
        let mut s = lock(session);
        if delivery.qos == QoS::AtMostOnce && s.link.is_none() {
            // Like AWS IoT and Mosquitto's default, QoS 0 is not queued for offline sessions.
            metrics::counter!(m::DROPPED, "reason" => "offline_qos0").increment(1);
            return;
        }
        let durable = s.persistent() && delivery.qos != QoS::AtMostOnce;
        if durable {
            delivery.seq = Some(s.take_seq());
        }
        let record = durable.then(|| delivery.record(DeliveryState::Queued));
        let seq = delivery.seq;
        match s.enqueue(delivery, cfg) {
            Ok(()) => {
                if let (Some(seq), Some(record)) = (seq, record) {
                    ops.push(Op::PutMessage {
                        client_id: s.client_id.to_string(),
                        seq,
                        value: persist::encode(&record),
                    });
                }
                metrics::gauge!(m::QUEUED).increment(1.0);
                if let Some(link) = &s.link {
                    link.notify.notify_one();
                }
            }
            Err(_) => {
                metrics::counter!(m::DROPPED, "reason" => "queue_full").increment(1);
                s.dropped += 1;
                // Every drop is counted; the log says so at the first drop and every 1000th
                // after it, so a flood cannot turn into a flood of log lines.
                if s.dropped % 1000 == 1 {
                    tracing::warn!(
                        client_id = %s.client_id,
                        queued = s.queue.len(),
                        queued_bytes = s.queued_bytes,
                        dropped_total = s.dropped,
                        "session queue full; message dropped for this client (raise mqtt.max_queued_messages / max_queued_bytes if this is expected)"
                    );
                }
                if cfg.overflow == OverflowPolicy::Disconnect
                    && let Some(link) = &s.link
                {
                    let _ = link.kick.try_send(Kick {
                        reason: airlock_mqtt::reason::QUOTA_EXCEEDED,
                        lifecycle: "THROTTLED",
                    });
                }
            }
        }
    }

    /// Attach a new connection to the session of `client_id`, creating, resuming or replacing
    /// it. Returns the session, whether an old session was resumed, and the store ops.
    pub(crate) fn attach(
        &self,
        client_id: &str,
        protocol: ProtocolVersion,
        clean_start: bool,
        expiry_interval: u32,
        link: ConnLink,
    ) -> (SessionRef, bool, Vec<Op>) {
        let mut ops = Vec::new();
        let mut sessions = lock(&self.inner.sessions);
        let existing = sessions.get(client_id).cloned();
        let takeover = Kick {
            reason: airlock_mqtt::reason::SESSION_TAKEN_OVER,
            lifecycle: "DUPLICATE_CLIENTID",
        };
        let mut generation = 0;
        if let Some(existing) = existing {
            let mut s = lock(&existing);
            if let Some(old) = s.link.take() {
                tracing::info!(client_id, "client id taken over by a new connection");
                let _ = old.kick.try_send(takeover);
            }
            if !clean_start {
                s.generation += 1;
                s.link = Some(link);
                s.offline_since = None;
                s.protocol = protocol;
                s.expiry_interval = expiry_interval;
                if s.persistent() {
                    ops.push(s.save_op());
                }
                drop(s);
                return (existing, true, ops);
            }
            // Clean start: the old session and everything queued for it ends here.
            generation = s.generation + 1;
            self.remove_subscriptions(&s);
            count_discarded(&s);
            drop(s);
            ops.push(Op::DeleteSession {
                client_id: client_id.to_string(),
            });
        }
        let id: Arc<str> = Arc::from(client_id);
        let mut fresh = Session::new(id.clone(), protocol, expiry_interval);
        fresh.generation = generation;
        fresh.link = Some(link);
        fresh.offline_since = None;
        if fresh.persistent() {
            ops.push(fresh.save_op());
        }
        let fresh = Arc::new(Mutex::new(fresh));
        sessions.insert(id, fresh.clone());
        metrics::gauge!(m::SESSIONS).set(sessions.len() as f64);
        (fresh, false, ops)
    }

    /// The connection `conn_id` has ended. A session with expiry 0 ends with it.
    pub(crate) fn detach(&self, session: &SessionRef, conn_id: u64) {
        let mut s = lock(session);
        if s.link.as_ref().is_none_or(|l| l.id != conn_id) {
            return; // taken over: the session belongs to the new connection now
        }
        s.link = None;
        s.offline_since = Some(Instant::now());
        if s.persistent() {
            return;
        }
        let client_id = s.client_id.clone();
        self.remove_subscriptions(&s);
        count_discarded(&s);
        drop(s);
        let mut sessions = lock(&self.inner.sessions);
        if sessions
            .get(&client_id)
            .is_some_and(|cur| Arc::ptr_eq(cur, session))
        {
            sessions.remove(&client_id);
        }
        metrics::gauge!(m::SESSIONS).set(sessions.len() as f64);
        drop(sessions);
        // It may have been persistent earlier (expiry lowered to 0 at DISCONNECT).
        self.submit_detached(vec![Op::DeleteSession {
            client_id: client_id.to_string(),
        }]);
    }

    pub(crate) fn remove_subscriptions(&self, s: &Session) {
        let mut tree = self.inner.subs.write().unwrap_or_else(|e| e.into_inner());
        for filter in s.subscriptions.keys() {
            let (group, f) = split(filter);
            tree.remove(f, group, &s.client_id);
        }
    }

    /// Add a subscription to the tree and the session; returns whether it existed before.
    pub(crate) fn add_subscription(
        &self,
        s: &mut Session,
        filter: &str,
        options: SubscriptionOptions,
        identifier: Option<u32>,
    ) -> bool {
        let entry = SubEntry {
            options,
            identifier,
        };
        let (group, f) = split(filter);
        self.inner
            .subs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(f, group, &s.client_id, entry);
        s.subscriptions.insert(filter.to_string(), entry).is_some()
    }

    /// Remove a subscription; returns whether it existed.
    pub(crate) fn remove_subscription(&self, s: &mut Session, filter: &str) -> bool {
        if s.subscriptions.remove(filter).is_none() {
            return false;
        }
        let (group, f) = split(filter);
        self.inner
            .subs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(f, group, &s.client_id);
        true
    }

    /// Retained messages for a new subscription to `filter`.
    pub(crate) fn retained_for(&self, filter: &str) -> Vec<Arc<Message>> {
        self.inner
            .retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .matching(filter, now_ms())
    }

    /// Publish a lifecycle event (QoS 1, not retained).
    pub(crate) fn lifecycle(&self, topic: Option<String>, body: String) {
        if !self.inner.cfg.lifecycle_events {
            return;
        }
        let Some(topic) = topic else { return };
        drop(self.route(Arc::new(Message::event(topic, body))));
    }

    fn restore(&self, snapshot: airlock_store::Snapshot) -> RestoreSummary {
        let mut summary = RestoreSummary::default();
        let mut stale = Vec::new();
        {
            let mut retained = self
                .inner
                .retained
                .write()
                .unwrap_or_else(|e| e.into_inner());
            for (topic, bytes) in snapshot.retained {
                match persist::decode::<RetainedRecord>(&bytes) {
                    Ok(r) => {
                        retained.apply(Arc::new(r.message));
                        summary.retained += 1;
                    }
                    Err(e) => {
                        tracing::error!(%topic, error = %e, "skipping unreadable retained message");
                        summary.skipped += 1;
                    }
                }
            }
        }
        let mut sessions = lock(&self.inner.sessions);
        for (client_id, bytes) in snapshot.sessions {
            let record = match persist::decode::<SessionRecord>(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(%client_id, error = %e, "skipping unreadable session");
                    summary.skipped += 1;
                    stale.push(Op::DeleteSession { client_id });
                    continue;
                }
            };
            let protocol = if record.protocol == 5 {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            };
            let id: Arc<str> = Arc::from(client_id.as_str());
            let mut s = Session::new(id.clone(), protocol, record.expiry_interval);
            for sub in record.subscriptions {
                let options = SubscriptionOptions {
                    qos: QoS::from_u8(sub.qos).unwrap_or(QoS::AtMostOnce),
                    no_local: sub.no_local,
                    retain_as_published: sub.retain_as_published,
                    retain_handling: sub.retain_handling,
                };
                self.add_subscription(&mut s, &sub.filter, options, sub.identifier);
            }
            sessions.insert(id, Arc::new(Mutex::new(s)));
            summary.sessions += 1;
        }
        for (client_id, seq, bytes) in snapshot.messages {
            let Some(session) = sessions.get(client_id.as_str()) else {
                stale.push(Op::DeleteMessage { client_id, seq });
                continue;
            };
            let record = match persist::decode::<DeliveryRecord>(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(%client_id, seq, error = %e, "skipping unreadable queued message");
                    summary.skipped += 1;
                    stale.push(Op::DeleteMessage { client_id, seq });
                    continue;
                }
            };
            let mut s = lock(session);
            s.next_seq = s.next_seq.max(seq + 1);
            let delivery = Delivery {
                msg: Arc::new(record.message),
                qos: QoS::from_u8(record.qos).unwrap_or(QoS::AtLeastOnce),
                retain: record.retain,
                subscription_ids: record.subscription_ids,
                seq: Some(seq),
            };
            match record.state {
                DeliveryState::Queued => {
                    s.queued_bytes += delivery.msg.payload.len();
                    s.queue.push_back(delivery);
                }
                DeliveryState::Sent(pid) => {
                    s.inflight.insert(
                        pid,
                        Inflight {
                            delivery,
                            state: InflightState::Published,
                        },
                    );
                }
                DeliveryState::Released(pid) => {
                    s.inflight.insert(
                        pid,
                        Inflight {
                            delivery,
                            state: InflightState::Released,
                        },
                    );
                }
            }
            summary.messages += 1;
        }
        metrics::gauge!(m::SESSIONS).set(sessions.len() as f64);
        let queued: usize = sessions.values().map(|s| lock(s).queue.len()).sum();
        metrics::gauge!(m::QUEUED).set(queued as f64);
        drop(sessions);
        self.submit_detached(stale);
        summary
    }

    fn spawn_expiry_sweeper(&self) {
        let weak = Arc::downgrade(&self.inner);
        let period = Duration::from_secs(self.inner.cfg.expiry_sweep_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let broker = Broker { inner };
                broker.expire_sessions();
            }
        });
    }

    fn expire_sessions(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut sessions = lock(&self.inner.sessions);
            sessions.retain(|id, s| {
                let s = lock(s);
                let due = s.link.is_none()
                    && s.offline_since.is_some_and(|t| {
                        now.duration_since(t) >= Duration::from_secs(u64::from(s.expiry_interval))
                    });
                if due {
                    expired.push((
                        id.clone(),
                        s.subscriptions.keys().cloned().collect::<Vec<_>>(),
                        s.queue.len(),
                    ));
                }
                !due
            });
            metrics::gauge!(m::SESSIONS).set(sessions.len() as f64);
        }
        if expired.is_empty() {
            return;
        }
        let mut ops = Vec::new();
        let mut tree = self.inner.subs.write().unwrap_or_else(|e| e.into_inner());
        for (id, filters, queued) in expired {
            for filter in filters {
                let (group, f) = split(&filter);
                tree.remove(f, group, &id);
            }
            if queued > 0 {
                metrics::counter!(m::DROPPED, "reason" => "session_expired")
                    .increment(queued as u64);
                metrics::gauge!(m::QUEUED).decrement(queued as f64);
            }
            tracing::info!(client_id = %id, dropped = queued, "session expired");
            ops.push(Op::DeleteSession {
                client_id: id.to_string(),
            });
        }
        drop(tree);
        self.submit_detached(ops);
    }
}

/// A session ends with messages still queued or in flight: they go with it (MQTT semantics),
/// counted as `reason="session_ended"` so no message disappears unseen.
fn count_discarded(s: &Session) {
    let queued = s.queue.len();
    let lost = queued + s.inflight.len();
    metrics::gauge!(m::QUEUED).decrement(queued as f64);
    if lost > 0 {
        metrics::counter!(m::DROPPED, "reason" => "session_ended").increment(lost as u64);
        tracing::info!(client_id = %s.client_id, messages = lost, "session ended with undelivered messages; discarded");
    }
}

/// Split `$share/{group}/{filter}` into its group and filter.
pub(crate) fn split(filter: &str) -> (Option<&str>, &str) {
    match topic::split_shared(filter) {
        Some((g, f)) => (Some(g), f),
        None => (None, filter),
    }
}
