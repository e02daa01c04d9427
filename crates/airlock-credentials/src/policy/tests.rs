//! Table of role-policy decisions. Each case names the IAM rule it pins down.

use super::*;

const PER_THING: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "OwnPrefix", "Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
     "Resource": "arn:aws:s3:::artifacts/${credentials-iot:ThingName}/*"},
    {"Sid": "Shared", "Effect": "Allow", "Action": "s3:Get*",
     "Resource": "arn:aws:s3:::artifacts/shared/*"},
    {"Sid": "ListOwn", "Effect": "Allow", "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::artifacts",
     "Condition": {"StringLike": {"s3:prefix": ["${credentials-iot:ThingName}/*", "shared/*"]}}},
    {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*",
     "Resource": "arn:aws:s3:::artifacts/shared/secret/*"},
    {"Sid": "Location", "Effect": "Allow", "Action": "s3:GetBucketLocation",
     "Resource": "arn:aws:s3:::artifacts"}
  ]
}"#;

const NOT_ACTION: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "NotAction": ["s3:DeleteObject", "s3:CreateBucket"],
     "Resource": "arn:aws:s3:::fw/*"},
    {"Effect": "Allow", "Action": "s3:CreateBucket", "NotResource": "arn:aws:s3:::fw"}
  ]
}"#;

const CONDITIONS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "TypeOnly", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::by-type/*",
     "Condition": {"StringEquals": {"credentials-iot:ThingTypeName": "gateway"}}},
    {"Sid": "NotThatCert", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::open/*",
     "Condition": {"StringNotEquals": {"credentials-iot:AwsCertificateId": "badcert"}}},
    {"Sid": "NotLikeTest", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::prod/*",
     "Condition": {"StringNotLike": {"credentials-iot:ThingName": ["test-*", "dev-*"]}}},
    {"Sid": "IgnoreCase", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::ci/*",
     "Condition": {"StringEqualsIgnoreCase": {"CREDENTIALS-IOT:THINGNAME": "Robot-1"}}},
    {"Sid": "IfExists", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::ifx/*",
     "Condition": {"StringEqualsIfExists": {"credentials-iot:ThingTypeName": "gateway"}}},
    {"Sid": "NeedsThing", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::things/*",
     "Condition": {"Null": {"credentials-iot:ThingName": "false"}}},
    {"Sid": "Wild", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": ["arn:aws:s3:::fw/v?/image.bin", "arn:aws:s3:::lit/${*}"]},
    {"Sid": "EqualsIsLiteral", "Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::eq/*",
     "Condition": {"StringEquals": {"credentials-iot:ThingName": "robot-*"}}}
  ]
}"#;

const DENY_MISSING_VAR: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::ro/${credentials-iot:ThingName}/*"}
  ]
}"#;

struct Case {
    name: &'static str,
    policy: &'static str,
    action: &'static str,
    resource: &'static str,
    thing: Option<&'static str>,
    thing_type: Option<&'static str>,
    prefix: Option<&'static str>,
    want: Decision,
}

const fn allow(statement: usize) -> Decision {
    Decision::Allow { statement }
}
const fn deny(statement: usize) -> Decision {
    Decision::Deny {
        statement: Some(statement),
    }
}
const DEFAULT: Decision = Decision::Deny { statement: None };

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let c = |name, policy, action, resource, thing, want| Case {
        name, policy, action, resource, thing, thing_type: None, prefix: None, want,
    };
    let r1 = Some("robot-1");
    vec![
        c("own prefix: get", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/robot-1/fw.bin", r1, allow(0)),
        c("own prefix: put nested", PER_THING, "s3:PutObject", "arn:aws:s3:::artifacts/robot-1/a/b/c", r1, allow(0)),
        c("own prefix: delete", PER_THING, "s3:DeleteObject", "arn:aws:s3:::artifacts/robot-1/x", r1, allow(0)),
        c("own prefix: abort multipart", PER_THING, "s3:AbortMultipartUpload", "arn:aws:s3:::artifacts/robot-1/x", r1, allow(0)),
        c("other thing's prefix refused", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/robot-2/fw.bin", r1, DEFAULT),
        c("prefix is not a string prefix of a longer name", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/robot-10/fw.bin", r1, DEFAULT),
        c("missing thing name: variable statement does not match", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/robot-1/fw.bin", None, DEFAULT),
        c("missing thing name is not the empty string", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts//fw.bin", None, DEFAULT),
        c("thing name with * is literal, not a wildcard", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/robot-2/fw.bin", Some("*"), DEFAULT),
        c("shared via s3:Get*", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/shared/lib.so", None, allow(1)),
        c("s3:Get* does not cover PutObject", PER_THING, "s3:PutObject", "arn:aws:s3:::artifacts/shared/lib.so", r1, DEFAULT),
        c("deny wins over allow", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/shared/secret/key.pem", r1, deny(3)),
        c("actions are case-insensitive", PER_THING, "S3:getobject", "arn:aws:s3:::artifacts/robot-1/fw.bin", r1, allow(0)),
        c("resources are case-sensitive (key)", PER_THING, "s3:GetObject", "arn:aws:s3:::artifacts/ROBOT-1/fw.bin", r1, DEFAULT),
        c("resources are case-sensitive (bucket)", PER_THING, "s3:GetObject", "arn:aws:s3:::Artifacts/shared/lib.so", r1, DEFAULT),
        Case { prefix: Some("robot-1/"), ..c("ListBucket own prefix", PER_THING, "s3:ListBucket", "arn:aws:s3:::artifacts", r1, allow(2)) },
        Case { prefix: Some("shared/"), ..c("ListBucket shared prefix", PER_THING, "s3:ListBucket", "arn:aws:s3:::artifacts", r1, allow(2)) },
        Case { prefix: Some("robot-2/"), ..c("ListBucket other prefix", PER_THING, "s3:ListBucket", "arn:aws:s3:::artifacts", r1, DEFAULT) },
        Case { prefix: Some(""), ..c("ListBucket whole bucket", PER_THING, "s3:ListBucket", "arn:aws:s3:::artifacts", r1, DEFAULT) },
        c("ListBucket without s3:prefix: positive operator false", PER_THING, "s3:ListBucket", "arn:aws:s3:::artifacts", r1, DEFAULT),
        c("ListBucket resource is the bucket, not objects", PER_THING, "s3:ListBucket", "arn:aws:s3:::artifacts/robot-1/", r1, DEFAULT),
        c("GetBucketLocation on the bucket", PER_THING, "s3:GetBucketLocation", "arn:aws:s3:::artifacts", None, allow(4)),
        c("ListBucketMultipartUploads not granted", PER_THING, "s3:ListBucketMultipartUploads", "arn:aws:s3:::artifacts", r1, DEFAULT),
        c("CreateBucket not granted", PER_THING, "s3:CreateBucket", "arn:aws:s3:::artifacts", r1, DEFAULT),
        c("NotAction allows what it does not list", NOT_ACTION, "s3:GetObject", "arn:aws:s3:::fw/a", None, allow(0)),
        c("NotAction allows PutObject", NOT_ACTION, "s3:PutObject", "arn:aws:s3:::fw/a", None, allow(0)),
        c("NotAction excludes DeleteObject", NOT_ACTION, "s3:DeleteObject", "arn:aws:s3:::fw/a", None, DEFAULT),
        c("NotAction exclusion is case-insensitive", NOT_ACTION, "S3:DELETEOBJECT", "arn:aws:s3:::fw/a", None, DEFAULT),
        c("NotAction still needs the resource", NOT_ACTION, "s3:GetObject", "arn:aws:s3:::other/a", None, DEFAULT),
        c("NotResource allows other buckets", NOT_ACTION, "s3:CreateBucket", "arn:aws:s3:::logs", None, allow(1)),
        c("NotResource excludes its bucket", NOT_ACTION, "s3:CreateBucket", "arn:aws:s3:::fw", None, DEFAULT),
        Case { thing_type: Some("gateway"), ..c("StringEquals thing type", CONDITIONS, "s3:GetObject", "arn:aws:s3:::by-type/a", r1, allow(0)) },
        Case { thing_type: Some("Gateway"), ..c("StringEquals is case-sensitive", CONDITIONS, "s3:GetObject", "arn:aws:s3:::by-type/a", r1, DEFAULT) },
        c("StringEquals with absent key is false", CONDITIONS, "s3:GetObject", "arn:aws:s3:::by-type/a", r1, DEFAULT),
        c("StringNotEquals other cert", CONDITIONS, "s3:GetObject", "arn:aws:s3:::open/a", r1, allow(1)),
        c("StringNotLike: a production thing", CONDITIONS, "s3:GetObject", "arn:aws:s3:::prod/a", Some("line-7"), allow(2)),
        c("StringNotLike: values are NOR (dev-*)", CONDITIONS, "s3:GetObject", "arn:aws:s3:::prod/a", Some("dev-3"), DEFAULT),
        c("StringNotLike with absent key is true", CONDITIONS, "s3:GetObject", "arn:aws:s3:::prod/a", None, allow(2)),
        c("IgnoreCase and key names case-insensitive", CONDITIONS, "s3:GetObject", "arn:aws:s3:::ci/a", Some("ROBOT-1"), allow(3)),
        c("IfExists: absent key passes", CONDITIONS, "s3:GetObject", "arn:aws:s3:::ifx/a", r1, allow(4)),
        Case { thing_type: Some("sensor"), ..c("IfExists: present key is checked", CONDITIONS, "s3:GetObject", "arn:aws:s3:::ifx/a", r1, DEFAULT) },
        c("Null false: thing present", CONDITIONS, "s3:GetObject", "arn:aws:s3:::things/a", r1, allow(5)),
        c("Null false: thing absent", CONDITIONS, "s3:GetObject", "arn:aws:s3:::things/a", None, DEFAULT),
        c("? matches one character", CONDITIONS, "s3:GetObject", "arn:aws:s3:::fw/v2/image.bin", None, allow(6)),
        c("? does not match two", CONDITIONS, "s3:GetObject", "arn:aws:s3:::fw/v10/image.bin", None, DEFAULT),
        c("? does not match none", CONDITIONS, "s3:GetObject", "arn:aws:s3:::fw/v/image.bin", None, DEFAULT),
        c("${*} is a literal star", CONDITIONS, "s3:GetObject", "arn:aws:s3:::lit/*", None, allow(6)),
        c("${*} is not a wildcard", CONDITIONS, "s3:GetObject", "arn:aws:s3:::lit/x", None, DEFAULT),
        c("StringEquals compares * literally", CONDITIONS, "s3:GetObject", "arn:aws:s3:::eq/a", r1, DEFAULT),
        c("StringEquals literal * matches only *", CONDITIONS, "s3:GetObject", "arn:aws:s3:::eq/a", Some("robot-*"), allow(7)),
        c("missing variable: Deny does not apply either", DENY_MISSING_VAR, "s3:PutObject", "arn:aws:s3:::ro/robot-1/a", None, allow(0)),
        c("resolved variable: Deny applies", DENY_MISSING_VAR, "s3:PutObject", "arn:aws:s3:::ro/robot-1/a", r1, deny(1)),
    ]
}

#[test]
fn decision_table() {
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let policy = RolePolicy::parse(case.policy)
            .unwrap_or_else(|e| panic!("{}: policy does not parse: {e}", case.name));
        let ctx = RequestContext {
            thing_name: case.thing,
            thing_type_name: case.thing_type,
            certificate_id: Some("0123abcd"),
            s3_prefix: case.prefix,
        };
        let got = policy.evaluate(case.action, case.resource, &ctx);
        if got != case.want {
            failures.push(format!("{}: got {got:?}, want {:?}", case.name, case.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 30);
}

#[test]
fn certificate_id_variable() {
    let p = RolePolicy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject",
            "Resource":"arn:aws:s3:::logs/${credentials-iot:AwsCertificateId}/*"}}"#,
    )
    .unwrap();
    let ctx = RequestContext {
        certificate_id: Some("abc123"),
        ..RequestContext::default()
    };
    assert!(
        p.evaluate("s3:PutObject", "arn:aws:s3:::logs/abc123/x", &ctx)
            .is_allowed()
    );
    assert!(
        !p.evaluate("s3:PutObject", "arn:aws:s3:::logs/abc124/x", &ctx)
            .is_allowed()
    );
    assert_eq!(p.statements().len(), 1);
    assert_eq!(p.statements()[0].effect(), Effect::Allow);
    assert_eq!(p.statements()[0].sid(), None);
}

/// A refused document, the path its error must name, and the problem expected there.
type Refusal = (&'static str, &'static str, fn(&Problem) -> bool);

/// Each refusal names the element that is wrong.
#[test]
#[rustfmt::skip]
fn refused_documents() {
    let table: &[Refusal] = &[
        ("not json", "(document)", |p| matches!(p, Problem::Json(_))),
        ("[]", "(document)", |p| matches!(p, Problem::NotObject)),
        (r#"{"Version":"2012-10-17"}"#, "Statement", |p| matches!(p, Problem::Missing)),
        (r#"{"Version":"2012-10-17","Statement":[]}"#, "Statement", |p| matches!(p, Problem::Empty)),
        (r#"{"Version":"2013-01-01","Statement":[]}"#, "Version", |p| matches!(p, Problem::BadVersion(_))),
        (r#"{"Version":"2012-10-17","Statment":[]}"#, "Statment", |p| matches!(p, Problem::UnknownElement(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"s3:*","Resource":"*"}]}"#,
            "Statement[0].Effect", |p| matches!(p, Problem::BadEffect(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Action":"s3:*","Resource":"*"}]}"#,
            "Statement[0].Effect", |p| matches!(p, Problem::Missing)),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}]}"#,
            "Statement[0]", |p| matches!(p, Problem::Both("Action", "NotAction"))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
            "Statement[0]", |p| matches!(p, Problem::Neither("Resource", "NotResource"))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","GetObject"],"Resource":"*"}]}"#,
            "Statement[0].Action[1]", |p| matches!(p, Problem::BadAction(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            "Statement[0].Action", |p| matches!(p, Problem::NotStringOrList)),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket/key"}]}"#,
            "Statement[0].Resource", |p| matches!(p, Problem::BadResource(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::a/${aws:username}"}]}"#,
            "Statement[0].Resource", |p| matches!(p, Problem::UnknownVariable(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::a/${credentials-iot:ThingName"}]}"#,
            "Statement[0].Resource", |p| matches!(p, Problem::UnterminatedVariable(_))),
        (r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::a/${credentials-iot:ThingName}"}]}"#,
            "Statement[0].Resource", |p| matches!(p, Problem::VariableNeedsVersion(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"*"}]}"#,
            "Statement[0].Principal", |p| matches!(p, Problem::PrincipalNotAllowed)),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericEquals":{"s3:prefix":"1"}}}]}"#,
            "Statement[0].Condition.NumericEquals", |p| matches!(p, Problem::UnknownOperator(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"1"}}}]}"#,
            "Statement[0].Condition.StringEquals.aws:SourceIp", |p| matches!(p, Problem::UnknownKey(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Null":{"s3:prefix":"maybe"}}}]}"#,
            "Statement[0].Condition.Null.s3:prefix", |p| matches!(p, Problem::BadNull(_))),
        (r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            "Statement[1].Sid", |p| matches!(p, Problem::DuplicateSid(_))),
    ];
    for (json, path, want) in table {
        let e = RolePolicy::parse(json).expect_err(json);
        assert_eq!(e.path, *path, "{json}: {e}");
        assert!(want(&e.problem), "{json}: unexpected {e}");
    }
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::{}"}}}}"#,
        "a".repeat(MAX_POLICY_CHARS)
    );
    assert!(matches!(RolePolicy::parse(&big).unwrap_err().problem, Problem::TooLarge(_)));
}
