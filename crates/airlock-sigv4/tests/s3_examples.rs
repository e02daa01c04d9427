//! The worked examples of AWS's S3 SigV4 documentation ("Signature calculations for the
//! Authorization header" and "Authenticating requests: using query parameters"): key
//! AKIAIOSFODNN7EXAMPLE, bucket examplebucket, 2013-05-24. The expected signatures are the
//! ones those pages print.

use std::time::Duration;

use airlock_sigv4::{
    AmzDate, AuthKind, Credentials, EMPTY_SHA256, HttpRequest, Payload, SigV4Error, Signer,
    Verifier, sha256_hex,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const HOST: &str = "examplebucket.s3.amazonaws.com";

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    }
}

fn date() -> AmzDate {
    AmzDate::parse("20130524T000000Z").unwrap()
}

/// (name, method, target, extra headers, body, signed headers, signature)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static [&'static str],
    &'static str,
);

const HEADER_CASES: &[Case] = &[
    (
        "GET Object with Range",
        "GET",
        "/test.txt",
        &[("Range", "bytes=0-9")],
        "",
        &["host", "range", "x-amz-content-sha256", "x-amz-date"],
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    (
        "PUT Object",
        "PUT",
        "/test%24file.text",
        &[
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ],
        "Welcome to Amazon S3.",
        &[
            "date",
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-storage-class",
        ],
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    (
        "GET Bucket Lifecycle",
        "GET",
        "/?lifecycle",
        &[],
        "",
        &["host", "x-amz-content-sha256", "x-amz-date"],
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    (
        "GET Bucket (List Objects)",
        "GET",
        "/?max-keys=2&prefix=J",
        &[],
        "",
        &["host", "x-amz-content-sha256", "x-amz-date"],
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
];

#[test]
fn header_auth_examples() {
    let verifier = Verifier::s3("us-east-1");
    for (name, method, target, extra, body, signed, expected) in HEADER_CASES {
        let payload = sha256_hex(body.as_bytes());
        let mut req = HttpRequest::new(method, target)
            .with_header("Host", HOST)
            .with_header("x-amz-content-sha256", &payload);
        for (n, v) in *extra {
            req = req.with_header(n, v);
        }
        let sig = Signer::s3("us-east-1")
            .sign(&mut req, &creds(), date(), &payload, Some(signed))
            .unwrap();
        assert_eq!(sig.signature, *expected, "{name}");

        // The verifier takes the payload hash from x-amz-content-sha256, as S3 does.
        let parsed = verifier.parse(&req, None).unwrap();
        let ok = verifier
            .verify(&parsed, SECRET, date().to_system_time())
            .unwrap();
        assert_eq!(ok.kind, AuthKind::Header);
        assert!(matches!(ok.payload, Payload::Sha256(_)), "{name}");

        // Fourteen minutes later is within the skew; sixteen is not.
        let t = date().to_system_time();
        assert!(
            verifier
                .verify(&parsed, SECRET, t + Duration::from_secs(14 * 60))
                .is_ok()
        );
        let late = verifier
            .verify(&parsed, SECRET, t + Duration::from_secs(16 * 60))
            .unwrap_err();
        assert_eq!(late.s3_code(), "RequestTimeTooSkewed");
        let early = verifier
            .verify(&parsed, SECRET, t - Duration::from_secs(16 * 60))
            .unwrap_err();
        assert_eq!(early.s3_code(), "RequestTimeTooSkewed");
    }
}

#[test]
fn presigned_url_example() {
    let mut req = HttpRequest::new("GET", "/test.txt").with_header("Host", HOST);
    let sig = Signer::s3("us-east-1")
        .presign(&mut req, &creds(), date(), 86_400, None, None)
        .unwrap();
    assert_eq!(
        sig.signature,
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    assert_eq!(
        req.query,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );

    let verifier = Verifier::s3("us-east-1");
    let parsed = verifier.parse(&req, None).unwrap();
    assert_eq!(parsed.payload_hash(), "UNSIGNED-PAYLOAD");
    let t = date().to_system_time();
    let ok = verifier
        .verify(&parsed, SECRET, t + Duration::from_secs(86_400))
        .unwrap();
    assert_eq!(
        ok.kind,
        AuthKind::Presigned {
            expires_secs: 86_400
        }
    );
    assert_eq!(ok.payload, Payload::Unsigned);

    let expired = verifier
        .verify(&parsed, SECRET, t + Duration::from_secs(86_401))
        .unwrap_err();
    assert_eq!(expired.s3_code(), "AccessDenied");
    assert!(expired.to_string().contains("expired"), "{expired}");
    let future = verifier
        .verify(&parsed, SECRET, t - Duration::from_secs(16 * 60))
        .unwrap_err();
    assert!(matches!(future, SigV4Error::NotYetValid { .. }));

    // Tampering with any signed part of the URL breaks it.
    let mut bad = req.clone();
    bad.path = "/test2.txt".into();
    let p = verifier.parse(&bad, None).unwrap();
    assert_eq!(
        verifier.verify(&p, SECRET, t).unwrap_err(),
        SigV4Error::SignatureDoesNotMatch
    );
    let mut bad = req.clone();
    bad.query = bad
        .query
        .replace("X-Amz-Expires=86400", "X-Amz-Expires=86401");
    let p = verifier.parse(&bad, None).unwrap();
    assert_eq!(
        verifier.verify(&p, SECRET, t).unwrap_err(),
        SigV4Error::SignatureDoesNotMatch
    );
}

#[test]
fn presigned_with_session_token_signs_the_token() {
    let mut c = creds();
    c.session_token = Some("tok+en/=".into());
    let mut req = HttpRequest::new("GET", "/bucket/key").with_header("host", "airlock.local");
    Signer::s3("us-east-1")
        .presign(&mut req, &c, date(), 60, None, None)
        .unwrap();
    assert!(req.query.contains("X-Amz-Security-Token=tok%2Ben%2F%3D"));
    let verifier = Verifier::s3("us-east-1");
    let parsed = verifier.parse(&req, None).unwrap();
    assert_eq!(parsed.security_token(), Some("tok+en/="));
    verifier
        .verify(&parsed, SECRET, date().to_system_time())
        .unwrap();
    let mut bad = req.clone();
    bad.query = bad.query.replace("tok%2Ben", "tok%2Bex");
    let p = verifier.parse(&bad, None).unwrap();
    assert_eq!(
        verifier
            .verify(&p, SECRET, date().to_system_time())
            .unwrap_err(),
        SigV4Error::SignatureDoesNotMatch
    );
}

#[test]
fn refusals_carry_s3_codes() {
    let verifier = Verifier::s3("us-east-1");
    let t = date().to_system_time();
    let base = || {
        let mut r = HttpRequest::new("GET", "/b/k")
            .with_header("host", "h")
            .with_header("x-amz-content-sha256", EMPTY_SHA256);
        Signer::s3("us-east-1")
            .sign(&mut r, &creds(), date(), EMPTY_SHA256, None)
            .unwrap();
        r
    };
    let code = |r: &HttpRequest| match verifier.parse(r, None) {
        Err(e) => e.s3_code(),
        Ok(s) => verifier
            .verify(&s, SECRET, t)
            .map(|_| "OK")
            .unwrap_or_else(|e| e.s3_code()),
    };
    assert_eq!(code(&base()), "OK");
    assert_eq!(code(&HttpRequest::new("GET", "/")), "AccessDenied");

    let mut r = base();
    r.headers.push(("x-amz-meta-evil".into(), "1".into()));
    assert_eq!(code(&r), "AccessDenied", "unsigned x-amz-* header");

    let mut r = base();
    r.headers.retain(|(n, _)| n != "x-amz-content-sha256");
    assert_eq!(code(&r), "InvalidRequest");

    let mut r = base();
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256".into();
    assert_eq!(code(&r), "InvalidArgument");

    for (from, to) in [
        ("us-east-1/s3", "eu-west-1/s3"),
        ("us-east-1/s3", "us-east-1/iam"),
        ("20130524/", "20130525/"),
        ("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA512 "),
        ("SignedHeaders=", "SignedHeaderz="),
    ] {
        let mut r = base();
        let a = r
            .headers
            .iter_mut()
            .find(|(n, _)| n == "Authorization")
            .unwrap();
        a.1 = a.1.replace(from, to);
        assert_eq!(code(&r), "AuthorizationHeaderMalformed", "{from} -> {to}");
    }

    let mut r = HttpRequest::new("GET", "/b/k").with_header("host", "h");
    Signer::s3("us-east-1")
        .presign(&mut r, &creds(), date(), 60, None, None)
        .unwrap();
    r.query = r.query.replace("X-Amz-Expires=60", "X-Amz-Expires=604801");
    assert_eq!(code(&r), "AuthorizationQueryParametersError");

    assert_eq!(
        SigV4Error::InvalidAccessKeyId("AKID".into()).s3_code(),
        "InvalidAccessKeyId"
    );
    assert_eq!(SigV4Error::SignatureDoesNotMatch.http_status(), 403);
}
