//! Things, thing types, thing groups and certificate ↔ thing attachments.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use airlock_registry::{
    AttributePayload, Attributes, Event, Registry, Thing, ThingGroupProperties, ThingPrincipalType,
    ThingTypeChange, ThingTypeProperties, ThingUpdate,
};

use crate::error::ApiError;
use crate::extract::{JsonBody, Path, Principal, Query};
use crate::{AdminContext, Ctx, certificate_id_of, run, stable_id};

/// ListThings' default and largest page (AWS: 1–250).
const MAX_RESULTS: usize = 250;

fn thing_arn(ctx: &AdminContext, name: &str) -> String {
    ctx.arn(&format!("thing/{name}"))
}

fn group_arn(ctx: &AdminContext, name: &str) -> String {
    ctx.arn(&format!("thinggroup/{name}"))
}

fn type_arn(ctx: &AdminContext, name: &str) -> String {
    ctx.arn(&format!("thingtype/{name}"))
}

fn thing_missing(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "thing \"{name}\" does not exist; list them with ListThings"
    ))
}

fn group_missing(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "thing group \"{name}\" does not exist; list them with ListThingGroups"
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateThing {
    thing_type_name: Option<String>,
    #[serde(default)]
    attribute_payload: AttributePayload,
}

pub(crate) async fn create_thing(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CreateThing>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| {
            r.create_thing(
                &name,
                req.thing_type_name.as_deref(),
                req.attribute_payload.attributes,
            )
        })?;
        Ok(json!({
            "thingName": name,
            "thingArn": thing_arn(c, &name),
            "thingId": stable_id("thing", &name),
        }))
    })
    .await
}

pub(crate) async fn describe_thing(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let thing = reg.thing(&name).ok_or_else(|| thing_missing(&name))?;
        let mut out = json!({
            "defaultClientId": thing.thing_name,
            "thingName": thing.thing_name,
            "thingId": stable_id("thing", &thing.thing_name),
            "thingArn": thing_arn(c, &thing.thing_name),
            "attributes": thing.attributes,
            "version": thing.version,
        });
        if let Some(t) = &thing.thing_type_name {
            out["thingTypeName"] = t.clone().into();
        }
        Ok(out)
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListThingsQuery {
    thing_type_name: Option<String>,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn thing_summary(c: &AdminContext, t: &Thing) -> Value {
    let mut v = json!({
        "thingName": t.thing_name,
        "thingArn": thing_arn(c, &t.thing_name),
        "attributes": t.attributes,
        "version": t.version,
    });
    if let Some(ty) = &t.thing_type_name {
        v["thingTypeName"] = ty.clone().into();
    }
    v
}

pub(crate) async fn list_things(
    State(ctx): State<Ctx>,
    Query(q): Query<ListThingsQuery>,
) -> Response {
    run(ctx, move |c| {
        let limit = match q.max_results {
            None => MAX_RESULTS,
            Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
            Some(n) => {
                return Err(ApiError::invalid(format!(
                    "maxResults {n} is out of range; use 1–{MAX_RESULTS}"
                )));
            }
        };
        // The token is the hex of the last name returned: things are listed by name.
        let after = match &q.next_token {
            None => None,
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "nextToken is not one this API returned; start again without it",
                        )
                    })?,
            ),
        };
        let reg = c.registry.read();
        let matching = reg.things().filter(|t| {
            after.as_deref().is_none_or(|a| t.thing_name.as_str() > a)
                && q.thing_type_name
                    .as_deref()
                    .is_none_or(|ty| t.thing_type_name.as_deref() == Some(ty))
                && q.attribute_name.as_deref().is_none_or(|n| {
                    t.attributes
                        .get(n)
                        .is_some_and(|v| q.attribute_value.as_deref().is_none_or(|w| v == w))
                })
        });
        let mut things = Vec::new();
        let mut next_token = None;
        for t in matching {
            if things.len() == limit {
                next_token = things
                    .last()
                    .and_then(|v: &Value| v["thingName"].as_str())
                    .map(hex::encode);
                break;
            }
            things.push(thing_summary(c, t));
        }
        let mut out = json!({ "things": things });
        if let Some(t) = next_token {
            out["nextToken"] = t.into();
        }
        Ok(out)
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateThingAttributes {
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    merge: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateThing {
    thing_type_name: Option<String>,
    #[serde(default)]
    remove_thing_type: bool,
    attribute_payload: Option<UpdateThingAttributes>,
    expected_version: Option<u64>,
}

pub(crate) async fn update_thing(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateThing>,
) -> Response {
    run(ctx, move |c| {
        let thing_type = match (req.thing_type_name, req.remove_thing_type) {
            (Some(_), true) => {
                return Err(ApiError::invalid(
                    "give either thingTypeName or removeThingType, not both",
                ));
            }
            (Some(t), false) => ThingTypeChange::Set(t),
            (None, true) => ThingTypeChange::Remove,
            (None, false) => ThingTypeChange::Keep,
        };
        let (attributes, merge) = match req.attribute_payload {
            Some(p) => (Some(p.attributes), p.merge),
            None => (None, false),
        };
        let update = ThingUpdate {
            thing_type,
            attributes,
            merge,
            expected_version: req.expected_version,
        };
        c.mutate(|r| r.update_thing(&name, update))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExpectedVersion {
    expected_version: Option<u64>,
}

pub(crate) async fn delete_thing(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(q): Query<ExpectedVersion>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_thing(&name, q.expected_version))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrincipalTypeQuery {
    thing_principal_type: Option<String>,
}

pub(crate) async fn attach_thing_principal(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    principal: Principal,
    Query(q): Query<PrincipalTypeQuery>,
) -> Response {
    run(ctx, move |c| {
        let id = certificate_id_of(&principal.required()?)?;
        let kind = match q.thing_principal_type {
            Some(t) => t.parse::<ThingPrincipalType>()?,
            None => ThingPrincipalType::default(),
        };
        c.mutate(|r| r.attach_thing_principal(&name, &id, kind))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn detach_thing_principal(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    principal: Principal,
) -> Response {
    run(ctx, move |c| {
        let id = certificate_id_of(&principal.required()?)?;
        c.mutate(|r| r.detach_thing_principal(&name, &id))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn list_thing_principals(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        if reg.thing(&name).is_none() {
            return Err(thing_missing(&name));
        }
        let principals: Vec<String> = reg
            .principals_of_thing(&name)
            .map(|id| c.arn(&format!("cert/{id}")))
            .collect();
        Ok(json!({ "principals": principals }))
    })
    .await
}

pub(crate) async fn list_principal_things(
    State(ctx): State<Ctx>,
    principal: Principal,
) -> Response {
    run(ctx, move |c| {
        let id = certificate_id_of(&principal.required()?)?;
        let reg = c.registry.read();
        if reg.certificate(&id).is_none() {
            return Err(ApiError::not_found(format!(
                "certificate {id} does not exist; list them with ListCertificates"
            )));
        }
        let things: Vec<&str> = reg.things_of_principal(&id).map(|(t, _)| t).collect();
        Ok(json!({ "things": things }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateThingType {
    #[serde(default)]
    thing_type_properties: ThingTypeProperties,
}

pub(crate) async fn create_thing_type(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CreateThingType>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.create_thing_type(&name, req.thing_type_properties))?;
        Ok(json!({
            "thingTypeName": name,
            "thingTypeArn": type_arn(c, &name),
            "thingTypeId": stable_id("thingtype", &name),
        }))
    })
    .await
}

fn thing_type_json(c: &AdminContext, t: &airlock_registry::ThingType) -> Value {
    json!({
        "thingTypeName": t.thing_type_name,
        "thingTypeId": stable_id("thingtype", &t.thing_type_name),
        "thingTypeArn": type_arn(c, &t.thing_type_name),
        "thingTypeProperties": t.thing_type_properties,
        "thingTypeMetadata": t.thing_type_metadata,
    })
}

pub(crate) async fn describe_thing_type(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let t = reg.thing_type(&name).ok_or_else(|| {
            ApiError::not_found(format!(
                "thing type \"{name}\" does not exist; list them with ListThingTypes"
            ))
        })?;
        Ok(thing_type_json(c, t))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListThingTypesQuery {
    thing_type_name: Option<String>,
}

pub(crate) async fn list_thing_types(
    State(ctx): State<Ctx>,
    Query(q): Query<ListThingTypesQuery>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let types: Vec<Value> = reg
            .thing_types()
            .filter(|t| {
                q.thing_type_name
                    .as_deref()
                    .is_none_or(|n| t.thing_type_name == n)
            })
            .map(|t| thing_type_json(c, t))
            .collect();
        Ok(json!({ "thingTypes": types }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deprecate {
    #[serde(default)]
    undo_deprecate: bool,
}

pub(crate) async fn deprecate_thing_type(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<Deprecate>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.deprecate_thing_type(&name, !req.undo_deprecate))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn delete_thing_type(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_thing_type(&name))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateThingGroup {
    parent_group_name: Option<String>,
    #[serde(default)]
    thing_group_properties: ThingGroupProperties,
}

pub(crate) async fn create_thing_group(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CreateThingGroup>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| {
            r.create_thing_group(
                &name,
                req.parent_group_name.as_deref(),
                req.thing_group_properties,
            )
        })?;
        Ok(json!({
            "thingGroupName": name,
            "thingGroupArn": group_arn(c, &name),
            "thingGroupId": stable_id("thinggroup", &name),
        }))
    })
    .await
}

pub(crate) async fn describe_thing_group(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let g = reg.thing_group(&name).ok_or_else(|| group_missing(&name))?;
        // group_ancestry is the group, its parent, ... up to the root; AWS lists root first
        // and leaves the group itself out.
        let root_to_parent: Vec<Value> = reg
            .group_ancestry(&name)
            .into_iter()
            .skip(1)
            .rev()
            .map(|n| json!({"groupName": n, "groupArn": group_arn(c, n)}))
            .collect();
        let mut metadata = json!({
            "rootToParentThingGroups": root_to_parent,
            "creationDate": g.creation_date,
        });
        if let Some(p) = &g.parent_group_name {
            metadata["parentGroupName"] = p.clone().into();
        }
        Ok(json!({
            "thingGroupName": g.thing_group_name,
            "thingGroupId": stable_id("thinggroup", &g.thing_group_name),
            "thingGroupArn": group_arn(c, &g.thing_group_name),
            "version": g.version,
            "thingGroupProperties": g.thing_group_properties,
            "thingGroupMetadata": metadata,
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateThingGroup {
    #[serde(default)]
    thing_group_properties: ThingGroupProperties,
    expected_version: Option<u64>,
}

pub(crate) async fn update_thing_group(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateThingGroup>,
) -> Response {
    run(ctx, move |c| {
        let event = c.mutate(|r| {
            r.update_thing_group(&name, req.thing_group_properties, req.expected_version)
        })?;
        let version = match event {
            Event::ThingGroupUpdated { version, .. } => Some(version),
            _ => c.registry.read().thing_group(&name).map(|g| g.version),
        };
        Ok(json!({ "version": version }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListGroupsQuery {
    parent_group: Option<String>,
    recursive: Option<bool>,
    name_prefix_filter: Option<String>,
}

/// `group`'s descendants (not itself), depth first.
fn descendants<'a>(reg: &'a Registry, group: &str, out: &mut Vec<&'a str>) {
    for child in reg.child_groups(group) {
        // The registry bounds depth at 7 levels, so this recursion is shallow.
        out.push(child);
        descendants(reg, child, out);
    }
}

pub(crate) async fn list_thing_groups(
    State(ctx): State<Ctx>,
    Query(q): Query<ListGroupsQuery>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let names: Vec<&str> = match (&q.parent_group, q.recursive.unwrap_or(false)) {
            (Some(p), recursive) => {
                if reg.thing_group(p).is_none() {
                    return Err(group_missing(p));
                }
                if recursive {
                    let mut out = Vec::new();
                    descendants(&reg, p, &mut out);
                    out
                } else {
                    reg.child_groups(p).collect()
                }
            }
            (None, _) => reg
                .thing_groups()
                .map(|g| g.thing_group_name.as_str())
                .collect(),
        };
        let groups: Vec<Value> = names
            .into_iter()
            .filter(|n| {
                q.name_prefix_filter
                    .as_deref()
                    .is_none_or(|p| n.starts_with(p))
            })
            .map(|n| json!({"groupName": n, "groupArn": group_arn(c, n)}))
            .collect();
        Ok(json!({ "thingGroups": groups }))
    })
    .await
}

pub(crate) async fn delete_thing_group(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_thing_group(&name))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupMembership {
    thing_group_name: Option<String>,
    thing_group_arn: Option<String>,
    thing_name: Option<String>,
    thing_arn: Option<String>,
}

impl GroupMembership {
    /// (thing, group), by name or by ARN as AWS accepts either.
    fn names(self) -> Result<(String, String), ApiError> {
        fn pick(
            name: Option<String>,
            arn: Option<String>,
            prefix: &str,
            field: &str,
        ) -> Result<String, ApiError> {
            if let Some(n) = name {
                return Ok(n);
            }
            arn.as_deref()
                .and_then(|a| a.splitn(6, ':').nth(5))
                .and_then(|r| r.strip_prefix(prefix))
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::invalid(format!("{field}Name (or {field}Arn) is required"))
                })
        }
        Ok((
            pick(self.thing_name, self.thing_arn, "thing/", "thing")?,
            pick(
                self.thing_group_name,
                self.thing_group_arn,
                "thinggroup/",
                "thingGroup",
            )?,
        ))
    }
}

pub(crate) async fn add_thing_to_group(
    State(ctx): State<Ctx>,
    JsonBody(req): JsonBody<GroupMembership>,
) -> Response {
    run(ctx, move |c| {
        let (thing, group) = req.names()?;
        c.mutate(|r| r.add_thing_to_group(&thing, &group))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn remove_thing_from_group(
    State(ctx): State<Ctx>,
    JsonBody(req): JsonBody<GroupMembership>,
) -> Response {
    run(ctx, move |c| {
        let (thing, group) = req.names()?;
        c.mutate(|r| r.remove_thing_from_group(&thing, &group))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct RecursiveQuery {
    recursive: Option<bool>,
}

pub(crate) async fn list_things_in_group(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(q): Query<RecursiveQuery>,
) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        if reg.thing_group(&name).is_none() {
            return Err(group_missing(&name));
        }
        let mut groups = vec![name.as_str()];
        if q.recursive.unwrap_or(false) {
            descendants(&reg, &name, &mut groups);
        }
        let mut things: Vec<&str> = groups.iter().flat_map(|g| reg.things_in_group(g)).collect();
        things.sort_unstable();
        things.dedup();
        Ok(json!({ "things": things }))
    })
    .await
}
