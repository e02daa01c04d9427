//! [`RegistryStore`]: the registry kept durably in its own redb file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{RegistryError, StoreError};
use crate::event::Event;
use crate::model::{
    Attributes, CertificateStatus, PolicyTarget, PolicyVersionId, ThingGroupProperties,
    ThingPrincipalType, ThingTypeProperties, ThingUpdate, UnixSeconds,
};
use crate::registry::{PolicyValidator, RecordKey, Registry};
use crate::{CaCertificateUpdate, NewCaCertificate};

/// One table: (kind, name) → JSON record.
const RECORDS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("registry");
/// The record that says which layout the file uses.
const SCHEMA_KEY: (&str, &str) = ("meta", "schema");
const SCHEMA_VERSION: u64 = 1;

/// The current time in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> UnixSeconds {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The registry in memory, backed by a redb file (`registry.redb` by convention).
///
/// [`RegistryStore::open`] loads every record; after that, reads never touch the disk. Every
/// mutation runs on the in-memory [`Registry`] under a write lock and, if it changed
/// something, writes the changed records in one durable transaction before returning, so a
/// returned `Ok` survives a crash. If the write fails, the in-memory registry is reloaded
/// from the file, so memory and disk never disagree.
///
/// Readers ([`RegistryStore::read`]) share a read lock; they wait only while a mutation is
/// being committed. Do not hold a read guard while calling a mutation on the same thread.
/// [`RegistryStore::generation`] needs no lock at all.
#[derive(Debug)]
pub struct RegistryStore {
    path: PathBuf,
    db: Database,
    registry: RwLock<Registry>,
    generation: AtomicU64,
}

impl RegistryStore {
    /// Opens the registry file at `path`, creating it (mode 0600) and its parent directory if
    /// missing, and loads every record.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent)
                .map_err(|e| open_err(format!("cannot create its directory: {e}")))?;
        }
        airlock_store::create_private_file(&path).map_err(|e| open_err(e.to_string()))?;
        let db = Database::builder().create(&path).map_err(|e| {
            match e {
            DatabaseError::DatabaseAlreadyOpen => open_err(
                "the file is already open (another Airlock process or store uses it; stop it first)"
                    .to_string(),
            ),
            e => open_err(e.to_string()),
        }
        })?;
        init(&db).map_err(|e| open_err(format!("cannot initialise the file: {e}")))?;
        let registry = load(&db, &path)?;
        Ok(Self {
            generation: AtomicU64::new(registry.generation()),
            registry: RwLock::new(registry),
            db,
            path,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Increases on every mutation that changed something (see [`Registry::generation`]);
    /// lock-free, for a decision cache to check on every use. Starts at 0 on open.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Shared read access to the registry for queries.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the registry as it is now (for exports and what-if evaluation).
    pub fn snapshot(&self) -> Registry {
        self.read().clone()
    }

    /// See [`Registry::set_policy_validator`].
    pub fn set_policy_validator(&self, validator: PolicyValidator) {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .set_policy_validator(validator);
    }

    /// See [`Registry::set_role_policy_validator`].
    pub fn set_role_policy_validator(&self, validator: PolicyValidator) {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .set_role_policy_validator(validator);
    }

    /// Runs `change` on the registry and persists what it changed, in one transaction.
    ///
    /// `change` may make several mutations (e.g. create a thing, register its certificate and
    /// attach both); they are committed together, and if any returns `Err`, the earlier ones
    /// are undone by reloading from the file, so the whole change is all or nothing.
    pub fn mutate<T>(
        &self,
        change: impl FnOnce(&mut Registry) -> Result<T, RegistryError>,
    ) -> Result<T, StoreError> {
        let mut reg = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let result = change(&mut reg);
        let dirty = reg.take_dirty();
        if dirty.is_empty() {
            // Nothing changed (a refusal, or an idempotent repeat): nothing to write or undo.
            return result.map_err(StoreError::from);
        }
        let outcome = match result {
            Ok(value) => self.persist(&reg, &dirty).map(|()| value),
            Err(e) => Err(e.into()),
        };
        if outcome.is_err() {
            // Memory is ahead of the file: go back to what the file holds. The generation
            // still moves on, so nothing cached during the attempt survives. If even the
            // reload fails, that error is returned and memory keeps the unwritten change
            // until the next successful write or restart.
            let generation = reg.generation() + 1;
            let mut fresh = load(&self.db, &self.path)?;
            fresh.adopt_settings(&reg);
            fresh.set_generation(generation);
            *reg = fresh;
        }
        self.generation.store(reg.generation(), Ordering::Release);
        outcome
    }

    fn persist(
        &self,
        reg: &Registry,
        dirty: &std::collections::BTreeSet<RecordKey>,
    ) -> Result<(), StoreError> {
        let write_err = |reason: String| StoreError::Write {
            path: self.path.clone(),
            reason,
        };
        let mut records = Vec::with_capacity(dirty.len());
        for key in dirty {
            let value = reg.record(key).map_err(|e| write_err(e.to_string()))?;
            records.push((key.table_key(), value));
        }
        let run = || -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            {
                let mut table = txn.open_table(RECORDS)?;
                for ((kind, name), value) in &records {
                    match value {
                        Some(v) => {
                            table.insert((*kind, name.as_str()), v.as_slice())?;
                        }
                        None => {
                            table.remove((*kind, name.as_str()))?;
                        }
                    }
                }
            }
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| write_err(e.to_string()))
    }
}

/// Creates the table and the schema record if missing.
fn init(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(RECORDS)?;
        if table.get(SCHEMA_KEY)?.is_none() {
            let schema = format!("{{\"version\":{SCHEMA_VERSION}}}");
            table.insert(SCHEMA_KEY, schema.as_bytes())?;
        }
    }
    txn.commit()?;
    Ok(())
}

fn load(db: &Database, path: &Path) -> Result<Registry, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let read = || -> Result<Vec<(String, String, Vec<u8>)>, redb::Error> {
        let txn = db.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        let mut rows = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (kind, name) = key.value();
            rows.push((kind.to_string(), name.to_string(), value.value().to_vec()));
        }
        Ok(rows)
    };
    let mut rows = read().map_err(|e| match e {
        redb::Error::Corrupted(msg) => corrupt(msg),
        e => StoreError::Open {
            path: path.to_path_buf(),
            reason: format!("cannot read records: {e}"),
        },
    })?;
    if let Some(pos) = rows
        .iter()
        .position(|(k, n, _)| (k.as_str(), n.as_str()) == SCHEMA_KEY)
    {
        let (_, _, value) = rows.swap_remove(pos);
        let version = serde_json::from_slice::<serde_json::Value>(&value)
            .ok()
            .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
        match version {
            Some(v) if v <= SCHEMA_VERSION => {}
            Some(v) => {
                return Err(StoreError::Open {
                    path: path.to_path_buf(),
                    reason: format!(
                        "it was written by a newer Airlock (registry schema {v}, this one reads up to {SCHEMA_VERSION}); upgrade Airlock"
                    ),
                });
            }
            None => return Err(corrupt("record meta/schema is unreadable".to_string())),
        }
    }
    Registry::from_records(rows).map_err(corrupt)
}

macro_rules! mirror {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) $([$now:ident])? ; )*) => {
        /// Mutations: each applies the [`Registry`] method of the same name (passing the
        /// system time where it takes `now`) and persists its changes before returning.
        impl RegistryStore {
            $(
                #[doc = concat!("[`Registry::", stringify!($name), "`], persisted.")]
                pub fn $name(&self, $($arg: $ty),*) -> Result<Event, StoreError> {
                    $(let $now = unix_now();)?
                    self.mutate(|r| r.$name($($arg,)* $($now)?))
                }
            )*
        }
    };
}

mirror! {
    create_thing(name: &str, thing_type: Option<&str>, attributes: Attributes);
    update_thing(name: &str, update: ThingUpdate);
    delete_thing(name: &str, expected_version: Option<u64>);
    create_thing_type(name: &str, properties: ThingTypeProperties) [now];
    deprecate_thing_type(name: &str, deprecated: bool) [now];
    delete_thing_type(name: &str);
    create_thing_group(name: &str, parent: Option<&str>, properties: ThingGroupProperties) [now];
    update_thing_group(name: &str, properties: ThingGroupProperties, expected_version: Option<u64>);
    delete_thing_group(name: &str);
    add_thing_to_group(thing: &str, group: &str);
    remove_thing_from_group(thing: &str, group: &str);
    attach_thing_principal(thing: &str, certificate_id: &str, principal_type: ThingPrincipalType);
    detach_thing_principal(thing: &str, certificate_id: &str);
    register_certificate(
        certificate_id: &str,
        certificate_pem: &str,
        status: CertificateStatus,
        ca_certificate_id: Option<&str>
    ) [now];
    update_certificate(certificate_id: &str, status: CertificateStatus) [now];
    delete_certificate(certificate_id: &str);
    register_ca_certificate(ca: NewCaCertificate) [now];
    update_ca_certificate(certificate_id: &str, update: CaCertificateUpdate) [now];
    delete_ca_certificate(certificate_id: &str);
    create_policy(name: &str, document: &str) [now];
    create_policy_version(name: &str, document: &str, set_as_default: bool) [now];
    set_default_policy_version(name: &str, version_id: PolicyVersionId) [now];
    delete_policy_version(name: &str, version_id: PolicyVersionId) [now];
    delete_policy(name: &str);
    attach_policy(policy: &str, target: &PolicyTarget);
    detach_policy(policy: &str, target: &PolicyTarget);
    create_role_alias(alias: &str, role_arn: &str, credential_duration_seconds: Option<u32>) [now];
    update_role_alias(alias: &str, role_arn: Option<&str>, credential_duration_seconds: Option<u32>) [now];
    delete_role_alias(alias: &str);
    create_role(name: &str, account_id: &str, max_session_duration: Option<u32>) [now];
    delete_role(name: &str);
    put_role_policy(role: &str, policy_name: &str, document: &str);
    delete_role_policy(role: &str, policy_name: &str);
}

#[cfg(test)]
mod tests;
