//! `airlock policy test` (AWS TestAuthorization): the decision for one request, and the
//! statements behind it.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_policy::{Action, Effect, Engine, check_client_id};
use airlock_registry::Registry;

use crate::authorizer::decide;
use crate::config::IdentityConfig;
use crate::denial::{Denial, StatementRef};
use crate::prepare::{ConnectFacts, Identity, Preparer, Who};

/// Whose permissions to test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestPrincipal {
    /// A registered certificate, by id.
    Certificate(String),
    /// The one certificate attached to this thing.
    Thing(String),
    /// An unauthenticated client of the endpoint given in [`AuthorizationTest::endpoint_id`].
    Anonymous,
}

/// One request to test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationTest {
    /// Whose permissions.
    pub principal: TestPrincipal,
    /// The MQTT client id the device would use.
    pub client_id: String,
    /// The action, e.g. [`Action::Publish`].
    pub action: Action,
    /// `topic/a/b`, `topicfilter/a/#`, `client/c1`, or a full ARN.
    pub resource: String,
    /// Source address (`aws:SourceIp`), if the policy conditions on it.
    pub source_ip: Option<IpAddr>,
    /// Endpoint the device would come through (`aws:SourceVpce`); required for
    /// [`TestPrincipal::Anonymous`].
    pub endpoint_id: Option<String>,
    /// For `iot:Connect`: whether the session is persistent (`PersistentConnect`).
    pub persistent: bool,
    /// For `iot:Connect`: the will topic, if any (`LastWill`, `iot:LastWillTopic`).
    pub will_topic: Option<String>,
}

impl AuthorizationTest {
    /// A test of `action` on `resource` for `principal` using `client_id`, with no source
    /// address, endpoint, persistence or will.
    pub fn new(
        principal: TestPrincipal,
        client_id: impl Into<String>,
        action: Action,
        resource: impl Into<String>,
    ) -> AuthorizationTest {
        AuthorizationTest {
            principal,
            client_id: client_id.into(),
            action,
            resource: resource.into(),
            source_ip: None,
            endpoint_id: None,
            persistent: false,
            will_topic: None,
        }
    }
}

/// A statement that applies to the tested request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    /// Where it is.
    pub statement: StatementRef,
    /// Allow or Deny.
    pub effect: Effect,
}

/// The answer to an [`AuthorizationTest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Whether the request would be allowed.
    pub allowed: bool,
    /// The certificate whose policies were used (resolved from a thing, if one was given).
    pub certificate_id: Option<String>,
    /// The statement that allowed the request, when allowed.
    pub allowed_by: Option<StatementRef>,
    /// Why it would be refused, when refused (an explicit Deny names its statement).
    pub denial: Option<Denial>,
    /// Every statement whose action, resource and conditions match, Allow and Deny alike,
    /// in policy order.
    pub matching_statements: Vec<MatchedStatement>,
    /// The policies in force, in evaluation order (empty if the request was refused before
    /// policies were consulted, e.g. for an inactive certificate).
    pub policies: Vec<String>,
}

/// Why a test could not be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The thing does not exist.
    #[error("thing {0:?} does not exist; list things with 'airlock thing list'")]
    UnknownThing(String),
    /// The thing has no certificate attached.
    #[error("thing {0:?} has no certificate attached; attach one, or test with --cert ID instead")]
    ThingWithoutCertificate(String),
    /// The thing has several certificates attached.
    #[error("thing {thing:?} has {} certificates attached ({}); test with --cert ID instead", certificates.len(), certificates.join(", "))]
    ThingWithSeveralCertificates {
        /// The thing.
        thing: String,
        /// Its certificates.
        certificates: Vec<String>,
    },
    /// An anonymous test without an endpoint.
    #[error("an anonymous client is authorized by its endpoint's policy; give the endpoint id")]
    AnonymousWithoutEndpoint,
}

/// Decides `test` the way [`crate::PolicyAuthorizer`] would decide the live request, and
/// lists the statements that apply. Certificate status is honoured for every action; the
/// client-id rule, validity period, connect attributes and will topic apply to
/// `iot:Connect`. Pure: reads `registry`, changes nothing, uses no cache.
pub fn test_authorization(
    registry: &Registry,
    engine: &Engine,
    config: &IdentityConfig,
    test: &AuthorizationTest,
) -> Result<Explanation, TestError> {
    let certificate_id = match &test.principal {
        TestPrincipal::Certificate(id) => Some(id.clone()),
        TestPrincipal::Thing(name) => {
            if registry.thing(name).is_none() {
                return Err(TestError::UnknownThing(name.clone()));
            }
            let certs: Vec<String> = registry
                .principals_of_thing(name)
                .map(str::to_string)
                .collect();
            match certs.as_slice() {
                [] => return Err(TestError::ThingWithoutCertificate(name.clone())),
                [one] => Some(one.clone()),
                _ => {
                    return Err(TestError::ThingWithSeveralCertificates {
                        thing: name.clone(),
                        certificates: certs,
                    });
                }
            }
        }
        TestPrincipal::Anonymous => None,
    };
    let identity = match &certificate_id {
        Some(id) => Identity::Certificate { id, der: None },
        None => Identity::Anonymous,
    };
    let endpoint_id = test.endpoint_id.as_deref();
    let anonymous_policy = match (&identity, endpoint_id) {
        (Identity::Anonymous, None) => return Err(TestError::AnonymousWithoutEndpoint),
        (Identity::Anonymous, Some(e)) => config.anonymous_policies.get(e).map(String::as_str),
        _ => None,
    };
    let who = Who {
        identity,
        endpoint_id,
        source_vpce: None,
        source_ip: test.source_ip,
        client_id: &test.client_id,
        domain_name: None,
    };
    let connect = (test.action == Action::Connect).then(|| ConnectFacts {
        persistent: test.persistent,
        will_topic: test.will_topic.as_deref(),
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    });
    let refused = |denial: Denial, policies: Vec<String>| Explanation {
        allowed: false,
        certificate_id: certificate_id.clone(),
        allowed_by: None,
        denial: Some(denial),
        matching_statements: Vec::new(),
        policies,
    };

    let prepared = match Preparer::new(config.policy_limits).prepare(
        registry,
        anonymous_policy,
        &who,
        connect.as_ref(),
    ) {
        Ok(p) => p,
        Err(d) => return Ok(refused(d, Vec::new())),
    };
    let policies: Vec<String> = prepared.policies.iter().map(|p| p.name.clone()).collect();
    if connect.is_some()
        && let Err(e) = check_client_id(&test.client_id, config.client_id_rule())
    {
        return Ok(refused(Denial::ClientId(e), policies));
    }
    let matching_statements = prepared
        .policies
        .iter()
        .flat_map(|p| {
            engine.matching_statements(
                std::slice::from_ref(&**p),
                test.action,
                &test.resource,
                &prepared.ctx,
            )
        })
        .map(|s| MatchedStatement {
            statement: StatementRef {
                policy: s.policy.to_string(),
                statement: s.statement,
                sid: s.sid.map(str::to_string),
            },
            effect: s.effect,
        })
        .collect();
    let (allowed_by, denial) = match decide(engine, &prepared, test.action, &test.resource) {
        Ok(s) => (Some(s), None),
        Err(d) => (None, Some(d)),
    };
    Ok(Explanation {
        allowed: allowed_by.is_some(),
        certificate_id,
        allowed_by,
        denial,
        matching_statements,
        policies,
    })
}
