//! Policies, their versions and their attachments.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use airlock_registry::{Event, Policy, PolicyTarget, PolicyVersionId};

use crate::error::ApiError;
use crate::extract::{JsonBody, Path, Query};
use crate::{AdminContext, Ctx, run};

pub(crate) fn policy_arn(c: &AdminContext, name: &str) -> String {
    c.arn(&format!("policy/{name}"))
}

fn target_arn(c: &AdminContext, target: &PolicyTarget) -> String {
    match target {
        PolicyTarget::Certificate(id) => c.arn(&format!("cert/{id}")),
        PolicyTarget::ThingGroup(name) => c.arn(&format!("thinggroup/{name}")),
    }
}

fn policy_missing(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "policy \"{name}\" does not exist; list them with ListPolicies"
    ))
}

/// A `policyDocument`: AWS sends the document as a JSON string; a JSON object is accepted
/// too (and stored as its compact text) for hand-written requests.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Document {
    Text(String),
    Object(serde_json::Map<String, Value>),
}

impl Document {
    pub(crate) fn into_text(self) -> String {
        match self {
            Document::Text(s) => s,
            Document::Object(o) => Value::Object(o).to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatePolicy {
    policy_document: Document,
}

pub(crate) async fn create_policy(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CreatePolicy>,
) -> Response {
    run(ctx, move |c| {
        let document = req.policy_document.into_text();
        c.mutate(|r| r.create_policy(&name, &document))?;
        Ok(json!({
            "policyName": name,
            "policyArn": policy_arn(c, &name),
            "policyDocument": document,
            "policyVersionId": "1",
        }))
    })
    .await
}

fn read_policy(c: &AdminContext, name: &str) -> Result<Policy, ApiError> {
    c.registry
        .read()
        .policy(name)
        .cloned()
        .ok_or_else(|| policy_missing(name))
}

pub(crate) async fn get_policy(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        let p = read_policy(c, &name)?;
        Ok(json!({
            "policyName": p.policy_name,
            "policyArn": policy_arn(c, &p.policy_name),
            "policyDocument": &*p.default_version().policy_document,
            "defaultVersionId": p.default_version_id,
            "creationDate": p.creation_date,
            "lastModifiedDate": p.last_modified_date,
        }))
    })
    .await
}

pub(crate) async fn list_policies(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let list: Vec<Value> = reg
            .policies()
            .map(|p| json!({"policyName": p.policy_name, "policyArn": policy_arn(c, &p.policy_name)}))
            .collect();
        Ok(json!({ "policies": list }))
    })
    .await
}

pub(crate) async fn delete_policy(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_policy(&name))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetAsDefault {
    set_as_default: Option<bool>,
}

pub(crate) async fn create_policy_version(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(q): Query<SetAsDefault>,
    JsonBody(req): JsonBody<CreatePolicy>,
) -> Response {
    run(ctx, move |c| {
        let document = req.policy_document.into_text();
        let set_as_default = q.set_as_default.unwrap_or(false);
        let event = c.mutate(|r| r.create_policy_version(&name, &document, set_as_default))?;
        let (version_id, is_default) = match event {
            Event::PolicyVersionCreated {
                version_id,
                is_default,
                ..
            } => (version_id, is_default),
            other => {
                return Err(ApiError::internal(format!(
                    "the registry answered CreatePolicyVersion with {other:?}; the version may have been created, check ListPolicyVersions"
                )));
            }
        };
        Ok(json!({
            "policyArn": policy_arn(c, &name),
            "policyDocument": document,
            "policyVersionId": version_id,
            "isDefaultVersion": is_default,
        }))
    })
    .await
}

pub(crate) async fn list_policy_versions(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let p = read_policy(c, &name)?;
        let versions: Vec<Value> = p
            .versions
            .iter()
            .map(|v| {
                json!({
                    "versionId": v.version_id,
                    "isDefaultVersion": v.is_default_version,
                    "createDate": v.create_date,
                })
            })
            .collect();
        Ok(json!({ "policyVersions": versions }))
    })
    .await
}

fn version_id(s: &str) -> Result<PolicyVersionId, ApiError> {
    Ok(s.parse::<PolicyVersionId>()?)
}

pub(crate) async fn get_policy_version(
    State(ctx): State<Ctx>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    run(ctx, move |c| {
        let id = version_id(&version)?;
        let p = read_policy(c, &name)?;
        let v = p.version(id).ok_or_else(|| {
            ApiError::not_found(format!(
                "policy \"{name}\" has no version {id}; list them with ListPolicyVersions"
            ))
        })?;
        Ok(json!({
            "policyArn": policy_arn(c, &p.policy_name),
            "policyName": p.policy_name,
            "policyDocument": &*v.policy_document,
            "policyVersionId": v.version_id,
            "isDefaultVersion": v.is_default_version,
            "creationDate": v.create_date,
            "lastModifiedDate": p.last_modified_date,
        }))
    })
    .await
}

pub(crate) async fn set_default_policy_version(
    State(ctx): State<Ctx>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    run(ctx, move |c| {
        let id = version_id(&version)?;
        c.mutate(|r| r.set_default_policy_version(&name, id))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn delete_policy_version(
    State(ctx): State<Ctx>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    run(ctx, move |c| {
        let id = version_id(&version)?;
        c.mutate(|r| r.delete_policy_version(&name, id))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct Target {
    target: String,
}

pub(crate) async fn attach_policy(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<Target>,
) -> Response {
    run(ctx, move |c| {
        let target = PolicyTarget::parse(&req.target)?;
        c.mutate(|r| r.attach_policy(&name, &target))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn detach_policy(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<Target>,
) -> Response {
    run(ctx, move |c| {
        let target = PolicyTarget::parse(&req.target)?;
        c.mutate(|r| r.detach_policy(&name, &target))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct Recursive {
    recursive: Option<bool>,
}

pub(crate) async fn list_attached_policies(
    State(ctx): State<Ctx>,
    Path(target): Path<String>,
    Query(q): Query<Recursive>,
) -> Response {
    run(ctx, move |c| {
        let target = PolicyTarget::parse(&target)?;
        let reg = c.registry.read();
        // With `recursive`, a thing group's list includes what its ancestors pass down.
        let targets: Vec<PolicyTarget> = match &target {
            PolicyTarget::Certificate(id) => {
                if reg.certificate(id).is_none() {
                    return Err(ApiError::not_found(format!(
                        "certificate {id} does not exist; list them with ListCertificates"
                    )));
                }
                vec![target.clone()]
            }
            PolicyTarget::ThingGroup(name) => {
                if reg.thing_group(name).is_none() {
                    return Err(ApiError::not_found(format!(
                        "thing group \"{name}\" does not exist; list them with ListThingGroups"
                    )));
                }
                if q.recursive.unwrap_or(false) {
                    reg.group_ancestry(name)
                        .into_iter()
                        .map(|g| PolicyTarget::ThingGroup(g.to_string()))
                        .collect()
                } else {
                    vec![target.clone()]
                }
            }
        };
        let mut names: Vec<&str> = Vec::new();
        for name in targets.iter().flat_map(|t| reg.policies_for_target(t)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let list: Vec<Value> = names
            .into_iter()
            .map(|n| json!({"policyName": n, "policyArn": policy_arn(c, n)}))
            .collect();
        Ok(json!({ "policies": list }))
    })
    .await
}

pub(crate) async fn list_targets_for_policy(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        if reg.policy(&name).is_none() {
            return Err(policy_missing(&name));
        }
        let targets: Vec<String> = reg
            .targets_for_policy(&name)
            .map(|t| target_arn(c, t))
            .collect();
        Ok(json!({ "targets": targets }))
    })
    .await
}
