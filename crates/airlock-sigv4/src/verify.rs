//! Parsing a signed request (header or presigned URL) and verifying it against a secret.

use std::time::{Duration, SystemTime};

use crate::canonical::{
    ALGORITHM, SigningKey, UNSIGNED_PAYLOAD, canonical_request, credential_scope, string_to_sign,
    to_hex,
};
use crate::encode::{QueryParam, UriEncoding, canonical_query, canonical_uri, parse_query};
use crate::{AmzDate, HttpRequest, SigV4Error};

/// The longest validity of a presigned URL AWS allows: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u32 = 604_800;
/// The clock skew AWS tolerates for header authentication.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// How the request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `Authorization: AWS4-HMAC-SHA256 ...` header.
    Header,
    /// Presigned URL (`X-Amz-*` query parameters).
    Presigned {
        /// `X-Amz-Expires`, at most [`MAX_PRESIGNED_EXPIRES_SECS`].
        expires_secs: u32,
    },
}

/// The `Credential=` element: access key id and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Access key id; the caller looks its secret up.
    pub access_key_id: String,
    /// Scope day, `YYYYMMDD`.
    pub day: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
}

/// What the body hash in the canonical request says about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// The body must hash to this SHA-256; the caller checks it while reading the body.
    Sha256([u8; 32]),
    /// A `STREAMING-*` marker (aws-chunked uploads); chunk signatures or trailers are the
    /// caller's to check.
    Streaming(String),
}

/// A request whose SigV4 elements parsed: everything needed to verify it once the secret of
/// [`SignedRequest::access_key_id`] is known. The canonical request and string to sign are
/// already built (S3 returns both in a `SignatureDoesNotMatch` body).
#[derive(Debug, Clone)]
pub struct SignedRequest {
    kind: AuthKind,
    credential: Credential,
    date: AmzDate,
    signed_headers: Vec<String>,
    signature: [u8; 32],
    security_token: Option<String>,
    payload_hash: String,
    canonical_request: String,
    string_to_sign: String,
}

impl SignedRequest {
    /// Header or presigned.
    pub fn kind(&self) -> AuthKind {
        self.kind
    }
    /// The access key id to look the secret up by.
    pub fn access_key_id(&self) -> &str {
        &self.credential.access_key_id
    }
    /// The whole credential (key id and scope).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }
    /// The request date (`x-amz-date` / `X-Amz-Date`).
    pub fn date(&self) -> AmzDate {
        self.date
    }
    /// The signed header names, as listed by the client.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }
    /// The signature the client sent.
    pub fn signature(&self) -> &[u8; 32] {
        &self.signature
    }
    /// `x-amz-security-token` / `X-Amz-Security-Token`, if any. The caller validates it.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
    /// The payload hash that went into the canonical request.
    pub fn payload_hash(&self) -> &str {
        &self.payload_hash
    }
    /// The canonical request as this server built it.
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }
    /// The string to sign as this server built it.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }
}

/// A request whose signature verified. Still to be done by the caller: validate the security
/// token, authorize the action, and check the body against [`Verified::payload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Access key id the request was signed with.
    pub access_key_id: String,
    /// Session token sent with the request, if any.
    pub security_token: Option<String>,
    /// Header or presigned.
    pub kind: AuthKind,
    /// Request date.
    pub date: AmzDate,
    /// Signed header names.
    pub signed_headers: Vec<String>,
    /// What the body must match.
    pub payload: Payload,
    /// The verified signature (the seed signature of an aws-chunked upload).
    pub signature: [u8; 32],
}

/// The verifier's settings: which region and service this endpoint is, how paths are encoded,
/// and how strict to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// Region the credential scope must name.
    pub region: String,
    /// Service the credential scope must name (`s3` for the artifact store).
    pub service: String,
    /// Canonical-URI rule: [`UriEncoding::S3`] for S3.
    pub uri_encoding: UriEncoding,
    /// Largest difference between `x-amz-date` and the server clock for header auth (and how
    /// far in the future a presigned URL may be dated).
    pub max_skew: Duration,
    /// Refuse requests carrying `x-amz-*` headers that are not signed, as S3 does; otherwise
    /// such headers could be added or altered in flight.
    pub require_signed_amz_headers: bool,
}

impl Verifier {
    /// A verifier for S3 in `region`: single path encoding, 15 minutes of skew, every
    /// `x-amz-*` header must be signed.
    pub fn s3(region: &str) -> Self {
        Self {
            region: region.to_owned(),
            service: "s3".to_owned(),
            uri_encoding: UriEncoding::S3,
            max_skew: DEFAULT_MAX_SKEW,
            require_signed_amz_headers: true,
        }
    }

    /// A verifier for any other service: double path encoding, 15 minutes of skew, unsigned
    /// `x-amz-*` headers tolerated (some services add the session token after signing).
    pub fn service(region: &str, service: &str) -> Self {
        Self {
            region: region.to_owned(),
            service: service.to_owned(),
            uri_encoding: UriEncoding::Double,
            max_skew: DEFAULT_MAX_SKEW,
            require_signed_amz_headers: false,
        }
    }

    /// Parses the SigV4 elements of `req` and builds its canonical request and string to
    /// sign. `payload_hash` is the hex SHA-256 of the body when the caller has it; `None`
    /// takes `x-amz-content-sha256` (required for header auth) or, for a presigned URL
    /// without that header, `UNSIGNED-PAYLOAD`.
    pub fn parse(
        &self,
        req: &HttpRequest,
        payload_hash: Option<&str>,
    ) -> Result<SignedRequest, SigV4Error> {
        let authz = req.single_header("authorization").map_err(|()| {
            SigV4Error::HeaderMalformed("more than one Authorization header".into())
        })?;
        let params = parse_query(&req.query);
        let presigned = params.iter().any(|p| p.name == b"X-Amz-Algorithm");
        match (authz, presigned) {
            (Some(_), true) => Err(SigV4Error::MultipleAuthMechanisms),
            (Some(a), false) => self.parse_header(req, a, &params, payload_hash),
            (None, true) => self.parse_presigned(req, &params, payload_hash),
            (None, false) => Err(SigV4Error::MissingAuthentication),
        }
    }

    fn parse_header(
        &self,
        req: &HttpRequest,
        authz: &str,
        params: &[QueryParam],
        payload_hash: Option<&str>,
    ) -> Result<SignedRequest, SigV4Error> {
        let malformed = |m: &str| SigV4Error::HeaderMalformed(m.to_owned());
        let authz = authz.trim();
        let (algorithm, rest) = authz.split_once(' ').unwrap_or((authz, ""));
        if algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm(truncate(algorithm)));
        }
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| malformed("expected Credential=, SignedHeaders= and Signature="))?;
            let slot = match k {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => {
                    return Err(malformed(
                        "unknown element; expected Credential, SignedHeaders, Signature",
                    ));
                }
            };
            if slot.replace(v).is_some() {
                return Err(malformed("an element is repeated"));
            }
        }
        let credential =
            parse_credential(credential.ok_or_else(|| malformed("missing Credential="))?)
                .map_err(malformed)?;
        let signed_headers =
            parse_signed_headers(signed.ok_or_else(|| malformed("missing SignedHeaders="))?)
                .map_err(malformed)?;
        let signature = parse_signature(signature.ok_or_else(|| malformed("missing Signature="))?)
            .map_err(malformed)?;

        let date_str = req
            .single_header("x-amz-date")
            .map_err(|()| SigV4Error::MissingDate("x-amz-date is repeated".into()))?
            .ok_or_else(|| SigV4Error::MissingDate("x-amz-date is missing".into()))?;
        let date = AmzDate::parse(date_str.trim()).ok_or_else(|| {
            SigV4Error::MissingDate(format!("'{}' is not a date", truncate(date_str)))
        })?;
        let security_token = req
            .single_header("x-amz-security-token")
            .map_err(|()| malformed("x-amz-security-token is repeated"))?
            .map(str::to_owned);
        let payload_hash = match payload_hash {
            Some(h) => h.to_owned(),
            None => req
                .single_header("x-amz-content-sha256")
                .map_err(|()| SigV4Error::InvalidPayloadHash("(repeated header)".into()))?
                .ok_or(SigV4Error::MissingContentSha256)?
                .trim()
                .to_owned(),
        };
        classify_payload(&payload_hash)?;
        self.require_signed(req, &signed_headers, &["host", "x-amz-date"])?;

        let creq = canonical_request(
            req,
            &canonical_uri(&req.path, self.uri_encoding),
            &canonical_query(params, &[]),
            &signed_headers,
            &payload_hash,
        )?;
        let sts = string_to_sign(
            &date.to_string(),
            &credential_scope(&credential.day, &credential.region, &credential.service),
            &creq,
        );
        Ok(SignedRequest {
            kind: AuthKind::Header,
            credential,
            date,
            signed_headers,
            signature,
            security_token,
            payload_hash,
            canonical_request: creq,
            string_to_sign: sts,
        })
    }

    fn parse_presigned(
        &self,
        req: &HttpRequest,
        params: &[QueryParam],
        payload_hash: Option<&str>,
    ) -> Result<SignedRequest, SigV4Error> {
        let malformed = |m: &str| SigV4Error::QueryMalformed(m.to_owned());
        let get = |name: &str| -> Result<Option<String>, SigV4Error> {
            let mut it = params.iter().filter(|p| p.name == name.as_bytes());
            let first = it.next();
            if it.next().is_some() {
                return Err(SigV4Error::QueryMalformed(format!("{name} is repeated")));
            }
            first
                .map(|p| {
                    String::from_utf8(p.value.clone())
                        .map_err(|_| SigV4Error::QueryMalformed(format!("{name} is not UTF-8")))
                })
                .transpose()
        };
        let need = |name: &str| -> Result<String, SigV4Error> {
            get(name)?.ok_or_else(|| SigV4Error::QueryMalformed(format!("{name} is missing")))
        };
        let algorithm = need("X-Amz-Algorithm")?;
        if algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm(truncate(&algorithm)));
        }
        let credential = parse_credential(&need("X-Amz-Credential")?).map_err(malformed)?;
        let date_str = need("X-Amz-Date")?;
        let date = AmzDate::parse(&date_str)
            .ok_or_else(|| malformed("X-Amz-Date must be in the form YYYYMMDDTHHMMSSZ"))?;
        let expires = need("X-Amz-Expires")?;
        let expires_secs: u32 = if !expires.is_empty()
            && expires.len() <= 7
            && expires.bytes().all(|b| b.is_ascii_digit())
        {
            expires
                .parse()
                .map_err(|_| malformed("X-Amz-Expires must be a number of seconds"))?
        } else {
            return Err(malformed("X-Amz-Expires must be a number of seconds"));
        };
        if expires_secs > MAX_PRESIGNED_EXPIRES_SECS {
            return Err(malformed(
                "X-Amz-Expires must be less than a week (604800 seconds)",
            ));
        }
        let signed_headers =
            parse_signed_headers(&need("X-Amz-SignedHeaders")?).map_err(malformed)?;
        let signature = parse_signature(&need("X-Amz-Signature")?).map_err(malformed)?;
        let security_token = get("X-Amz-Security-Token")?;
        let payload_hash = match payload_hash {
            Some(h) => h.to_owned(),
            None => match req.single_header("x-amz-content-sha256") {
                Ok(Some(h)) => h.trim().to_owned(),
                Ok(None) => UNSIGNED_PAYLOAD.to_owned(),
                Err(()) => return Err(SigV4Error::InvalidPayloadHash("(repeated header)".into())),
            },
        };
        classify_payload(&payload_hash)?;
        self.require_signed(req, &signed_headers, &["host"])?;

        let creq = canonical_request(
            req,
            &canonical_uri(&req.path, self.uri_encoding),
            &canonical_query(params, &["X-Amz-Signature"]),
            &signed_headers,
            &payload_hash,
        )?;
        let sts = string_to_sign(
            &date.to_string(),
            &credential_scope(&credential.day, &credential.region, &credential.service),
            &creq,
        );
        Ok(SignedRequest {
            kind: AuthKind::Presigned { expires_secs },
            credential,
            date,
            signed_headers,
            signature,
            security_token,
            payload_hash,
            canonical_request: creq,
            string_to_sign: sts,
        })
    }

    fn require_signed(
        &self,
        req: &HttpRequest,
        signed: &[String],
        always: &[&str],
    ) -> Result<(), SigV4Error> {
        let is_signed = |n: &str| signed.iter().any(|s| s.eq_ignore_ascii_case(n));
        if let Some(missing) = always.iter().find(|n| !is_signed(n)) {
            return Err(SigV4Error::HeaderNotSigned((*missing).to_owned()));
        }
        if self.require_signed_amz_headers
            && let Some((name, _)) = req.headers.iter().find(|(n, _)| {
                n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")) && !is_signed(n)
            })
        {
            return Err(SigV4Error::HeaderNotSigned(truncate(
                &name.to_ascii_lowercase(),
            )));
        }
        Ok(())
    }

    /// Verifies `signed` with `secret` (the secret access key of
    /// [`SignedRequest::access_key_id`]) at time `now`: scope region and service, scope day,
    /// clock skew or presigned expiry, then the signature in constant time.
    pub fn verify(
        &self,
        signed: &SignedRequest,
        secret: &str,
        now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        let c = &signed.credential;
        if c.region != self.region {
            return Err(SigV4Error::WrongRegion {
                got: c.region.clone(),
                expected: self.region.clone(),
            });
        }
        if c.service != self.service {
            return Err(SigV4Error::WrongService {
                got: c.service.clone(),
                expected: self.service.clone(),
            });
        }
        if c.day != signed.date.day() {
            return Err(SigV4Error::ScopeDateMismatch {
                scope: c.day.clone(),
                date: signed.date.to_string(),
            });
        }
        let now = AmzDate::from_system_time(now);
        let skew = i64::try_from(self.max_skew.as_secs()).unwrap_or(i64::MAX);
        let offset = signed
            .date
            .unix_seconds()
            .saturating_sub(now.unix_seconds());
        match signed.kind {
            AuthKind::Header => {
                if offset.unsigned_abs() > skew.unsigned_abs() {
                    return Err(SigV4Error::RequestTimeTooSkewed {
                        request_time: signed.date.to_string(),
                        server_time: now.to_string(),
                        max_skew_secs: self.max_skew.as_secs(),
                    });
                }
            }
            AuthKind::Presigned { expires_secs } => {
                if offset > skew {
                    return Err(SigV4Error::NotYetValid {
                        date: signed.date.to_string(),
                    });
                }
                let expires_at = signed.date.plus_seconds(i64::from(expires_secs));
                if now > expires_at {
                    return Err(SigV4Error::Expired {
                        expired_at: expires_at.to_string(),
                    });
                }
            }
        }
        let key = SigningKey::derive(secret, &c.day, &c.region, &c.service);
        if !key.verify(&signed.string_to_sign, &signed.signature) {
            return Err(SigV4Error::SignatureDoesNotMatch);
        }
        Ok(Verified {
            access_key_id: c.access_key_id.clone(),
            security_token: signed.security_token.clone(),
            kind: signed.kind,
            date: signed.date,
            signed_headers: signed.signed_headers.clone(),
            payload: classify_payload(&signed.payload_hash)?,
            signature: signed.signature,
        })
    }
}

/// Echoed input is cut short so an error message cannot be made arbitrarily large.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn classify_payload(hash: &str) -> Result<Payload, SigV4Error> {
    if hash == UNSIGNED_PAYLOAD {
        return Ok(Payload::Unsigned);
    }
    if hash.starts_with("STREAMING-") {
        return Ok(Payload::Streaming(hash.to_owned()));
    }
    decode_hex32(hash)
        .map(Payload::Sha256)
        .ok_or_else(|| SigV4Error::InvalidPayloadHash(truncate(hash)))
}

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = nib(b[2 * i])? << 4 | nib(b[2 * i + 1])?;
    }
    Some(out)
}

/// `AKID/YYYYMMDD/region/service/aws4_request`.
fn parse_credential(s: &str) -> Result<Credential, &'static str> {
    let parts: Vec<&str> = s.split('/').collect();
    let [akid, day, region, service, terminator] = parts[..] else {
        return Err("Credential must be AKID/YYYYMMDD/region/service/aws4_request");
    };
    if terminator != "aws4_request" {
        return Err("the credential scope must end in aws4_request");
    }
    if akid.is_empty() || region.is_empty() || service.is_empty() {
        return Err("Credential has an empty access key id, region or service");
    }
    if day.len() != 8 || AmzDate::parse(&format!("{day}T000000Z")).is_none() {
        return Err("the credential scope date must be YYYYMMDD");
    }
    Ok(Credential {
        access_key_id: akid.to_owned(),
        day: day.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// `host;x-amz-date;...`: lower-case names, none empty, none repeated.
fn parse_signed_headers(s: &str) -> Result<Vec<String>, &'static str> {
    let names: Vec<String> = s.split(';').map(str::to_owned).collect();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err("SignedHeaders has an empty name");
        }
        if n.bytes().any(|b| {
            !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b))
        }) {
            return Err("SignedHeaders names must be lower-case header names");
        }
        if names[..i].contains(n) {
            return Err("SignedHeaders names a header twice");
        }
    }
    Ok(names)
}

/// 64 lower-case hex digits. Upper case is refused so that each signature has exactly one
/// spelling.
fn parse_signature(s: &str) -> Result<[u8; 32], &'static str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("Signature must be 64 lower-case hex digits");
    }
    decode_hex32(s).ok_or("Signature must be 64 lower-case hex digits")
}

/// Lower-case hex of a signature.
pub fn signature_hex(sig: &[u8; 32]) -> String {
    to_hex(sig)
}
