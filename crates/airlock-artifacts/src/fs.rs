//! The filesystem backend: buckets as directories, objects as single files named by a hash of
//! their key, written to a temporary file, fsynced and renamed into place.
//!
//! Layout under the root:
//!
//! ```text
//! ROOT/.tmp/<random>                     temporary files (same filesystem as every bucket)
//! ROOT/<bucket>/objects/<sha256(key)>    object: data, then its metadata JSON, then trailer
//! ROOT/<bucket>/uploads/<upload id>/     multipart upload: `upload` (key, content type)
//!                                        and `part-<n>` (part data + metadata + trailer)
//! ```
//!
//! An object is one file so that one `rename` publishes data and metadata together: a reader
//! sees the old object or the new one, never a mix and never a partial write. The metadata
//! (key, ETag, size, content type, modification time) sits after the data followed by an
//! 8-byte big-endian length and the magic `ALOBJ1\n\0`; the data starts at offset 0, so a
//! ranged read is one seek. Keys never become paths: the file name is the hex SHA-256 of the
//! key bytes, so `..`, `/`, NUL or 1,024-byte keys cannot escape or overflow a name.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::fs::{self, File};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"ALOBJ1\n\0";
const TRAILER_LEN: u64 = 16;
/// Metadata JSON is small; anything larger than this in a trailer is corruption.
const MAX_META_LEN: u64 = 64 * 1024;

/// What the store keeps about an object besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object key.
    pub key: String,
    /// The ETag without quotes: MD5 hex, or `md5-of-md5s-N` for multipart objects.
    pub etag: String,
    /// Size of the data in bytes.
    pub size: u64,
    /// Content type given at upload, if any.
    pub content_type: Option<String>,
    /// When the object was written (Unix seconds).
    pub last_modified: u64,
}

impl ObjectMeta {
    fn to_json(&self) -> Vec<u8> {
        serde_json::json!({
            "key": self.key,
            "etag": self.etag,
            "size": self.size,
            "content_type": self.content_type,
            "last_modified": self.last_modified,
        })
        .to_string()
        .into_bytes()
    }

    fn from_json(bytes: &[u8]) -> Option<ObjectMeta> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        Some(ObjectMeta {
            key: v.get("key")?.as_str()?.to_owned(),
            etag: v.get("etag")?.as_str()?.to_owned(),
            size: v.get("size")?.as_u64()?,
            content_type: v
                .get("content_type")
                .and_then(|c| c.as_str())
                .map(str::to_owned),
            last_modified: v.get("last_modified")?.as_u64()?,
        })
    }

    /// The modification time as a `SystemTime`.
    pub fn modified(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(self.last_modified)
    }
}

/// Checks a key the way S3 does (1–1,024 bytes) and refuses what could only be an attack on a
/// path-based store: NUL, a leading `/`, and `.` or `..` segments. Keys are hashed before
/// they touch the filesystem, so this is defence in depth, not the only guard.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > 1024 {
        return Err(StoreError::InvalidKey(
            "keys are 1 to 1024 bytes long".into(),
        ));
    }
    if key.contains('\0') {
        return Err(StoreError::InvalidKey("keys must not contain NUL".into()));
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return Err(StoreError::InvalidKey(
            "keys must not start with '/' (absolute paths)".into(),
        ));
    }
    if key.split(['/', '\\']).any(|s| s == ".." || s == ".") {
        return Err(StoreError::InvalidKey(
            "keys must not contain '.' or '..' path segments".into(),
        ));
    }
    Ok(())
}

/// Bucket names reach the filesystem as directory names, so they are held to S3's rules:
/// 3–63 characters of `a-z`, `0-9`, `.` and `-`, starting and ending with a letter or digit,
/// no `..`.
pub fn validate_bucket(bucket: &str) -> Result<(), StoreError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidBucketName(bucket.to_owned()))
    }
}

fn key_file_name(key: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| StoreError::Io(std::io::Error::other("system random source failed")))?;
    Ok(hex::encode(buf))
}

/// A temporary file removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    async fn create(root: &Path) -> Result<(TempFile, File), StoreError> {
        let path = root.join(".tmp").join(random_hex(16)?);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok((
            TempFile {
                path,
                persisted: false,
            },
            file,
        ))
    }

    /// Flushes and fsyncs `file`, renames it to `dest` and fsyncs the directory, so the
    /// object is durable once the client hears 200.
    async fn persist(mut self, mut file: File, dest: &Path) -> Result<(), StoreError> {
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        fs::rename(&self.path, dest).await?;
        self.persisted = true;
        if let Some(dir) = dest.parent()
            && let Ok(d) = File::open(dir).await
        {
            // Directory fsync makes the rename durable; not every filesystem supports it.
            let _ = d.sync_all().await;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What the caller promised about a body, checked while it streams in.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    /// `Content-MD5`, decoded.
    pub md5: Option<[u8; 16]>,
    /// `x-amz-content-sha256` when it is a hex digest.
    pub sha256: Option<[u8; 32]>,
    /// `Content-Length`, when sent.
    pub length: Option<u64>,
}

/// The filesystem object store.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    max_object_size: u64,
}

/// An object opened for reading.
#[derive(Debug)]
pub struct OpenObject {
    /// Its metadata.
    pub meta: ObjectMeta,
    /// The file, positioned nowhere in particular; data occupies `0..meta.size`.
    pub file: File,
}

impl FsStore {
    /// A store rooted at `root` (created if missing), refusing bodies over `max_object_size`.
    pub async fn open(root: impl Into<PathBuf>, max_object_size: u64) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(root.join(".tmp")).await?;
        // Leftover temporary files from a crash are never visible as objects; clear them.
        if let Ok(mut rd) = fs::read_dir(root.join(".tmp")).await {
            while let Ok(Some(e)) = rd.next_entry().await {
                let _ = fs::remove_file(e.path()).await;
            }
        }
        Ok(FsStore {
            root,
            max_object_size,
        })
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, StoreError> {
        validate_bucket(bucket)?;
        Ok(self.root.join(bucket))
    }

    async fn existing_bucket(&self, bucket: &str) -> Result<PathBuf, StoreError> {
        let dir = self.bucket_dir(bucket)?;
        match fs::metadata(dir.join("objects")).await {
            Ok(m) if m.is_dir() => Ok(dir),
            _ => Err(StoreError::NoSuchBucket(bucket.to_owned())),
        }
    }

    /// Creates a bucket; `Ok(false)` when it already existed.
    pub async fn create_bucket(&self, bucket: &str) -> Result<bool, StoreError> {
        let dir = self.bucket_dir(bucket)?;
        if fs::metadata(dir.join("objects")).await.is_ok() {
            return Ok(false);
        }
        fs::create_dir_all(dir.join("objects")).await?;
        fs::create_dir_all(dir.join("uploads")).await?;
        Ok(true)
    }

    /// Fails with `NoSuchBucket` unless the bucket exists.
    pub async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.existing_bucket(bucket).await.map(|_| ())
    }

    /// Every bucket with its creation time.
    pub async fn list_buckets(&self) -> Result<Vec<(String, SystemTime)>, StoreError> {
        let mut out = Vec::new();
        let mut rd = fs::read_dir(&self.root).await?;
        while let Some(e) = rd.next_entry().await? {
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_bucket(&name).is_err() {
                continue;
            }
            let created = e
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((name, created));
        }
        out.sort();
        Ok(out)
    }

    /// Streams `body` into a temporary file, checking size and digests, and returns the file
    /// with its MD5. Nothing is visible yet.
    async fn receive<S, E>(
        &self,
        mut body: S,
        expect: &Expect,
    ) -> Result<(TempFile, File, [u8; 16], u64), StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<StoreError>,
    {
        if expect.length.is_some_and(|l| l > self.max_object_size) {
            return Err(StoreError::TooLarge(self.max_object_size));
        }
        let (tmp, mut file) = TempFile::create(&self.root).await?;
        let mut md5 = Md5::new();
        let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
        let mut len: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Into::into)?;
            len += chunk.len() as u64;
            if len > self.max_object_size {
                return Err(StoreError::TooLarge(self.max_object_size));
            }
            md5.update(&chunk);
            if expect.sha256.is_some() {
                sha.update(&chunk);
            }
            file.write_all(&chunk).await?;
        }
        if expect.length.is_some_and(|l| l != len) {
            return Err(StoreError::IncompleteBody);
        }
        let md5: [u8; 16] = md5.finalize().into();
        if expect.md5.is_some_and(|m| m != md5) {
            return Err(StoreError::BadDigest);
        }
        if let Some(want) = expect.sha256
            && sha.finish().as_ref() != want.as_slice()
        {
            return Err(StoreError::Sha256Mismatch);
        }
        Ok((tmp, file, md5, len))
    }

    /// Stores an object from a body stream; returns its metadata. `verify` runs after the
    /// body ended and before the object is published (checksums known only then). On any
    /// error nothing is left behind and any previous object under `key` is untouched.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<String>,
        body: S,
        expect: &Expect,
        verify: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<ObjectMeta, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<StoreError>,
    {
        validate_key(key)?;
        let dir = self.existing_bucket(bucket).await?;
        let (tmp, mut file, md5, size) = self.receive(body, expect).await?;
        verify()?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            etag: hex::encode(md5),
            size,
            content_type,
            last_modified: now_secs(),
        };
        write_trailer(&mut file, &meta).await?;
        tmp.persist(file, &dir.join("objects").join(key_file_name(key)))
            .await?;
        Ok(meta)
    }

    /// Opens an object for reading.
    pub async fn open_object(&self, bucket: &str, key: &str) -> Result<OpenObject, StoreError> {
        validate_key(key)?;
        let dir = self.existing_bucket(bucket).await?;
        let path = dir.join("objects").join(key_file_name(key));
        let mut file = match File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchKey(key.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let meta = read_trailer(&mut file).await?;
        if meta.key != key {
            // A SHA-256 collision is not a practical concern; a mismatch means corruption.
            return Err(StoreError::Corrupt(path.display().to_string()));
        }
        Ok(OpenObject { meta, file })
    }

    /// Deletes an object; deleting a missing key succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        let dir = self.existing_bucket(bucket).await?;
        match fs::remove_file(dir.join("objects").join(key_file_name(key))).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object's metadata in the bucket, sorted by key.
    pub async fn list_objects(&self, bucket: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let dir = self.existing_bucket(bucket).await?;
        let mut rd = fs::read_dir(dir.join("objects")).await?;
        let mut out = Vec::new();
        while let Some(e) = rd.next_entry().await? {
            // An object deleted between read_dir and open is simply not listed.
            let Ok(mut f) = File::open(e.path()).await else {
                continue;
            };
            if let Ok(meta) = read_trailer(&mut f).await {
                out.push(meta);
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn upload_dir(&self, bucket_dir: &Path, upload_id: &str) -> Result<PathBuf, StoreError> {
        if upload_id.len() != 32 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NoSuchUpload(upload_id.to_owned()));
        }
        Ok(bucket_dir.join("uploads").join(upload_id))
    }

    /// Starts a multipart upload; returns its id.
    pub async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<String>,
    ) -> Result<String, StoreError> {
        validate_key(key)?;
        let dir = self.existing_bucket(bucket).await?;
        let id = random_hex(16)?;
        let udir = self.upload_dir(&dir, &id)?;
        fs::create_dir_all(&udir).await?;
        let info = serde_json::json!({ "key": key, "content_type": content_type }).to_string();
        fs::write(udir.join("upload"), info).await?;
        Ok(id)
    }

    async fn upload_info(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(PathBuf, PathBuf, Option<String>), StoreError> {
        validate_key(key)?;
        let dir = self.existing_bucket(bucket).await?;
        let udir = self.upload_dir(&dir, upload_id)?;
        let raw = fs::read(udir.join("upload"))
            .await
            .map_err(|_| StoreError::NoSuchUpload(upload_id.to_owned()))?;
        let v: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|_| StoreError::Corrupt(udir.display().to_string()))?;
        if v.get("key").and_then(|k| k.as_str()) != Some(key) {
            return Err(StoreError::NoSuchUpload(upload_id.to_owned()));
        }
        let ct = v
            .get("content_type")
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        Ok((dir, udir, ct))
    }

    /// Stores part `part_number` (1–10,000) of `upload_id`; returns its ETag (MD5 hex).
    pub async fn upload_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        (upload_id, part_number): (&str, i32),
        body: S,
        expect: &Expect,
        verify: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<String, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<StoreError>,
    {
        if !(1..=10_000).contains(&part_number) {
            return Err(StoreError::InvalidArgument(
                "part numbers are 1 to 10000".into(),
            ));
        }
        let (_, udir, _) = self.upload_info(bucket, key, upload_id).await?;
        let (tmp, mut file, md5, size) = self.receive(body, expect).await?;
        verify()?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            etag: hex::encode(md5),
            size,
            content_type: None,
            last_modified: now_secs(),
        };
        write_trailer(&mut file, &meta).await?;
        tmp.persist(file, &udir.join(format!("part-{part_number}")))
            .await?;
        Ok(meta.etag)
    }

    /// Joins the named parts (ascending part numbers, ETags matching) into the object, which
    /// appears atomically; the upload is then removed.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<ObjectMeta, StoreError> {
        let (dir, udir, content_type) = self.upload_info(bucket, key, upload_id).await?;
        if parts.is_empty() {
            return Err(StoreError::MalformedXml(
                "CompleteMultipartUpload names no parts".into(),
            ));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        let (tmp, mut out) = TempFile::create(&self.root).await?;
        let mut md5s = Md5::new();
        let mut total: u64 = 0;
        let mut buf = vec![0u8; 256 * 1024];
        for (i, (n, etag)) in parts.iter().enumerate() {
            let mut part = File::open(udir.join(format!("part-{n}")))
                .await
                .map_err(|_| StoreError::InvalidPart(*n))?;
            let meta = read_trailer(&mut part).await?;
            if meta.etag != etag.trim_matches('"') {
                return Err(StoreError::InvalidPart(*n));
            }
            // S3's 5 MiB minimum for every part but the last.
            if i + 1 < parts.len() && meta.size < 5 * 1024 * 1024 {
                return Err(StoreError::EntityTooSmall(*n));
            }
            total += meta.size;
            if total > self.max_object_size {
                return Err(StoreError::TooLarge(self.max_object_size));
            }
            let raw = hex::decode(&meta.etag)
                .map_err(|_| StoreError::Corrupt(format!("part {n} etag")))?;
            md5s.update(&raw);
            part.seek(SeekFrom::Start(0)).await?;
            let mut left = meta.size;
            while left > 0 {
                let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                let got = part.read(&mut buf[..want]).await?;
                if got == 0 {
                    return Err(StoreError::Corrupt(format!("part {n} is short")));
                }
                out.write_all(&buf[..got]).await?;
                left -= got as u64;
            }
        }
        let meta = ObjectMeta {
            key: key.to_owned(),
            etag: format!("{}-{}", hex::encode(md5s.finalize()), parts.len()),
            size: total,
            content_type,
            last_modified: now_secs(),
        };
        write_trailer(&mut out, &meta).await?;
        tmp.persist(out, &dir.join("objects").join(key_file_name(key)))
            .await?;
        let _ = fs::remove_dir_all(&udir).await;
        Ok(meta)
    }

    /// The parts uploaded so far, `(part number, metadata)`, ascending.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<(i32, ObjectMeta)>, StoreError> {
        let (_, udir, _) = self.upload_info(bucket, key, upload_id).await?;
        let mut rd = fs::read_dir(&udir).await?;
        let mut out = Vec::new();
        while let Some(e) = rd.next_entry().await? {
            let name = e.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix("part-"))
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(mut f) = File::open(e.path()).await else {
                continue;
            };
            if let Ok(meta) = read_trailer(&mut f).await {
                out.push((n, meta));
            }
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }

    /// Removes multipart uploads untouched (no part uploaded) since before `cutoff`, in every
    /// bucket; returns how many. S3 leaves this to lifecycle rules; without it an abandoned
    /// upload holds its parts' disk space forever.
    pub async fn sweep_uploads(&self, cutoff: SystemTime) -> Result<usize, StoreError> {
        let mut removed = 0;
        for (bucket, _) in self.list_buckets().await? {
            let Ok(mut rd) = fs::read_dir(self.root.join(&bucket).join("uploads")).await else {
                continue;
            };
            while let Some(e) = rd.next_entry().await? {
                let touched = e.metadata().await.ok().and_then(|m| m.modified().ok());
                if touched.is_some_and(|t| t < cutoff) && fs::remove_dir_all(e.path()).await.is_ok()
                {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Abandons a multipart upload and its parts.
    pub async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let (_, udir, _) = self.upload_info(bucket, key, upload_id).await?;
        fs::remove_dir_all(&udir).await?;
        Ok(())
    }
}

async fn write_trailer(file: &mut File, meta: &ObjectMeta) -> Result<(), StoreError> {
    let json = meta.to_json();
    file.write_all(&json).await?;
    file.write_all(&(json.len() as u64).to_be_bytes()).await?;
    file.write_all(MAGIC).await?;
    Ok(())
}

async fn read_trailer(file: &mut File) -> Result<ObjectMeta, StoreError> {
    let corrupt = || StoreError::Corrupt("object trailer".into());
    let len = file.metadata().await?.len();
    if len < TRAILER_LEN {
        return Err(corrupt());
    }
    file.seek(SeekFrom::Start(len - TRAILER_LEN)).await?;
    let mut t = [0u8; TRAILER_LEN as usize];
    file.read_exact(&mut t).await?;
    if &t[8..] != MAGIC {
        return Err(corrupt());
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&t[..8]);
    let meta_len = u64::from_be_bytes(n);
    if meta_len > MAX_META_LEN || meta_len + TRAILER_LEN > len {
        return Err(corrupt());
    }
    file.seek(SeekFrom::Start(len - TRAILER_LEN - meta_len))
        .await?;
    let mut json = vec![0u8; usize::try_from(meta_len).map_err(|_| corrupt())?];
    file.read_exact(&mut json).await?;
    let meta = ObjectMeta::from_json(&json).ok_or_else(corrupt)?;
    if meta.size.checked_add(meta_len + TRAILER_LEN) != Some(len) {
        return Err(corrupt());
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_keys_are_refused() {
        for k in [
            "../x",
            "a/../../etc/passwd",
            "/etc/passwd",
            "a\0b",
            "",
            "a/./b",
            "..",
        ] {
            assert!(validate_key(k).is_err(), "{k:?}");
        }
        for k in ["a", "a/b/c.bin", "..a", "a..", "x/..y/z"] {
            assert!(validate_key(k).is_ok(), "{k:?}");
        }
    }

    #[test]
    fn bucket_names_follow_s3() {
        for b in ["ab", "-ab", "ab-", "a..b", "AB1", "a/b", "a_b"] {
            assert!(validate_bucket(b).is_err(), "{b:?}");
        }
        for b in ["abc", "my.bucket-1", "artifacts"] {
            assert!(validate_bucket(b).is_ok(), "{b:?}");
        }
    }
}
