//! IAM-named role operations (CreateRole, GetRole, ListRoles, DeleteRole, PutRolePolicy,
//! GetRolePolicy, DeleteRolePolicy, ListRolePolicies) under `/iam/roles`. Airlock keeps the
//! roles its role aliases point at itself; permissions documents are checked with
//! `airlock_credentials::RolePolicy::parse`, installed on the registry by [`crate::router`].

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use airlock_registry::{PolicyValidator, Role};

use crate::error::ApiError;
use crate::extract::{JsonBody, Path};
use crate::policies::Document;
use crate::{Ctx, run};

/// The registry's role policy validator: airlock-credentials' parser, whose refusal names the
/// offending element.
pub(crate) fn role_policy_validator() -> PolicyValidator {
    Arc::new(|document: &str| {
        airlock_credentials::RolePolicy::parse(document)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

fn role_json(r: &Role) -> Value {
    json!({
        "roleName": r.role_name,
        "roleArn": r.role_arn,
        "roleId": crate::stable_id("role", &r.role_name),
        "maxSessionDuration": r.max_session_duration,
        "createDate": r.create_date,
    })
}

fn role_missing(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "role \"{name}\" does not exist; list them with ListRoles"
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateRole {
    max_session_duration: Option<u32>,
}

pub(crate) async fn create_role(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CreateRole>,
) -> Response {
    run(ctx, move |c| {
        let account = c.authorizer.engine().account().to_string();
        c.mutate(|r| r.create_role(&name, &account, req.max_session_duration))?;
        let reg = c.registry.read();
        let role = reg.role(&name).ok_or_else(|| role_missing(&name))?;
        Ok(json!({ "role": role_json(role) }))
    })
    .await
}

pub(crate) async fn get_role(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let role = reg.role(&name).ok_or_else(|| role_missing(&name))?;
        Ok(json!({ "role": role_json(role) }))
    })
    .await
}

pub(crate) async fn list_roles(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let roles: Vec<Value> = reg.roles().map(role_json).collect();
        Ok(json!({ "roles": roles }))
    })
    .await
}

pub(crate) async fn delete_role(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_role(&name))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutRolePolicy {
    policy_document: Option<Document>,
}

pub(crate) async fn put_role_policy(
    State(ctx): State<Ctx>,
    Path((role, policy)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutRolePolicy>,
) -> Response {
    run(ctx, move |c| {
        let document = req
            .policy_document
            .ok_or_else(|| ApiError::invalid("policyDocument is required"))?
            .into_text();
        c.mutate(|r| r.put_role_policy(&role, &policy, &document))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn get_role_policy(
    State(ctx): State<Ctx>,
    Path((role, policy)): Path<(String, String)>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let r = reg.role(&role).ok_or_else(|| role_missing(&role))?;
        let document = r.role_policies.get(&policy).ok_or_else(|| {
            ApiError::not_found(format!(
                "role \"{role}\" has no inline policy \"{policy}\"; list them with ListRolePolicies"
            ))
        })?;
        Ok(json!({
            "roleName": role,
            "policyName": policy,
            "policyDocument": document,
        }))
    })
    .await
}

pub(crate) async fn delete_role_policy(
    State(ctx): State<Ctx>,
    Path((role, policy)): Path<(String, String)>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_role_policy(&role, &policy))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn list_role_policies(
    State(ctx): State<Ctx>,
    Path(role): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let r = reg.role(&role).ok_or_else(|| role_missing(&role))?;
        let names: Vec<&str> = r.role_policies.keys().map(String::as_str).collect();
        Ok(json!({ "policyNames": names }))
    })
    .await
}
