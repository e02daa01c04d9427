//! The S3 API over a real socket, signed with `airlock-sigv4`'s `Signer` and credentials
//! minted by `airlock-credentials`: object operations, listing, multipart, presigned URLs,
//! and every refusal with S3's code and status.

mod common;

use std::time::{Duration, SystemTime};

use airlock_sigv4::{AmzDate, HttpRequest, Signer, UNSIGNED_PAYLOAD};
use common::Harness;

async fn with_bucket() -> (Harness, airlock_sigv4::Credentials) {
    let h = Harness::start().await;
    let c = h.creds("robot-1");
    let r = h.call(&c, "PUT", "/artifacts", b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    (h, c)
}

#[tokio::test]
async fn put_get_range_head_list_delete() {
    let (h, c) = with_bucket().await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/comp/app-1.0.bin",
        &airlock_sigv4::sha256_hex(&data),
        &[("content-type", "application/octet-stream")],
    );
    let r = h.send(&req, &data).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let md5 = format!("\"{}\"", hex::encode(md5_of(&data)));
    assert_eq!(r.header("etag"), md5);

    let r = h.call(&c, "GET", "/artifacts/comp/app-1.0.bin", b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &data[..]);
    assert_eq!(r.header("etag"), md5);
    assert_eq!(r.header("content-type"), "application/octet-stream");

    let req = h.signed_with(
        &c,
        "GET",
        "/artifacts/comp/app-1.0.bin",
        airlock_sigv4::EMPTY_SHA256,
        &[("range", "bytes=10-19")],
    );
    let r = h.send(&req, b"").await;
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(&r.body[..], &data[10..20]);
    assert_eq!(r.header("content-range"), "bytes 10-19/100000");

    let req = h.signed_with(
        &c,
        "GET",
        "/artifacts/comp/app-1.0.bin",
        airlock_sigv4::EMPTY_SHA256,
        &[("range", "bytes=-5")],
    );
    let r = h.send(&req, b"").await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &data[data.len() - 5..]);

    let req = h.signed_with(
        &c,
        "GET",
        "/artifacts/comp/app-1.0.bin",
        airlock_sigv4::EMPTY_SHA256,
        &[("range", "bytes=200000-")],
    );
    assert_eq!(h.send(&req, b"").await.status, 416);

    let r = h.call(&c, "HEAD", "/artifacts/comp/app-1.0.bin", b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), "100000");
    assert_eq!(r.header("etag"), md5);

    for k in ["comp/app-2.0.bin", "comp/sub/x", "other.txt"] {
        let r = h.call(&c, "PUT", &format!("/artifacts/{k}"), b"x").await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = h
        .call(
            &c,
            "GET",
            "/artifacts?list-type=2&prefix=comp%2F&delimiter=%2F",
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(t.contains("<Key>comp/app-1.0.bin</Key>"), "{t}");
    assert!(t.contains("<Key>comp/app-2.0.bin</Key>"), "{t}");
    assert!(t.contains("<Prefix>comp/sub/</Prefix>"), "{t}");
    assert!(!t.contains("other.txt"), "{t}");

    // Pagination: one key per page, following continuation tokens.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let target = match &token {
            None => "/artifacts?list-type=2&max-keys=1".to_owned(),
            Some(t) => format!("/artifacts?list-type=2&max-keys=1&continuation-token={t}"),
        };
        let r = h.call(&c, "GET", &target, b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let t = r.text();
        if let Some((_, rest)) = t.split_once("<Key>") {
            seen.push(rest.split_once("</Key>").unwrap().0.to_owned());
        }
        token = t.split_once("<NextContinuationToken>").map(|(_, r)| {
            r.split_once("</NextContinuationToken>")
                .unwrap()
                .0
                .to_owned()
        });
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "comp/app-1.0.bin",
            "comp/app-2.0.bin",
            "comp/sub/x",
            "other.txt"
        ]
    );

    let r = h
        .call(&c, "DELETE", "/artifacts/comp/app-1.0.bin", b"")
        .await;
    assert_eq!(r.status, 204);
    let r = h.call(&c, "GET", "/artifacts/comp/app-1.0.bin", b"").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));

    let r = h.call(&c, "HEAD", "/artifacts", b"").await;
    assert_eq!(r.status, 200);
    let r = h.call(&c, "HEAD", "/nosuchbucket", b"").await;
    assert_eq!(r.status, 404);
    let r = h.call(&c, "GET", "/", b"").await;
    assert!(r.text().contains("<Name>artifacts</Name>"), "{}", r.text());
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

#[tokio::test]
async fn multipart_upload() {
    let (h, c) = with_bucket().await;
    let part1 = vec![1u8; 5 * 1024 * 1024];
    let part2 = vec![2u8; 1000];
    let r = h.call(&c, "POST", "/artifacts/big.bin?uploads", b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    let id = t
        .split_once("<UploadId>")
        .unwrap()
        .1
        .split_once("</UploadId>")
        .unwrap()
        .0
        .to_owned();
    let mut etags = Vec::new();
    for (n, p) in [(1, &part1), (2, &part2)] {
        let r = h
            .call(
                &c,
                "PUT",
                &format!("/artifacts/big.bin?partNumber={n}&uploadId={id}"),
                p,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        etags.push(r.header("etag"));
    }
    let r = h
        .call(&c, "GET", &format!("/artifacts/big.bin?uploadId={id}"), b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("<PartNumber>2</PartNumber>"),
        "{}",
        r.text()
    );
    assert!(r.text().contains(&etags[0]), "{}", r.text());
    // Not visible before completion.
    assert_eq!(
        h.call(&c, "GET", "/artifacts/big.bin", b"").await.status,
        404
    );
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let r = h
        .call(
            &c,
            "POST",
            &format!("/artifacts/big.bin?uploadId={id}"),
            xml.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut both = md5_of(&part1).to_vec();
    both.extend_from_slice(&md5_of(&part2));
    let want = format!("{}-2", hex::encode(md5_of(&both)));
    assert!(r.text().contains(&want), "{}", r.text());

    let r = h.call(&c, "GET", "/artifacts/big.bin", b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), part1.len() + part2.len());
    assert_eq!(&r.body[..part1.len()], &part1[..]);
    assert_eq!(&r.body[part1.len()..], &part2[..]);
    assert_eq!(r.header("etag"), format!("\"{want}\""));

    // Abort removes an upload.
    let r = h.call(&c, "POST", "/artifacts/gone.bin?uploads", b"").await;
    let t = r.text();
    let id = t
        .split_once("<UploadId>")
        .unwrap()
        .1
        .split_once("</UploadId>")
        .unwrap()
        .0
        .to_owned();
    let r = h
        .call(
            &c,
            "DELETE",
            &format!("/artifacts/gone.bin?uploadId={id}"),
            b"",
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = h
        .call(
            &c,
            "PUT",
            &format!("/artifacts/gone.bin?partNumber=1&uploadId={id}"),
            b"x",
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
}

#[tokio::test]
async fn presigned_get() {
    let (h, c) = with_bucket().await;
    assert_eq!(
        h.call(&c, "PUT", "/artifacts/p.txt", b"hello").await.status,
        200
    );
    let mut req = HttpRequest::new("GET", "/artifacts/p.txt").with_header("host", &h.host());
    Signer::s3("us-east-1")
        .presign(
            &mut req,
            &c,
            AmzDate::from_system_time(SystemTime::now()),
            300,
            None,
            None,
        )
        .unwrap();
    assert!(req.query.contains("X-Amz-Security-Token="));
    let r = h.send(&req, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(&r.body[..], b"hello");

    // The URL cannot be pointed at another key.
    let mut other = req.clone();
    other.path = "/artifacts/q.txt".into();
    let r = h.send(&other, b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
}

#[tokio::test]
async fn tampered_signature_is_refused() {
    let (h, c) = with_bucket().await;
    let mut req = h.signed(&c, "GET", "/artifacts/x", b"");
    for (n, v) in &mut req.headers {
        if n.eq_ignore_ascii_case("authorization") {
            let last = v.pop().unwrap();
            v.push(if last == '0' { '1' } else { '0' });
        }
    }
    let r = h.send(&req, b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn expired_token_is_refused() {
    let (h, c) = with_bucket().await;
    // Issued two hours ago for 15 minutes.
    let old = h.creds_full(
        "robot-1",
        "cert-1",
        SystemTime::now() - Duration::from_secs(7200),
        900,
    );
    let r = h.call(&old, "GET", "/artifacts", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "ExpiredToken"),
        "{}",
        r.text()
    );
    // Current credentials, with the service's clock moved past their expiry.
    h.clock_offset
        .store(3700, std::sync::atomic::Ordering::SeqCst);
    let r = h.call(&c, "GET", "/artifacts", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "ExpiredToken"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn bad_or_mismatched_tokens_are_refused() {
    let (h, c) = with_bucket().await;
    let mut bad = c.clone();
    bad.session_token = Some(format!("{}AA", c.session_token.clone().unwrap()));
    let r = h.call(&bad, "GET", "/artifacts", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidToken"),
        "{}",
        r.text()
    );

    let other = h.creds("robot-2");
    let mut mixed = c.clone();
    mixed.session_token = other.session_token;
    let r = h.call(&mixed, "GET", "/artifacts", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "InvalidAccessKeyId"),
        "{}",
        r.text()
    );

    let mut none = c.clone();
    none.session_token = None;
    let r = h.call(&none, "GET", "/artifacts", b"").await;
    assert_eq!(r.status, 403, "{}", r.text());

    let req = HttpRequest::new("GET", "/artifacts").with_header("host", &h.host());
    let r = h.send(&req, b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn keys_outside_the_role_are_denied() {
    let (h, c) = with_bucket().await;
    let r = h.call(&c, "PUT", "/artifacts/secret/k", b"x").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "{}",
        r.text()
    );
    assert!(
        !h.root
            .join("artifacts")
            .join("objects")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
    let r = h.call(&c, "PUT", "/private", b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The thing variable: robot-1 may read private/robot-1/*, not private/robot-2/*.
    let r = h.call(&c, "GET", "/private/robot-1/cfg", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "NoSuchKey"),
        "{}",
        r.text()
    );
    let r = h.call(&c, "GET", "/private/robot-2/cfg", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "{}",
        r.text()
    );
    let r = h.call(&c, "PUT", "/private/robot-1/cfg", b"x").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn revoked_certificate_is_refused() {
    let (h, c) = with_bucket().await;
    assert_eq!(h.call(&c, "PUT", "/artifacts/k", b"x").await.status, 200);
    h.directory.revoked.lock().unwrap().insert("cert-1".into());
    let r = h.call(&c, "GET", "/artifacts/k", b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("REVOKED"), "{}", r.text());
}

#[tokio::test]
async fn bad_digests_leave_nothing_behind() {
    let (h, c) = with_bucket().await;
    let wrong_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="; // MD5 of the empty string
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/d.bin",
        &airlock_sigv4::sha256_hex(b"data"),
        &[("content-md5", wrong_md5)],
    );
    let r = h.send(&req, b"data").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "BadDigest"),
        "{}",
        r.text()
    );
    assert_eq!(h.call(&c, "GET", "/artifacts/d.bin", b"").await.status, 404);

    // Signed SHA-256 of other bytes than those sent.
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/d.bin",
        &airlock_sigv4::sha256_hex(b"atad"),
        &[],
    );
    let r = h.send(&req, b"data").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XAmzContentSHA256Mismatch"),
        "{}",
        r.text()
    );
    assert_eq!(h.call(&c, "GET", "/artifacts/d.bin", b"").await.status, 404);

    // Unsigned payload with a correct Content-MD5 is accepted.
    let good = base64_md5(b"data");
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/d.bin",
        UNSIGNED_PAYLOAD,
        &[("content-md5", &good)],
    );
    assert_eq!(h.send(&req, b"data").await.status, 200);
    // No temporary file survives the refusals.
    assert!(!h.root.join(".tmp").read_dir().unwrap().any(|_| true));
}

fn base64_md5(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(md5_of(data))
}

#[tokio::test]
async fn traversal_keys_never_become_paths() {
    let (h, c) = with_bucket().await;
    for key in ["..%2F..%2Fescape", "a%2F..%2F..%2Fescape", "a%00b"] {
        let r = h.call(&c, "PUT", &format!("/artifacts/{key}"), b"x").await;
        assert_eq!(r.status, 400, "{key}: {}", r.text());
    }
    // Nothing was written outside the bucket's object directory.
    let parent = h.root.parent().unwrap();
    assert!(!parent.join("escape").exists());
    assert!(!h.root.join("escape").exists());
    // Odd but harmless keys are stored under a hashed name.
    let r = h.call(&c, "PUT", "/artifacts/..a/b..%5Cc", b"x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<String> = h
        .root
        .join("artifacts/objects")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
    );
}

#[tokio::test]
async fn size_cap_is_enforced() {
    let h = Harness::start_with(|mut c| {
        c.max_object_size = 1000;
        c
    })
    .await;
    let c = h.creds("robot-1");
    assert_eq!(h.call(&c, "PUT", "/artifacts", b"").await.status, 200);
    let r = h.call(&c, "PUT", "/artifacts/big", &[0u8; 1001]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooLarge"),
        "{}",
        r.text()
    );
    assert_eq!(
        h.call(&c, "PUT", "/artifacts/ok", &[0u8; 1000])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn listing_is_authorized_with_s3_prefix() {
    let (h, c) = with_bucket().await;
    let r = h
        .call(&c, "GET", "/artifacts?list-type=2&prefix=secret%2Fa", b"")
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "{}",
        r.text()
    );
    let r = h
        .call(&c, "GET", "/artifacts?list-type=2&prefix=public%2F", b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The tower face of the service (what an axum router mounts) behaves like the hyper one.
#[tokio::test]
async fn tower_service_answers_with_s3_errors() {
    use tower_service::Service;
    let (h, c) = with_bucket().await;
    let mut svc = h.service.clone();
    let req = http::Request::get("/artifacts/x")
        .header("host", h.host())
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = svc.call(req).await.unwrap();
    assert_eq!(resp.status(), 403);

    let signed = h.signed(&c, "PUT", "/artifacts/t.txt", b"tower");
    let mut b = http::Request::builder()
        .method("PUT")
        .uri("/artifacts/t.txt");
    for (n, v) in &signed.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    let req = b
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"tower",
        )))
        .unwrap();
    let resp = svc.call(req).await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn additional_checksums_are_verified() {
    let (h, c) = with_bucket().await;
    let mut hasher = s3s::checksum::ChecksumHasher {
        crc32: Some(Default::default()),
        ..Default::default()
    };
    hasher.update(b"data");
    let good = hasher.finalize().checksum_crc32.unwrap();
    let hash = airlock_sigv4::sha256_hex(b"data");
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/c.bin",
        &hash,
        &[("x-amz-checksum-crc32", "AAAAAA==")],
    );
    let r = h.send(&req, b"data").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "BadDigest"),
        "{}",
        r.text()
    );
    assert_eq!(h.call(&c, "GET", "/artifacts/c.bin", b"").await.status, 404);
    let req = h.signed_with(
        &c,
        "PUT",
        "/artifacts/c.bin",
        &hash,
        &[("x-amz-checksum-crc32", &good)],
    );
    let r = h.send(&req, b"data").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn abandoned_uploads_are_swept() {
    let (h, c) = with_bucket().await;
    let r = h.call(&c, "POST", "/artifacts/left.bin?uploads", b"").await;
    let t = r.text();
    let id = t
        .split_once("<UploadId>")
        .unwrap()
        .1
        .split_once("</UploadId>")
        .unwrap()
        .0
        .to_owned();
    let part = format!("/artifacts/left.bin?partNumber=1&uploadId={id}");
    assert_eq!(h.call(&c, "PUT", &part, b"x").await.status, 200);
    let hour = Duration::from_secs(3600);
    assert_eq!(h.service.sweep_abandoned_uploads(hour).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        h.service
            .sweep_abandoned_uploads(Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    let r = h.call(&c, "PUT", &part, b"x").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
}
