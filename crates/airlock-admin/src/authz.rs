//! TestAuthorization: AWS's request and response, answered by the broker's own authorizer,
//! plus Airlock's extensions (`thingName`, `sourceIp`, `endpointId`, `action`, and per result
//! `reason` and `statements`).

use std::net::IpAddr;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use airlock_identity::{AuthorizationTest, Denial, Explanation, TestPrincipal};
use airlock_policy::{Action, Effect};

use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::policies::policy_arn;
use crate::{AdminContext, Ctx, certificate_id_of, run};

/// AWS allows at most 10 authInfos of at most 100 resources each.
const MAX_AUTH_INFOS: usize = 10;
const MAX_RESOURCES: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientIdQuery {
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthInfo {
    action_type: Option<String>,
    action: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestRequest {
    principal: Option<String>,
    thing_name: Option<String>,
    source_ip: Option<String>,
    endpoint_id: Option<String>,
    #[serde(default)]
    auth_infos: Vec<AuthInfo>,
    #[serde(default)]
    policy_names_to_add: Vec<String>,
    #[serde(default)]
    policy_names_to_skip: Vec<String>,
    cognito_identity_pool_id: Option<String>,
}

/// AWS's `actionType`.
fn action_type(s: &str) -> Result<Action, ApiError> {
    match s {
        "CONNECT" => Ok(Action::Connect),
        "PUBLISH" => Ok(Action::Publish),
        "SUBSCRIBE" => Ok(Action::Subscribe),
        "RECEIVE" => Ok(Action::Receive),
        other => Err(ApiError::invalid(format!(
            "actionType \"{other}\" is invalid: expected CONNECT, PUBLISH, SUBSCRIBE or RECEIVE (or give an iot: action in \"action\")"
        ))),
    }
}

fn action_type_name(action: Action) -> Option<&'static str> {
    match action {
        Action::Connect => Some("CONNECT"),
        Action::Publish => Some("PUBLISH"),
        Action::Subscribe => Some("SUBSCRIBE"),
        Action::Receive => Some("RECEIVE"),
        _ => None,
    }
}

fn action_of(info: &AuthInfo) -> Result<Action, ApiError> {
    let from_type = info.action_type.as_deref().map(action_type).transpose()?;
    let from_name = info
        .action
        .as_deref()
        .map(|a| {
            a.parse::<Action>()
                .map_err(|e| ApiError::invalid(e.to_string()))
        })
        .transpose()?;
    match (from_type, from_name) {
        (Some(t), Some(n)) if t != n => Err(ApiError::invalid(format!(
            "actionType {} and action {} disagree; give one of them",
            info.action_type.as_deref().unwrap_or_default(),
            n
        ))),
        (Some(a), _) | (None, Some(a)) => Ok(a),
        (None, None) => Err(ApiError::invalid(
            "each authInfo needs an actionType (CONNECT, PUBLISH, SUBSCRIBE, RECEIVE) or an action (e.g. iot:RetainPublish)",
        )),
    }
}

pub(crate) async fn test_authorization(
    State(ctx): State<Ctx>,
    Query(q): Query<ClientIdQuery>,
    JsonBody(req): JsonBody<TestRequest>,
) -> Response {
    run(ctx, move |c| answer(c, q.client_id, req)).await
}

fn answer(
    c: &AdminContext,
    client_id: Option<String>,
    req: TestRequest,
) -> Result<Value, ApiError> {
    if !req.policy_names_to_add.is_empty() || !req.policy_names_to_skip.is_empty() {
        return Err(ApiError::invalid(
            "policyNamesToAdd and policyNamesToSkip are not supported: attach or detach the policies (or create a test certificate) and test again",
        ));
    }
    if req.cognito_identity_pool_id.is_some() {
        return Err(ApiError::invalid(
            "cognitoIdentityPoolId is not supported: Airlock authenticates devices by certificate",
        ));
    }
    let principal = match (&req.principal, &req.thing_name) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give either principal or thingName, not both",
            ));
        }
        (Some(p), None) => TestPrincipal::Certificate(certificate_id_of(p)?),
        (None, Some(t)) => TestPrincipal::Thing(t.clone()),
        (None, None) => TestPrincipal::Anonymous,
    };
    let source_ip = req
        .source_ip
        .as_deref()
        .map(|s| {
            s.parse::<IpAddr>().map_err(|_| {
                ApiError::invalid(format!("sourceIp \"{s}\" is not an IPv4 or IPv6 address"))
            })
        })
        .transpose()?;
    // Without a clientId, a thing is tested with its name as client id (AWS's convention
    // for things), anything else with an empty one.
    let client_id = client_id
        .or_else(|| req.thing_name.clone())
        .unwrap_or_default();
    if req.auth_infos.is_empty() || req.auth_infos.len() > MAX_AUTH_INFOS {
        return Err(ApiError::invalid(format!(
            "authInfos must hold 1–{MAX_AUTH_INFOS} entries"
        )));
    }
    let mut results = Vec::with_capacity(req.auth_infos.len());
    for info in &req.auth_infos {
        let action = action_of(info)?;
        if info.resources.is_empty() || info.resources.len() > MAX_RESOURCES {
            return Err(ApiError::invalid(format!(
                "each authInfo's resources must hold 1–{MAX_RESOURCES} ARNs or kind/path resources such as topic/a/b"
            )));
        }
        let mut explanations = Vec::with_capacity(info.resources.len());
        for resource in &info.resources {
            let mut test = AuthorizationTest::new(
                principal.clone(),
                client_id.clone(),
                action,
                resource.clone(),
            );
            test.source_ip = source_ip;
            test.endpoint_id = req.endpoint_id.clone();
            explanations.push(c.authorizer.test_authorization(&test)?);
        }
        results.push(auth_result(c, info, action, &explanations));
    }
    Ok(json!({ "authResults": results }))
}

/// Adds `name` to `list` once.
fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// One authResult for an authInfo: ALLOWED only if every resource is allowed; an explicit
/// Deny on any resource makes it EXPLICIT_DENY.
fn auth_result(
    c: &AdminContext,
    info: &AuthInfo,
    action: Action,
    explanations: &[Explanation],
) -> Value {
    let mut allowed = Vec::new();
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    let mut reasons = Vec::new();
    let mut statements: Vec<Value> = Vec::new();
    for e in explanations {
        if let Some(s) = &e.allowed_by {
            push_unique(&mut allowed, &s.policy);
        }
        match &e.denial {
            None => {}
            Some(d @ Denial::ExplicitDeny { statement, .. }) => {
                push_unique(&mut explicit, &statement.policy);
                reasons.push(d.to_string());
            }
            Some(d) => {
                for p in &e.policies {
                    push_unique(&mut implicit, p);
                }
                reasons.push(d.to_string());
            }
        }
        for m in &e.matching_statements {
            let mut s = json!({
                "policyName": m.statement.policy,
                "statementIndex": m.statement.statement,
                "effect": match m.effect { Effect::Allow => "Allow", Effect::Deny => "Deny" },
            });
            if let Some(sid) = &m.statement.sid {
                s["sid"] = sid.clone().into();
            }
            if !statements.contains(&s) {
                statements.push(s);
            }
        }
    }
    let decision = if !explicit.is_empty() {
        "EXPLICIT_DENY"
    } else if !reasons.is_empty() {
        "IMPLICIT_DENY"
    } else {
        "ALLOWED"
    };
    let policies = |names: &[String]| -> Value {
        names
            .iter()
            .map(|n| json!({"policyName": n, "policyArn": policy_arn(c, n)}))
            .collect()
    };
    let mut auth_info = json!({"action": action.name(), "resources": info.resources});
    if let Some(t) = action_type_name(action) {
        auth_info["actionType"] = t.into();
    }
    let mut out = json!({
        "authInfo": auth_info,
        "allowed": {"policies": policies(&allowed)},
        "denied": {
            "implicitDeny": {"policies": policies(&implicit)},
            "explicitDeny": {"policies": policies(&explicit)},
        },
        "authDecision": decision,
        "missingContextValues": [],
        "statements": statements,
    });
    if !reasons.is_empty() {
        out["reason"] = reasons.join("; ").into();
    }
    out
}
