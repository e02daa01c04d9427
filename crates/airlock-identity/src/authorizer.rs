//! [`PolicyAuthorizer`]: the broker's [`Authorizer`] backed by the registry and the policy
//! engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_broker::{Authorization, Authorizer, ConnectRequest, ConnectionContext, Principal};
use airlock_policy::{
    Action, Decision, DenyReason, Engine, PolicyDocument, PolicyLimits, check_client_id,
};
use airlock_registry::{PolicyValidator, RegistryStore};

use crate::cache::{DecisionCache, KeyRef, Request};
use crate::config::IdentityConfig;
use crate::denial::{Denial, StatementRef};
use crate::explain::{AuthorizationTest, Explanation, TestError, test_authorization};
use crate::metrics_names as m;
use crate::prepare::{ConnectFacts, Identity, Prepared, Preparer, Who};

/// Decision-cache counters since the authorizer was made (also exported as the
/// `airlock_authz_cache_{hits,misses}_total` metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Answers the policy engine computed.
    pub misses: u64,
}

/// Authorizes every CONNECT, PUBLISH, SUBSCRIBE filter and delivery with the AWS IoT
/// policies the registry holds for the connection's certificate (or, for anonymous
/// listeners, the policy configured for the endpoint).
///
/// * CONNECT: the certificate must be registered and ACTIVE and within its validity period;
///   the client id must pass [`airlock_policy::check_client_id`]; then `iot:Connect` on
///   `client/{clientId}` with `iot:ConnectAttributes` and `iot:LastWillTopic`.
/// * PUBLISH: `iot:Publish` on `topic/{topic}`, and `iot:RetainPublish` too when retained.
/// * SUBSCRIBE: `iot:Subscribe` on `topicfilter/{filter}`, the filter exactly as sent —
///   `$share/{group}/{filter}` included, as AWS authorizes shared subscriptions.
/// * Delivery: `iot:Receive` on `topic/{topic}`.
///
/// Answers other than CONNECT are cached until [`RegistryStore::generation`] moves, so a
/// new policy version, an attachment or a status change applies to the next message.
pub struct PolicyAuthorizer {
    registry: Arc<RegistryStore>,
    engine: Engine,
    config: IdentityConfig,
    preparer: Preparer,
    cache: DecisionCache,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for PolicyAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyAuthorizer")
            .field("engine", &self.engine)
            .field("config", &self.config)
            .field("cache", &self.cache_stats())
            .finish_non_exhaustive()
    }
}

impl PolicyAuthorizer {
    /// An authorizer over `registry`, deciding with `engine` (whose region and account make
    /// up the resource ARNs policies are written against).
    pub fn new(
        registry: Arc<RegistryStore>,
        engine: Engine,
        config: IdentityConfig,
    ) -> PolicyAuthorizer {
        PolicyAuthorizer {
            preparer: Preparer::new(config.policy_limits),
            cache: DecisionCache::new(config.cache_max_entries),
            registry,
            engine,
            config,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The policy engine in use.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The configuration in use.
    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// Decision-cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// [`test_authorization`] against this authorizer's registry, engine and settings.
    pub fn test_authorization(&self, test: &AuthorizationTest) -> Result<Explanation, TestError> {
        test_authorization(&self.registry.read(), &self.engine, &self.config, test)
    }

    fn anonymous_policy(&self, endpoint_id: &str) -> Option<&str> {
        self.config
            .anonymous_policies
            .get(endpoint_id)
            .map(String::as_str)
    }

    fn check(
        &self,
        ctx: &ConnectionContext,
        client_id: &str,
        request: Request,
        path: &str,
    ) -> Authorization {
        // Read before the registry is consulted: see DecisionCache::put.
        let generation = self.registry.generation();
        let principal = match &ctx.principal {
            Principal::Certificate { certificate_id, .. } => certificate_id.as_str(),
            Principal::Anonymous => "",
        };
        let key = KeyRef {
            principal,
            endpoint: &ctx.endpoint_id,
            vpce: ctx.source_vpce.as_deref(),
            domain: ctx.server_name.as_deref(),
            ip: Some(ctx.peer.ip()),
            client_id,
            request,
            path,
        };
        if let Some(answer) = self.cache.get(&key, generation) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::CACHE_HITS).increment(1);
            return answer;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::CACHE_MISSES).increment(1);

        let (action, also, kind) = match request {
            Request::Publish => (Action::Publish, None, "topic"),
            // AWS: a retained publish needs iot:Publish and iot:RetainPublish.
            Request::RetainPublish => (Action::Publish, Some(Action::RetainPublish), "topic"),
            Request::Subscribe => (Action::Subscribe, None, "topicfilter"),
            Request::Receive => (Action::Receive, None, "topic"),
        };
        let resource = format!("{kind}/{path}");
        let who = who(ctx, client_id);
        let result = {
            let reg = self.registry.read();
            self.preparer
                .prepare(&reg, self.anonymous_policy(&ctx.endpoint_id), &who, None)
                .and_then(|p| {
                    let first = decide(&self.engine, &p, action, &resource)?;
                    match also {
                        Some(a) => decide(&self.engine, &p, a, &resource),
                        None => Ok(first),
                    }
                })
        };
        let answer = self.answer(ctx, client_id, action, &resource, result);
        self.cache.put(&key, generation, answer.clone());
        answer
    }

    /// The credential provider's question (`GET /role-aliases/{alias}/credentials`): may the
    /// connection's certificate assume the role behind `role_alias`, that is, do its policies
    /// allow `iot:AssumeRoleWithCertificate` on `rolealias/{role_alias}`?
    ///
    /// Prepared as every other action (certificate ACTIVE, its policies, its thing's group
    /// policies), except that there is no client id: `iot:ClientId` is absent, and the thing
    /// whose `iot:Connection.Thing.*` variables (and group policies) apply is `thing_name`,
    /// the request's `x-amzn-iot-thingname`, which the caller has already checked is attached
    /// to the certificate. Without it no thing applies. Not cached (a device asks about once
    /// an hour); a refusal is logged and counted as every other.
    pub fn assume_role_with_certificate(
        &self,
        ctx: &ConnectionContext,
        thing_name: Option<&str>,
        role_alias: &str,
    ) -> Result<StatementRef, Denial> {
        let action = Action::AssumeRoleWithCertificate;
        let resource = format!("rolealias/{role_alias}");
        // The registry's thing lookups take the thing from the client id; the header's thing
        // stands in for it, and the client id is removed from the context afterwards.
        let who = who(ctx, thing_name.unwrap_or(""));
        let result = {
            let reg = self.registry.read();
            self.preparer
                .prepare(&reg, None, &who, None)
                .and_then(|mut p| {
                    p.ctx.client_id = None;
                    if thing_name.is_none() {
                        p.ctx.thing = None;
                    }
                    decide(&self.engine, &p, action, &resource)
                })
        };
        self.log(ctx, "", action, &resource, &result);
        result
    }

    /// Turns a result into the broker's answer, logging and counting a refusal.
    fn answer(
        &self,
        ctx: &ConnectionContext,
        client_id: &str,
        action: Action,
        resource: &str,
        result: Result<StatementRef, Denial>,
    ) -> Authorization {
        self.log(ctx, client_id, action, resource, &result);
        match result {
            Ok(_) => Authorization::Allow,
            Err(d) => Authorization::Deny {
                reason: d.to_string(),
            },
        }
    }

    /// Logs a decision (a refusal at info, with the statement that decided) and counts a
    /// refusal.
    fn log(
        &self,
        ctx: &ConnectionContext,
        client_id: &str,
        action: Action,
        resource: &str,
        result: &Result<StatementRef, Denial>,
    ) {
        match result {
            Ok(s) => {
                tracing::debug!(
                    principal = %ctx.principal.identifier(),
                    endpoint = %ctx.endpoint_id,
                    client_id,
                    action = %action,
                    resource,
                    policy = %s.policy,
                    statement = s.statement,
                    sid = s.sid.as_deref().unwrap_or(""),
                    "authorized"
                );
            }
            Err(d) => {
                let action = d.action().unwrap_or(action);
                let s = d.statement();
                // What a plant engineer reads: who, what, and the statement that decided.
                tracing::info!(
                    principal = %ctx.principal.identifier(),
                    endpoint = %ctx.endpoint_id,
                    peer = %ctx.peer,
                    client_id,
                    action = %action,
                    resource,
                    policy = s.map_or("", |s| s.policy.as_str()),
                    statement = s.map(|s| s.statement),
                    sid = s.and_then(|s| s.sid.as_deref()).unwrap_or(""),
                    "not authorized: {d}"
                );
                metrics::counter!(m::DENIED, "action" => action.name()).increment(1);
            }
        }
    }
}

impl Authorizer for PolicyAuthorizer {
    fn connect(&self, ctx: &ConnectionContext, request: &ConnectRequest<'_>) -> Authorization {
        let who = who(ctx, request.client_id);
        let facts = ConnectFacts {
            persistent: request.persistent,
            will_topic: request.will_topic,
            now: unix_now(),
        };
        let resource = format!("client/{}", request.client_id);
        let result = {
            let reg = self.registry.read();
            self.preparer
                .prepare(
                    &reg,
                    self.anonymous_policy(&ctx.endpoint_id),
                    &who,
                    Some(&facts),
                )
                .and_then(|p| {
                    check_client_id(request.client_id, self.config.client_id_rule())
                        .map_err(Denial::ClientId)?;
                    decide(&self.engine, &p, Action::Connect, &resource)
                })
        };
        self.answer(ctx, request.client_id, Action::Connect, &resource, result)
    }

    fn publish(
        &self,
        ctx: &ConnectionContext,
        client_id: &str,
        topic: &str,
        retain: bool,
    ) -> Authorization {
        let request = if retain {
            Request::RetainPublish
        } else {
            Request::Publish
        };
        self.check(ctx, client_id, request, topic)
    }

    fn subscribe(&self, ctx: &ConnectionContext, client_id: &str, filter: &str) -> Authorization {
        // The filter exactly as sent: AWS authorizes a shared subscription on
        // `topicfilter/$share/{group}/{filter}` (its SDK samples grant exactly that), so a
        // policy can restrict which groups a client may join.
        self.check(ctx, client_id, Request::Subscribe, filter)
    }

    fn receive(&self, ctx: &ConnectionContext, client_id: &str, topic: &str) -> Authorization {
        self.check(ctx, client_id, Request::Receive, topic)
    }
}

fn who<'a>(ctx: &'a ConnectionContext, client_id: &'a str) -> Who<'a> {
    let identity = match &ctx.principal {
        Principal::Certificate {
            certificate_id,
            chain,
        } => Identity::Certificate {
            id: certificate_id,
            der: chain.first().map(Vec::as_slice),
        },
        Principal::Anonymous => Identity::Anonymous,
    };
    Who {
        identity,
        endpoint_id: Some(&ctx.endpoint_id),
        source_vpce: ctx.source_vpce.as_deref(),
        source_ip: Some(ctx.peer.ip()),
        client_id,
        domain_name: ctx.server_name.as_deref(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Decides `action` on `resource` over the prepared policies: default deny, and an explicit
/// `Deny` in any policy wins over every `Allow`.
pub(crate) fn decide(
    engine: &Engine,
    prepared: &Prepared,
    action: Action,
    resource: &str,
) -> Result<StatementRef, Denial> {
    let mut allow = None;
    // One policy at a time: the policies are shared (`Arc`) with the memo, and the engine's
    // rule over several documents is exactly "any Deny wins, else any Allow".
    for p in &prepared.policies {
        match engine.evaluate(std::slice::from_ref(&**p), action, resource, &prepared.ctx) {
            Decision::Deny {
                reason:
                    DenyReason::Explicit {
                        policy,
                        statement,
                        sid,
                    },
            } => {
                return Err(Denial::ExplicitDeny {
                    action,
                    resource: resource.to_string(),
                    statement: StatementRef {
                        policy: policy.to_string(),
                        statement,
                        sid: sid.map(str::to_string),
                    },
                });
            }
            Decision::Allow {
                policy,
                statement,
                sid,
            } if allow.is_none() => {
                allow = Some(StatementRef {
                    policy: policy.to_string(),
                    statement,
                    sid: sid.map(str::to_string),
                });
            }
            _ => {}
        }
    }
    allow.ok_or_else(|| Denial::NoMatchingAllow {
        action,
        resource: resource.to_string(),
        policies: prepared.policies.iter().map(|p| p.name.clone()).collect(),
    })
}

/// A registry policy validator that parses documents with the policy engine, so an invalid
/// document is refused when it is created, naming the offending field. Install it with
/// [`RegistryStore::set_policy_validator`].
pub fn policy_validator(limits: PolicyLimits) -> PolicyValidator {
    Arc::new(move |document: &str| {
        PolicyDocument::parse(document, &limits)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}
