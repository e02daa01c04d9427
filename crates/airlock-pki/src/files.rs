//! Atomic writes of keys and certificates with the right file modes.
//!
//! Each write goes to a temporary file in the target's directory, which gets its final mode
//! before any content is written, is fsynced, and is then renamed over the target, so a
//! reader sees either the old file or the complete new one, and a secret is never readable
//! by others, not even briefly. The directory is fsynced afterwards so the rename survives
//! a crash.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Mode of files holding secrets (private keys): owner read/write only.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of files holding public data (certificates): world-readable, owner-writable.
pub const PUBLIC_MODE: u32 = 0o644;

/// Write a secret (private key): create parent dirs, write to a temp file in the same dir
/// with mode 0600, fsync, rename over `path`. The resulting file has mode 0600 even if a
/// file already existed at `path` with a wider mode.
pub fn write_secret(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic(path, contents, SECRET_MODE)
}

/// Write public data (certificates): like [`write_secret`], but the file gets mode 0644.
pub fn write_public(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic(path, contents, PUBLIC_MODE)
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;

    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    // tempfile creates the file with mode 0600 (O_EXCL); set the final mode explicitly
    // (fchmod is not subject to the umask) before writing anything.
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    set_mode(tmp.as_file(), mode)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
