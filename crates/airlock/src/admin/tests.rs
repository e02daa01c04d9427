//! The admin client without a server: error mapping, encoding, endpoint discovery, and the
//! "server not running" answers.

use std::path::Path;

use super::*;

#[test]
fn aws_error_answer_becomes_api_error() {
    let err = interpret(
        Method::Post,
        "/things/d1",
        409,
        Some("ResourceAlreadyExistsException"),
        r#"{"message":"thing d1 already exists","resourceId":"d1"}"#.to_string(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "thing d1 already exists (ResourceAlreadyExistsException)"
    );
    assert!(matches!(err, AdminError::Api { status: 409, .. }));
    assert_eq!(err.error_type(), Some("ResourceAlreadyExistsException"));
}

#[test]
fn error_type_with_a_namespace_suffix_keeps_the_name() {
    let err = interpret(
        Method::Get,
        "/things/x",
        404,
        Some("ResourceNotFoundException:http://internal.amazon.com/coral/"),
        r#"{"message":"no"}"#.to_string(),
    )
    .unwrap_err();
    assert_eq!(err.error_type(), Some("ResourceNotFoundException"));
}

#[test]
fn error_without_aws_shape_is_still_explained() {
    let err = interpret(Method::Get, "/nope", 404, None, String::new()).unwrap_err();
    let s = err.to_string();
    assert!(s.contains("GET /nope") && s.ends_with("(HTTP 404)"), "{s}");
    let err = interpret(
        Method::Get,
        "/x",
        502,
        None,
        "<html>bad gateway</html>".into(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("bad gateway"), "{err}");
}

#[test]
fn success_keeps_the_raw_body_and_tolerates_an_empty_one() {
    let r = interpret(
        Method::Get,
        "/things",
        200,
        None,
        " {\"things\":[]} \n".into(),
    )
    .unwrap();
    assert_eq!(r.raw, "{\"things\":[]}");
    assert!(r.body["things"].is_array());
    let r = interpret(Method::Delete, "/things/a", 200, None, String::new()).unwrap();
    assert_eq!(r.raw, "{}");
    assert!(
        r.str("missing").is_err(),
        "a missing field is an error, not a panic"
    );
}

#[test]
fn success_that_is_not_json_is_a_bad_response() {
    let err = interpret(Method::Get, "/things", 200, None, "hello".into()).unwrap_err();
    assert!(matches!(err, AdminError::BadResponse { .. }), "{err}");
}

#[test]
fn paths_and_queries_are_encoded() {
    assert_eq!(encode("abc-_.~09"), "abc-_.~09");
    assert_eq!(
        encode("arn:aws:iot:r:1:cert/ab"),
        "arn%3Aaws%3Aiot%3Ar%3A1%3Acert%2Fab"
    );
    let c = Call::get("/test-authorization")
        .query("clientId", "a b&c")
        .query("x", "1");
    assert_eq!(
        c.path_and_query(),
        "/test-authorization?clientId=a%20b%26c&x=1"
    );
}

#[test]
fn wildcard_binds_are_dialled_over_loopback() {
    let e = |address: &str| EndpointEntry {
        id: "admin".into(),
        protocol: "https".into(),
        tls: true,
        authentication: "certificate".into(),
        address: address.into(),
        port: 9443,
    };
    assert_eq!(e("0.0.0.0").dial_host(), "127.0.0.1");
    assert_eq!(e("::").dial_host(), "127.0.0.1");
    assert_eq!(e("10.1.2.3").dial_host(), "10.1.2.3");
    assert_eq!(url_host("::1"), "[::1]");
    assert_eq!(url_host("127.0.0.1"), "127.0.0.1");
}

fn not_running(err: AdminError) -> String {
    assert!(matches!(err, AdminError::NotRunning { .. }), "{err}");
    err.to_string()
}

#[test]
fn no_endpoints_file_means_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = Admin::connect(dir.path()) else {
        panic!("connects without endpoints.json")
    };
    let msg = not_running(err);
    let data = dir.path().display().to_string();
    assert!(
        msg.contains(&format!("tried {data}/endpoints.json")),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!("start it with: airlock up --data {data}")),
        "{msg}"
    );
}

fn write_endpoints(data: &Path, admin_port: Option<u16>) {
    let mut list = vec![serde_json::json!({
        "id": "default", "protocol": "mqtt", "tls": true, "authentication": "certificate",
        "address": "127.0.0.1", "port": 8883
    })];
    if let Some(port) = admin_port {
        list.push(serde_json::json!({
            "id": "admin", "protocol": "https", "tls": true, "authentication": "certificate",
            "address": "127.0.0.1", "port": port
        }));
    }
    std::fs::write(
        data.join("endpoints.json"),
        serde_json::json!({ "endpoints": list }).to_string(),
    )
    .unwrap();
}

#[test]
fn endpoints_without_admin_entry_means_not_running() {
    let dir = tempfile::tempdir().unwrap();
    write_endpoints(dir.path(), None);
    let Err(err) = Admin::connect(dir.path()) else {
        panic!("connects without an admin endpoint")
    };
    let msg = not_running(err);
    assert!(msg.contains("no endpoint with id \"admin\""), "{msg}");
    assert!(msg.contains("start it with: airlock up --data"), "{msg}");
}

#[test]
fn refused_connection_names_the_address_and_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    airlock_server::bootstrap::prepare(
        &DataDir::new(dir.path(), None),
        &[],
        airlock_pki::KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_endpoints(dir.path(), Some(port));
    let admin = Admin::connect(dir.path()).expect("TLS material of a prepared data directory");
    assert_eq!(admin.endpoints().len(), 2);
    let err = admin.call(&Call::get("/things")).unwrap_err();
    let msg = not_running(err);
    assert!(
        msg.contains(&format!("tried https://127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(
        msg.ends_with(&format!(
            "start it with: airlock up --data {}",
            dir.path().display()
        )),
        "{msg}"
    );
}

#[test]
fn missing_admin_key_is_a_local_file_error() {
    let dir = tempfile::tempdir().unwrap();
    airlock_server::bootstrap::prepare(
        &DataDir::new(dir.path(), None),
        &[],
        airlock_pki::KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    write_endpoints(dir.path(), Some(9443));
    std::fs::remove_file(dir.path().join("pki/admin.private.key")).unwrap();
    let Err(err) = Admin::connect(dir.path()) else {
        panic!("connects without the admin key")
    };
    assert!(matches!(err, AdminError::LocalFile { .. }), "{err}");
    assert!(err.to_string().contains("admin.private.key"), "{err}");
}
