//! From a connection to what the policy engine needs: the policies in force and the
//! request context behind their variables and conditions.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use airlock_policy::{
    CertificateContext, NamedPolicy, PolicyDocument, PolicyLimits, RequestContext, ThingContext,
};
use airlock_registry::{CertificateStatus, PolicyVersionId, Registry};

use crate::denial::Denial;

/// Parsed documents and certificate facts kept at most this many each; past that the map
/// starts over. Both are keyed by things that change rarely (policy names, certificates).
const MAX_MEMO_ENTRIES: usize = 16_384;

/// How a connection authenticated, as far as authorization cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Identity<'a> {
    /// A client certificate; `der` is the leaf when the transport handed it over.
    Certificate { id: &'a str, der: Option<&'a [u8]> },
    /// A listener with `authentication = "none"`.
    Anonymous,
}

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub identity: Identity<'a>,
    /// `None` only for `airlock policy test` without `--endpoint`.
    pub endpoint_id: Option<&'a str>,
    /// The VPC endpoint id from a PROXY header; `aws:SourceVpce` is this when present, the
    /// endpoint id otherwise.
    pub source_vpce: Option<&'a str>,
    pub source_ip: Option<IpAddr>,
    pub client_id: &'a str,
    /// The SNI of the TLS handshake (`iot:DomainName`).
    pub domain_name: Option<&'a str>,
}

/// What a CONNECT adds to the request context.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectFacts<'a> {
    pub persistent: bool,
    pub will_topic: Option<&'a str>,
    /// Unix seconds, for the certificate's validity period.
    pub now: i64,
}

/// Ready for the engine.
pub(crate) struct Prepared {
    pub policies: Vec<Arc<NamedPolicy>>,
    pub ctx: RequestContext,
}

/// A parsed policy and the document text it was parsed from.
type ParsedPolicy = (Arc<str>, Arc<NamedPolicy>);

/// The facts of one certificate that policies use, parsed once.
struct CertFacts {
    ctx: CertificateContext,
    not_before: i64,
    not_after: i64,
}

/// Memoizes the expensive parts of preparing: policy documents and certificate parsing.
pub(crate) struct Preparer {
    limits: PolicyLimits,
    /// Policy name → (the document text it was parsed from, the parsed policy). A document
    /// is reused only while the text in force is the same, so no invalidation is needed.
    policies: Mutex<HashMap<String, ParsedPolicy>>,
    /// Certificate id → its facts. A certificate's DER never changes under its id (the id
    /// is its hash).
    certs: Mutex<HashMap<String, Arc<CertFacts>>>,
}

impl Preparer {
    pub fn new(limits: PolicyLimits) -> Preparer {
        Preparer {
            limits,
            policies: Mutex::new(HashMap::new()),
            certs: Mutex::new(HashMap::new()),
        }
    }

    /// Everything the engine needs for `who`, or why nothing will be allowed at all
    /// (certificate unknown or not ACTIVE, no anonymous policy, an invalid document).
    /// `connect` is set for CONNECT only: it adds the connect attributes and the will topic
    /// and checks the certificate's validity period.
    pub fn prepare(
        &self,
        reg: &Registry,
        anonymous_policy: Option<&str>,
        who: &Who<'_>,
        connect: Option<&ConnectFacts<'_>>,
    ) -> Result<Prepared, Denial> {
        let mut ctx = RequestContext {
            client_id: Some(who.client_id.to_string()),
            source_ip: who.source_ip,
            source_vpce: who.source_vpce.or(who.endpoint_id).map(str::to_string),
            domain_name: who.domain_name.map(str::to_string),
            ..RequestContext::default()
        };
        if let Some(c) = connect {
            // AWS's iot:ConnectAttributes values; an empty list means the key is absent.
            if c.persistent {
                ctx.connect_attributes.push("PersistentConnect".to_string());
            }
            if c.will_topic.is_some() {
                ctx.connect_attributes.push("LastWill".to_string());
            }
            ctx.last_will_topic = c.will_topic.map(str::to_string);
        }
        let policies = match who.identity {
            Identity::Certificate { id, der } => {
                match reg.certificate_status(id) {
                    None => {
                        return Err(Denial::UnknownCertificate {
                            certificate_id: id.to_string(),
                        });
                    }
                    Some(CertificateStatus::Active) => {}
                    Some(status) => {
                        return Err(Denial::CertificateNotActive {
                            certificate_id: id.to_string(),
                            status,
                        });
                    }
                }
                let facts = self.cert_facts(reg, id, der)?;
                if let Some(c) = connect {
                    let what = if c.now < facts.not_before {
                        Some("not yet valid")
                    } else if c.now > facts.not_after {
                        Some("expired")
                    } else {
                        None
                    };
                    if let Some(what) = what {
                        return Err(Denial::CertificateNotValid {
                            certificate_id: id.to_string(),
                            what,
                            not_before: facts.not_before,
                            not_after: facts.not_after,
                            now: c.now,
                        });
                    }
                }
                ctx.certificate = Some(facts.ctx.clone());
                ctx.thing = reg
                    .thing_for_connection(id, who.client_id)
                    .map(|t| ThingContext {
                        name: t.thing_name,
                        type_name: t.thing_type_name,
                        attributes: t.attributes,
                        is_attached: t.is_attached,
                    });
                let mut out = Vec::new();
                for p in reg.effective_policies(id, who.client_id) {
                    out.push(self.parsed(
                        &p.policy_name,
                        p.policy_version_id,
                        &p.policy_document,
                    )?);
                }
                out
            }
            Identity::Anonymous => {
                let Some(name) = anonymous_policy else {
                    return Err(Denial::NoAnonymousPolicy {
                        endpoint_id: who.endpoint_id.unwrap_or_default().to_string(),
                    });
                };
                let Some(policy) = reg.policy(name) else {
                    return Err(Denial::AnonymousPolicyMissing {
                        endpoint_id: who.endpoint_id.unwrap_or_default().to_string(),
                        policy: name.to_string(),
                    });
                };
                let v = policy.default_version();
                vec![self.parsed(name, v.version_id, &v.policy_document)?]
            }
        };
        Ok(Prepared { policies, ctx })
    }

    fn parsed(
        &self,
        name: &str,
        version: PolicyVersionId,
        document: &Arc<str>,
    ) -> Result<Arc<NamedPolicy>, Denial> {
        {
            let memo = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((text, parsed)) = memo.get(name)
                && (Arc::ptr_eq(text, document) || **text == **document)
            {
                return Ok(parsed.clone());
            }
        }
        let parsed =
            PolicyDocument::parse(document, &self.limits).map_err(|e| Denial::InvalidPolicy {
                policy: name.to_string(),
                version: version.0,
                reason: e.to_string(),
            })?;
        let parsed = Arc::new(NamedPolicy {
            name: name.to_string(),
            document: parsed,
        });
        let mut memo = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.len() >= MAX_MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(name.to_string(), (document.clone(), parsed.clone()));
        Ok(parsed)
    }

    fn cert_facts(
        &self,
        reg: &Registry,
        id: &str,
        der: Option<&[u8]>,
    ) -> Result<Arc<CertFacts>, Denial> {
        if let Some(f) = self
            .certs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return Ok(f.clone());
        }
        let unreadable = |reason: String| Denial::CertificateUnreadable {
            certificate_id: id.to_string(),
            reason,
        };
        // The transport hands over the verified leaf; `airlock policy test` has only the
        // registry's copy.
        let from_registry;
        let der = match der {
            Some(d) => d,
            None => {
                let pem = reg
                    .certificate(id)
                    .map(|c| c.certificate_pem.as_str())
                    .unwrap_or_default();
                from_registry =
                    airlock_pki::pem_to_der_chain(pem).map_err(|e| unreadable(e.to_string()))?;
                from_registry
                    .first()
                    .ok_or_else(|| unreadable("no certificate in the registry's PEM".into()))?
            }
        };
        let info = airlock_pki::certificate_info(der).map_err(|e| unreadable(e.to_string()))?;
        let mut sans = BTreeMap::new();
        for (key, values) in [
            ("DNSName", info.san_dns),
            ("IPAddress", info.san_ip),
            ("RFC822Name", info.san_email),
            ("UniformResourceIdentifier", info.san_uri),
        ] {
            if !values.is_empty() {
                sans.insert(key.to_string(), values);
            }
        }
        let facts = Arc::new(CertFacts {
            ctx: CertificateContext {
                // The registry's id, which the transport computed from this DER.
                id: id.to_string(),
                subject: info.subject,
                issuer: info.issuer,
                // AWS substitutes the decimal form for iot:Certificate.SerialNumber.
                serial_number: info.serial_number_decimal,
                subject_alt_names: sans,
                issuer_alt_names: BTreeMap::new(),
            },
            not_before: info.not_before,
            not_after: info.not_after,
        });
        let mut memo = self.certs.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.len() >= MAX_MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(id.to_string(), facts.clone());
        Ok(facts)
    }
}
