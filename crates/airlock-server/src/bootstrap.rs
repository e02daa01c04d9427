//! The data directory: created on first start, reused after.
//!
//! ```text
//! DATA/pki/root-ca.pem        root CA certificate (give it to devices)
//! DATA/pki/root-ca.key        root CA private key, 0600 (or [pki] ca_key)
//! DATA/pki/server.pem|.key    server certificate for localhost, 127.0.0.1 and server_names
//! DATA/pki/admin.cert.pem     admin client certificate for the CLI / admin API
//! DATA/pki/admin.private.key  its key, 0600
//! DATA/store.redb             sessions, queued and retained messages
//! DATA/registry.redb          things, certificates, CAs, policies, role aliases (0600)
//! DATA/endpoints.json         every listener with its real address and port
//! DATA/credentials.key        32 random bytes, 0600: the credential provider's key
//! DATA/credentials.previous.key  optional: the key before a rotation, verify-only
//! ```

use std::path::{Path, PathBuf};

use airlock_pki::{CertificateAuthority, KeyAlgorithm, PkiError, files};

/// Errors preparing the data directory.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A file could not be read or written.
    #[error(
        "{what} {path}: {source} (check the permissions of the data directory, or pass --data DIR)"
    )]
    Io {
        /// What was being done.
        what: &'static str,
        /// Which file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Key or certificate material was invalid.
    #[error("{what}: {source}")]
    Pki {
        /// What was being done.
        what: String,
        /// Cause.
        source: PkiError,
    },
}

/// Paths inside the data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The data directory.
    pub root: PathBuf,
    /// CA key path (may be outside the data directory).
    pub ca_key: PathBuf,
}

impl DataDir {
    /// Paths for `root`, with the CA key at `ca_key` or in `root/pki`.
    pub fn new(root: &Path, ca_key: Option<&Path>) -> DataDir {
        DataDir {
            root: root.to_path_buf(),
            ca_key: ca_key
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.join("pki/root-ca.key")),
        }
    }
    /// `pki/`.
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    /// Root CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.pki().join("root-ca.pem")
    }
    /// Server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.pki().join("server.pem")
    }
    /// Server key.
    pub fn server_key(&self) -> PathBuf {
        self.pki().join("server.key")
    }
    /// Names the server certificate was issued for, one per line.
    pub fn server_names(&self) -> PathBuf {
        self.pki().join("server-names.txt")
    }
    /// Admin client certificate.
    pub fn admin_cert(&self) -> PathBuf {
        self.pki().join("admin.cert.pem")
    }
    /// Admin client key.
    pub fn admin_key(&self) -> PathBuf {
        self.pki().join("admin.private.key")
    }
    /// `DATA/registry.redb`: things, certificates, CAs, policies, role aliases.
    pub fn registry(&self) -> PathBuf {
        self.root.join("registry.redb")
    }

    /// `DATA/endpoints.json`: every listener's real address, for the CLI and scripts.
    pub fn endpoints(&self) -> PathBuf {
        self.root.join("endpoints.json")
    }

    /// `DATA/credentials.key`: 32 random bytes (0600) that mint and verify the credential
    /// provider's temporary credentials.
    pub fn credentials_key(&self) -> PathBuf {
        self.root.join("credentials.key")
    }

    /// `DATA/credentials.previous.key`: after a rotation, the old key, still accepted for
    /// verification (never used to mint). Remove it 12 hours after rotating.
    pub fn credentials_previous_key(&self) -> PathBuf {
        self.root.join("credentials.previous.key")
    }
}

/// The credential provider's minter: `DATA/credentials.key`, created (32 bytes from the
/// operating system's random generator, 0600) on first start and reused after, plus
/// `DATA/credentials.previous.key` as a verify-only key when present.
pub fn credential_minter(
    dir: &DataDir,
) -> Result<airlock_credentials::CredentialMinter, BootstrapError> {
    let path = dir.credentials_key();
    if !path.exists() {
        let key: [u8; 32] = ring::rand::generate(&ring::rand::SystemRandom::new())
            .map(|k| k.expose())
            .map_err(|_| BootstrapError::Io {
                what: "cannot generate",
                path: path.clone(),
                source: std::io::Error::other("the operating system's random generator failed"),
            })?;
        files::write_secret(&path, &key).map_err(|source| BootstrapError::Io {
            what: "cannot write",
            path: path.clone(),
            source,
        })?;
        tracing::info!(path = %path.display(), "created the credential provider's key");
    }
    let current = read_key(&path)?;
    let previous_path = dir.credentials_previous_key();
    let previous = if previous_path.exists() {
        vec![read_key(&previous_path)?]
    } else {
        Vec::new()
    };
    Ok(airlock_credentials::CredentialMinter::new(current).with_previous_keys(previous))
}

fn read_key(path: &Path) -> Result<[u8; 32], BootstrapError> {
    let bytes = std::fs::read(path).map_err(|source| BootstrapError::Io {
        what: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| BootstrapError::Io {
        what: "cannot use",
        path: path.to_path_buf(),
        source: std::io::Error::other(format!(
            "it holds {} bytes, not 32 (restore it from a backup, or remove it to start over: every credential already issued then stops working)",
            bytes.len()
        )),
    })
}

/// TLS material the server needs.
#[derive(Debug, Clone)]
pub struct ServerMaterial {
    /// The CA, to verify clients (and sign device certificates).
    pub ca_cert_pem: String,
    /// Server certificate chain PEM (leaf).
    pub server_cert_pem: String,
    /// Server private key PEM.
    pub server_key_pem: String,
    /// The admin client certificate PEM (the only certificate the admin API accepts).
    pub admin_cert_pem: String,
    /// Whether this start created the CA.
    pub created: bool,
}

fn read(path: &Path, what: &'static str) -> Result<String, BootstrapError> {
    std::fs::read_to_string(path).map_err(|source| BootstrapError::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, data: &str, secret: bool) -> Result<(), BootstrapError> {
    let r = if secret {
        files::write_secret(path, data.as_bytes())
    } else {
        files::write_public(path, data.as_bytes())
    };
    r.map_err(|source| BootstrapError::Io {
        what: "cannot write",
        path: path.to_path_buf(),
        source,
    })
}

fn pki<T>(what: &str, r: Result<T, PkiError>) -> Result<T, BootstrapError> {
    r.map_err(|source| BootstrapError::Pki {
        what: what.to_string(),
        source,
    })
}

/// Load the CA of a data directory.
pub fn load_ca(dir: &DataDir) -> Result<CertificateAuthority, BootstrapError> {
    let cert = read(&dir.ca_cert(), "cannot read the root CA certificate")?;
    let key = read(&dir.ca_key, "cannot read the root CA key")?;
    pki(
        "the root CA in the data directory is unusable",
        CertificateAuthority::from_pem(&cert, &key),
    )
}

/// Create what is missing in the data directory (CA, server and admin certificates) and
/// return the server's TLS material. Existing material is reused; the server certificate is
/// reissued when the configured names changed.
pub fn prepare(
    dir: &DataDir,
    server_names: &[String],
    alg: KeyAlgorithm,
) -> Result<ServerMaterial, BootstrapError> {
    std::fs::create_dir_all(dir.pki()).map_err(|source| BootstrapError::Io {
        what: "cannot create",
        path: dir.pki(),
        source,
    })?;
    // The data directory holds session state and keys: owner only.
    for d in [&dir.root, &dir.pki()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
            BootstrapError::Io {
                what: "cannot set permissions of",
                path: d.to_path_buf(),
                source,
            }
        })?;
    }
    let created = !dir.ca_cert().exists();
    let ca = if created {
        let ca = pki(
            "cannot create the root CA",
            CertificateAuthority::generate(&ca_common_name(), alg),
        )?;
        write(&dir.ca_key, ca.key_pem(), true)?;
        write(&dir.ca_cert(), ca.cert_pem(), false)?;
        tracing::info!(path = %dir.ca_cert().display(), "created root CA");
        ca
    } else {
        load_ca(dir)?
    };

    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    for n in server_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(dir.server_names()).unwrap_or_default();
    if created || current != wanted || !dir.server_cert().exists() || !dir.server_key().exists() {
        let server = pki(
            "cannot issue the server certificate",
            ca.issue_server(&names, alg),
        )?;
        write(&dir.server_key(), &server.key_pem, true)?;
        write(&dir.server_cert(), &server.cert_pem, false)?;
        write(&dir.server_names(), &wanted, false)?;
        tracing::info!(names = %names.join(", "), "issued server certificate");
    }
    if !dir.admin_cert().exists() || !dir.admin_key().exists() {
        let admin = pki(
            "cannot issue the admin certificate",
            ca.issue_client("airlock-admin", alg, 825),
        )?;
        write(&dir.admin_key(), &admin.key_pem, true)?;
        write(&dir.admin_cert(), &admin.cert_pem, false)?;
        tracing::info!(path = %dir.admin_cert().display(), "issued admin client certificate");
    }
    Ok(ServerMaterial {
        ca_cert_pem: ca.cert_pem().to_string(),
        server_cert_pem: read(&dir.server_cert(), "cannot read the server certificate")?,
        server_key_pem: read(&dir.server_key(), "cannot read the server key")?,
        admin_cert_pem: read(&dir.admin_cert(), "cannot read the admin certificate")?,
        created,
    })
}

/// The root CA's common name, unique per installation. Every Airlock CA used to be called
/// "Airlock Root CA": a certificate from another installation then names a trusted issuer
/// and fails as a signature mismatch (`bad_certificate`) instead of `unknown_issuer`.
fn ca_common_name() -> String {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // RandomState is seeded from the OS per process: enough to tell installations apart.
    let tag = std::collections::hash_map::RandomState::new().hash_one((nanos, std::process::id()));
    format!("Airlock Root CA {tag:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_creates_and_second_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path(), None);
        let first = prepare(&dir, &[], KeyAlgorithm::EcdsaP256).unwrap();
        assert!(first.created);
        for key in [dir.ca_key.clone(), dir.server_key(), dir.admin_key()] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
        let second = prepare(&dir, &[], KeyAlgorithm::EcdsaP256).unwrap();
        assert!(!second.created);
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_eq!(first.server_cert_pem, second.server_cert_pem);
        let minter = credential_minter(&dir).unwrap();
        let key = dir.credentials_key();
        assert_eq!(std::fs::read(&key).unwrap().len(), 32);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = credential_minter(&dir).unwrap();
        assert_eq!(minter.key_id(), again.key_id(), "the key is reused");
        let third = prepare(
            &dir,
            &["broker.plant.local".into()],
            KeyAlgorithm::EcdsaP256,
        )
        .unwrap();
        assert_eq!(first.ca_cert_pem, third.ca_cert_pem);
        assert_ne!(first.server_cert_pem, third.server_cert_pem);
    }
}
