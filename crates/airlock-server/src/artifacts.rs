//! The artifact store's view of the registry: a session's certificate must still be ACTIVE
//! and its role alias and role must still exist, on every request, so revoking the
//! certificate or deleting the alias or role cuts off credentials already handed out.

use std::sync::Arc;

use airlock_artifacts::{Refusal, SessionDirectory};
use airlock_credentials::{RolePolicy, SessionClaims};
use airlock_registry::{CertificateStatus, RegistryStore};

/// [`SessionDirectory`] over the live registry.
pub struct RegistrySessions {
    /// The registry.
    pub registry: Arc<RegistryStore>,
}

impl SessionDirectory for RegistrySessions {
    fn check(&self, claims: &SessionClaims) -> Result<Vec<RolePolicy>, Refusal> {
        let reg = self.registry.read();
        match reg.certificate(&claims.certificate_id).map(|c| c.status) {
            Some(CertificateStatus::Active) => {}
            status => {
                return Err(Refusal::CertificateNotActive {
                    certificate_id: claims.certificate_id.clone(),
                    status: status.map_or("DELETED", |s| s.as_str()).to_string(),
                });
            }
        }
        if reg
            .role_alias(&claims.role_alias)
            .is_none_or(|a| a.role_arn != claims.role_arn)
        {
            return Err(Refusal::RoleAliasChanged(claims.role_alias.clone()));
        }
        let role = reg
            .role_by_arn(&claims.role_arn)
            .ok_or_else(|| Refusal::RoleGone(claims.role_arn.clone()))?;
        role.role_policies
            .iter()
            .map(|(name, doc)| {
                // Documents were validated when stored; one that no longer parses (an older
                // Airlock's) is refused rather than skipped, so no permission is guessed.
                RolePolicy::parse(doc).map_err(|e| {
                    Refusal::Other(format!("role policy {name:?} does not parse: {e}"))
                })
            })
            .collect()
    }
}
