//! The S3 operations, over [`FsStore`]. Authorization already happened in
//! [`crate::auth::RoleAccess`] before any of these run.

use std::io::SeekFrom;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::checksum::{ChecksumCheck, announced};
use crate::error::{StoreError, body_error};
use crate::fs::{Expect, FsStore, ObjectMeta};

/// Chunk size of object bodies sent to clients: memory per download is about this much.
const READ_CHUNK: usize = 64 * 1024;
/// S3's ceiling on keys per ListObjectsV2 page.
const MAX_KEYS: usize = 1000;

pub(crate) struct Backend {
    pub store: FsStore,
}

fn expect_from(
    headers: &http::HeaderMap,
    content_md5: Option<&str>,
    content_length: Option<i64>,
) -> Result<Expect, S3Error> {
    let md5 = match content_md5 {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|v| <[u8; 16]>::try_from(v).ok())
                .ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidDigest,
                        "the Content-MD5 you specified is not valid base64 of 16 bytes",
                    )
                })?;
            Some(raw)
        }
    };
    let sha256 = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() == 64)
        .and_then(|v| hex::decode(v).ok())
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    Ok(Expect {
        md5,
        sha256,
        length: content_length.and_then(|l| u64::try_from(l).ok()),
    })
}

fn body_stream(
    body: Option<StreamingBlob>,
) -> impl futures_util::Stream<Item = Result<Bytes, StoreError>> + Unpin {
    let body = body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures_util::stream::empty::<Result<Bytes, std::io::Error>>())
    });
    body.map(|r| r.map_err(body_error))
}

fn etag(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag.clone())
}

fn size_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The digests a PutObject or UploadPart body must match: Content-MD5/length, and the
/// `x-amz-checksum-*` values sent as headers or in the trailer. A macro because the two s3s
/// input types carry the same fields without sharing a type.
macro_rules! body_checks {
    ($headers:expr, $trailers:expr, $input:ident) => {{
        let expect = expect_from(
            &$headers,
            $input.content_md5.as_deref(),
            $input.content_length,
        )?;
        let check = ChecksumCheck::new(
            Checksum {
                checksum_crc32: $input.checksum_crc32,
                checksum_crc32c: $input.checksum_crc32c,
                checksum_crc64nvme: $input.checksum_crc64nvme,
                checksum_sha1: $input.checksum_sha1,
                checksum_sha256: $input.checksum_sha256,
                ..Default::default()
            },
            $trailers,
            announced(&$headers),
        );
        (expect, check)
    }};
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = &req.input.bucket;
        if !self.store.create_bucket(bucket).await? {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                format!("the bucket '{bucket}' already exists and is yours"),
            ));
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store.head_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .store
            .list_buckets()
            .await?
            .into_iter()
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(Timestamp::from(created)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let (expect, check) = body_checks!(req.headers, req.trailing_headers, input);
        let meta = self
            .store
            .put_object(
                &input.bucket,
                &input.key,
                input.content_type,
                check.tap(body_stream(input.body)),
                &expect,
                || check.verify(),
            )
            .await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta)),
            size: Some(size_i64(meta.size)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let mut obj = self.store.open_object(&input.bucket, &input.key).await?;
        let size = obj.meta.size;
        let (range, content_range) = match &input.range {
            None => (0..size, None),
            Some(r) => {
                let range = r.check(size).map_err(|_| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidRange,
                        format!(
                            "the requested range is not satisfiable for an object of {size} bytes"
                        ),
                    )
                })?;
                let cr = format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    size
                );
                (range, Some(cr))
            }
        };
        obj.file
            .seek(SeekFrom::Start(range.start))
            .await
            .map_err(StoreError::from)?;
        let len = range.end - range.start;
        let reader = obj.file.take(len);
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK);
        let partial = content_range.is_some();
        let output = GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some(size_i64(len)),
            content_range,
            content_type: obj.meta.content_type.clone(),
            e_tag: Some(etag(&obj.meta)),
            last_modified: Some(Timestamp::from(obj.meta.modified())),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        };
        if partial {
            Ok(S3Response::with_status(
                output,
                http::StatusCode::PARTIAL_CONTENT,
            ))
        } else {
            Ok(S3Response::new(output))
        }
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let obj = self
            .store
            .open_object(&req.input.bucket, &req.input.key)
            .await?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(size_i64(obj.meta.size)),
            content_type: obj.meta.content_type.clone(),
            e_tag: Some(etag(&obj.meta)),
            last_modified: Some(Timestamp::from(obj.meta.modified())),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store
            .delete_object(&req.input.bucket, &req.input.key)
            .await?;
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let all = self.store.list_objects(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let max_keys = input
            .max_keys
            .map_or(MAX_KEYS, |m| usize::try_from(m).unwrap_or(0).min(MAX_KEYS));
        let marker = match &input.continuation_token {
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidArgument,
                            "the continuation token provided is incorrect",
                        )
                    })?,
            ),
            None => input.start_after.clone(),
        };
        let page = list_page(
            &all,
            &prefix,
            delimiter.as_deref(),
            marker.as_deref(),
            max_keys,
        );
        let key_count = page.objects.len() + page.prefixes.len();
        let contents = page
            .objects
            .iter()
            .map(|m| Object {
                key: Some(m.key.clone()),
                size: Some(size_i64(m.size)),
                e_tag: Some(etag(m)),
                last_modified: Some(Timestamp::from(m.modified())),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes = page
            .prefixes
            .into_iter()
            .map(|p| CommonPrefix { prefix: Some(p) })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter,
            max_keys: Some(i32::try_from(max_keys).unwrap_or(1000)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.next_marker.is_some()),
            next_continuation_token: page.next_marker.map(|m| hex::encode(m.as_bytes())),
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let id = self
            .store
            .create_multipart(&input.bucket, &input.key, input.content_type)
            .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let (expect, check) = body_checks!(req.headers, req.trailing_headers, input);
        let etag = self
            .store
            .upload_part(
                &input.bucket,
                &input.key,
                (&input.upload_id, input.part_number),
                check.tap(body_stream(input.body)),
                &expect,
                || check.verify(),
            )
            .await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let parts: Vec<(i32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                (
                    p.part_number.unwrap_or(0),
                    p.e_tag.map(|e| e.value().to_owned()).unwrap_or_default(),
                )
            })
            .collect();
        let meta = self
            .store
            .complete_multipart(&input.bucket, &input.key, &input.upload_id, &parts)
            .await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(etag(&meta)),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let all = self
            .store
            .list_parts(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input
            .max_parts
            .map_or(MAX_KEYS, |m| usize::try_from(m).unwrap_or(0).min(MAX_KEYS));
        let after: Vec<_> = all.into_iter().filter(|(n, _)| *n > marker).collect();
        let truncated = after.len() > max;
        let page: Vec<_> = after.into_iter().take(max).collect();
        let next = if truncated {
            page.last().map(|(n, _)| *n)
        } else {
            None
        };
        let parts = page
            .iter()
            .map(|(n, m)| Part {
                part_number: Some(*n),
                e_tag: Some(etag(m)),
                size: Some(size_i64(m.size)),
                last_modified: Some(Timestamp::from(m.modified())),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.store
            .abort_multipart(&input.bucket, &input.key, &input.upload_id)
            .await?;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}

/// One page of a listing.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Page<'a> {
    pub objects: Vec<&'a ObjectMeta>,
    pub prefixes: Vec<String>,
    /// Where the next page starts, when the listing is truncated.
    pub next_marker: Option<String>,
}

/// ListObjectsV2 over `all` (sorted by key): keys under `prefix`, after `marker`, rolled up
/// into common prefixes at `delimiter`, at most `max_keys` entries.
pub(crate) fn list_page<'a>(
    all: &'a [ObjectMeta],
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<&str>,
    max_keys: usize,
) -> Page<'a> {
    let mut page = Page::default();
    let mut last: Option<String> = None;
    for m in all {
        let key = m.key.as_str();
        if !key.starts_with(prefix) {
            continue;
        }
        if let Some(mk) = marker
            && (key <= mk || (delimiter.is_some_and(|d| mk.ends_with(d)) && key.starts_with(mk)))
        {
            continue;
        }
        // `key` starts with `prefix`, so `prefix.len()` is a char boundary of `key`.
        let rolled = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = &rolled
            && page.prefixes.last() == Some(cp)
        {
            continue;
        }
        if page.objects.len() + page.prefixes.len() == max_keys {
            page.next_marker = last;
            return page;
        }
        match rolled {
            Some(cp) => {
                last = Some(cp.clone());
                page.prefixes.push(cp);
            }
            None => {
                last = Some(m.key.clone());
                page.objects.push(m);
            }
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metas(keys: &[&str]) -> Vec<ObjectMeta> {
        keys.iter()
            .map(|k| ObjectMeta {
                key: (*k).to_owned(),
                etag: String::new(),
                size: 0,
                content_type: None,
                last_modified: 0,
            })
            .collect()
    }

    #[test]
    fn listing_pages_with_delimiter() {
        let all = metas(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        let p = list_page(&all, "", Some("/"), None, 2);
        assert_eq!(p.prefixes, vec!["a/".to_owned()]);
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.next_marker.as_deref(), Some("b"));
        let p = list_page(&all, "", Some("/"), Some("b"), 2);
        assert_eq!(p.prefixes, vec!["c/".to_owned()]);
        assert_eq!(p.objects[0].key, "d");
        assert_eq!(p.next_marker, None);
        let p = list_page(&all, "c/", Some("/"), None, 10);
        assert_eq!(p.prefixes, vec!["c/x/".to_owned()]);
        assert_eq!(p.objects[0].key, "c/y");
        let p = list_page(&all, "", Some("/"), Some("a/"), 1);
        assert_eq!(p.objects[0].key, "b");
    }
}
