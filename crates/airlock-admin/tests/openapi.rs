//! The OpenAPI document, the router and the contract (docs/admin-api.md) agree.

mod support;

use support::Api;

/// (AWS name, method, path) of every row of the contract's operations table.
fn contract() -> Vec<(String, String, String)> {
    let doc = include_str!("../../../docs/admin-api.md");
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?;
            let route = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            let (method, path) = route.split_once(' ')?;
            Some((name.to_string(), method.to_lowercase(), path.to_string()))
        })
        .collect()
}

#[test]
fn openapi_covers_the_contract() {
    let spec = airlock_admin::openapi();
    assert_eq!(spec["openapi"], "3.0.3");
    let rows = contract();
    assert!(
        rows.len() > 50,
        "the contract's table was not found: {rows:?}"
    );
    for (name, method, path) in rows {
        let op = &spec["paths"][&path][&method];
        assert!(
            op.is_object(),
            "{name}: {method} {path} is missing from the OpenAPI document"
        );
        if !name.starts_with("(Airlock)") {
            assert_eq!(op["operationId"], name.as_str(), "{method} {path}");
        }
    }
}

#[test]
fn every_route_in_the_document_is_served() {
    let api = Api::start();
    let served = api.get("/openapi.json").ok();
    assert_eq!(served, airlock_admin::openapi());
    let paths = served["paths"].as_object().expect("paths");
    let mut count = 0;
    for (path, methods) in paths {
        // Fill path parameters with a value no resource has.
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "zz-none" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in methods.as_object().expect("methods") {
            let body = matches!(method.as_str(), "post" | "put" | "patch").then_some("{}");
            let answer = api.call(&method.to_uppercase(), &concrete, None, body);
            assert_ne!(
                answer.status, 405,
                "{method} {path} ({}) is not routed",
                op["operationId"]
            );
            assert_ne!(
                answer.error_type.as_deref(),
                Some("UnknownOperationException"),
                "{method} {path} ({}) is not routed",
                op["operationId"]
            );
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
            count += 1;
        }
    }
    assert!(count > 50);
    assert_eq!(
        served["paths"]["/things/{thingName}"]["get"]["parameters"][0]["in"],
        "path"
    );
}
