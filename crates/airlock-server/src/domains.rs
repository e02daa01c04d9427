//! Domain configurations on disk, and keeping the SNI table in step with them.
//!
//! ```text
//! DATA/domains/NAME/config.json  {name, domainName, status, source, createdAt}
//! DATA/domains/NAME/cert.pem     server certificate chain, leaf first
//! DATA/domains/NAME/key.pem      its key, 0600
//! ```
//!
//! The files are the truth: the admin API writes them and reloads at once; an operator may
//! also replace `cert.pem`/`key.pem` (certbot, a PKI job) and the watcher picks the change up
//! within [`POLL`], or at once on SIGHUP. A configuration whose files do not load is skipped
//! with a log line naming the file, and the certificate it served before stays in service
//! (AWS keeps serving the last valid certificate too) — so a half-written pair during a
//! rotation never takes a name down.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_admin::{
    CertificateSource, DomainConfiguration, DomainConfigurations, DomainError, DomainStatus,
    NewDomainConfiguration,
};
use airlock_pki::KeyAlgorithm;
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::bootstrap::{self, DataDir};
use crate::sni::{SniResolver, SniTable, certified_key};

/// How often the watcher looks at the files.
pub const POLL: Duration = Duration::from_secs(2);

/// `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredConfig {
    name: String,
    domain_name: String,
    status: DomainStatus,
    source: CertificateSource,
    created_at: u64,
}

/// What was last loaded for one configuration.
#[derive(Clone)]
struct Loaded {
    config: StoredConfig,
    key: Arc<CertifiedKey>,
    certificate_id: String,
    not_after: Option<i64>,
}

/// The domain configurations of a data directory, and the resolver they feed.
pub struct DomainStore {
    dir: PathBuf,
    data: DataDir,
    alg: KeyAlgorithm,
    resolver: Arc<SniResolver>,
    /// Last good load per configuration name; also serializes changes and reloads.
    loaded: Mutex<HashMap<String, Loaded>>,
}

impl std::fmt::Debug for DomainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn internal(what: &str, path: &Path, e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(format!("{what} {}: {e}", path.display()))
}

/// AWS's `domainConfigurationName`: `[\w.-]{1,128}`, and not the reserved `iot:` prefix
/// (which the character set already excludes).
fn check_name(name: &str) -> Result<(), DomainError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "domainConfigurationName \"{name}\" must be 1 to 128 letters, digits, '_', '.' or '-'"
        )))
    }
}

/// A DNS name, optionally with one leading `*.` label.
fn check_domain(domain: &str) -> Result<String, DomainError> {
    let lower = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let rest = lower.strip_prefix("*.").unwrap_or(&lower);
    let labels_ok = !rest.is_empty()
        && lower.len() <= 253
        && rest.split('.').count() >= 2
        && rest.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if labels_ok {
        Ok(lower)
    } else {
        Err(DomainError::Invalid(format!(
            "domainName \"{domain}\" is not a DNS name with at least two labels (a leading \"*.\" makes it a wildcard of one label, e.g. *.plant.example.com)"
        )))
    }
}

/// Whether a certificate name (SAN or CN) covers `domain`, both lowercase; a wildcard
/// certificate covers a wildcard domain name of the same parent.
fn covers(cert_name: &str, domain: &str) -> bool {
    let cert_name = cert_name.to_ascii_lowercase();
    if cert_name == domain {
        return true;
    }
    match cert_name.strip_prefix("*.") {
        Some(parent) => domain
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
        None => false,
    }
}

impl DomainStore {
    /// The store in `DATA/domains`, feeding `resolver`; certificates Airlock issues use `alg`.
    /// Nothing is loaded until [`DomainStore::reload`].
    pub fn new(data: &DataDir, alg: KeyAlgorithm, resolver: Arc<SniResolver>) -> DomainStore {
        DomainStore {
            dir: data.root.join("domains"),
            data: data.clone(),
            alg,
            resolver,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The resolver every device endpoint's TLS configuration uses.
    pub fn resolver(&self) -> Arc<SniResolver> {
        self.resolver.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Loaded>> {
        // Poisoned only by a panic mid-reload; the map is still a consistent last-good set.
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn config_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn load_config(dir: &Path) -> Result<StoredConfig, String> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn load_one(dir: &Path) -> Result<Loaded, String> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let config = Self::load_config(dir)?;
        let cert_pem = read("cert.pem")?;
        let key = certified_key(&cert_pem, &read("key.pem")?)
            .map_err(|e| format!("{} / key.pem: {e}", dir.join("cert.pem").display()))?;
        let leaf = key
            .cert
            .first()
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        Ok(Loaded {
            config,
            certificate_id: airlock_pki::certificate_id(&leaf),
            not_after: airlock_pki::certificate_info(&leaf)
                .ok()
                .map(|i| i.not_after),
            key: Arc::new(key),
        })
    }

    /// Re-read every configuration and swap the SNI table. Returns how many names are served.
    pub fn reload(&self) -> usize {
        let mut loaded = self.lock();
        self.reload_locked(&mut loaded)
    }

    fn reload_locked(&self, loaded: &mut HashMap<String, Loaded>) -> usize {
        let mut next = HashMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e.flatten().collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the domain configurations; keeping the ones loaded");
                return self.publish(loaded);
            }
        };
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !entry.path().is_dir() || check_name(&name).is_err() {
                continue;
            }
            match Self::load_one(&entry.path()) {
                Ok(l) => {
                    let changed = loaded.get(&name).is_none_or(|old| {
                        old.certificate_id != l.certificate_id
                            || old.config.status != l.config.status
                    });
                    if changed {
                        tracing::info!(domain_configuration = %name, domain = %l.config.domain_name, status = l.config.status.as_str(), certificate_id = %l.certificate_id, "domain configuration loaded");
                    }
                    next.insert(name, l);
                }
                Err(e) => match loaded.get(&name) {
                    Some(previous) => {
                        tracing::warn!(domain_configuration = %name, "domain configuration does not load, still serving its previous certificate: {e}");
                        let mut kept = previous.clone();
                        // A status change still applies while the certificate files are bad.
                        if let Ok(config) = Self::load_config(&entry.path()) {
                            kept.config = config;
                        }
                        next.insert(name, kept);
                    }
                    None => {
                        tracing::warn!(domain_configuration = %name, "domain configuration skipped: {e}");
                    }
                },
            }
        }
        *loaded = next;
        self.publish(loaded)
    }

    fn publish(&self, loaded: &HashMap<String, Loaded>) -> usize {
        let mut table = SniTable::default();
        let mut names: Vec<&Loaded> = loaded.values().collect();
        // Deterministic when two configurations name the same domain by hand-edited files.
        names.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        for l in names.into_iter().rev() {
            if l.config.status == DomainStatus::Enabled {
                table.insert(&l.config.domain_name, l.key.clone());
            }
        }
        let n = table.len();
        self.resolver.replace(table);
        n
    }

    /// A fingerprint of every file's name, size and modification time: the watcher reloads
    /// when it changes.
    fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for d in dirs.flatten() {
            for file in ["config.json", "cert.pem", "key.pem"] {
                let path = d.path().join(file);
                if let Ok(m) = std::fs::metadata(&path) {
                    out.push((path, m.len(), m.modified().ok()));
                }
            }
        }
        out.sort();
        out
    }

    fn to_api(l: &Loaded) -> DomainConfiguration {
        DomainConfiguration {
            name: l.config.name.clone(),
            domain_name: l.config.domain_name.clone(),
            status: l.config.status,
            source: l.config.source,
            created_at: l.config.created_at,
            certificate_id: Some(l.certificate_id.clone()),
            not_after: l.not_after,
        }
    }

    fn write_config(&self, config: &StoredConfig) -> Result<(), DomainError> {
        let path = self.config_dir(&config.name).join("config.json");
        let json = serde_json::to_string_pretty(config)
            .map_err(|e| internal("cannot encode", &path, e))?;
        airlock_pki::files::write_public(&path, json.as_bytes())
            .map_err(|e| internal("cannot write", &path, e))
    }

    fn not_found(name: &str) -> DomainError {
        DomainError::NotFound(format!(
            "domain configuration \"{name}\" does not exist; list them with 'airlock domain list'"
        ))
    }
}

/// The store of `data` over a resolver whose default is the data directory's server
/// certificate, loaded once.
pub fn start(
    data: &DataDir,
    material: &bootstrap::ServerMaterial,
    alg: KeyAlgorithm,
) -> Result<Arc<DomainStore>, crate::tls::TlsError> {
    let default =
        certified_key(&material.server_cert_pem, &material.server_key_pem).map_err(|e| {
            tracing::error!("the default server certificate does not load: {e}");
            crate::tls::TlsError::Pem("server certificate and key")
        })?;
    let store = Arc::new(DomainStore::new(
        data,
        alg,
        Arc::new(SniResolver::new(Arc::new(default))),
    ));
    store.reload();
    Ok(store)
}

/// Reload on every change of the files (polled every [`POLL`]) and on SIGHUP, until shutdown.
pub async fn watch(store: Arc<DomainStore>, mut shutdown: watch::Receiver<bool>) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; domain certificates are still re-read every {}s", POLL.as_secs());
            None
        }
    };
    let mut last = store.fingerprint();
    let mut tick = tokio::time::interval(POLL);
    loop {
        let hup = async {
            match hangup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        let forced = tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => false,
            _ = hup => true,
        };
        let s = store.clone();
        let result = tokio::task::spawn_blocking(move || {
            let now = s.fingerprint();
            (now != last || forced)
                .then(|| s.reload())
                .map(|n| (n, now))
                .ok_or(last)
        })
        .await;
        last = match result {
            Ok(Ok((served, now))) => {
                if forced {
                    tracing::info!(served, "SIGHUP: domain configurations re-read");
                }
                now
            }
            Ok(Err(unchanged)) => unchanged,
            Err(_) => Vec::new(),
        };
    }
}

impl DomainConfigurations for DomainStore {
    fn create(&self, new: NewDomainConfiguration) -> Result<DomainConfiguration, DomainError> {
        check_name(&new.name)?;
        let domain = check_domain(&new.domain_name)?;
        let mut loaded = self.lock();
        let dir = self.config_dir(&new.name);
        if dir.exists() {
            return Err(DomainError::AlreadyExists(format!(
                "domain configuration \"{}\" already exists",
                new.name
            )));
        }
        if let Some(other) = loaded.values().find(|l| l.config.domain_name == domain) {
            return Err(DomainError::AlreadyExists(format!(
                "domain configuration \"{}\" already serves {domain}; delete it first or pick another domainName",
                other.config.name
            )));
        }
        let (cert_pem, key_pem, source) = match new.certificate {
            Some((cert, key)) => {
                let ck = certified_key(&cert, &key).map_err(DomainError::Certificate)?;
                let leaf = ck
                    .cert
                    .first()
                    .map(|c| c.as_ref().to_vec())
                    .unwrap_or_default();
                let info = airlock_pki::certificate_info(&leaf).map_err(|e| {
                    DomainError::Certificate(format!("the leaf certificate does not parse: {e}"))
                })?;
                let mut names = info.san_dns.clone();
                if names.is_empty() {
                    names.extend(info.subject.get("CommonName").cloned().unwrap_or_default());
                }
                if !names.iter().any(|n| covers(n, &domain)) {
                    return Err(DomainError::Certificate(format!(
                        "the certificate is for {} and does not cover {domain}; give one whose subject alternative names include {domain}",
                        if names.is_empty() {
                            "no DNS name".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
                (cert, key, CertificateSource::Imported)
            }
            None => {
                let ca = bootstrap::load_ca(&self.data)
                    .map_err(|e| DomainError::Internal(e.to_string()))?;
                let issued = ca
                    .issue_server(std::slice::from_ref(&domain), self.alg)
                    .map_err(|e| {
                        DomainError::Invalid(format!(
                            "cannot issue a certificate for {domain}: {e}"
                        ))
                    })?;
                (
                    issued.cert_pem,
                    issued.key_pem,
                    CertificateSource::AirlockIssued,
                )
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| internal("cannot create", &dir, e))?;
        let config = StoredConfig {
            name: new.name.clone(),
            domain_name: domain,
            status: DomainStatus::Enabled,
            source,
            created_at: now(),
        };
        let written = airlock_pki::files::write_secret(&dir.join("key.pem"), key_pem.as_bytes())
            .and_then(|()| {
                airlock_pki::files::write_public(&dir.join("cert.pem"), cert_pem.as_bytes())
            })
            .map_err(|e| internal("cannot write the certificate files in", &dir, e))
            .and_then(|()| self.write_config(&config));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.reload_locked(&mut loaded);
        loaded.get(&new.name).map(Self::to_api).ok_or_else(|| {
            DomainError::Internal(format!(
                "domain configuration \"{}\" was written but does not load; see the server log",
                new.name
            ))
        })
    }

    fn list(&self) -> Result<Vec<DomainConfiguration>, DomainError> {
        let loaded = self.lock();
        let mut all: Vec<DomainConfiguration> = loaded.values().map(Self::to_api).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn describe(&self, name: &str) -> Result<DomainConfiguration, DomainError> {
        self.lock()
            .get(name)
            .map(Self::to_api)
            .ok_or_else(|| Self::not_found(name))
    }

    fn update_status(
        &self,
        name: &str,
        status: DomainStatus,
    ) -> Result<DomainConfiguration, DomainError> {
        let mut loaded = self.lock();
        let mut config = loaded
            .get(name)
            .map(|l| l.config.clone())
            .ok_or_else(|| Self::not_found(name))?;
        config.status = status;
        self.write_config(&config)?;
        self.reload_locked(&mut loaded);
        loaded
            .get(name)
            .map(Self::to_api)
            .ok_or_else(|| Self::not_found(name))
    }

    fn delete(&self, name: &str) -> Result<(), DomainError> {
        check_name(name)?;
        let mut loaded = self.lock();
        let dir = self.config_dir(name);
        if !dir.is_dir() {
            return Err(Self::not_found(name));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| internal("cannot remove", &dir, e))?;
        loaded.remove(name);
        self.reload_locked(&mut loaded);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_domains() {
        assert!(check_name("plant-a.v1_x").is_ok());
        for bad in ["", "iot:Data-ATS", "a/b", "..", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_domain("A.Plant.Test.").unwrap(), "a.plant.test");
        assert_eq!(check_domain("*.b.plant.test").unwrap(), "*.b.plant.test");
        for bad in [
            "localhost",
            "*.test",
            "a..test",
            "a.*.test",
            "-a.test",
            "a b.test",
        ] {
            assert!(check_domain(bad).is_err(), "{bad:?}");
        }
        assert!(covers("*.b.plant.test", "x.b.plant.test"));
        assert!(covers("*.b.plant.test", "*.b.plant.test"));
        assert!(!covers("*.b.plant.test", "b.plant.test"));
        assert!(!covers("*.b.plant.test", "y.x.b.plant.test"));
        assert!(covers("A.plant.test", "a.plant.test"));
    }

    #[test]
    fn create_disable_broken_files_keep_previous() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path(), None);
        let material = bootstrap::prepare(&data, &[], KeyAlgorithm::EcdsaP256).unwrap();
        let default =
            Arc::new(certified_key(&material.server_cert_pem, &material.server_key_pem).unwrap());
        let resolver = Arc::new(SniResolver::new(default.clone()));
        let store = DomainStore::new(&data, KeyAlgorithm::EcdsaP256, resolver.clone());
        let a = store
            .create(NewDomainConfiguration {
                name: "a".into(),
                domain_name: "a.plant.test".into(),
                certificate: None,
            })
            .unwrap();
        assert_eq!(a.source, CertificateSource::AirlockIssued);
        let served = resolver.choose(Some("a.plant.test"));
        assert!(!Arc::ptr_eq(&served, &default));
        let key_mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(tmp.path().join("domains/a/key.pem"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(key_mode, 0o600);
        // Same domain twice, and a name taken: refused.
        let dup = store.create(NewDomainConfiguration {
            name: "a2".into(),
            domain_name: "a.plant.test".into(),
            certificate: None,
        });
        assert!(matches!(dup, Err(DomainError::AlreadyExists(_))), "{dup:?}");
        // A broken cert file: the previous certificate stays.
        std::fs::write(tmp.path().join("domains/a/cert.pem"), "garbage").unwrap();
        store.reload();
        assert!(Arc::ptr_eq(&resolver.choose(Some("a.plant.test")), &served));
        // Disabled: the default again.
        store.update_status("a", DomainStatus::Disabled).unwrap();
        assert!(Arc::ptr_eq(
            &resolver.choose(Some("a.plant.test")),
            &default
        ));
        store.delete("a").unwrap();
        assert!(matches!(store.describe("a"), Err(DomainError::NotFound(_))));
    }

    #[test]
    fn import_must_cover_the_domain() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path(), None);
        let material = bootstrap::prepare(&data, &[], KeyAlgorithm::EcdsaP256).unwrap();
        let default =
            Arc::new(certified_key(&material.server_cert_pem, &material.server_key_pem).unwrap());
        let store = DomainStore::new(
            &data,
            KeyAlgorithm::EcdsaP256,
            Arc::new(SniResolver::new(default)),
        );
        let other_ca =
            airlock_pki::CertificateAuthority::generate("other", KeyAlgorithm::EcdsaP256).unwrap();
        let wild = other_ca
            .issue_server(&["*.b.plant.test".to_string()], KeyAlgorithm::EcdsaP256)
            .unwrap();
        let wrong = store.create(NewDomainConfiguration {
            name: "c".into(),
            domain_name: "c.plant.test".into(),
            certificate: Some((wild.cert_pem.clone(), wild.key_pem.clone())),
        });
        assert!(
            matches!(wrong, Err(DomainError::Certificate(_))),
            "{wrong:?}"
        );
        let mismatched = store.create(NewDomainConfiguration {
            name: "b".into(),
            domain_name: "*.b.plant.test".into(),
            certificate: Some((wild.cert_pem.clone(), material.server_key_pem.clone())),
        });
        assert!(
            matches!(mismatched, Err(DomainError::Certificate(_))),
            "{mismatched:?}"
        );
        let ok = store
            .create(NewDomainConfiguration {
                name: "b".into(),
                domain_name: "*.b.plant.test".into(),
                certificate: Some((wild.cert_pem, wild.key_pem)),
            })
            .unwrap();
        assert_eq!(ok.source, CertificateSource::Imported);
    }
}
