//! The operation table: every admin operation's AWS name, method, path, summary, parameters
//! and handler. [`crate::router`] and [`crate::openapi`] are both built from it.

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde_json::{Map, Value, json};

use crate::{Ctx, authz, certs, domains, misc, policies, roles, things};

/// HTTP methods the table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        }
    }

    /// Lowercase, as OpenAPI keys operations.
    fn openapi_key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }

    fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// One row of the table.
pub(crate) struct Operation {
    /// AWS operation name (`operationId`).
    pub(crate) name: &'static str,
    pub(crate) method: Method,
    /// axum path syntax, which is also OpenAPI's: `/things/{thingName}`.
    pub(crate) path: &'static str,
    pub(crate) summary: &'static str,
    /// Query parameter names; a `header:` prefix marks a header instead.
    pub(crate) params: &'static [&'static str],
    pub(crate) handler: MethodRouter<Ctx>,
}

fn op<H, T>(
    name: &'static str,
    method: Method,
    path: &'static str,
    summary: &'static str,
    params: &'static [&'static str],
    handler: H,
) -> Operation
where
    H: Handler<T, Ctx>,
    T: 'static,
{
    Operation {
        name,
        method,
        path,
        summary,
        params,
        handler: on(method.filter(), handler),
    }
}

const PRINCIPAL: &str = "header:x-amzn-principal";

/// The whole API.
pub(crate) fn operations() -> Vec<Operation> {
    use Method::{Delete, Get, Patch, Post, Put};
    vec![
        // Things.
        op(
            "CreateThing",
            Post,
            "/things/{thingName}",
            "Create a thing",
            &[],
            things::create_thing,
        ),
        op(
            "DescribeThing",
            Get,
            "/things/{thingName}",
            "Describe a thing",
            &[],
            things::describe_thing,
        ),
        op(
            "ListThings",
            Get,
            "/things",
            "List things, optionally by type or attribute",
            &[
                "thingTypeName",
                "attributeName",
                "attributeValue",
                "maxResults",
                "nextToken",
            ],
            things::list_things,
        ),
        op(
            "UpdateThing",
            Patch,
            "/things/{thingName}",
            "Change a thing's type or attributes",
            &[],
            things::update_thing,
        ),
        op(
            "DeleteThing",
            Delete,
            "/things/{thingName}",
            "Delete a thing",
            &["expectedVersion"],
            things::delete_thing,
        ),
        op(
            "AttachThingPrincipal",
            Put,
            "/things/{thingName}/principals",
            "Attach a certificate to a thing",
            &[PRINCIPAL, "thingPrincipalType"],
            things::attach_thing_principal,
        ),
        op(
            "DetachThingPrincipal",
            Delete,
            "/things/{thingName}/principals",
            "Detach a certificate from a thing",
            &[PRINCIPAL],
            things::detach_thing_principal,
        ),
        op(
            "ListThingPrincipals",
            Get,
            "/things/{thingName}/principals",
            "List the certificates attached to a thing",
            &[],
            things::list_thing_principals,
        ),
        op(
            "ListPrincipalThings",
            Get,
            "/principals/things",
            "List the things a certificate is attached to",
            &[PRINCIPAL],
            things::list_principal_things,
        ),
        // Thing types.
        op(
            "CreateThingType",
            Post,
            "/thing-types/{thingTypeName}",
            "Create a thing type",
            &[],
            things::create_thing_type,
        ),
        op(
            "DescribeThingType",
            Get,
            "/thing-types/{thingTypeName}",
            "Describe a thing type",
            &[],
            things::describe_thing_type,
        ),
        op(
            "ListThingTypes",
            Get,
            "/thing-types",
            "List thing types",
            &["thingTypeName"],
            things::list_thing_types,
        ),
        op(
            "DeprecateThingType",
            Post,
            "/thing-types/{thingTypeName}/deprecate",
            "Deprecate a thing type, or undo that",
            &[],
            things::deprecate_thing_type,
        ),
        op(
            "DeleteThingType",
            Delete,
            "/thing-types/{thingTypeName}",
            "Delete a deprecated thing type",
            &[],
            things::delete_thing_type,
        ),
        // Thing groups.
        op(
            "CreateThingGroup",
            Post,
            "/thing-groups/{thingGroupName}",
            "Create a static thing group",
            &[],
            things::create_thing_group,
        ),
        op(
            "DescribeThingGroup",
            Get,
            "/thing-groups/{thingGroupName}",
            "Describe a thing group",
            &[],
            things::describe_thing_group,
        ),
        op(
            "UpdateThingGroup",
            Patch,
            "/thing-groups/{thingGroupName}",
            "Change a thing group's properties",
            &[],
            things::update_thing_group,
        ),
        op(
            "ListThingGroups",
            Get,
            "/thing-groups",
            "List thing groups",
            &["parentGroup", "recursive", "namePrefixFilter"],
            things::list_thing_groups,
        ),
        op(
            "DeleteThingGroup",
            Delete,
            "/thing-groups/{thingGroupName}",
            "Delete a thing group",
            &[],
            things::delete_thing_group,
        ),
        op(
            "AddThingToThingGroup",
            Put,
            "/thing-groups/addThingToThingGroup",
            "Add a thing to a thing group",
            &[],
            things::add_thing_to_group,
        ),
        op(
            "RemoveThingFromThingGroup",
            Put,
            "/thing-groups/removeThingFromThingGroup",
            "Remove a thing from a thing group",
            &[],
            things::remove_thing_from_group,
        ),
        op(
            "ListThingsInThingGroup",
            Get,
            "/thing-groups/{thingGroupName}/things",
            "List the things in a thing group",
            &["recursive"],
            things::list_things_in_group,
        ),
        // Certificates.
        op(
            "CreateKeysAndCertificate",
            Post,
            "/keys-and-certificate",
            "Issue an ECDSA P-256 key pair and certificate from Airlock's CA",
            &["setAsActive"],
            certs::create_keys_and_certificate,
        ),
        op(
            "CreateCertificateFromCsr",
            Post,
            "/certificates",
            "Sign a CSR with Airlock's CA and register the certificate",
            &["setAsActive"],
            certs::create_certificate_from_csr,
        ),
        op(
            "RegisterCertificate",
            Post,
            "/certificate/register",
            "Register a certificate signed by a registered CA or Airlock's CA",
            &["setAsActive"],
            certs::register_certificate,
        ),
        op(
            "RegisterCertificateWithoutCA",
            Post,
            "/certificate/register-no-ca",
            "Register a certificate without checking its issuer",
            &[],
            certs::register_certificate_without_ca,
        ),
        op(
            "DescribeCertificate",
            Get,
            "/certificates/{certificateId}",
            "Describe a certificate",
            &[],
            certs::describe_certificate,
        ),
        op(
            "ListCertificates",
            Get,
            "/certificates",
            "List certificates",
            &[],
            certs::list_certificates,
        ),
        op(
            "UpdateCertificate",
            Put,
            "/certificates/{certificateId}",
            "Set a certificate's status; clients of a certificate leaving ACTIVE are disconnected",
            &["newStatus"],
            certs::update_certificate,
        ),
        op(
            "DeleteCertificate",
            Delete,
            "/certificates/{certificateId}",
            "Delete a certificate (forceDelete detaches its policies)",
            &["forceDelete"],
            certs::delete_certificate,
        ),
        op(
            "GetRegistrationCode",
            Get,
            "/registrationcode",
            "The code a CA verification certificate must carry as its CN",
            &[],
            certs::get_registration_code,
        ),
        op(
            "RegisterCACertificate",
            Post,
            "/cacertificate",
            "Register a CA certificate",
            &["setAsActive", "allowAutoRegistration"],
            certs::register_ca_certificate,
        ),
        op(
            "DescribeCACertificate",
            Get,
            "/cacertificate/{caCertificateId}",
            "Describe a CA certificate",
            &[],
            certs::describe_ca_certificate,
        ),
        op(
            "ListCACertificates",
            Get,
            "/cacertificates",
            "List CA certificates",
            &[],
            certs::list_ca_certificates,
        ),
        op(
            "UpdateCACertificate",
            Put,
            "/cacertificate/{caCertificateId}",
            "Set a CA's status or auto-registration",
            &["newStatus", "newAutoRegistrationStatus"],
            certs::update_ca_certificate,
        ),
        op(
            "DeleteCACertificate",
            Delete,
            "/cacertificate/{caCertificateId}",
            "Delete a CA certificate",
            &[],
            certs::delete_ca_certificate,
        ),
        // Policies.
        op(
            "CreatePolicy",
            Post,
            "/policies/{policyName}",
            "Create a policy",
            &[],
            policies::create_policy,
        ),
        op(
            "GetPolicy",
            Get,
            "/policies/{policyName}",
            "Get a policy and its default version",
            &[],
            policies::get_policy,
        ),
        op(
            "ListPolicies",
            Get,
            "/policies",
            "List policies",
            &[],
            policies::list_policies,
        ),
        op(
            "DeletePolicy",
            Delete,
            "/policies/{policyName}",
            "Delete a policy",
            &[],
            policies::delete_policy,
        ),
        op(
            "CreatePolicyVersion",
            Post,
            "/policies/{policyName}/version",
            "Add a policy version",
            &["setAsDefault"],
            policies::create_policy_version,
        ),
        op(
            "ListPolicyVersions",
            Get,
            "/policies/{policyName}/version",
            "List a policy's versions",
            &[],
            policies::list_policy_versions,
        ),
        op(
            "GetPolicyVersion",
            Get,
            "/policies/{policyName}/version/{policyVersionId}",
            "Get one policy version",
            &[],
            policies::get_policy_version,
        ),
        op(
            "SetDefaultPolicyVersion",
            Patch,
            "/policies/{policyName}/version/{policyVersionId}",
            "Make a version the default",
            &[],
            policies::set_default_policy_version,
        ),
        op(
            "DeletePolicyVersion",
            Delete,
            "/policies/{policyName}/version/{policyVersionId}",
            "Delete a non-default version",
            &[],
            policies::delete_policy_version,
        ),
        op(
            "AttachPolicy",
            Put,
            "/target-policies/{policyName}",
            "Attach a policy to a certificate or thing group",
            &[],
            policies::attach_policy,
        ),
        op(
            "DetachPolicy",
            Post,
            "/target-policies/{policyName}",
            "Detach a policy from a certificate or thing group",
            &[],
            policies::detach_policy,
        ),
        op(
            "ListAttachedPolicies",
            Post,
            "/attached-policies/{target}",
            "List the policies attached to a certificate or thing group",
            &["recursive"],
            policies::list_attached_policies,
        ),
        op(
            "ListTargetsForPolicy",
            Post,
            "/policy-targets/{policyName}",
            "List where a policy is attached",
            &[],
            policies::list_targets_for_policy,
        ),
        op(
            "TestAuthorization",
            Post,
            "/test-authorization",
            "Decide requests as the broker would, with the statements behind each answer",
            &["clientId"],
            authz::test_authorization,
        ),
        // Role aliases.
        op(
            "CreateRoleAlias",
            Post,
            "/role-aliases/{roleAlias}",
            "Create a role alias",
            &[],
            misc::create_role_alias,
        ),
        op(
            "DescribeRoleAlias",
            Get,
            "/role-aliases/{roleAlias}",
            "Describe a role alias",
            &[],
            misc::describe_role_alias,
        ),
        op(
            "ListRoleAliases",
            Get,
            "/role-aliases",
            "List role aliases",
            &[],
            misc::list_role_aliases,
        ),
        op(
            "UpdateRoleAlias",
            Put,
            "/role-aliases/{roleAlias}",
            "Change a role alias",
            &[],
            misc::update_role_alias,
        ),
        op(
            "DeleteRoleAlias",
            Delete,
            "/role-aliases/{roleAlias}",
            "Delete a role alias",
            &[],
            misc::delete_role_alias,
        ),
        // IAM-style roles that role aliases point at (IAM's operation names).
        op(
            "CreateRole",
            Post,
            "/iam/roles/{roleName}",
            "Create a role (maxSessionDuration 3600–43200, default 3600)",
            &[],
            roles::create_role,
        ),
        op(
            "GetRole",
            Get,
            "/iam/roles/{roleName}",
            "Describe a role",
            &[],
            roles::get_role,
        ),
        op(
            "ListRoles",
            Get,
            "/iam/roles",
            "List roles",
            &[],
            roles::list_roles,
        ),
        op(
            "DeleteRole",
            Delete,
            "/iam/roles/{roleName}",
            "Delete a role without inline policies",
            &[],
            roles::delete_role,
        ),
        op(
            "PutRolePolicy",
            Put,
            "/iam/roles/{roleName}/policies/{policyName}",
            "Add or replace a role's inline permissions policy",
            &[],
            roles::put_role_policy,
        ),
        op(
            "GetRolePolicy",
            Get,
            "/iam/roles/{roleName}/policies/{policyName}",
            "Get a role's inline permissions policy",
            &[],
            roles::get_role_policy,
        ),
        op(
            "DeleteRolePolicy",
            Delete,
            "/iam/roles/{roleName}/policies/{policyName}",
            "Delete a role's inline permissions policy",
            &[],
            roles::delete_role_policy,
        ),
        op(
            "ListRolePolicies",
            Get,
            "/iam/roles/{roleName}/policies",
            "List a role's inline policy names",
            &[],
            roles::list_role_policies,
        ),
        // Domain configurations.
        op(
            "CreateDomainConfiguration",
            Post,
            "/domainConfigurations/{domainConfigurationName}",
            "Serve a server certificate for a domain name by SNI (imported, or issued by Airlock's CA)",
            &[],
            domains::create,
        ),
        op(
            "ListDomainConfigurations",
            Get,
            "/domainConfigurations",
            "List domain configurations",
            &[],
            domains::list,
        ),
        op(
            "DescribeDomainConfiguration",
            Get,
            "/domainConfigurations/{domainConfigurationName}",
            "Describe a domain configuration",
            &[],
            domains::describe,
        ),
        op(
            "UpdateDomainConfiguration",
            Put,
            "/domainConfigurations/{domainConfigurationName}",
            "Enable or disable a domain configuration",
            &[],
            domains::update,
        ),
        op(
            "DeleteDomainConfiguration",
            Delete,
            "/domainConfigurations/{domainConfigurationName}",
            "Delete a domain configuration and its certificate files",
            &[],
            domains::delete,
        ),
        // Endpoints and Airlock's own.
        op(
            "DescribeEndpoint",
            Get,
            "/endpoint",
            "The address devices connect to",
            &["endpointType"],
            misc::describe_endpoint,
        ),
        op(
            "AirlockInfo",
            Get,
            "/airlock/info",
            "Airlock's version, region, account, endpoints and root CA",
            &[],
            misc::info,
        ),
        op(
            "OpenApi",
            Get,
            "/openapi.json",
            "This document",
            &[],
            misc::openapi_json,
        ),
    ]
}

/// OpenAPI 3.0 from [`operations`].
pub(crate) fn openapi() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let mut parameters: Vec<Value> = path_params(op.path)
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        for p in op.params {
            parameters.push(match p.strip_prefix("header:") {
                Some(h) => {
                    json!({"name": h, "in": "header", "required": true, "schema": {"type": "string"}})
                }
                None => json!({"name": p, "in": "query", "required": false, "schema": {"type": "string"}}),
            });
        }
        let mut operation = json!({
            "operationId": op.name,
            "summary": op.summary,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "Success",
                    "content": {"application/json": {"schema": {"type": "object"}}}
                },
                "default": {
                    "description": "An AWS REST-JSON error; the header names the exception",
                    "headers": {"x-amzn-ErrorType": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            }
        });
        if op.method.has_body() {
            operation["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": {"type": "object"}}}
            });
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(op.method.openapi_key().to_string(), operation);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Airlock admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "AWS IoT control-plane operations served by Airlock (docs/admin-api.md)."
        },
        "paths": paths,
        "components": {"schemas": {"Error": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {"type": "string"},
                "resourceId": {"type": "string"},
                "resourceArn": {"type": "string"}
            }
        }}}
    })
}

/// The `{name}` segments of a path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
