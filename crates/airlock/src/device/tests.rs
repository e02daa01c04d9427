//! Onboarding: the starter policy decided by the real policy engine, the package on disk,
//! and the pubsub check script run against a stand-in `mosquitto_rr`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use airlock_policy::{Action, Engine, NamedPolicy, PolicyDocument, PolicyLimits, RequestContext};

use super::package::pubsub_script;
use super::*;

const REGION: &str = "eu-plant-1";
const ACCOUNT: &str = "123456789012";

fn engine_and_policy(thing: &str, prefix: &str) -> (Engine, Vec<NamedPolicy>) {
    let json = starter_policy(REGION, ACCOUNT, thing, prefix);
    let document = PolicyDocument::parse(&json, &PolicyLimits::default())
        .unwrap_or_else(|e| panic!("starter policy does not parse: {e}\n{json}"));
    (
        Engine::new(REGION, ACCOUNT),
        vec![NamedPolicy {
            name: format!("{thing}-starter"),
            document,
        }],
    )
}

fn allowed(
    engine: &Engine,
    policies: &[NamedPolicy],
    client: &str,
    action: Action,
    resource: &str,
) -> bool {
    let ctx = RequestContext {
        client_id: Some(client.to_string()),
        ..RequestContext::default()
    };
    engine
        .evaluate(policies, action, resource, &ctx)
        .is_allowed()
}

#[test]
fn starter_policy_lets_the_thing_connect_as_itself_only() {
    let (e, p) = engine_and_policy("d1", "things/d1");
    assert!(allowed(&e, &p, "d1", Action::Connect, "client/d1"));
    for other in ["d2", "d1x", "x:client/d1", "D1"] {
        assert!(
            !allowed(&e, &p, other, Action::Connect, &format!("client/{other}")),
            "client id {other} may connect"
        );
    }
}

#[test]
fn starter_policy_allows_the_prefix_and_nothing_else() {
    let (e, p) = engine_and_policy("d1", "things/d1");
    for action in [Action::Publish, Action::Receive, Action::RetainPublish] {
        assert!(
            allowed(&e, &p, "d1", action, "topic/things/d1/pubsub-check"),
            "{action}"
        );
        assert!(
            allowed(&e, &p, "d1", action, "topic/things/d1/a/b"),
            "{action}"
        );
        assert!(
            !allowed(&e, &p, "d1", action, "topic/things/d2/a"),
            "{action}"
        );
        assert!(
            !allowed(&e, &p, "d1", action, "topic/things/d1x/a"),
            "{action}"
        );
        assert!(!allowed(&e, &p, "d1", action, "topic/other"), "{action}");
        // The stretch a `*` account would allow (see starter_policy).
        assert!(
            !allowed(&e, &p, "d1", action, "topic/x:y:topic/things/d1/z"),
            "{action}"
        );
    }
    assert!(allowed(
        &e,
        &p,
        "d1",
        Action::Subscribe,
        "topicfilter/things/d1/pubsub-check"
    ));
    assert!(allowed(
        &e,
        &p,
        "d1",
        Action::Subscribe,
        "topicfilter/things/d1/#"
    ));
    assert!(!allowed(&e, &p, "d1", Action::Subscribe, "topicfilter/#"));
    assert!(!allowed(
        &e,
        &p,
        "d1",
        Action::Subscribe,
        "topicfilter/things/+/a"
    ));
    assert!(!allowed(
        &e,
        &p,
        "d1",
        Action::Subscribe,
        "topic/things/d1/a"
    ));
    assert!(!allowed(
        &e,
        &p,
        "d1",
        Action::Publish,
        "topicfilter/things/d1/a"
    ));
    assert!(!allowed(
        &e,
        &p,
        "d1",
        Action::AssumeRoleWithCertificate,
        "rolealias/r"
    ));
    // Another deployment's ARNs do not match.
    let other = Engine::new("us-east-1", ACCOUNT);
    assert!(!allowed(&other, &p, "d1", Action::Connect, "client/d1"));
}

#[test]
fn wildcard_account_would_be_stretched_over_a_colon() {
    // Why starter_policy spells out region and account: the same document with `*` in
    // their place lets a device publish outside its prefix and connect as another id.
    let json = starter_policy("*", "*", "d1", "things/d1");
    let document = PolicyDocument::parse(&json, &PolicyLimits::default()).unwrap();
    let p = vec![NamedPolicy {
        name: "wild".into(),
        document,
    }];
    let e = Engine::new(REGION, ACCOUNT);
    assert!(allowed(
        &e,
        &p,
        "d1",
        Action::Publish,
        "topic/x:y:topic/things/d1/z"
    ));
    assert!(allowed(
        &e,
        &p,
        "a:client/d1",
        Action::Connect,
        "client/a:client/d1"
    ));
}

#[test]
fn custom_prefix_is_used_literally() {
    let (e, p) = engine_and_policy("pump-7", "plant/a/pump-7");
    assert!(allowed(
        &e,
        &p,
        "pump-7",
        Action::Publish,
        "topic/plant/a/pump-7/temp"
    ));
    assert!(!allowed(
        &e,
        &p,
        "pump-7",
        Action::Publish,
        "topic/things/pump-7/temp"
    ));
}

#[test]
fn topic_prefix_checks() {
    check_topic_prefix("things/d1").unwrap();
    check_topic_prefix("a").unwrap();
    for bad in [
        "",
        "/a",
        "a/",
        "a//b",
        "a/*",
        "a/+/b",
        "a/#",
        "a?",
        "${iot:ClientId}",
        "$aws/x",
        "a\nb",
    ] {
        assert!(check_topic_prefix(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn device_endpoints_skip_plain_and_unauthenticated_listeners() {
    let info = serde_json::json!({"endpoints": [
        {"id": "default", "protocol": "mqtt", "address": "127.0.0.1", "port": 8883},
        {"id": "plain", "protocol": "mqtt", "address": "0.0.0.0", "port": 1883},
        {"id": "plant", "protocol": "mqtt", "address": "10.0.0.5", "port": 8884},
        {"id": "metrics", "protocol": "http", "address": "127.0.0.1", "port": 9100},
    ]});
    let local = vec![crate::admin::EndpointEntry {
        id: "plain".into(),
        protocol: "mqtt".into(),
        tls: false,
        authentication: "none".into(),
        address: "0.0.0.0".into(),
        port: 1883,
    }];
    let got = device_endpoints(&info, &local);
    assert_eq!(
        got,
        vec![
            DeviceEndpoint {
                id: "default".into(),
                host: "localhost".into(),
                port: 8883
            },
            DeviceEndpoint {
                id: "plant".into(),
                host: "10.0.0.5".into(),
                port: 8884
            },
        ]
    );
    assert!(device_endpoints(&serde_json::json!({}), &[]).is_empty());
}

fn sample(endpoints: &[DeviceEndpoint]) -> Package<'_> {
    Package {
        thing: "d1",
        topic_prefix: "things/d1",
        certificate_id: "abc123",
        policy_name: "d1-starter",
        cert_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        key_pem: "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
        root_ca_pem: "-----BEGIN CERTIFICATE-----\nBB==\n-----END CERTIFICATE-----\n",
        endpoints,
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn package_has_every_file_with_the_right_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pkg");
    let eps = [DeviceEndpoint {
        id: "default".into(),
        host: "localhost".into(),
        port: 8883,
    }];
    let paths = write_package(&out, &sample(&eps)).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "d1.cert.pem",
            "d1.private.key",
            "root-ca.pem",
            "endpoints.json",
            "README.txt",
            "pubsub-check.sh"
        ]
    );
    for p in &paths {
        assert!(p.is_file(), "{} missing", p.display());
    }
    assert_eq!(mode(&out.join("d1.private.key")), 0o600);
    assert_eq!(mode(&out.join("d1.cert.pem")), 0o644);
    assert_eq!(mode(&out.join("pubsub-check.sh")), 0o755);
    let eps: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("endpoints.json")).unwrap())
            .unwrap();
    assert_eq!(eps["endpoints"][0]["host"], "localhost");
    assert_eq!(eps["endpoints"][0]["port"], 8883);
    assert_eq!(eps["clientId"], "d1");
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(
        readme.contains("client id d1") && readme.contains("things/d1/"),
        "{readme}"
    );
    let status = Command::new("bash")
        .arg("-n")
        .arg(out.join("pubsub-check.sh"))
        .status()
        .unwrap();
    assert!(status.success(), "bash -n pubsub-check.sh failed");
}

#[test]
fn script_quotes_awkward_values() {
    let eps = [DeviceEndpoint {
        id: "d".into(),
        host: "broker.plant.local".into(),
        port: 8883,
    }];
    let mut p = sample(&eps);
    p.topic_prefix = "it's a/prefix";
    let s = pubsub_script(&p);
    assert!(s.contains(r"TOPIC='it'\''s a/prefix/pubsub-check'"), "{s}");
    assert!(s.contains("HOST=${1:-broker.plant.local}"), "{s}");
    assert!(
        !s.contains("@THING")
            && !s.contains("@HOST")
            && !s.contains("@TOPIC")
            && !s.contains("@PORT")
    );
}

/// A stand-in `mosquitto_rr` that answers as the broker would in `mode`, and records its
/// arguments and working directory.
fn fake_mosquitto_rr(bin: &Path, mode: &str) {
    let script = format!(
        r#"#!/usr/bin/env bash
printf '%s\n' "$PWD" "$@" > "$(dirname "$0")/args.txt"
msg=""; while [ $# -gt 0 ]; do case "$1" in -m) msg="$2"; shift;; esac; shift; done
case {mode} in
  echo) echo "$msg" ;;
  stale) echo "an old retained message" ;;
  timeout) echo "Timed out" >&2; exit 27 ;;
  refused) echo "Error: Connection refused" >&2; exit 1 ;;
esac
"#
    );
    std::fs::create_dir_all(bin).unwrap();
    let path = bin.join("mosquitto_rr");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run_check(mode: &str, args: &[&str]) -> (i32, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pkg");
    let eps = [DeviceEndpoint {
        id: "default".into(),
        host: "localhost".into(),
        port: 8883,
    }];
    write_package(&out, &sample(&eps)).unwrap();
    let bin = dir.path().join("bin");
    fake_mosquitto_rr(&bin, mode);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Run from another directory: the script must find its files itself.
    let o = Command::new(out.join("pubsub-check.sh"))
        .args(args)
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let recorded = std::fs::read_to_string(bin.join("args.txt")).unwrap_or_default();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        recorded,
    )
}

#[test]
fn check_passes_when_the_message_comes_back() {
    let (code, stdout, stderr, args) = run_check("echo", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("OK:"), "{stdout}");
    let args: Vec<&str> = args.lines().collect();
    assert!(args[0].ends_with("/pkg"), "ran in {}", args[0]);
    let joined = args[1..].join(" ");
    for want in [
        "-h localhost",
        "-p 8883",
        "-i d1",
        "--cafile root-ca.pem",
        "--cert d1.cert.pem",
        "--key d1.private.key",
        "-t things/d1/pubsub-check",
        "-e things/d1/pubsub-check",
        "-W 10",
    ] {
        assert!(joined.contains(want), "{want} missing from {joined}");
    }
}

#[test]
fn check_takes_host_and_port_overrides() {
    let (code, _, _, args) = run_check("echo", &["broker.plant.local", "18883"]);
    assert_eq!(code, 0);
    assert!(
        args.contains("broker.plant.local\n") && args.contains("18883\n"),
        "{args}"
    );
}

#[test]
fn check_fails_with_the_cause() {
    let (code, stdout, stderr, _) = run_check("stale", &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("FAILED") && stderr.contains("retained"),
        "{stderr}"
    );
    let (code, _, stderr, _) = run_check("timeout", &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("FAILED") && stderr.contains("within 10 s"),
        "{stderr}"
    );
    let (code, _, stderr, _) = run_check("refused", &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("nothing answers at localhost:8883"),
        "{stderr}"
    );
}
