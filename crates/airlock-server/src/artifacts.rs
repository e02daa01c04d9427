//! The artifact store's view of the registry: a session's certificate must still be ACTIVE
//! and its role alias and role must still exist, on every request, so revoking the
//! certificate or deleting the alias or role cuts off credentials already handed out.

use std::sync::Arc;

use airlock_artifacts::{Refusal, SessionDirectory};
use airlock_credentials::{RolePolicy, SessionClaims};
use airlock_registry::{CertificateStatus, RegistryStore};

/// The role-alias value of operator sessions (`airlock artifact put`, minted with the data
/// directory's credential key by the admin certificate's holder); ':' cannot occur in a
/// role alias name, so no device session carries it.
pub const OPERATOR_SESSION: &str = "airlock:operator";

/// [`SessionDirectory`] over the live registry.
pub struct RegistrySessions {
    /// The registry.
    pub registry: Arc<RegistryStore>,
    /// The admin certificate's id: operator sessions name it instead of a device certificate.
    pub admin_certificate_id: String,
}

impl SessionDirectory for RegistrySessions {
    fn check(&self, claims: &SessionClaims) -> Result<Vec<RolePolicy>, Refusal> {
        let reg = self.registry.read();
        let operator = claims.role_alias == OPERATOR_SESSION
            && claims.certificate_id == self.admin_certificate_id;
        if operator {
            // The operator's session: the role alone decides (it must still exist).
            let role = reg
                .role_by_arn(&claims.role_arn)
                .ok_or_else(|| Refusal::RoleGone(claims.role_arn.clone()))?;
            return parse_all(&role.role_policies);
        }
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
        parse_all(&role.role_policies)
    }
}

fn parse_all(
    policies: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<RolePolicy>, Refusal> {
    policies
        .iter()
        .map(|(name, doc)| {
            // Documents were validated when stored; one that no longer parses (an older
            // Airlock's) is refused rather than skipped, so no permission is guessed.
            RolePolicy::parse(doc)
                .map_err(|e| Refusal::Other(format!("role policy {name:?} does not parse: {e}")))
        })
        .collect()
}
