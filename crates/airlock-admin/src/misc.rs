//! Role aliases, DescribeEndpoint, and Airlock's own `/airlock/info` and `/openapi.json`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{JsonBody, Path, Query};
use crate::{AdminContext, Ctx, json_response, run};

fn alias_arn(c: &AdminContext, alias: &str) -> String {
    c.arn(&format!("rolealias/{alias}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleAliasBody {
    role_arn: Option<String>,
    credential_duration_seconds: Option<u32>,
}

pub(crate) async fn create_role_alias(
    State(ctx): State<Ctx>,
    Path(alias): Path<String>,
    JsonBody(req): JsonBody<RoleAliasBody>,
) -> Response {
    run(ctx, move |c| {
        let role_arn = req
            .role_arn
            .ok_or_else(|| ApiError::invalid("roleArn is required"))?;
        c.mutate(|r| r.create_role_alias(&alias, &role_arn, req.credential_duration_seconds))?;
        Ok(json!({"roleAlias": alias, "roleAliasArn": alias_arn(c, &alias)}))
    })
    .await
}

pub(crate) async fn describe_role_alias(
    State(ctx): State<Ctx>,
    Path(alias): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let a = reg.role_alias(&alias).ok_or_else(|| {
            ApiError::not_found(format!(
                "role alias \"{alias}\" does not exist; list them with ListRoleAliases"
            ))
        })?;
        Ok(json!({"roleAliasDescription": {
            "roleAlias": a.role_alias,
            "roleAliasArn": alias_arn(c, &a.role_alias),
            "roleArn": a.role_arn,
            "owner": c.authorizer.engine().account(),
            "credentialDurationSeconds": a.credential_duration_seconds,
            "creationDate": a.creation_date,
            "lastModifiedDate": a.last_modified_date,
        }}))
    })
    .await
}

pub(crate) async fn list_role_aliases(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let aliases: Vec<&str> = reg.role_aliases().map(|a| a.role_alias.as_str()).collect();
        Ok(json!({ "roleAliases": aliases }))
    })
    .await
}

pub(crate) async fn update_role_alias(
    State(ctx): State<Ctx>,
    Path(alias): Path<String>,
    JsonBody(req): JsonBody<RoleAliasBody>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| {
            r.update_role_alias(
                &alias,
                req.role_arn.as_deref(),
                req.credential_duration_seconds,
            )
        })?;
        Ok(json!({"roleAlias": alias, "roleAliasArn": alias_arn(c, &alias)}))
    })
    .await
}

pub(crate) async fn delete_role_alias(
    State(ctx): State<Ctx>,
    Path(alias): Path<String>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_role_alias(&alias))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointQuery {
    endpoint_type: Option<String>,
}

pub(crate) async fn describe_endpoint(
    State(ctx): State<Ctx>,
    Query(q): Query<EndpointQuery>,
) -> Response {
    run(ctx, move |c| {
        // AWS's default endpoint type is the legacy iot:Data; Airlock has one data endpoint
        // kind, so both data types name it.
        let endpoint_type = q.endpoint_type.as_deref().unwrap_or("iot:Data");
        let protocol = match endpoint_type {
            "iot:Data" | "iot:Data-ATS" => "mqtt",
            "iot:CredentialProvider" => "https",
            other => {
                return Err(ApiError::invalid(format!(
                    "endpointType \"{other}\" is not one Airlock serves: use iot:Data-ATS, iot:Data or iot:CredentialProvider"
                )));
            }
        };
        let endpoint = c
            .info
            .endpoints
            .iter()
            .find(|e| e.protocol == protocol)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "this Airlock has no {protocol} endpoint for {endpoint_type}; add one to the configuration's endpoints"
                ))
            })?;
        // A name devices can verify the server certificate against, like AWS's host names;
        // the bound address when no DNS name is configured. `port` is Airlock's addition.
        let address = c
            .info
            .domain_names
            .first()
            .cloned()
            .unwrap_or_else(|| endpoint.address.clone());
        Ok(json!({ "endpointAddress": address, "port": endpoint.port }))
    })
    .await
}

pub(crate) async fn info(State(ctx): State<Ctx>) -> Response {
    json_response(&json!(ctx.info))
}

pub(crate) async fn openapi_json() -> Response {
    json_response(&crate::openapi())
}
