//! Hostile input never panics and never causes a 5xx: arbitrary keys, queries and methods,
//! properly signed (so they reach s3s and the store), and arbitrary unsigned junk.

mod common;

use bytes::Bytes;
use common::Harness;
use http_body_util::Full;
use proptest::prelude::*;
use tower_service::Service;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn send(h: &Harness, req: &airlock_sigv4::HttpRequest, body: Vec<u8>) -> u16 {
    let target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut b = http::Request::builder()
        .method(req.method.as_str())
        .uri(target);
    for (n, v) in &req.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    let Ok(r) = b.body(Full::new(Bytes::from(body))) else {
        return 0;
    };
    let mut svc = h.service.clone();
    svc.call(r).await.unwrap().status().as_u16()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn signed_requests_with_arbitrary_keys_never_fail_internally(
        method in prop_oneof![Just("GET"), Just("PUT"), Just("HEAD"), Just("DELETE"), Just("POST")],
        key in "[a-z/.%\\\\\u{0}-\u{7f}é☃]{0,40}",
        query in prop_oneof![
            Just(String::new()), Just("uploads".to_owned()), Just("list-type=2".to_owned()),
            Just("uploadId=zz&partNumber=1".to_owned()), "[a-z=&%0-9-]{0,20}",
        ],
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let h = Harness::start().await;
            let c = h.creds("robot-1");
            assert_eq!(h.call(&c, "PUT", "/artifacts", b"").await.status, 200);
            let path = format!("/artifacts/{}", airlock_sigv4::uri_encode(key.as_bytes(), false));
            let target = if query.is_empty() { path } else { format!("{path}?{query}") };
            let req = h.signed(&c, method, &target, &body);
            let status = send(&h, &req, body).await;
            // 501 NotImplemented is S3's answer to an operation it does not support.
            assert!(status < 500 || status == 501, "{method} {target} -> {status}");
        });
    }

    #[test]
    fn unsigned_junk_is_refused_cleanly(
        path in "/[a-zA-Z0-9/%._~-]{0,30}",
        authz in ".{0,80}",
        date in ".{0,20}",
        token in ".{0,40}",
    ) {
        let rt = runtime();
        rt.block_on(async {
            let h = Harness::start().await;
            let mut req = airlock_sigv4::HttpRequest::new("GET", &path).with_header("host", &h.host());
            for (n, v) in [("authorization", &authz), ("x-amz-date", &date), ("x-amz-security-token", &token)] {
                if http::HeaderValue::from_str(v).is_ok() {
                    req = req.with_header(n, v);
                }
            }
            let status = send(&h, &req, Vec::new()).await;
            assert!(status == 0 || (400..500).contains(&status), "{path} -> {status}");
        });
    }
}
