//! Helpers shared by the integration tests: an independent verifier (rustls-webpki) and the
//! `openssl` command line, used when present to make real-world inputs.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

/// Verify `leaf_der` as issued by `ca_der` for `usage`, now.
pub fn verify(ca_der: &[u8], leaf_der: &[u8], usage: KeyUsage) -> Result<(), webpki::Error> {
    let ca = CertificateDer::from(ca_der);
    let anchors = [anchor_from_trusted_cert(&ca)?];
    let leaf = CertificateDer::from(leaf_der);
    let ee = EndEntityCert::try_from(&leaf)?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &[],
        UnixTime::now(),
        usage,
        None,
        None,
    )
    .map(|_| ())
}

/// Verify `leaf_der` as a TLS client certificate issued by `ca_der`, now.
pub fn verify_client(ca_der: &[u8], leaf_der: &[u8]) -> Result<(), webpki::Error> {
    verify(ca_der, leaf_der, KeyUsage::client_auth())
}

/// Whether the `openssl` binary can be run; prints why a test is skipped when it cannot.
pub fn have_openssl(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED {test}: the `openssl` binary is not available");
    }
    ok
}

/// Run `openssl` with `args` in `dir`; panics with its stderr if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Read a file in `dir` as a string.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read openssl output")
}
