//! Minting and verifying temporary credentials: round trip, tampering, binding, expiry,
//! foreign keys, rotation, and the size of the credential provider's response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_credentials::{
    CredentialError, CredentialMinter, MAX_CERTIFICATE_ID_LEN, MAX_ROLE_ALIAS_LEN,
    MAX_ROLE_ARN_LEN, MAX_THING_NAME_LEN, MAX_THING_TYPE_NAME_LEN, MintError, SessionClaims,
};

const KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 32] = [9; 32];

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2026-11-22T12:18:06Z, one hour before the expiration in the brief's example body.
const T0: u64 = 1_795_349_886;

fn claims() -> SessionClaims {
    SessionClaims {
        role_arn: "arn:aws:iam::123456789012:role/artifact-reader".into(),
        role_alias: "artifact-reader-alias".into(),
        thing_name: Some("robot-1".into()),
        thing_type_name: Some("gateway".into()),
        certificate_id: "a".repeat(64),
        issued_at: at(T0),
        expires_at: at(T0 + 3600),
    }
}

#[test]
fn round_trip() {
    let m = CredentialMinter::new(KEY);
    let c = m.mint(&claims(), at(T0)).unwrap();
    assert_eq!(c.access_key_id.len(), 20);
    assert!(c.access_key_id.starts_with("ASIA"));
    assert!(
        c.access_key_id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(c.secret_access_key.len(), 40);
    assert_eq!(c.expiration_rfc3339(), "2026-11-22T13:18:06Z");
    let (got, secret) = m
        .verify(&c.access_key_id, &c.session_token, at(T0 + 10))
        .unwrap();
    assert_eq!(got, claims());
    assert_eq!(secret, c.secret_access_key);
    // The secret never shows in Debug output.
    assert!(!format!("{c:?}").contains(&c.secret_access_key));
}

#[test]
fn optional_claims_absent_round_trip() {
    let m = CredentialMinter::new(KEY);
    let mut cl = claims();
    cl.thing_name = None;
    cl.thing_type_name = None;
    let c = m.mint(&cl, at(T0)).unwrap();
    let (got, _) = m
        .verify(&c.access_key_id, &c.session_token, at(T0))
        .unwrap();
    assert_eq!(got, cl);
}

#[test]
fn every_token_differs_in_key_id_and_secret() {
    let m = CredentialMinter::new(KEY);
    let a = m.mint(&claims(), at(T0)).unwrap();
    let mut cl = claims();
    cl.issued_at = at(T0 + 1);
    cl.expires_at = at(T0 + 3601);
    let b = m.mint(&cl, at(T0)).unwrap();
    assert_ne!(a.access_key_id, b.access_key_id);
    assert_ne!(a.secret_access_key, b.secret_access_key);
    // Presenting one token under the other's access key id is refused.
    let e = m
        .verify(&b.access_key_id, &a.session_token, at(T0))
        .unwrap_err();
    assert_eq!(e.s3_code(), "InvalidAccessKeyId");
}

#[test]
fn tampering_any_character_fails() {
    let m = CredentialMinter::new(KEY);
    let c = m.mint(&claims(), at(T0)).unwrap();
    let token = c.session_token.as_bytes();
    for i in 0..token.len() {
        for replacement in [b'A', b'-', b'z'] {
            if token[i] == replacement {
                continue;
            }
            let mut t = token.to_vec();
            t[i] = replacement;
            let t = String::from_utf8(t).unwrap();
            let e = m.verify(&c.access_key_id, &t, at(T0)).unwrap_err();
            assert_eq!(e.s3_code(), "InvalidToken", "position {i}: {e}");
        }
    }
}

#[test]
fn tampering_any_byte_fails() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let m = CredentialMinter::new(KEY);
    let c = m.mint(&claims(), at(T0)).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(&c.session_token).unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let e = m
            .verify(&c.access_key_id, &URL_SAFE_NO_PAD.encode(&b), at(T0))
            .unwrap_err();
        assert_eq!(e.s3_code(), "InvalidToken", "byte {i}: {e}");
    }
    // Truncated and extended tokens too.
    for cut in [0, 1, bytes.len() - 1] {
        let e = m
            .verify(
                &c.access_key_id,
                &URL_SAFE_NO_PAD.encode(&bytes[..cut]),
                at(T0),
            )
            .unwrap_err();
        assert_eq!(e.s3_code(), "InvalidToken");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let e = m
        .verify(&c.access_key_id, &URL_SAFE_NO_PAD.encode(&longer), at(T0))
        .unwrap_err();
    assert_eq!(e.s3_code(), "InvalidToken");
    // Padding or standard-alphabet base64 is not the token.
    let e = m
        .verify(&c.access_key_id, &format!("{}=", c.session_token), at(T0))
        .unwrap_err();
    assert_eq!(e, CredentialError::Malformed);
}

#[test]
fn wrong_access_key_id_fails() {
    let m = CredentialMinter::new(KEY);
    let c = m.mint(&claims(), at(T0)).unwrap();
    for wrong in [
        "ASIAAAAAAAAAAAAAAAAA",
        "",
        &c.access_key_id.to_lowercase(),
        "AKIAIOSFODNN7EXAMPLE",
    ] {
        let e = m.verify(wrong, &c.session_token, at(T0)).unwrap_err();
        assert!(
            matches!(e, CredentialError::AccessKeyMismatch { .. }),
            "{wrong}: {e}"
        );
        assert_eq!(e.s3_code(), "InvalidAccessKeyId");
        assert_eq!(e.http_status(), 403);
    }
}

#[test]
fn expired_fails() {
    let m = CredentialMinter::new(KEY);
    let c = m.mint(&claims(), at(T0)).unwrap();
    assert!(
        m.verify(&c.access_key_id, &c.session_token, at(T0 + 3599))
            .is_ok()
    );
    for t in [T0 + 3600, T0 + 3601, T0 + 86_400] {
        let e = m
            .verify(&c.access_key_id, &c.session_token, at(t))
            .unwrap_err();
        assert_eq!(
            e,
            CredentialError::Expired {
                expired_at: "2026-11-22T13:18:06Z".into()
            }
        );
        assert_eq!(e.s3_code(), "ExpiredToken");
        assert_eq!(e.http_status(), 400);
    }
}

#[test]
fn token_from_another_key_fails() {
    let ours = CredentialMinter::new(KEY);
    let theirs = CredentialMinter::new(OTHER_KEY);
    let c = theirs.mint(&claims(), at(T0)).unwrap();
    let e = ours
        .verify(&c.access_key_id, &c.session_token, at(T0))
        .unwrap_err();
    assert_eq!(e.s3_code(), "InvalidToken");
    assert!(
        matches!(
            e,
            CredentialError::UnknownKey(_) | CredentialError::BadSignature
        ),
        "{e}"
    );
}

#[test]
fn forged_key_id_fails() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // Another key's token relabelled with our key id still fails the MAC.
    let ours = CredentialMinter::new(KEY);
    let theirs = CredentialMinter::new(OTHER_KEY);
    let c = theirs.mint(&claims(), at(T0)).unwrap();
    let mut b = URL_SAFE_NO_PAD.decode(&c.session_token).unwrap();
    b[1] = ours.key_id();
    let e = ours
        .verify(&c.access_key_id, &URL_SAFE_NO_PAD.encode(&b), at(T0))
        .unwrap_err();
    assert_eq!(e, CredentialError::BadSignature);
}

#[test]
fn rotation_accepts_previous_key() {
    let old = CredentialMinter::new(OTHER_KEY);
    let c = old.mint(&claims(), at(T0)).unwrap();
    let rotated = CredentialMinter::new(KEY).with_previous_keys([OTHER_KEY]);
    let (got, secret) = rotated
        .verify(&c.access_key_id, &c.session_token, at(T0))
        .unwrap();
    assert_eq!(got, claims());
    assert_eq!(secret, c.secret_access_key);
    // New tokens come from the current key, which the old minter does not know.
    let fresh = rotated.mint(&claims(), at(T0)).unwrap();
    assert!(
        old.verify(&fresh.access_key_id, &fresh.session_token, at(T0))
            .is_err()
    );
    // Once the old key is dropped, its tokens stop working.
    let dropped = CredentialMinter::new(KEY);
    assert!(
        dropped
            .verify(&c.access_key_id, &c.session_token, at(T0))
            .is_err()
    );
}

#[test]
fn unsupported_version_is_invalid_token() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let m = CredentialMinter::new(KEY);
    let c = m.mint(&claims(), at(T0)).unwrap();
    let mut b = URL_SAFE_NO_PAD.decode(&c.session_token).unwrap();
    b[0] = 2;
    let e = m
        .verify(&c.access_key_id, &URL_SAFE_NO_PAD.encode(&b), at(T0))
        .unwrap_err();
    assert_eq!(e, CredentialError::UnsupportedVersion(2));
    assert_eq!(e.s3_code(), "InvalidToken");
}

#[test]
fn mint_refusals() {
    let m = CredentialMinter::new(KEY);
    let mut c = claims();
    c.expires_at = at(T0 + 899);
    assert_eq!(
        m.mint(&c, at(T0)).unwrap_err(),
        MintError::Lifetime { seconds: 899 }
    );
    c.expires_at = at(T0 + 43_201);
    assert_eq!(
        m.mint(&c, at(T0)).unwrap_err(),
        MintError::Lifetime { seconds: 43_201 }
    );
    c.expires_at = at(T0 + 43_200);
    assert!(m.mint(&c, at(T0)).is_ok());
    assert!(matches!(
        m.mint(&c, at(T0 + 43_200)).unwrap_err(),
        MintError::AlreadyExpired { .. }
    ));

    let mut c = claims();
    c.role_arn = "r".repeat(MAX_ROLE_ARN_LEN + 1);
    assert!(matches!(
        m.mint(&c, at(T0)).unwrap_err(),
        MintError::FieldTooLong {
            field: "role_arn",
            ..
        }
    ));
    let mut c = claims();
    c.thing_name = Some(String::new());
    assert_eq!(
        m.mint(&c, at(T0)).unwrap_err(),
        MintError::EmptyField {
            field: "thing_name"
        }
    );
    let mut c = claims();
    c.certificate_id = "c".repeat(MAX_CERTIFICATE_ID_LEN + 1);
    assert!(matches!(
        m.mint(&c, at(T0)).unwrap_err(),
        MintError::FieldTooLong {
            field: "certificate_id",
            ..
        }
    ));
}

/// The AWS CRT X.509 credentials client refuses response bodies over 2048 bytes. With every
/// claim at its limit the whole body is 1,189 bytes (measured; see CREDENTIALS.md).
#[test]
fn provider_response_stays_well_under_2048_bytes() {
    let m = CredentialMinter::new(KEY);
    let worst = SessionClaims {
        role_arn: format!(
            "arn:aws-us-gov:iam::123456789012:role/{}",
            "r".repeat(MAX_ROLE_ARN_LEN - 38)
        ),
        role_alias: "a".repeat(MAX_ROLE_ALIAS_LEN),
        thing_name: Some("t".repeat(MAX_THING_NAME_LEN)),
        thing_type_name: Some("y".repeat(MAX_THING_TYPE_NAME_LEN)),
        certificate_id: "c".repeat(MAX_CERTIFICATE_ID_LEN),
        issued_at: at(T0),
        expires_at: at(T0 + 3600),
    };
    assert_eq!(worst.role_arn.len(), MAX_ROLE_ARN_LEN);
    let c = m.mint(&worst, at(T0)).unwrap();
    let body = c.to_provider_json();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["credentials"]["expiration"], "2026-11-22T13:18:06Z");
    assert_eq!(v["credentials"]["sessionToken"], c.session_token.as_str());
    println!(
        "worst-case body: {} bytes, token {} chars",
        body.len(),
        c.session_token.len()
    );
    assert_eq!(
        body.len(),
        1189,
        "update CREDENTIALS.md if the layout changes"
    );
    assert!(body.len() < 1300);

    // A typical device: 1/3 of the limit.
    let typical = m.mint(&claims(), at(T0)).unwrap().to_provider_json();
    println!("typical body: {} bytes", typical.len());
    assert!(typical.len() < 700);
}
