//! Which server certificate a handshake gets: the domain configuration whose name matches
//! the client's SNI, or the default (DATA/pki/server.pem).
//!
//! Matching follows RFC 6125 §6.4.3 as browsers do: an exact name first, then a wildcard
//! `*.example.com` that stands for exactly one left-most label (`a.example.com`, never
//! `example.com` or `a.b.example.com`). Names compare case-insensitively.
//!
//! The table is swapped whole behind an `RwLock<Arc<_>>`: a handshake clones the `Arc` and
//! never waits for a reload, and connections already up keep the certificate they got.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM chain (leaf first) and its PEM key, checked to belong together.
pub fn certified_key(chain_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate chain is not valid PEM ({e})"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no CERTIFICATE block".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the private key is not valid PEM ({e})"))?;
    CertifiedKey::from_der(chain, key, &crate::tls::provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not belong to the certificate".to_string()
        }
        other => format!("the key or certificate is unusable: {other}"),
    })
}

/// Certificates by name, as loaded from the ENABLED domain configurations.
#[derive(Debug, Default)]
pub struct SniTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is kept under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl SniTable {
    /// Serve `key` for `domain_name` (exact, or `*.` + one-label wildcard).
    pub fn insert(&mut self, domain_name: &str, key: Arc<CertifiedKey>) {
        let name = domain_name.to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(parent) => self.wildcard.insert(parent.to_string(), key),
            None => self.exact.insert(name, key),
        };
    }

    /// The certificate for `sni`, if a configuration matches it.
    pub fn find(&self, sni: &str) -> Option<&Arc<CertifiedKey>> {
        let sni = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&sni) {
            return Some(key);
        }
        let (first, parent) = sni.split_once('.')?;
        if first.is_empty() || parent.is_empty() {
            return None;
        }
        self.wildcard.get(parent)
    }

    /// Number of names served.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// No names: every client gets the default.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// rustls's certificate choice for every device endpoint.
#[derive(Debug)]
pub struct SniResolver {
    default: Arc<CertifiedKey>,
    table: RwLock<Arc<SniTable>>,
}

impl SniResolver {
    /// Serve `default` to every client until [`SniResolver::replace`] adds names.
    pub fn new(default: Arc<CertifiedKey>) -> SniResolver {
        SniResolver {
            default,
            table: RwLock::new(Arc::new(SniTable::default())),
        }
    }

    /// Swap in a new table; handshakes from now on use it.
    pub fn replace(&self, table: SniTable) {
        // A poisoned lock only means a panic elsewhere while swapping an Arc: the value is
        // still a whole table.
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    fn current(&self) -> Arc<SniTable> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The certificate a client sending `sni` gets.
    pub fn choose(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        sni.and_then(|name| self.current().find(name).cloned())
            .unwrap_or_else(|| self.default.clone())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<CertifiedKey> {
        let ca = airlock_pki::CertificateAuthority::generate(
            "sni test CA",
            airlock_pki::KeyAlgorithm::EcdsaP256,
        )
        .unwrap();
        let issued = ca
            .issue_server(&[name.to_string()], airlock_pki::KeyAlgorithm::EcdsaP256)
            .unwrap();
        Arc::new(certified_key(&issued.cert_pem, &issued.key_pem).unwrap())
    }

    #[test]
    fn exact_then_one_label_wildcard_else_default() {
        let default = key("default.test");
        let a = key("a.plant.test");
        let b = key("*.b.plant.test");
        let resolver = SniResolver::new(default.clone());
        let mut table = SniTable::default();
        table.insert("a.plant.test", a.clone());
        table.insert("*.b.plant.test", b.clone());
        table.insert("exact.b.plant.test", a.clone());
        resolver.replace(table);
        let cases: &[(Option<&str>, &Arc<CertifiedKey>, &str)] = &[
            (Some("a.plant.test"), &a, "exact"),
            (Some("A.Plant.Test"), &a, "case-insensitive"),
            (Some("a.plant.test."), &a, "trailing dot"),
            (Some("x.b.plant.test"), &b, "one label under the wildcard"),
            (Some("exact.b.plant.test"), &a, "exact wins over wildcard"),
            (
                Some("b.plant.test"),
                &default,
                "wildcard does not cover its parent",
            ),
            (
                Some("y.x.b.plant.test"),
                &default,
                "wildcard covers one label only",
            ),
            (Some("unknown.test"), &default, "unknown name"),
            (None, &default, "no SNI"),
        ];
        for (sni, want, why) in cases {
            assert!(Arc::ptr_eq(&resolver.choose(*sni), want), "{why}: {sni:?}");
        }
        resolver.replace(SniTable::default());
        assert!(Arc::ptr_eq(
            &resolver.choose(Some("a.plant.test")),
            &default
        ));
    }
}
