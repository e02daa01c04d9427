//! File-writing tests: modes, overwrite, parent creation, atomic replace.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use airlock_pki::files::{write_public, write_secret};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn write_secret_creates_dirs_and_uses_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/ca.key");
    write_secret(&path, b"secret").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"secret");
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn write_secret_narrows_existing_0644_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    fs::write(&path, b"old contents that are longer").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(mode(&path), 0o644);

    write_secret(&path, b"new").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new");
    assert_eq!(mode(&path), 0o600);
    // No temporary files are left behind.
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn write_public_uses_0644() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certs/ca.pem");
    write_public(&path, b"cert").unwrap();
    assert_eq!(mode(&path), 0o644);
    // Overwriting a 0600 file widens it to 0644.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    write_public(&path, b"cert2").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"cert2");
    assert_eq!(mode(&path), 0o644);
}

#[test]
fn write_rejects_paths_without_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    assert!(write_secret(&dir.path().join(".."), b"x").is_err());
}
