//! S3's additional checksums (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`,
//! `-sha256`), sent as headers or, with aws-chunked bodies, as trailers. AWS SDKs send one by
//! default (botocore ≥ 1.36: CRC32 in a trailer over TLS, in a header over HTTP); it is
//! checked against the bytes received before the object becomes visible.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::dto::Checksum;

use crate::error::StoreError;

/// What the client declared, and the hasher fed by the body as it streams.
pub(crate) struct ChecksumCheck {
    hasher: Arc<Mutex<Option<ChecksumHasher>>>,
    declared: Checksum,
    trailers: Option<TrailingHeaders>,
    announced: bool,
}

const NAMES: [&str; 5] = [
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

impl ChecksumCheck {
    /// `declared`: the checksum headers of the request; `trailers`: s3s's handle on the
    /// aws-chunked trailer; `announced`: whether `x-amz-trailer` names a checksum.
    pub fn new(declared: Checksum, trailers: Option<TrailingHeaders>, announced: bool) -> Self {
        let any = announced
            || declared.checksum_crc32.is_some()
            || declared.checksum_crc32c.is_some()
            || declared.checksum_crc64nvme.is_some()
            || declared.checksum_sha1.is_some()
            || declared.checksum_sha256.is_some();
        let hasher = any.then(|| ChecksumHasher {
            crc32: Some(Default::default()),
            crc32c: Some(Default::default()),
            crc64nvme: Some(Default::default()),
            sha1: Some(Default::default()),
            sha256: Some(Default::default()),
        });
        ChecksumCheck {
            hasher: Arc::new(Mutex::new(hasher)),
            declared,
            trailers,
            announced,
        }
    }

    /// Wraps `body` so every chunk also feeds the hasher.
    pub fn tap<S>(&self, body: S) -> impl Stream<Item = Result<Bytes, StoreError>> + Unpin
    where
        S: Stream<Item = Result<Bytes, StoreError>> + Unpin,
    {
        let hasher = self.hasher.clone();
        body.map(move |r| {
            if let Ok(chunk) = &r
                && let Ok(mut g) = hasher.lock()
                && let Some(h) = g.as_mut()
            {
                h.update(chunk);
            }
            r
        })
    }

    /// After the body ended: every declared checksum (header or trailer) must match.
    pub fn verify(&self) -> Result<(), StoreError> {
        let Some(h) = self.hasher.lock().ok().and_then(|mut g| g.take()) else {
            return Ok(());
        };
        let got = h.finalize();
        let mut want = self.declared.clone();
        if let Some(t) = &self.trailers
            && let Some(map) = t.take()
        {
            let get = |n: &str| map.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            want.checksum_crc32 = want.checksum_crc32.or_else(|| get(NAMES[0]));
            want.checksum_crc32c = want.checksum_crc32c.or_else(|| get(NAMES[1]));
            want.checksum_crc64nvme = want.checksum_crc64nvme.or_else(|| get(NAMES[2]));
            want.checksum_sha1 = want.checksum_sha1.or_else(|| get(NAMES[3]));
            want.checksum_sha256 = want.checksum_sha256.or_else(|| get(NAMES[4]));
        }
        let none_declared = want.checksum_crc32.is_none()
            && want.checksum_crc32c.is_none()
            && want.checksum_crc64nvme.is_none()
            && want.checksum_sha1.is_none()
            && want.checksum_sha256.is_none();
        if self.announced && none_declared {
            // Announced in x-amz-trailer but never sent: S3 refuses rather than store
            // unchecked bytes.
            return Err(StoreError::MissingTrailer);
        }
        let pairs = [
            ("CRC32", &want.checksum_crc32, &got.checksum_crc32),
            ("CRC32C", &want.checksum_crc32c, &got.checksum_crc32c),
            (
                "CRC64NVME",
                &want.checksum_crc64nvme,
                &got.checksum_crc64nvme,
            ),
            ("SHA1", &want.checksum_sha1, &got.checksum_sha1),
            ("SHA256", &want.checksum_sha256, &got.checksum_sha256),
        ];
        for (name, w, g) in pairs {
            if let Some(w) = w
                && Some(w.trim()) != g.as_deref()
            {
                return Err(StoreError::ChecksumMismatch(name));
            }
        }
        Ok(())
    }
}

/// Whether an `x-amz-trailer` header announces a checksum trailer.
pub(crate) fn announced(headers: &http::HeaderMap) -> bool {
    headers
        .get_all("x-amz-trailer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|n| NAMES.contains(&n.trim().to_ascii_lowercase().as_str()))
        })
}
