//! Argument parsing and error reporting of the `airlock` command.

use clap::Parser;

use crate::Cli;
use crate::admin::AdminError;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("airlock").chain(args.iter().copied()))
}

fn ok(args: &[&str]) -> String {
    match parse(args) {
        Ok(cli) => format!("{cli:?}"),
        Err(e) => panic!("{args:?} should parse: {e}"),
    }
}

fn refused(args: &[&str]) {
    assert!(parse(args).is_err(), "{args:?} should be refused");
}

#[test]
fn up_is_unchanged() {
    let s = ok(&["up", "--data", "/d", "--config", "/c.toml"]);
    assert!(s.contains("\"/d\"") && s.contains("\"/c.toml\""), "{s}");
    ok(&["up"]);
    refused(&["up", "--json"]);
}

#[test]
fn data_and_json_go_before_or_after_the_subcommand() {
    let after = ok(&["thing", "list", "--data", "/x", "--json"]);
    let before = ok(&["thing", "--data", "/x", "--json", "list"]);
    assert_eq!(after, before);
    assert!(
        after.contains("json: true") && after.contains("\"/x\""),
        "{after}"
    );
    let default = ok(&["thing", "list"]);
    assert!(default.contains("./airlock-data") && default.contains("json: false"));
}

#[test]
fn thing_commands() {
    let s = ok(&[
        "thing", "create", "t1", "--type", "sensor", "--attr", "a=1", "--attr", "b=x=y",
    ]);
    assert!(
        s.contains("(\"a\", \"1\")") && s.contains("(\"b\", \"x=y\")"),
        "{s}"
    );
    refused(&["thing", "create", "t1", "--attr", "novalue"]);
    refused(&["thing", "create", "t1", "--attr", "=v"]);
    ok(&["thing", "describe", "t1"]);
    ok(&["thing", "delete", "t1"]);
    ok(&["thing", "attach-cert", "t1", "--cert", "abc"]);
    refused(&["thing", "describe"]);
}

#[test]
fn group_commands() {
    ok(&["group", "create", "g", "--parent", "p"]);
    ok(&["group", "list"]);
    ok(&["group", "add-thing", "g", "t"]);
    ok(&["group", "remove-thing", "g", "t"]);
    refused(&["group", "add-thing", "g"]);
}

#[test]
fn cert_commands() {
    ok(&[
        "cert", "create", "--thing", "d1", "--out", "/o", "--policy", "p",
    ]);
    refused(&["cert", "create", "--thing", "d1"]);
    // --days cannot be honoured through the API.
    refused(&[
        "cert", "create", "--thing", "d1", "--out", "/o", "--days", "3",
    ]);
    let s = ok(&["cert", "sign", "--csr", "d.csr", "--thing", "d1"]);
    assert!(s.contains("out: \".\""), "{s}");
    for verb in ["revoke", "deactivate", "activate", "describe"] {
        ok(&["cert", verb, "abc"]);
    }
    ok(&["cert", "list"]);
    ok(&[
        "cert",
        "register",
        "--cert",
        "c.pem",
        "--ca-cert",
        "ca.pem",
        "--inactive",
    ]);
    ok(&["cert", "register", "--cert", "c.pem", "--no-ca"]);
    refused(&[
        "cert",
        "register",
        "--cert",
        "c.pem",
        "--no-ca",
        "--ca-cert",
        "ca.pem",
    ]);
}

#[test]
fn ca_commands() {
    ok(&["ca", "registration-code"]);
    ok(&[
        "ca",
        "register",
        "--ca-cert",
        "ca.pem",
        "--verification-cert",
        "v.pem",
    ]);
    ok(&[
        "ca",
        "register",
        "--ca-cert",
        "ca.pem",
        "--no-verify",
        "--auto-register",
        "--inactive",
    ]);
    // DEFAULT mode needs proof of possession, SNI_ONLY must not carry one.
    refused(&["ca", "register", "--ca-cert", "ca.pem"]);
    refused(&[
        "ca",
        "register",
        "--ca-cert",
        "ca.pem",
        "--no-verify",
        "--verification-cert",
        "v.pem",
    ]);
    ok(&["ca", "update", "id", "--status", "INACTIVE"]);
    ok(&["ca", "update", "id", "--auto-register", "enable"]);
    refused(&["ca", "update", "id"]);
    refused(&["ca", "update", "id", "--status", "REVOKED"]);
}

#[test]
fn policy_commands() {
    ok(&["policy", "create", "p", "--document", "p.json"]);
    ok(&[
        "policy",
        "version",
        "p",
        "--document",
        "p.json",
        "--set-default",
    ]);
    ok(&["policy", "versions", "p"]);
    ok(&["policy", "set-default", "p", "2"]);
    ok(&["policy", "get", "p"]);
    ok(&["policy", "attach", "p", "--cert", "c"]);
    ok(&["policy", "detach", "p", "--group", "g"]);
    ok(&["policy", "attached", "--group", "g"]);
    refused(&["policy", "attach", "p"]);
    refused(&["policy", "attach", "p", "--cert", "c", "--group", "g"]);
    refused(&["policy", "attached"]);
}

#[test]
fn policy_test_arguments() {
    let s = ok(&[
        "policy",
        "test",
        "--cert",
        "c",
        "--client-id",
        "d1",
        "--action",
        "iot:Publish",
        "--resource",
        "topic/a/b",
        "--source-ip",
        "10.0.0.7",
        "--endpoint",
        "plant",
    ]);
    assert!(s.contains("10.0.0.7") && s.contains("plant"), "{s}");
    ok(&[
        "policy",
        "test",
        "--thing",
        "t",
        "--client-id",
        "d1",
        "--action",
        "iot:Connect",
        "--resource",
        "client/d1",
    ]);
    // Exactly one of --cert / --thing.
    refused(&[
        "policy",
        "test",
        "--client-id",
        "d1",
        "--action",
        "iot:Connect",
        "--resource",
        "client/d1",
    ]);
    refused(&[
        "policy",
        "test",
        "--cert",
        "c",
        "--thing",
        "t",
        "--client-id",
        "d1",
        "--action",
        "iot:Connect",
        "--resource",
        "client/d1",
    ]);
    refused(&[
        "policy",
        "test",
        "--cert",
        "c",
        "--client-id",
        "d1",
        "--action",
        "iot:Publish",
        "--resource",
        "topic/a",
        "--source-ip",
        "not-an-ip",
    ]);
    let Ok(cli) = parse(&[
        "policy",
        "test",
        "--cert",
        "c",
        "--client-id",
        "d",
        "--action",
        "iot:Connect",
        "--resource",
        "client/d",
    ]) else {
        panic!("parses")
    };
    assert!(matches!(cli.command, crate::Command::Policy(ref p) if p.is_test()));
}

#[test]
fn role_alias_and_device_commands() {
    ok(&[
        "role-alias",
        "create",
        "r",
        "--role-arn",
        "arn:aws:iam::1:role/x",
        "--duration",
        "900",
    ]);
    ok(&["role-alias", "list"]);
    ok(&["role-alias", "describe", "r"]);
    ok(&["role-alias", "delete", "r"]);
    let s = ok(&["device", "onboard", "d1", "--out", "/o"]);
    assert!(s.contains("topic_prefix: None"), "{s}");
    ok(&[
        "device",
        "onboard",
        "d1",
        "--out",
        "/o",
        "--topic-prefix",
        "plant/d1",
    ]);
    refused(&["device", "onboard", "d1"]);
}

#[test]
fn aws_errors_print_message_and_type_first() {
    let err = anyhow::Error::new(AdminError::Api {
        status: 404,
        error_type: "ResourceNotFoundException".into(),
        message: "thing d9 does not exist; create it with 'airlock thing create d9'".into(),
    })
    .context("attaching certificate abc to thing d9")
    .context("onboarding d9");
    assert_eq!(
        crate::report(&err),
        "error: thing d9 does not exist; create it with 'airlock thing create d9' (ResourceNotFoundException)\n  while attaching certificate abc to thing d9\n  while onboarding d9"
    );
}

#[test]
fn other_errors_print_their_chain() {
    let err = anyhow::anyhow!("No such file").context("reading policy document p.json");
    assert_eq!(
        crate::report(&err),
        "error: reading policy document p.json: No such file"
    );
}
