//! Table-driven policy cases. Each row: the policy documents (named p0, p1, ...), the request,
//! and the expected decision with the statement that made it. Policies marked "AWS" are the
//! examples from AWS IoT's developer guide (pub-sub-policy, connect-policy,
//! thing-policy-examples, retained-message-policy-examples, cert-policy-variables,
//! IoTCore-VPC), pasted with their region and account, so the engine runs with those.

use std::collections::BTreeMap;
use std::net::IpAddr;

use airlock_policy::{
    Action, CertificateContext, Decision, DenyReason, Engine, NamedPolicy, PolicyDocument,
    PolicyError, PolicyLimits, Problem, RequestContext, ThingContext,
};

use Action::*;
use Expect::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Allowed by (policy index, statement index).
    Allow(usize, usize),
    /// Explicitly denied by (policy index, statement index).
    Deny(usize, usize),
    /// Default deny: nothing allowed it.
    NoMatch,
}

struct Case {
    name: &'static str,
    policies: Vec<&'static str>,
    action: Action,
    resource: String,
    ctx: RequestContext,
    expect: Expect,
}

fn case(
    name: &'static str,
    policies: &[&'static str],
    action: Action,
    resource: impl Into<String>,
    ctx: RequestContext,
    expect: Expect,
) -> Case {
    Case {
        name,
        policies: policies.to_vec(),
        action,
        resource: resource.into(),
        ctx,
        expect,
    }
}

// ---- contexts ---------------------------------------------------------------------------

fn none() -> RequestContext {
    RequestContext::default()
}

fn client(id: &str) -> RequestContext {
    RequestContext {
        client_id: Some(id.to_string()),
        ..RequestContext::default()
    }
}

fn thing(name: &str, attached: bool) -> RequestContext {
    RequestContext {
        client_id: Some(name.to_string()),
        thing: Some(ThingContext {
            name: name.to_string(),
            type_name: None,
            attributes: BTreeMap::new(),
            is_attached: attached,
        }),
        ..RequestContext::default()
    }
}

fn thing_with(
    name: &str,
    type_name: Option<&str>,
    attrs: &[(&str, &str)],
    attached: bool,
) -> RequestContext {
    let mut c = thing(name, attached);
    if let Some(t) = c.thing.as_mut() {
        t.type_name = type_name.map(str::to_string);
        t.attributes = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    c
}

fn cert(subject: &[(&str, &[&str])], issuer: &[(&str, &[&str])]) -> RequestContext {
    let map = |pairs: &[(&str, &[&str])]| {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect::<BTreeMap<String, Vec<String>>>()
    };
    RequestContext {
        client_id: Some("c1".into()),
        certificate: Some(CertificateContext {
            id: "3f9a0c".into(),
            subject: map(subject),
            issuer: map(issuer),
            serial_number: "123456".into(),
            ..CertificateContext::default()
        }),
        ..RequestContext::default()
    }
}

fn ip(addr: &str) -> RequestContext {
    RequestContext {
        client_id: Some("c1".into()),
        source_ip: Some(addr.parse::<IpAddr>().expect("test address")),
        ..RequestContext::default()
    }
}

fn vpce(id: &str) -> RequestContext {
    RequestContext {
        client_id: Some("c1".into()),
        source_vpce: Some(id.to_string()),
        source_vpc: Some("vpc-plant".into()),
        ..RequestContext::default()
    }
}

fn attrs(list: &[&str]) -> RequestContext {
    RequestContext {
        client_id: Some("client1".into()),
        connect_attributes: list.iter().map(|s| s.to_string()).collect(),
        ..RequestContext::default()
    }
}

fn will(client_id: &str, topic: Option<&str>) -> RequestContext {
    RequestContext {
        client_id: Some(client_id.into()),
        last_will_topic: topic.map(str::to_string),
        ..RequestContext::default()
    }
}

// ---- policies ---------------------------------------------------------------------------

/// AWS pub-sub-policy "Registered devices (5)/(6)": per-thing topics, client id = thing name.
const THING_TOPICS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
    {"Effect": "Allow", "Action": ["iot:Publish"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"]},
    {"Effect": "Allow", "Action": ["iot:Subscribe"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.ThingName}/room*"]},
    {"Effect": "Allow", "Action": ["iot:Receive"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/room*"]}
  ]
}"#;

/// Allow a sub-tree, deny a secret sub-topic of it.
const DENY_SUBTOPIC: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowA", "Effect": "Allow", "Action": "iot:Publish",
     "Resource": "arn:aws:iot:us-east-1:123456789012:topic/a/*"},
    {"Sid": "DenySecret", "Effect": "Deny", "Action": "iot:Publish",
     "Resource": "arn:aws:iot:us-east-1:123456789012:topic/a/secret/*"}
  ]
}"#;

/// `#` in a policy is a literal character.
const FILTER_HASH: &str = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
  "Action": "iot:Subscribe", "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/a/#"}}"#;

/// AWS pub-sub-policy "(4)": subscribe to the topic filter `some/+/topic` only.
const FILTER_PLUS: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Subscribe"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/some/+/topic"]}]}"#;

/// AWS wildcard table: `topic/some/?????/topic`.
const QMARKS: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/some/?????/topic"}]}"#;

/// AWS basic-policy-variables: `topicfilter/my/${iot:ClientId}/topic` (+ matching Receive).
const CLIENT_FILTER: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["iot:Subscribe"],
   "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/my/${iot:ClientId}/topic"]},
  {"Effect": "Allow", "Action": ["iot:Receive"],
   "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/my/${iot:ClientId}/topic"]}]}"#;

const CERT_CN: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish",
  "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.CommonName}/*"}]}"#;

const CERT_DENY_ORG: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"},
  {"Effect": "Deny", "Action": "iot:Publish",
   "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.Organization}/x"}]}"#;

const CERT_INDEX: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Publish",
   "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.Country.1}"},
  {"Effect": "Allow", "Action": "iot:Receive",
   "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.Country.2}"}]}"#;

const CERT_ID: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect",
   "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:CertificateId}"},
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*",
   "Condition": {"StringEquals": {"iot:Certificate.Issuer.CommonName": "Airlock Root CA"}}}]}"#;

/// AWS cert-policy-variables "Registered Devices (2)": `.List` with ForAllValues.
const CERT_ORG_LIST: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/my/topic/${iot:ClientId}"],
  "Condition": {"ForAllValues:StringEquals": {
    "iot:Certificate.Subject.Organization.List": ["Example Corp", "AnyCompany"]}}}]}"#;

/// AWS IoTCore-VPC: connect only through one VPC endpoint.
const VPCE: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Connect"], "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"],
  "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]}"#;

const VPC: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Connect", "Resource": "*",
  "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-plant"}}}]}"#;

const IP_ALLOW: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Connect", "Resource": "*",
  "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}}]}"#;

const IP_DENY_OUTSIDE: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
  {"Effect": "Deny", "Action": "iot:Connect", "Resource": "*",
   "Condition": {"NotIpAddress": {"aws:SourceIp": "192.168.0.0/16"}}}]}"#;

/// AWS thing-policy-examples: attribute + thing type + IsAttached.
const THING_ATTR: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Publish"], "Resource": "arn:aws:iot:us-east-1:123456789012:topic/device/stats",
  "Condition": {
    "StringEquals": {"iot:Connection.Thing.Attributes[attributeName]": "attributeValue",
                     "iot:Connection.Thing.ThingTypeName": "Thing_Type_Name"},
    "Bool": {"iot:Connection.Thing.IsAttached": "true"}}}]}"#;

/// AWS thing-policy-examples: topic starting with a thing attribute.
const THING_ATTR_TOPIC: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Publish"],
  "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.Attributes[wearable]}/*"}]}"#;

/// AWS thing-policy-examples: connect only if the certificate is attached to the thing.
const IS_ATTACHED: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Connect"], "Resource": ["*"],
  "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": ["true"]}}}]}"#;

/// AWS connect-policy: allow PersistentConnect (and nothing else).
const PERSISTENT_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Connect"], "Resource": "arn:aws:iot:us-east-1:123456789012:client/client1",
  "Condition": {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}}}]}"#;

/// AWS connect-policy: connections must carry a last will.
const NEEDS_LASTWILL: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Connect"], "Resource": "arn:aws:iot:us-east-1:123456789012:client/client1",
  "Condition": {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}}}]}"#;

/// AWS connect-policy: PersistentConnect not allowed, other features are.
const NO_PERSISTENT: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["iot:Connect"], "Resource": "arn:aws:iot:us-east-1:123456789012:client/client1",
  "Condition": {"ForAllValues:StringNotEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}}}]}"#;

const WILL_TOPIC: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Connect", "Resource": "*",
  "Condition": {"StringEqualsIfExists": {"iot:LastWillTopic": "will/${iot:ClientId}"}}}]}"#;

/// AWS retained-message-policy-examples: connect and publish retained messages.
const RETAIN: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": ["arn:aws:iot:us-east-1:123456789012:client/device1"]},
  {"Effect": "Allow", "Action": ["iot:Publish", "iot:RetainPublish"],
   "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/device/sample/configuration"]}]}"#;

const RETAIN_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:RetainPublish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/cfg"}]}"#;

const SUB_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Subscribe", "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/x/*"}]}"#;

const NOT_CONNECT: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "NotAction": "iot:Connect", "Resource": "*"}]}"#;

const NOT_PRIVATE: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "NotResource": "arn:aws:iot:us-east-1:123456789012:topic/private/*"}]}"#;

const DENY_OUTSIDE_OWN: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"},
  {"Effect": "Deny", "Action": "iot:Publish",
   "NotResource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"}]}"#;

const NEEDS_THING: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Connect", "Resource": "*",
  "Condition": {"Null": {"iot:Connection.Thing.ThingName": "false"}}}]}"#;

const ONLY_OUTSIDE_VPC: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "*",
  "Condition": {"Null": {"aws:SourceVpce": "true"}}}]}"#;

const SITE_IGNORECASE: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/site",
   "Condition": {"StringEqualsIgnoreCase": {"iot:Connection.Thing.Attributes[site]": "PlantA"}}},
  {"Effect": "Allow", "Action": "iot:Receive", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/site",
   "Condition": {"StringEquals": {"iot:Connection.Thing.Attributes[site]": "PlantA"}}},
  {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "*",
   "Condition": {"StringNotEqualsIgnoreCase": {"iot:Connection.Thing.Attributes[site]": "PlantB"}}}]}"#;

const CLIENT_LIKE: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
   "Condition": {"StringLike": {"iot:ClientId": "sensor-*"}}},
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*",
   "Condition": {"StringNotLike": {"iot:ClientId": ["test-*", "dev-?"]}}}]}"#;

const IOT_STAR: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:*", "Resource": "*"}]}"#;

const PUB_STAR: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Pub*", "Resource": "*"}]}"#;

const STAR_ACTION: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "*", "Resource": "arn:aws:iot:*:*:topic/*"}]}"#;

const LOWER_ACTION: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/a"}]}"#;

const ALLOW_ALL_PUB: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "*"}]}"#;

const DENY_X: &str = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "NoX", "Effect": "Deny",
  "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/x"}]}"#;

const TWO_ALLOWS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Receive", "Resource": "*"},
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/t"},
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}]}"#;

const ANY_REGION: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/a"}]}"#;

const VPCE_IF_EXISTS: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Connect", "Resource": "*",
  "Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}}]}"#;

const DOMAIN: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Connect", "Resource": "*",
  "Condition": {"StringEquals": {"iot:DomainName": "iot.plant.example"}}}]}"#;

const IP_TOPIC: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/ip/${aws:SourceIp}"}]}"#;

const ESCAPES: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/literal${*}/q${?}/d${$}"}]}"#;

const RETAINED_READ: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:ListRetainedMessages", "Resource": "*"},
  {"Effect": "Allow", "Action": "iot:GetRetainedMessage",
   "Resource": "arn:aws:iot:us-east-1:123456789012:topic/status/*"}]}"#;

const ROLE_ALIAS: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:AssumeRoleWithCertificate",
  "Resource": "arn:aws:iot:us-east-1:123456789012:rolealias/plant-role"}]}"#;

const V2008: &str = r#"{"Version": "2008-10-17", "Statement": [{"Effect": "Allow",
  "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/old"}]}"#;

/// AWS pub-sub-policy "(9)": prefix allowed, one topic denied.
const DENY_BAR: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["iot:Connect"],
   "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1", "arn:aws:iot:us-east-1:123456789012:client/client2"]},
  {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"]},
  {"Effect": "Deny", "Action": ["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/bar"]}]}"#;

/// AWS connect-policy: deny two client ids, allow attached things by name.
const DENY_CLIENTS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Deny", "Action": ["iot:Connect"],
   "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1", "arn:aws:iot:us-east-1:123456789012:client/client2"]},
  {"Effect": "Allow", "Action": ["iot:Connect"],
   "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"],
   "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}]}"#;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let long_cn = "d".repeat(1025);
    let ok_cn = "d".repeat(1024);
    vec![
        // Per-thing topics (AWS pub-sub-policy).
        case("thing connects as its own name", &[THING_TOPICS], Connect, "client/thing1", thing("thing1", true), Allow(0, 0)),
        case("thing cannot connect as another id", &[THING_TOPICS], Connect, "client/other", thing("thing1", true), NoMatch),
        case("unattached thing name does not resolve", &[THING_TOPICS], Connect, "client/thing1", thing("thing1", false), NoMatch),
        case("no thing: ThingName unresolved, not empty", &[THING_TOPICS], Connect, "client/", client(""), NoMatch),
        case("thing publishes under its prefix", &[THING_TOPICS], Publish, "topic/thing1/temp", thing("thing1", true), Allow(0, 1)),
        case("thing cannot publish under another prefix", &[THING_TOPICS], Publish, "topic/thing2/temp", thing("thing1", true), NoMatch),
        case("prefix itself is not under prefix/*", &[THING_TOPICS], Publish, "topic/thing1", thing("thing1", true), NoMatch),
        case("* crosses topic levels", &[THING_TOPICS], Publish, "topic/thing1/a/b/c", thing("thing1", true), Allow(0, 1)),
        case("subscribe room filter", &[THING_TOPICS], Subscribe, "topicfilter/thing1/room1", thing("thing1", true), Allow(0, 2)),
        case("room* covers literal filter room/#", &[THING_TOPICS], Subscribe, "topicfilter/thing1/room/#", thing("thing1", true), Allow(0, 2)),
        case("receive room topic", &[THING_TOPICS], Receive, "topic/thing1/room7", thing("thing1", true), Allow(0, 3)),
        case("receive outside rooms denied", &[THING_TOPICS], Receive, "topic/thing1/temp", thing("thing1", true), NoMatch),
        // Denied sub-topics.
        case("allowed sub-tree", &[DENY_SUBTOPIC], Publish, "topic/a/b", none(), Allow(0, 0)),
        case("denied secret sub-topic", &[DENY_SUBTOPIC], Publish, "topic/a/secret/x", none(), Deny(0, 1)),
        case("deny reaches deeper levels", &[DENY_SUBTOPIC], Publish, "topic/a/secret/x/y", none(), Deny(0, 1)),
        case("a/secret itself is not under a/secret/*", &[DENY_SUBTOPIC], Publish, "topic/a/secret", none(), Allow(0, 0)),
        case("AWS (9): prefix allowed", &[DENY_BAR], Publish, "topic/client1/foo", client("client1"), Allow(0, 1)),
        case("AWS (9): one topic denied", &[DENY_BAR], Publish, "topic/client1/bar", client("client1"), Deny(0, 2)),
        case("AWS connect-policy: denied client id", &[DENY_CLIENTS], Connect, "client/client1", thing("client1", true), Deny(0, 0)),
        case("AWS connect-policy: attached thing", &[DENY_CLIENTS], Connect, "client/pump7", thing("pump7", true), Allow(0, 1)),
        // MQTT wildcards are literal.
        case("topicfilter/a/# allows filter a/#", &[FILTER_HASH], Subscribe, "topicfilter/a/#", none(), Allow(0, 0)),
        case("topicfilter/a/# does not allow a/+", &[FILTER_HASH], Subscribe, "topicfilter/a/+", none(), NoMatch),
        case("topicfilter/a/# does not allow a/b", &[FILTER_HASH], Subscribe, "topicfilter/a/b", none(), NoMatch),
        case("AWS (4): some/+/topic literal", &[FILTER_PLUS], Subscribe, "topicfilter/some/+/topic", none(), Allow(0, 0)),
        case("AWS (4): + does not match a level", &[FILTER_PLUS], Subscribe, "topicfilter/some/x/topic", none(), NoMatch),
        // ? wildcard.
        case("????? matches five characters", &[QMARKS], Publish, "topic/some/abcde/topic", none(), Allow(0, 0)),
        case("????? needs exactly five", &[QMARKS], Publish, "topic/some/abcd/topic", none(), NoMatch),
        case("? also matches /", &[QMARKS], Publish, "topic/some/ab/de/topic", none(), Allow(0, 0)),
        // ${iot:ClientId} with wildcard client ids.
        case("client id + is substituted literally", &[CLIENT_FILTER], Subscribe, "topicfilter/my/+/topic", client("+"), Allow(0, 0)),
        case("client id + cannot receive other levels", &[CLIENT_FILTER], Receive, "topic/my/other/topic", client("+"), NoMatch),
        case("ordinary client cannot subscribe my/+/topic", &[CLIENT_FILTER], Subscribe, "topicfilter/my/+/topic", client("c1"), NoMatch),
        case("client id * is not an IAM wildcard", &[CLIENT_FILTER], Subscribe, "topicfilter/my/anything/topic", client("*"), NoMatch),
        case("client id * matches itself", &[CLIENT_FILTER], Subscribe, "topicfilter/my/*/topic", client("*"), Allow(0, 0)),
        case("client id ? is not an IAM wildcard", &[CLIENT_FILTER], Receive, "topic/my/x/topic", client("?"), NoMatch),
        case("no client id: variable unresolved", &[CLIENT_FILTER], Subscribe, "topicfilter/my//topic", none(), NoMatch),
        // Certificate variables.
        case("cert CN substituted", &[CERT_CN], Publish, "topic/dev1/x", cert(&[("CommonName", &["dev1"])], &[]), Allow(0, 0)),
        case("cert CN with * not substituted", &[CERT_CN], Publish, "topic/dev*/x", cert(&[("CommonName", &["dev*"])], &[]), NoMatch),
        case("cert CN with + not substituted", &[CERT_CN], Publish, "topic/dev+/x", cert(&[("CommonName", &["dev+"])], &[]), NoMatch),
        case("cert CN with $ not substituted", &[CERT_CN], Publish, "topic/dev$/x", cert(&[("CommonName", &["dev$"])], &[]), NoMatch),
        case("cert CN of 1025 chars not substituted", &[CERT_CN], Publish, format!("topic/{long_cn}/x"), cert(&[("CommonName", &[long_cn.as_str()])], &[]), NoMatch),
        case("cert CN of 1024 chars substituted", &[CERT_CN], Publish, format!("topic/{ok_cn}/x"), cert(&[("CommonName", &[ok_cn.as_str()])], &[]), Allow(0, 0)),
        case("no certificate: CN unresolved", &[CERT_CN], Publish, "topic//x", none(), NoMatch),
        case("unsubstituted cert var cannot match a Deny either", &[CERT_DENY_ORG], Publish, "topic/a#/x", cert(&[("Organization", &["a#"])], &[]), Allow(0, 0)),
        case("substituted cert var Deny applies", &[CERT_DENY_ORG], Publish, "topic/acme/x", cert(&[("Organization", &["acme"])], &[]), Deny(0, 1)),
        case("cert attribute index .1", &[CERT_INDEX], Publish, "topic/DE", cert(&[("Country", &["US", "DE"])], &[]), Allow(0, 0)),
        case("cert attribute index past the end", &[CERT_INDEX], Receive, "topic/", cert(&[("Country", &["US", "DE"])], &[]), NoMatch),
        case("certificate id as client id", &[CERT_ID], Connect, "client/3f9a0c", cert(&[], &[]), Allow(0, 0)),
        case("issuer CN condition", &[CERT_ID], Publish, "topic/x", cert(&[], &[("CommonName", &["Airlock Root CA"])]), Allow(0, 1)),
        case("issuer CN condition fails", &[CERT_ID], Publish, "topic/x", cert(&[], &[("CommonName", &["Other CA"])]), NoMatch),
        case("AWS .List ForAllValues: all orgs listed", &[CERT_ORG_LIST], Publish, "topic/my/topic/c1", cert(&[("Organization", &["Example Corp", "AnyCompany"])], &[]), Allow(0, 0)),
        case("AWS .List ForAllValues: one org not listed", &[CERT_ORG_LIST], Publish, "topic/my/topic/c1", cert(&[("Organization", &["Example Corp", "Evil"])], &[]), NoMatch),
        // Source endpoint (AWS IoTCore-VPC).
        case("connect through the named endpoint", &[VPCE], Connect, "client/c1", vpce("vpce-1a2b3c4d"), Allow(0, 0)),
        case("connect through another endpoint", &[VPCE], Connect, "client/c1", vpce("vpce-other"), NoMatch),
        case("connect with no endpoint id", &[VPCE], Connect, "client/c1", client("c1"), NoMatch),
        case("aws:SourceVpc", &[VPC], Connect, "client/c1", vpce("vpce-x"), Allow(0, 0)),
        case("IfExists: key absent passes", &[VPCE_IF_EXISTS], Connect, "client/c1", client("c1"), Allow(0, 0)),
        case("IfExists: key present must match", &[VPCE_IF_EXISTS], Connect, "client/c1", vpce("vpce-2"), NoMatch),
        // IP conditions.
        case("IpAddress v4 inside", &[IP_ALLOW], Connect, "client/c1", ip("10.1.2.3"), Allow(0, 0)),
        case("IpAddress v4 outside", &[IP_ALLOW], Connect, "client/c1", ip("11.0.0.1"), NoMatch),
        case("IpAddress v6 inside", &[IP_ALLOW], Connect, "client/c1", ip("2001:db8::5"), Allow(0, 0)),
        case("IpAddress v4-mapped v6", &[IP_ALLOW], Connect, "client/c1", ip("::ffff:10.9.9.9"), Allow(0, 0)),
        case("IpAddress without source ip", &[IP_ALLOW], Connect, "client/c1", client("c1"), NoMatch),
        case("NotIpAddress inside: deny does not apply", &[IP_DENY_OUTSIDE], Connect, "client/c1", ip("192.168.3.4"), Allow(0, 0)),
        case("NotIpAddress outside: denied", &[IP_DENY_OUTSIDE], Connect, "client/c1", ip("8.8.8.8"), Deny(0, 1)),
        case("NotIpAddress with absent key is true (IAM)", &[IP_DENY_OUTSIDE], Connect, "client/c1", client("c1"), Deny(0, 1)),
        // Thing attributes and IsAttached.
        case("attribute + type + attached", &[THING_ATTR], Publish, "topic/device/stats", thing_with("t1", Some("Thing_Type_Name"), &[("attributeName", "attributeValue")], true), Allow(0, 0)),
        case("wrong attribute value", &[THING_ATTR], Publish, "topic/device/stats", thing_with("t1", Some("Thing_Type_Name"), &[("attributeName", "other")], true), NoMatch),
        case("missing thing type", &[THING_ATTR], Publish, "topic/device/stats", thing_with("t1", None, &[("attributeName", "attributeValue")], true), NoMatch),
        case("not attached", &[THING_ATTR], Publish, "topic/device/stats", thing_with("t1", Some("Thing_Type_Name"), &[("attributeName", "attributeValue")], false), NoMatch),
        case("attribute as topic prefix", &[THING_ATTR_TOPIC], Publish, "topic/wristband/hr", thing_with("t1", None, &[("wearable", "wristband")], true), Allow(0, 0)),
        case("absent attribute does not resolve", &[THING_ATTR_TOPIC], Publish, "topic//hr", thing_with("t1", None, &[], true), NoMatch),
        case("Bool IsAttached true", &[IS_ATTACHED], Connect, "client/t1", thing("t1", true), Allow(0, 0)),
        case("Bool IsAttached false", &[IS_ATTACHED], Connect, "client/t1", thing("t1", false), NoMatch),
        case("Bool IsAttached without thing", &[IS_ATTACHED], Connect, "client/t1", client("t1"), NoMatch),
        // Connect attributes and will topic.
        case("ForAllValues PersistentConnect: persistent", &[PERSISTENT_ONLY], Connect, "client/client1", attrs(&["PersistentConnect"]), Allow(0, 0)),
        case("ForAllValues PersistentConnect: clean", &[PERSISTENT_ONLY], Connect, "client/client1", attrs(&[]), Allow(0, 0)),
        case("ForAllValues PersistentConnect: with will", &[PERSISTENT_ONLY], Connect, "client/client1", attrs(&["PersistentConnect", "LastWill"]), NoMatch),
        case("ForAnyValue LastWill: has will", &[NEEDS_LASTWILL], Connect, "client/client1", attrs(&["PersistentConnect", "LastWill"]), Allow(0, 0)),
        case("ForAnyValue LastWill: none", &[NEEDS_LASTWILL], Connect, "client/client1", attrs(&[]), NoMatch),
        case("ForAnyValue LastWill: only persistent", &[NEEDS_LASTWILL], Connect, "client/client1", attrs(&["PersistentConnect"]), NoMatch),
        case("ForAllValues StringNotEquals: will ok", &[NO_PERSISTENT], Connect, "client/client1", attrs(&["LastWill"]), Allow(0, 0)),
        case("ForAllValues StringNotEquals: persistent refused", &[NO_PERSISTENT], Connect, "client/client1", attrs(&["PersistentConnect"]), NoMatch),
        case("will topic under own id", &[WILL_TOPIC], Connect, "client/c1", will("c1", Some("will/c1")), Allow(0, 0)),
        case("will topic elsewhere", &[WILL_TOPIC], Connect, "client/c1", will("c1", Some("will/c2")), NoMatch),
        case("no will topic (IfExists)", &[WILL_TOPIC], Connect, "client/c1", will("c1", None), Allow(0, 0)),
        // Retained messages.
        case("AWS retained: RetainPublish allowed", &[RETAIN], RetainPublish, "topic/device/sample/configuration", client("device1"), Allow(0, 1)),
        case("AWS retained: Publish allowed", &[RETAIN], Publish, "topic/device/sample/configuration", client("device1"), Allow(0, 1)),
        case("AWS retained: other topic", &[RETAIN], RetainPublish, "topic/device/other", client("device1"), NoMatch),
        case("RetainPublish grant is not Publish", &[RETAIN_ONLY], Publish, "topic/cfg", none(), NoMatch),
        case("ListRetainedMessages on *", &[RETAINED_READ], ListRetainedMessages, "*", none(), Allow(0, 0)),
        case("GetRetainedMessage", &[RETAINED_READ], GetRetainedMessage, "topic/status/a", none(), Allow(0, 1)),
        case("GetRetainedMessage outside", &[RETAINED_READ], GetRetainedMessage, "topic/cfg", none(), NoMatch),
        // Receive vs Subscribe.
        case("Subscribe grant", &[SUB_ONLY], Subscribe, "topicfilter/x/y", none(), Allow(0, 0)),
        case("Subscribe grant is not Receive", &[SUB_ONLY], Receive, "topic/x/y", none(), NoMatch),
        case("topicfilter grant is not a topic grant", &[SUB_ONLY], Subscribe, "topic/x/y", none(), NoMatch),
        // NotAction / NotResource.
        case("NotAction covers others", &[NOT_CONNECT], Publish, "topic/a", none(), Allow(0, 0)),
        case("NotAction excludes Connect", &[NOT_CONNECT], Connect, "client/a", none(), NoMatch),
        case("NotResource covers others", &[NOT_PRIVATE], Publish, "topic/public", none(), Allow(0, 0)),
        case("NotResource excludes", &[NOT_PRIVATE], Publish, "topic/private/x", none(), NoMatch),
        case("Deny NotResource: own prefix", &[DENY_OUTSIDE_OWN], Publish, "topic/c1/x", client("c1"), Allow(0, 0)),
        case("Deny NotResource: outside own prefix", &[DENY_OUTSIDE_OWN], Publish, "topic/c2/x", client("c1"), Deny(0, 1)),
        case("Deny NotResource with unresolved variable cannot match", &[DENY_OUTSIDE_OWN], Publish, "topic/c2/x", none(), Allow(0, 0)),
        // Null.
        case("Null false: key present", &[NEEDS_THING], Connect, "client/t1", thing("t1", true), Allow(0, 0)),
        case("Null false: key absent", &[NEEDS_THING], Connect, "client/t1", client("t1"), NoMatch),
        case("Null true: key absent", &[ONLY_OUTSIDE_VPC], Publish, "topic/a", client("c1"), Allow(0, 0)),
        case("Null true: key present", &[ONLY_OUTSIDE_VPC], Publish, "topic/a", vpce("vpce-1"), NoMatch),
        // Case handling.
        case("StringEqualsIgnoreCase", &[SITE_IGNORECASE], Publish, "topic/site", thing_with("t", None, &[("site", "planta")], true), Allow(0, 0)),
        case("StringEquals is case-sensitive", &[SITE_IGNORECASE], Receive, "topic/site", thing_with("t", None, &[("site", "planta")], true), NoMatch),
        case("StringNotEqualsIgnoreCase", &[SITE_IGNORECASE], Subscribe, "topicfilter/a", thing_with("t", None, &[("site", "PLANTB")], true), NoMatch),
        case("StringNotEqualsIgnoreCase other site", &[SITE_IGNORECASE], Subscribe, "topicfilter/a", thing_with("t", None, &[("site", "PlantC")], true), Allow(0, 2)),
        case("StringLike client id", &[CLIENT_LIKE], Connect, "client/sensor-1", client("sensor-1"), Allow(0, 0)),
        case("StringLike client id mismatch", &[CLIENT_LIKE], Connect, "client/pump-1", client("pump-1"), NoMatch),
        case("StringNotLike: neither pattern", &[CLIENT_LIKE], Publish, "topic/a", client("prod-1"), Allow(0, 1)),
        case("StringNotLike: values are NOR", &[CLIENT_LIKE], Publish, "topic/a", client("dev-1"), NoMatch),
        // Action wildcards.
        case("iot:* covers Connect", &[IOT_STAR], Connect, "client/a", none(), Allow(0, 0)),
        case("iot:* covers AssumeRoleWithCertificate", &[IOT_STAR], AssumeRoleWithCertificate, "rolealias/r", none(), Allow(0, 0)),
        case("iot:Pub* covers Publish", &[PUB_STAR], Publish, "topic/a", none(), Allow(0, 0)),
        case("iot:Pub* does not cover RetainPublish", &[PUB_STAR], RetainPublish, "topic/a", none(), NoMatch),
        case("* action with any-region ARN", &[STAR_ACTION], Receive, "topic/z", none(), Allow(0, 0)),
        case("action names are case-insensitive", &[LOWER_ACTION], Publish, "topic/a", none(), Allow(0, 0)),
        // Several documents and statements.
        case("explicit deny in second document wins", &[ALLOW_ALL_PUB, DENY_X], Publish, "topic/x", none(), Deny(1, 0)),
        case("deny of another topic does not apply", &[ALLOW_ALL_PUB, DENY_X], Publish, "topic/y", none(), Allow(0, 0)),
        case("explicit deny in first document wins", &[DENY_X, ALLOW_ALL_PUB], Publish, "topic/x", none(), Deny(0, 0)),
        case("first matching allow statement decides", &[TWO_ALLOWS], Publish, "topic/t", none(), Allow(0, 1)),
        case("later allow statement decides", &[TWO_ALLOWS], Publish, "topic/u", none(), Allow(0, 2)),
        case("no policies: default deny", &[], Publish, "topic/a", none(), NoMatch),
        // Resources.
        case("full ARN resource", &[LOWER_ACTION], Publish, "arn:aws:iot:us-east-1:123456789012:topic/a", none(), Allow(0, 0)),
        case("other region ARN", &[LOWER_ACTION], Publish, "arn:aws:iot:eu-west-1:123456789012:topic/a", none(), NoMatch),
        case("region wildcard in policy", &[ANY_REGION], Publish, "topic/a", none(), Allow(0, 0)),
        case("iot:DomainName condition", &[DOMAIN], Connect, "client/c", RequestContext { domain_name: Some("iot.plant.example".into()), ..none() }, Allow(0, 0)),
        case("iot:DomainName other", &[DOMAIN], Connect, "client/c", RequestContext { domain_name: Some("other.example".into()), ..none() }, NoMatch),
        case("aws:SourceIp variable", &[IP_TOPIC], Publish, "topic/ip/10.0.0.1", ip("10.0.0.1"), Allow(0, 0)),
        case("escapes are literal", &[ESCAPES], Publish, "topic/literal*/q?/d$", none(), Allow(0, 0)),
        case("escaped * is not a wildcard", &[ESCAPES], Publish, "topic/literalX/q?/d$", none(), NoMatch),
        case("escaped ? is not a wildcard", &[ESCAPES], Publish, "topic/literal*/qX/d$", none(), NoMatch),
        case("role alias", &[ROLE_ALIAS], AssumeRoleWithCertificate, "rolealias/plant-role", none(), Allow(0, 0)),
        case("other role alias", &[ROLE_ALIAS], AssumeRoleWithCertificate, "rolealias/admin", none(), NoMatch),
        case("2008-10-17 document without variables", &[V2008], Publish, "topic/old", none(), Allow(0, 0)),
    ]
}

fn engine() -> Engine {
    Engine::new("us-east-1", "123456789012")
}

#[test]
fn policy_cases() {
    let engine = engine();
    let all = cases();
    assert!(all.len() >= 60, "only {} cases", all.len());
    let mut failures = Vec::new();
    for c in &all {
        let policies: Vec<NamedPolicy> = c
            .policies
            .iter()
            .enumerate()
            .map(|(i, json)| NamedPolicy {
                name: format!("p{i}"),
                document: PolicyDocument::parse(json, &PolicyLimits::default())
                    .unwrap_or_else(|e| panic!("case {:?}: policy p{i} invalid: {e}", c.name)),
            })
            .collect();
        let got = engine.evaluate(&policies, c.action, &c.resource, &c.ctx);
        let got = match got {
            Decision::Allow {
                policy, statement, ..
            } => Allow(policy[1..].parse().unwrap(), statement),
            Decision::Deny {
                reason:
                    DenyReason::Explicit {
                        policy, statement, ..
                    },
            } => Deny(policy[1..].parse().unwrap(), statement),
            Decision::Deny {
                reason: DenyReason::NoMatchingAllow,
            } => NoMatch,
        };
        if got != c.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                c.name, c.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    eprintln!("{} policy cases passed", all.len());
}

#[test]
fn sid_is_reported() {
    let engine = engine();
    let policies = [NamedPolicy {
        name: "plant".into(),
        document: PolicyDocument::parse(DENY_SUBTOPIC, &PolicyLimits::default()).unwrap(),
    }];
    assert_eq!(
        engine.evaluate(&policies, Publish, "topic/a/secret/k", &none()),
        Decision::Deny {
            reason: DenyReason::Explicit {
                policy: "plant",
                statement: 1,
                sid: Some("DenySecret")
            }
        }
    );
    let m = engine.matching_statements(&policies, Publish, "topic/a/secret/k", &none());
    assert_eq!(m.len(), 2, "both the Allow and the Deny apply");
}

#[test]
fn retained_publish_needs_publish_too() {
    let engine = engine();
    let only = [NamedPolicy {
        name: "p".into(),
        document: PolicyDocument::parse(RETAIN_ONLY, &PolicyLimits::default()).unwrap(),
    }];
    let d = engine.evaluate_all(&only, &[Publish, RetainPublish], "topic/cfg", &none());
    assert_eq!(
        d,
        Decision::Deny {
            reason: DenyReason::NoMatchingAllow
        }
    );
    let both = [NamedPolicy {
        name: "p".into(),
        document: PolicyDocument::parse(RETAIN, &PolicyLimits::default()).unwrap(),
    }];
    let d = engine.evaluate_all(
        &both,
        &[Publish, RetainPublish],
        "topic/device/sample/configuration",
        &none(),
    );
    assert!(d.is_allowed());
}

#[test]
fn default_engine_arns() {
    let e = Engine::default();
    assert_eq!(
        e.resource_arn("topic/a/b"),
        "arn:aws:iot:airlock:000000000000:topic/a/b"
    );
}

// ---- invalid documents ------------------------------------------------------------------

fn invalid(json: &str) -> PolicyError {
    match PolicyDocument::parse(json, &PolicyLimits::default()) {
        Ok(_) => panic!("accepted invalid document: {json}"),
        Err(e) => e,
    }
}

fn invalid_field(json: &str) -> (String, Problem) {
    match invalid(json) {
        PolicyError::Invalid { field, problem } => (field, problem),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

const S0: &str = r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}"#;

fn doc(second: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{S0}, {second}]}}"#)
}

#[test]
fn bad_effect_names_the_statement() {
    let e = invalid(&doc(
        r#"{"Effect": "Permit", "Action": "iot:Publish", "Resource": "*"}"#,
    ));
    assert_eq!(
        e.to_string(),
        r#"Statement[1].Effect must be "Allow" or "Deny" (got "Permit")"#
    );
}

/// (second statement, offending field, check on the problem).
type InvalidRow = (&'static str, &'static str, fn(&Problem) -> bool);

#[test]
#[rustfmt::skip]
fn invalid_documents_name_the_field() {
    let table: &[InvalidRow] = &[
        (r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}"#, "Statement[1].Action", |p| matches!(p, Problem::UnknownActionPrefix(_))),
        (r#"{"Effect": "Allow", "Action": ["iot:Publish", "Publish"], "Resource": "*"}"#, "Statement[1].Action[1]", |p| matches!(p, Problem::BadAction(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"StringEqualz": {"iot:ClientId": "a"}}}"#, "Statement[1].Condition.StringEqualz", |p| matches!(p, Problem::UnknownOperator(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"NumericLessThan": {"iot:ClientId": "1"}}}"#, "Statement[1].Condition.NumericLessThan", |p| matches!(p, Problem::UnknownOperator(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"StringEquals": {"iot:Nope": "a"}}}"#, "Statement[1].Condition.StringEquals[\"iot:Nope\"]", |p| matches!(p, Problem::UnknownConditionKey(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/40"}}}"#, "Statement[1].Condition.IpAddress[\"aws:SourceIp\"]", |p| matches!(p, Problem::BadValue { .. })),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "yes"}}}"#, "Statement[1].Condition.Bool[\"iot:Connection.Thing.IsAttached\"]", |p| matches!(p, Problem::BadValue { .. })),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"ForAnyValue:Bool": {"iot:Connection.Thing.IsAttached": "true"}}}"#, "Statement[1].Condition.ForAnyValue:Bool", |p| matches!(p, Problem::BadQualifier(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"NullIfExists": {"aws:SourceVpce": "true"}}}"#, "Statement[1].Condition.NullIfExists", |p| matches!(p, Problem::BadQualifier(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpce": []}}}"#, "Statement[1].Condition.StringEquals[\"aws:SourceVpce\"]", |p| matches!(p, Problem::Empty)),
        (r#"{"Action": "iot:Publish", "Resource": "*"}"#, "Statement[1].Effect", |p| matches!(p, Problem::Missing)),
        (r#"{"Effect": "Allow", "Action": "iot:Publish"}"#, "Statement[1].Resource", |p| matches!(p, Problem::Missing)),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "NotAction": "iot:Connect", "Resource": "*"}"#, "Statement[1].Action", |p| matches!(p, Problem::Exclusive(_))),
        (r#"{"Effect": "Allow", "Action": [], "Resource": "*"}"#, "Statement[1].Action", |p| matches!(p, Problem::Empty)),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "topic/a"}"#, "Statement[1].Resource", |p| matches!(p, Problem::BadResource(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": ["*", 3]}"#, "Statement[1].Resource[1]", |p| matches!(p, Problem::WrongType { .. })),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:r:a:topic/${iot:ClientID2}"}"#, "Statement[1].Resource", |p| matches!(p, Problem::UnknownVariable(_))),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:r:a:topic/${iot:ClientId"}"#, "Statement[1].Resource", |p| matches!(p, Problem::UnterminatedVariable)),
        (r#"{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*", "Principal": "*"}"#, "Statement[1].Principal", |p| matches!(p, Problem::UnknownElement { .. })),
        (r#"{"Sid": 7, "Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}"#, "Statement[1].Sid", |p| matches!(p, Problem::WrongType { .. })),
        (r#""not an object""#, "Statement[1]", |p| matches!(p, Problem::WrongType { .. })),
    ];
    for (second, field, check) in table {
        let (got_field, problem) = invalid_field(&doc(second));
        assert_eq!(&got_field, field, "for {second}: {problem}");
        assert!(check(&problem), "for {second}: unexpected problem {problem:?}");
    }
}

#[test]
fn invalid_document_shapes() {
    assert_eq!(
        invalid(r#"{"Version": "2013-01-01", "Statement": []}"#).to_string(),
        r#"Version must be "2012-10-17" or "2008-10-17" (got "2013-01-01")"#
    );
    assert!(matches!(
        invalid(r#"{"Version": "2012-10-17", "Statement": ["#),
        PolicyError::Json { line: 1, .. }
    ));
    assert!(matches!(invalid("[]"), PolicyError::Invalid { .. }));
    assert_eq!(
        invalid_field(r#"{"Version": "2012-10-17"}"#),
        ("Statement".into(), Problem::Missing)
    );
    assert_eq!(
        invalid_field(r#"{"Version": "2012-10-17", "Statement": []}"#),
        ("Statement".into(), Problem::Empty)
    );
    assert!(
        matches!(invalid_field(r#"{"Version": "2012-10-17", "Statement": 5}"#), (f, Problem::WrongType { .. }) if f == "Statement")
    );
    assert!(
        matches!(invalid_field(r#"{"Version": "2012-10-17", "Statment": []}"#), (f, Problem::UnknownElement { .. }) if f == "Statment")
    );
    // A single statement object is addressed without an index.
    assert!(matches!(
        invalid_field(r#"{"Version": "2012-10-17", "Statement": {"Effect": "allow", "Action": "iot:Publish", "Resource": "*"}}"#),
        (f, Problem::BadEffect(_)) if f == "Statement.Effect"
    ));
    // Variables need the 2012-10-17 language (no Version means 2008-10-17, as in IAM).
    assert!(matches!(
        invalid_field(r#"{"Statement": {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:r:a:topic/${iot:ClientId}"}}"#),
        (f, Problem::VariableNeedsVersion(_)) if f == "Statement.Resource"
    ));
}

#[test]
fn size_limit_counts_non_whitespace() {
    let topic = "a".repeat(2000);
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:r:a:topic/{topic}"}}}}"#
    );
    match PolicyDocument::parse(&json, &PolicyLimits::default()) {
        Err(PolicyError::TooLarge { chars, max: 2048 }) => assert!(chars > 2048),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The same document fits a larger configured limit.
    assert!(PolicyDocument::parse(&json, &PolicyLimits { max_chars: 4096 }).is_ok());
    // Whitespace does not count.
    let padded = format!("{}{}", " \n\t".repeat(3000), S0.replace(' ', "    "));
    let padded = format!(r#"{{"Version": "2012-10-17", "Statement": {padded}}}"#);
    assert!(PolicyDocument::parse(&padded, &PolicyLimits::default()).is_ok());
}
