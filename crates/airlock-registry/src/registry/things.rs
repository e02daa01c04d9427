//! Things, thing types, thing groups and certificate ↔ thing attachments.

use crate::error::{RegistryError, ResourceKind};
use crate::event::Event;
use crate::model::{
    Attributes, Thing, ThingGroup, ThingGroupProperties, ThingPrincipalType, ThingType,
    ThingTypeChange, ThingTypeMetadata, ThingTypeProperties, ThingUpdate, UnixSeconds,
};
use crate::names::{self, MAX_ATTRIBUTES_TYPED, MAX_ATTRIBUTES_UNTYPED};

use super::{RecordKey, Registry, already_exists, not_found, unindex};

impl Registry {
    /// CreateThing. The type, if given, must exist and not be deprecated.
    pub fn create_thing(
        &mut self,
        name: &str,
        thing_type: Option<&str>,
        attributes: Attributes,
    ) -> Result<Event, RegistryError> {
        names::check_thing_like("thing", name)?;
        if self.things.contains_key(name) {
            return Err(already_exists(ResourceKind::Thing, name));
        }
        if let Some(t) = thing_type {
            self.check_assignable_type(t)?;
        }
        check_attributes(name, &attributes, thing_type.is_some())?;
        self.things.insert(
            name.to_string(),
            Thing {
                thing_name: name.to_string(),
                thing_type_name: thing_type.map(str::to_string),
                attributes,
                version: 1,
            },
        );
        self.changed([RecordKey::Thing(name.to_string())]);
        Ok(Event::ThingCreated {
            thing_name: name.to_string(),
        })
    }

    /// UpdateThing: type, attributes (replace or merge) and optimistic locking.
    pub fn update_thing(
        &mut self,
        name: &str,
        update: ThingUpdate,
    ) -> Result<Event, RegistryError> {
        let thing = self.require_thing(name)?;
        if let Some(expected) = update.expected_version
            && expected != thing.version
        {
            return Err(RegistryError::VersionConflict {
                kind: ResourceKind::Thing,
                name: name.to_string(),
                expected,
                actual: thing.version,
            });
        }
        let new_type = match &update.thing_type {
            ThingTypeChange::Keep => thing.thing_type_name.clone(),
            ThingTypeChange::Remove => None,
            ThingTypeChange::Set(t) => {
                if thing.thing_type_name.as_deref() != Some(t.as_str()) {
                    self.check_assignable_type(t)?;
                }
                Some(t.clone())
            }
        };
        let mut attributes = thing.attributes.clone();
        if let Some(given) = update.attributes {
            if update.merge {
                for (k, v) in given {
                    if v.is_empty() {
                        attributes.remove(&k);
                    } else {
                        attributes.insert(k, v);
                    }
                }
            } else {
                attributes = given;
            }
        }
        check_attributes(name, &attributes, new_type.is_some())?;
        let version = thing.version + 1;
        self.things.insert(
            name.to_string(),
            Thing {
                thing_name: name.to_string(),
                thing_type_name: new_type,
                attributes,
                version,
            },
        );
        self.changed([RecordKey::Thing(name.to_string())]);
        Ok(Event::ThingUpdated {
            thing_name: name.to_string(),
            version,
        })
    }

    /// DeleteThing. Refused while a certificate is attached; removes the thing from its groups.
    pub fn delete_thing(
        &mut self,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<Event, RegistryError> {
        let thing = self.require_thing(name)?;
        if let Some(expected) = expected_version
            && expected != thing.version
        {
            return Err(RegistryError::VersionConflict {
                kind: ResourceKind::Thing,
                name: name.to_string(),
                expected,
                actual: thing.version,
            });
        }
        if let Some(cert) = self.thing_certs.get(name).and_then(|c| c.first()) {
            return Err(RegistryError::ThingHasPrincipal {
                thing: name.to_string(),
                certificate_id: cert.clone(),
            });
        }
        self.things.remove(name);
        self.thing_certs.remove(name);
        let mut keys = vec![RecordKey::Thing(name.to_string())];
        for group in self.thing_groups.remove(name).unwrap_or_default() {
            unindex(&mut self.group_things, group.as_str(), name);
            keys.push(RecordKey::GroupMember {
                group,
                thing: name.to_string(),
            });
        }
        self.changed(keys);
        Ok(Event::ThingDeleted {
            thing_name: name.to_string(),
        })
    }

    fn check_assignable_type(&self, thing_type: &str) -> Result<(), RegistryError> {
        match self.thing_types.get(thing_type) {
            None => Err(not_found(ResourceKind::ThingType, thing_type)),
            Some(t) if t.thing_type_metadata.deprecated => {
                Err(RegistryError::ThingTypeDeprecated {
                    thing_type: thing_type.to_string(),
                })
            }
            Some(_) => Ok(()),
        }
    }

    /// CreateThingType.
    pub fn create_thing_type(
        &mut self,
        name: &str,
        properties: ThingTypeProperties,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_thing_like("thing type", name)?;
        if self.thing_types.contains_key(name) {
            return Err(already_exists(ResourceKind::ThingType, name));
        }
        if properties.searchable_attributes.len() > names::MAX_SEARCHABLE_ATTRIBUTES {
            return Err(RegistryError::TooManySearchableAttributes {
                thing_type: name.to_string(),
                count: properties.searchable_attributes.len(),
            });
        }
        for attr in &properties.searchable_attributes {
            names::check_attribute(attr, "")?;
        }
        self.thing_types.insert(
            name.to_string(),
            ThingType {
                thing_type_name: name.to_string(),
                thing_type_properties: properties,
                thing_type_metadata: ThingTypeMetadata {
                    deprecated: false,
                    deprecation_date: None,
                    creation_date: now,
                },
            },
        );
        self.changed([RecordKey::ThingType(name.to_string())]);
        Ok(Event::ThingTypeCreated {
            thing_type_name: name.to_string(),
        })
    }

    /// DeprecateThingType (`deprecated = false` is `--undo-deprecate`). Things keep their type.
    pub fn deprecate_thing_type(
        &mut self,
        name: &str,
        deprecated: bool,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        let t = self
            .thing_types
            .get_mut(name)
            .ok_or_else(|| not_found(ResourceKind::ThingType, name))?;
        if t.thing_type_metadata.deprecated == deprecated {
            return Ok(Event::Unchanged);
        }
        t.thing_type_metadata.deprecated = deprecated;
        t.thing_type_metadata.deprecation_date = deprecated.then_some(now);
        self.changed([RecordKey::ThingType(name.to_string())]);
        Ok(Event::ThingTypeDeprecated {
            thing_type_name: name.to_string(),
            deprecated,
        })
    }

    /// DeleteThingType: only a deprecated type that no thing has. (AWS also waits 5 minutes
    /// after deprecation; Airlock does not.)
    pub fn delete_thing_type(&mut self, name: &str) -> Result<Event, RegistryError> {
        let t = self
            .thing_types
            .get(name)
            .ok_or_else(|| not_found(ResourceKind::ThingType, name))?;
        if !t.thing_type_metadata.deprecated {
            return Err(RegistryError::ThingTypeNotDeprecated {
                thing_type: name.to_string(),
            });
        }
        if let Some(thing) = self
            .things
            .values()
            .find(|th| th.thing_type_name.as_deref() == Some(name))
        {
            return Err(RegistryError::ThingTypeInUse {
                thing_type: name.to_string(),
                thing: thing.thing_name.clone(),
            });
        }
        self.thing_types.remove(name);
        self.changed([RecordKey::ThingType(name.to_string())]);
        Ok(Event::ThingTypeDeleted {
            thing_type_name: name.to_string(),
        })
    }

    /// CreateThingGroup (static). The parent, fixed for the group's life, must exist; the
    /// hierarchy may be 7 levels deep and a group may have 100 direct children.
    pub fn create_thing_group(
        &mut self,
        name: &str,
        parent: Option<&str>,
        properties: ThingGroupProperties,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_thing_like("thing group", name)?;
        if self.groups.contains_key(name) {
            return Err(already_exists(ResourceKind::ThingGroup, name));
        }
        if let Some(parent) = parent {
            self.require_group(parent)?;
            let parent_depth = self.group_ancestry(parent).len();
            if parent_depth >= names::MAX_GROUP_DEPTH {
                return Err(RegistryError::HierarchyTooDeep {
                    group: name.to_string(),
                    parent: parent.to_string(),
                    parent_depth,
                });
            }
            if self.group_children.get(parent).map_or(0, |c| c.len()) >= names::MAX_CHILD_GROUPS {
                return Err(RegistryError::TooManyChildGroups {
                    parent: parent.to_string(),
                    group: name.to_string(),
                });
            }
        }
        for (k, v) in &properties.attribute_payload.attributes {
            names::check_attribute(k, v)?;
        }
        self.groups.insert(
            name.to_string(),
            ThingGroup {
                thing_group_name: name.to_string(),
                parent_group_name: parent.map(str::to_string),
                thing_group_properties: properties,
                version: 1,
                creation_date: now,
            },
        );
        if let Some(parent) = parent {
            self.group_children
                .entry(parent.to_string())
                .or_default()
                .insert(name.to_string());
        }
        self.changed([RecordKey::ThingGroup(name.to_string())]);
        Ok(Event::ThingGroupCreated {
            thing_group_name: name.to_string(),
        })
    }

    /// UpdateThingGroup: replaces description and attributes.
    pub fn update_thing_group(
        &mut self,
        name: &str,
        properties: ThingGroupProperties,
        expected_version: Option<u64>,
    ) -> Result<Event, RegistryError> {
        for (k, v) in &properties.attribute_payload.attributes {
            names::check_attribute(k, v)?;
        }
        let group = self
            .groups
            .get_mut(name)
            .ok_or_else(|| not_found(ResourceKind::ThingGroup, name))?;
        if let Some(expected) = expected_version
            && expected != group.version
        {
            return Err(RegistryError::VersionConflict {
                kind: ResourceKind::ThingGroup,
                name: name.to_string(),
                expected,
                actual: group.version,
            });
        }
        group.thing_group_properties = properties;
        group.version += 1;
        let version = group.version;
        self.changed([RecordKey::ThingGroup(name.to_string())]);
        Ok(Event::ThingGroupUpdated {
            thing_group_name: name.to_string(),
            version,
        })
    }

    /// DeleteThingGroup. Refused while it has child groups or policies; its things leave it.
    pub fn delete_thing_group(&mut self, name: &str) -> Result<Event, RegistryError> {
        let group = self.require_group(name)?;
        let parent = group.parent_group_name.clone();
        if let Some(child) = self.group_children.get(name).and_then(|c| c.first()) {
            return Err(RegistryError::GroupHasChildren {
                group: name.to_string(),
                child: child.clone(),
            });
        }
        let target = crate::model::PolicyTarget::ThingGroup(name.to_string());
        if let Some(policy) = self.target_policies.get(&target).and_then(|p| p.first()) {
            return Err(RegistryError::PolicyStillAttached {
                what: format!("thing group \"{name}\""),
                policy: policy.clone(),
                target,
            });
        }
        self.groups.remove(name);
        self.group_children.remove(name);
        self.target_policies.remove(&target);
        if let Some(parent) = parent {
            unindex(&mut self.group_children, parent.as_str(), name);
        }
        let mut keys = vec![RecordKey::ThingGroup(name.to_string())];
        for thing in self.group_things.remove(name).unwrap_or_default() {
            unindex(&mut self.thing_groups, thing.as_str(), name);
            keys.push(RecordKey::GroupMember {
                group: name.to_string(),
                thing,
            });
        }
        self.changed(keys);
        Ok(Event::ThingGroupDeleted {
            thing_group_name: name.to_string(),
        })
    }

    /// AddThingToThingGroup: at most 10 groups per thing, and one group per hierarchy.
    pub fn add_thing_to_group(&mut self, thing: &str, group: &str) -> Result<Event, RegistryError> {
        self.require_thing(thing)?;
        self.require_group(group)?;
        let current = self.thing_groups.get(thing);
        if current.is_some_and(|g| g.contains(group)) {
            return Ok(Event::Unchanged);
        }
        let root = self.group_ancestry(group).last().copied().unwrap_or(group);
        for existing in current.into_iter().flatten() {
            if self.group_ancestry(existing).last().copied() == Some(root) {
                return Err(RegistryError::SameHierarchy {
                    thing: thing.to_string(),
                    existing: existing.clone(),
                    root: root.to_string(),
                });
            }
        }
        if current.map_or(0, |g| g.len()) >= names::MAX_GROUPS_PER_THING {
            return Err(RegistryError::TooManyGroups {
                thing: thing.to_string(),
            });
        }
        self.link_member(group, thing);
        self.changed([RecordKey::GroupMember {
            group: group.to_string(),
            thing: thing.to_string(),
        }]);
        Ok(Event::ThingAddedToGroup {
            thing_name: thing.to_string(),
            thing_group_name: group.to_string(),
        })
    }

    /// RemoveThingFromThingGroup. Removing a thing that is not a member changes nothing.
    pub fn remove_thing_from_group(
        &mut self,
        thing: &str,
        group: &str,
    ) -> Result<Event, RegistryError> {
        self.require_thing(thing)?;
        self.require_group(group)?;
        if !unindex(&mut self.thing_groups, thing, group) {
            return Ok(Event::Unchanged);
        }
        unindex(&mut self.group_things, group, thing);
        self.changed([RecordKey::GroupMember {
            group: group.to_string(),
            thing: thing.to_string(),
        }]);
        Ok(Event::ThingRemovedFromGroup {
            thing_name: thing.to_string(),
            thing_group_name: group.to_string(),
        })
    }

    pub(crate) fn link_member(&mut self, group: &str, thing: &str) {
        self.thing_groups
            .entry(thing.to_string())
            .or_default()
            .insert(group.to_string());
        self.group_things
            .entry(group.to_string())
            .or_default()
            .insert(thing.to_string());
    }

    /// AttachThingPrincipal. An EXCLUSIVE_THING attachment is refused if the certificate is
    /// attached to any other thing, and once made, refuses every other thing. Attaching again
    /// with another type changes the type (subject to the same rules).
    pub fn attach_thing_principal(
        &mut self,
        thing: &str,
        certificate_id: &str,
        principal_type: ThingPrincipalType,
    ) -> Result<Event, RegistryError> {
        self.require_thing(thing)?;
        self.require_certificate(certificate_id)?;
        let attached = self.cert_things.get(certificate_id);
        if attached.and_then(|a| a.get(thing)) == Some(&principal_type) {
            return Ok(Event::Unchanged);
        }
        for (other, kind) in attached.into_iter().flatten() {
            if other == thing {
                continue;
            }
            if *kind == ThingPrincipalType::ExclusiveThing {
                return Err(RegistryError::ExclusivelyAttached {
                    certificate_id: certificate_id.to_string(),
                    thing: other.clone(),
                });
            }
            if principal_type == ThingPrincipalType::ExclusiveThing {
                return Err(RegistryError::CannotAttachExclusively {
                    certificate_id: certificate_id.to_string(),
                    requested: thing.to_string(),
                    existing: other.clone(),
                });
            }
        }
        self.link_principal(certificate_id, thing, principal_type);
        self.changed([RecordKey::ThingPrincipal {
            certificate_id: certificate_id.to_string(),
            thing: thing.to_string(),
        }]);
        Ok(Event::ThingPrincipalAttached {
            thing_name: thing.to_string(),
            certificate_id: certificate_id.to_string(),
            principal_type,
        })
    }

    /// DetachThingPrincipal.
    pub fn detach_thing_principal(
        &mut self,
        thing: &str,
        certificate_id: &str,
    ) -> Result<Event, RegistryError> {
        self.require_thing(thing)?;
        self.require_certificate(certificate_id)?;
        let removed = self
            .cert_things
            .get_mut(certificate_id)
            .and_then(|t| t.remove(thing))
            .is_some();
        if !removed {
            return Err(RegistryError::PrincipalNotAttached {
                certificate_id: certificate_id.to_string(),
                thing: thing.to_string(),
            });
        }
        if self
            .cert_things
            .get(certificate_id)
            .is_some_and(|t| t.is_empty())
        {
            self.cert_things.remove(certificate_id);
        }
        unindex(&mut self.thing_certs, thing, certificate_id);
        self.changed([RecordKey::ThingPrincipal {
            certificate_id: certificate_id.to_string(),
            thing: thing.to_string(),
        }]);
        Ok(Event::ThingPrincipalDetached {
            thing_name: thing.to_string(),
            certificate_id: certificate_id.to_string(),
        })
    }

    pub(crate) fn link_principal(
        &mut self,
        certificate_id: &str,
        thing: &str,
        principal_type: ThingPrincipalType,
    ) {
        self.cert_things
            .entry(certificate_id.to_string())
            .or_default()
            .insert(thing.to_string(), principal_type);
        self.thing_certs
            .entry(thing.to_string())
            .or_default()
            .insert(certificate_id.to_string());
    }
}

fn check_attributes(
    thing: &str,
    attributes: &Attributes,
    has_type: bool,
) -> Result<(), RegistryError> {
    for (k, v) in attributes {
        names::check_attribute(k, v)?;
    }
    let limit = if has_type {
        MAX_ATTRIBUTES_TYPED
    } else {
        MAX_ATTRIBUTES_UNTYPED
    };
    if attributes.len() > limit {
        return Err(RegistryError::TooManyAttributes {
            thing: thing.to_string(),
            count: attributes.len(),
            has_type,
        });
    }
    Ok(())
}
