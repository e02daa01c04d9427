//! Signing requests, through the same canonical-request code the verifier uses, for tests
//! and for Airlock's own CLI.

use crate::canonical::{
    ALGORITHM, SigningKey, UNSIGNED_PAYLOAD, canonical_request, credential_scope, string_to_sign,
    to_hex,
};
use crate::encode::{UriEncoding, canonical_query, canonical_uri, parse_query, uri_encode};
use crate::verify::MAX_PRESIGNED_EXPIRES_SECS;
use crate::{AmzDate, HttpRequest, SigV4Error};

/// An access key, its secret and, for temporary credentials, the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token, sent as `x-amz-security-token` / `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

// The secret must never reach a log line through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Everything a signature was computed from, for tests and debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// Lower-case hex signature.
    pub signature: String,
    /// Header auth: the `Authorization` value. Presigned: the full query string to send.
    pub output: String,
}

/// Signs for one region and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Region of the credential scope.
    pub region: String,
    /// Service of the credential scope.
    pub service: String,
    /// Canonical-URI rule; must match the verifier's.
    pub uri_encoding: UriEncoding,
}

impl Signer {
    /// A signer for S3 in `region`.
    pub fn s3(region: &str) -> Self {
        Self {
            region: region.to_owned(),
            service: "s3".to_owned(),
            uri_encoding: UriEncoding::S3,
        }
    }

    /// A signer for another service (double path encoding).
    pub fn service(region: &str, service: &str) -> Self {
        Self {
            region: region.to_owned(),
            service: service.to_owned(),
            uri_encoding: UriEncoding::Double,
        }
    }

    /// Signs `req` for header authentication: sets `x-amz-date`, `x-amz-security-token` (when
    /// the credentials carry one) and `Authorization`. `headers_to_sign` names the headers to
    /// sign; `None` signs every header the request has (it should have `host`). The caller
    /// sets `x-amz-content-sha256` when the service wants it (S3 does).
    pub fn sign(
        &self,
        req: &mut HttpRequest,
        creds: &Credentials,
        date: AmzDate,
        payload_hash: &str,
        headers_to_sign: Option<&[&str]>,
    ) -> Result<Signature, SigV4Error> {
        req.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        req.set_header("x-amz-date", &date.to_string());
        if let Some(token) = &creds.session_token {
            req.set_header("x-amz-security-token", token);
        }
        let names = signed_names(req, headers_to_sign);
        let params = parse_query(&req.query);
        let creq = canonical_request(
            req,
            &canonical_uri(&req.path, self.uri_encoding),
            &canonical_query(&params, &[]),
            &names,
            payload_hash,
        )?;
        let scope = credential_scope(&date.day(), &self.region, &self.service);
        let sts = string_to_sign(&date.to_string(), &scope, &creq);
        let key = SigningKey::derive(
            &creds.secret_access_key,
            &date.day(),
            &self.region,
            &self.service,
        );
        let signature = to_hex(&key.sign(&sts));
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            creds.access_key_id,
            names.join(";")
        );
        req.set_header("Authorization", &authorization);
        Ok(Signature {
            canonical_request: creq,
            string_to_sign: sts,
            signature,
            output: authorization,
        })
    }

    /// Presigns `req`: appends the `X-Amz-*` parameters and `X-Amz-Signature` to its query
    /// string. Signs `host` unless `headers_to_sign` says otherwise; the payload is
    /// `UNSIGNED-PAYLOAD` unless `payload_hash` is given. `expires_secs` is at most seven days.
    pub fn presign(
        &self,
        req: &mut HttpRequest,
        creds: &Credentials,
        date: AmzDate,
        expires_secs: u32,
        payload_hash: Option<&str>,
        headers_to_sign: Option<&[&str]>,
    ) -> Result<Signature, SigV4Error> {
        if expires_secs > MAX_PRESIGNED_EXPIRES_SECS {
            return Err(SigV4Error::QueryMalformed(
                "X-Amz-Expires must be less than a week (604800 seconds)".into(),
            ));
        }
        let names = signed_names(req, Some(headers_to_sign.unwrap_or(&["host"])));
        let scope = credential_scope(&date.day(), &self.region, &self.service);
        let mut added = vec![
            ("X-Amz-Algorithm", ALGORITHM.to_owned()),
            (
                "X-Amz-Credential",
                format!("{}/{scope}", creds.access_key_id),
            ),
            ("X-Amz-Date", date.to_string()),
            ("X-Amz-Expires", expires_secs.to_string()),
            ("X-Amz-SignedHeaders", names.join(";")),
        ];
        if let Some(token) = &creds.session_token {
            added.push(("X-Amz-Security-Token", token.clone()));
        }
        for (n, v) in &added {
            if !req.query.is_empty() {
                req.query.push('&');
            }
            req.query.push_str(n);
            req.query.push('=');
            req.query.push_str(&uri_encode(v.as_bytes(), true));
        }
        let params = parse_query(&req.query);
        let creq = canonical_request(
            req,
            &canonical_uri(&req.path, self.uri_encoding),
            &canonical_query(&params, &[]),
            &names,
            payload_hash.unwrap_or(UNSIGNED_PAYLOAD),
        )?;
        let sts = string_to_sign(&date.to_string(), &scope, &creq);
        let key = SigningKey::derive(
            &creds.secret_access_key,
            &date.day(),
            &self.region,
            &self.service,
        );
        let signature = to_hex(&key.sign(&sts));
        req.query.push_str("&X-Amz-Signature=");
        req.query.push_str(&signature);
        Ok(Signature {
            canonical_request: creq,
            string_to_sign: sts,
            signature,
            output: req.query.clone(),
        })
    }
}

/// Lower-case, de-duplicated, sorted header names to sign.
fn signed_names(req: &HttpRequest, wanted: Option<&[&str]>) -> Vec<String> {
    let mut names: Vec<String> = match wanted {
        Some(w) => w.iter().map(|n| n.to_ascii_lowercase()).collect(),
        None => req
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect(),
    };
    names.sort();
    names.dedup();
    names
}
