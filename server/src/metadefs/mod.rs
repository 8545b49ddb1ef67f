//! Metadata definitions below the API: who may read and change a namespace, and each operation
//! on namespaces, their properties, objects and tags, and resource type associations, with
//! Glance's refusals. The documents (`documents`) read API bodies and catalogue files into
//! what the database stores; the API turns requests into these calls and the results into
//! Glance's JSON.

pub(crate) mod documents;

use glint_core::Caller;
use thiserror::Error;

pub(crate) use documents::*;

use crate::access::{self, MetadefVerdict};
use crate::db::metadefs::{
    Association, Clash, Entry, Kind, Namespace, NamespaceDoc, NamespaceQuery, NamespaceSort,
};
use crate::db::{Db, DbError};
use crate::events::{By, Definition, DefinitionChange, Event, Events};
use crate::images::Actor;
use crate::notifications::Notifier;

/// Why a metadata definitions operation did not happen.
#[derive(Debug, Error)]
pub(crate) enum MetadefError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// A name already taken, or a protected definition.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A namespace the caller may read: only `Metadefs::readable` makes one.
#[derive(Debug)]
pub(crate) struct Readable(Namespace);

/// A namespace the caller may change, and who the caller is: only `Metadefs::changeable`
/// makes one.
#[derive(Debug)]
pub(crate) struct Changeable {
    ns: Namespace,
    by: By,
}

/// That the caller may create namespaces, and who the caller is: only `Metadefs::may_create`
/// makes one.
#[derive(Debug)]
pub(crate) struct Creator {
    by: By,
}

impl std::ops::Deref for Readable {
    type Target = Namespace;
    fn deref(&self) -> &Namespace {
        &self.0
    }
}

impl std::ops::Deref for Changeable {
    type Target = Namespace;
    fn deref(&self) -> &Namespace {
        &self.ns
    }
}

/// How namespaces are listed.
#[derive(Debug)]
pub(crate) struct ListNamespaces {
    pub(crate) visibility: Option<String>,
    /// Namespaces associated with any of these.
    pub(crate) resource_types: Vec<String>,
    pub(crate) sort_key: NamespaceSort,
    pub(crate) ascending: bool,
    /// The name of the last namespace of the previous page.
    pub(crate) marker: Option<String>,
    pub(crate) limit: i64,
}

/// What a namespace holds, for showing it whole.
#[derive(Debug)]
pub(crate) struct Contents {
    pub(crate) associations: Vec<Association>,
    pub(crate) properties: Vec<Entry>,
    pub(crate) objects: Vec<Entry>,
    pub(crate) tags: Vec<Entry>,
    /// The prefix of the association with the resource type asked for, if any.
    pub(crate) prefix: String,
}

/// A policy that does not allow the caller, named as Glance names it.
fn refused(policy: &str) -> MetadefError {
    MetadefError::Forbidden(format!(
        "You are not authorized to complete {policy} action."
    ))
}

fn nothing_here() -> MetadefError {
    MetadefError::NotFound("The resource could not be found.".into())
}

fn ns_not_found(name: &str) -> MetadefError {
    MetadefError::NotFound(format!(
        "Metadata definition namespace={name} was not found."
    ))
}

fn entry_not_found(kind: Kind, name: &str) -> MetadefError {
    MetadefError::NotFound(match kind {
        Kind::Object => format!("Could not find metadata object {name}"),
        Kind::Property => format!("Could not find property {name}"),
        Kind::Tag => format!("Could not find metadata tag {name}"),
    })
}

fn protected(what: &str, name: &str) -> MetadefError {
    MetadefError::Forbidden(format!(
        "Metadata definition {what} {name} is protected and cannot be deleted."
    ))
}

fn duplicate(kind: Kind, name: &str, ns: &str) -> MetadefError {
    MetadefError::Conflict(match kind {
        Kind::Property => format!(
            "A metadata definition property with name={name} already exists in namespace={ns}."
        ),
        Kind::Object => format!(
            "A metadata definition object with name={name} already exists in namespace={ns}."
        ),
        Kind::Tag => format!(
            "A metadata tag with name={name} already exists in namespace={ns}. \
             (Please note that metadata tag names are case insensitive)."
        ),
    })
}

fn association_exists(rt: &str, ns: &str) -> MetadefError {
    MetadefError::Conflict(format!(
        "The metadata definition resource-type association of resource-type={rt} to \
         namespace={ns} already exists."
    ))
}

fn entry_error(e: DbError, kind: Kind, name: &str, ns: &str) -> MetadefError {
    match e {
        DbError::Duplicate(_) => duplicate(kind, name, ns),
        e => e.into(),
    }
}

/// The metadata definitions operations.
#[derive(Debug, Clone)]
pub(crate) struct Metadefs {
    pub(crate) db: Db,
    /// Where every change is told (the image operations' subscribers).
    pub(crate) events: Events,
    /// With the RabbitMQ notification drivers: writes a change's notifications to the outbox.
    pub(crate) notifier: Option<Notifier>,
    /// The policy rules (Glance's metadef defaults, the operator's file over them).
    pub(crate) rules: std::sync::Arc<access::Rules>,
}

impl Metadefs {
    async fn tell(&self, by: &By, definition: Definition, change: DefinitionChange) {
        self.tell_all(by, vec![(definition, change)]).await;
    }

    /// Tells several changes with one outbox write.
    async fn tell_all(&self, by: &By, changes: Vec<(Definition, DefinitionChange)>) {
        let told: Vec<Event> = changes
            .into_iter()
            .map(|(definition, change)| Event::Metadef {
                definition: Box::new(definition),
                change,
                by: by.clone(),
            })
            .collect();
        crate::notifications::tell(&self.db, self.notifier.as_ref(), &self.events, &told).await;
    }

    fn definition(ns: &Namespace, kind: Kind, entry: &Entry) -> Definition {
        Definition::Entry {
            namespace: ns.namespace.clone(),
            kind,
            entry: entry.clone(),
        }
    }

    /// Refuses callers whom `policy` (`get_metadef_namespaces`, `list_metadef_resource_types`)
    /// does not allow to look at metadata definitions: as if there were none when they may not
    /// read their project's namespaces either, 403 otherwise.
    pub(crate) fn check_browse(&self, caller: &Caller, policy: &str) -> Result<(), MetadefError> {
        match access::metadef_verdict(&self.rules, caller, policy, None) {
            MetadefVerdict::Allowed => Ok(()),
            MetadefVerdict::Forbidden => Err(refused(policy)),
            MetadefVerdict::NotFound => Err(nothing_here()),
        }
    }

    /// Whether the caller reads the namespace: Glance's database shows administrators every
    /// namespace and others the public ones and their project's, and `get_metadef_namespace`
    /// must allow it.
    fn sees(&self, caller: &Caller, ns: &Namespace) -> bool {
        (access::sees_every_namespace(&self.rules, caller)
            || ns.visibility == "public"
            || caller.owns(ns.owner.as_deref()))
            && matches!(
                self.verdict(caller, "get_metadef_namespace", Some(ns)),
                MetadefVerdict::Allowed
            )
    }

    fn verdict(&self, caller: &Caller, policy: &str, ns: Option<&Namespace>) -> MetadefVerdict {
        let target = ns.map(|ns| (ns.owner.as_deref(), ns.visibility.as_str()));
        access::metadef_verdict(&self.rules, caller, policy, target)
    }

    /// What `rule` (a change's policy) allows: 403 when the caller sees the namespace (or when
    /// there is none), 404 when it cannot.
    fn require(
        &self,
        caller: &Caller,
        rule: &str,
        ns: Option<&Namespace>,
    ) -> Result<(), MetadefError> {
        // A namespace the caller does not see is not there, whatever the rule allows.
        if let Some(ns) = ns
            && !self.sees(caller, ns)
        {
            return Err(ns_not_found(&ns.namespace));
        }
        match (self.verdict(caller, rule, ns), ns) {
            (MetadefVerdict::Allowed, _) => Ok(()),
            (MetadefVerdict::NotFound, None) => Err(nothing_here()),
            _ => Err(refused(rule)),
        }
    }

    /// The namespace, if it exists and the caller may read it, for a read `policy` allows
    /// (`get_metadef_namespace`, `get_metadef_objects`, `get_metadef_tag`, ...).
    pub(crate) async fn readable(
        &self,
        caller: &Caller,
        name: &str,
        policy: &str,
    ) -> Result<Readable, MetadefError> {
        // `require` answers not found for a namespace the caller does not see.
        match self.db.namespace(name).await? {
            Some(ns) => {
                self.require(caller, policy, Some(&ns))?;
                Ok(Readable(ns))
            }
            None => Err(ns_not_found(name)),
        }
    }

    /// The namespace a write goes to: visible, and `rule` allowing the caller.
    pub(crate) async fn changeable(
        &self,
        actor: &Actor,
        name: &str,
        rule: &str,
    ) -> Result<Changeable, MetadefError> {
        let caller = &actor.caller;
        let ns = self.db.namespace(name).await?;
        match &ns {
            Some(found) => self.require(caller, rule, Some(found))?,
            None => {
                if let MetadefVerdict::NotFound =
                    self.verdict(caller, "get_metadef_namespace", None)
                {
                    return Err(nothing_here());
                }
            }
        }
        ns.map(|ns| Changeable { ns, by: actor.by() })
            .ok_or_else(|| ns_not_found(name))
    }

    /// That the caller may create namespaces.
    pub(crate) fn may_create(&self, actor: &Actor, rule: &str) -> Result<Creator, MetadefError> {
        self.require(&actor.caller, rule, None)
            .map(|()| Creator { by: actor.by() })
    }

    /// The namespaces the caller may read, with their associations, a page at a time.
    pub(crate) async fn list_namespaces(
        &self,
        caller: &Caller,
        query: &ListNamespaces,
    ) -> Result<Vec<(Namespace, Vec<Association>)>, MetadefError> {
        self.check_browse(caller, "get_metadef_namespaces")?;
        let marker = match &query.marker {
            Some(m) => Some(self.readable(caller, m, "get_metadef_namespace").await?.0),
            None => None,
        };
        let visible_to = match access::sees_every_namespace(&self.rules, caller) {
            true => None,
            false => Some(caller.project_id.as_deref()),
        };
        let found = self
            .db
            .namespaces(&NamespaceQuery {
                visible_to,
                visibility: query.visibility.as_deref(),
                resource_types: &query.resource_types,
                sort_key: query.sort_key,
                ascending: query.ascending,
                marker: marker.as_ref(),
                limit: query.limit,
            })
            .await?;
        // An operator's get_metadef_namespace can narrow what the database query shows.
        let found: Vec<Namespace> = match self.rules.overrides("get_metadef_namespace") {
            true => found
                .into_iter()
                .filter(|ns| self.sees(caller, ns))
                .collect(),
            false => found,
        };
        let ids: Vec<String> = found.iter().map(|n| n.id.clone()).collect();
        let mut associations = self.db.associations(&ids).await?;
        Ok(found
            .into_iter()
            .map(|ns| {
                let mine = associations
                    .extract_if(.., |(id, _)| *id == ns.id)
                    .map(|(_, a)| a)
                    .collect();
                (ns, mine)
            })
            .collect())
    }

    /// Creates a namespace with everything in it, all or nothing.
    pub(crate) async fn create_namespace(
        &self,
        creator: &Creator,
        doc: &NamespaceDoc,
    ) -> Result<(), MetadefError> {
        self.db.insert_namespace(doc).await.map_err(|(clash, e)| {
            let ns = &doc.namespace.namespace;
            match (clash, e) {
                (Clash::Namespace, DbError::Duplicate(_)) => MetadefError::Conflict(format!(
                    "The metadata definition namespace={ns} already exists."
                )),
                (Clash::Entry(kind, name), DbError::Duplicate(_)) => duplicate(kind, &name, ns),
                (Clash::Association(rt), DbError::Duplicate(_)) => association_exists(&rt, ns),
                (_, e) => e.into(),
            }
        })?;
        // As Glance tells a namespace made whole: the namespace, then what it holds.
        let ns = &doc.namespace;
        let created = |d| (d, DefinitionChange::Created);
        let mut changes = vec![created(Definition::Namespace(ns.clone()))];
        changes.extend(doc.associations.iter().map(|a| {
            created(Definition::ResourceType {
                namespace: ns.namespace.clone(),
                association: a.clone(),
            })
        }));
        for (kind, entries) in [
            (Kind::Object, &doc.objects),
            (Kind::Tag, &doc.tags),
            (Kind::Property, &doc.properties),
        ] {
            changes.extend(
                entries
                    .iter()
                    .map(|e| created(Self::definition(ns, kind, e))),
            );
        }
        self.tell_all(&creator.by, changes).await;
        Ok(())
    }

    /// Everything a namespace holds; property keys and required names carry the prefix of
    /// its association with `resource_type`, when asked.
    pub(crate) async fn contents(
        &self,
        ns: &Readable,
        resource_type: Option<&str>,
    ) -> Result<Contents, MetadefError> {
        let associations: Vec<Association> = self
            .db
            .associations(std::slice::from_ref(&ns.id))
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        let prefix = resource_type
            .and_then(|rt| associations.iter().find(|a| a.name == rt))
            .and_then(|a| a.prefix.clone())
            .unwrap_or_default();
        Ok(Contents {
            properties: self.db.entries(&ns.id, Kind::Property).await?,
            objects: self.db.entries(&ns.id, Kind::Object).await?,
            tags: self
                .db
                .tags(&ns.id, "created_at", false, None, i64::MAX)
                .await?,
            associations,
            prefix,
        })
    }

    /// Replaces a namespace's own fields with `doc`'s (a new name renames it).
    pub(crate) async fn update_namespace(
        &self,
        old: &Changeable,
        doc: NamespaceDoc,
    ) -> Result<Namespace, MetadefError> {
        let new = Namespace {
            id: old.id.clone(),
            created_at: old.created_at,
            updated_at: Some(crate::time::now_micros()),
            ..doc.namespace
        };
        self.db.update_namespace(&new).await.map_err(|e| match e {
            DbError::Duplicate(_) => MetadefError::Conflict(format!(
                "Invalid update. It would result in a duplicate metadata definition namespace \
                 with the same name of {}",
                new.namespace
            )),
            e => e.into(),
        })?;
        let change = DefinitionChange::Updated {
            old_name: old.namespace.clone(),
        };
        self.tell(&old.by, Definition::Namespace(new.clone()), change)
            .await;
        Ok(new)
    }

    /// Deletes a namespace and everything in it, unless it is protected.
    pub(crate) async fn delete_namespace(&self, ns: &Changeable) -> Result<(), MetadefError> {
        if ns.protected {
            return Err(protected("namespace", &ns.namespace));
        }
        self.db.delete_namespace(&ns.id).await?;
        let definition = Definition::Namespace(ns.ns.clone());
        self.tell(&ns.by, definition, DefinitionChange::Deleted)
            .await;
        Ok(())
    }

    /// Deletes every entry of a kind, unless the namespace is protected.
    pub(crate) async fn delete_all(&self, ns: &Changeable, kind: Kind) -> Result<(), MetadefError> {
        if ns.protected {
            return Err(protected("namespace", &ns.namespace));
        }
        self.db.delete_entries(&ns.id, kind, None).await?;
        let definition = Definition::Namespace(ns.ns.clone());
        self.tell(&ns.by, definition, DefinitionChange::Emptied(kind))
            .await;
        Ok(())
    }

    pub(crate) async fn entries(
        &self,
        ns: &Readable,
        kind: Kind,
    ) -> Result<Vec<Entry>, MetadefError> {
        Ok(self.db.entries(&ns.id, kind).await?)
    }

    pub(crate) async fn entry(
        &self,
        ns: &Readable,
        kind: Kind,
        name: &str,
    ) -> Result<Entry, MetadefError> {
        self.db
            .entry(&ns.id, kind, name)
            .await?
            .ok_or_else(|| entry_not_found(kind, name))
    }

    pub(crate) async fn add_entry(
        &self,
        ns: &Changeable,
        kind: Kind,
        entry: &Entry,
    ) -> Result<(), MetadefError> {
        self.db
            .add_entry(&ns.id, kind, entry)
            .await
            .map_err(|e| entry_error(e, kind, &entry.name, &ns.namespace))?;
        self.tell(
            &ns.by,
            Self::definition(ns, kind, entry),
            DefinitionChange::Created,
        )
        .await;
        Ok(())
    }

    /// Replaces entry `old_name` with `entry` (keeping its creation time), or says why not.
    pub(crate) async fn replace_entry(
        &self,
        ns: &Changeable,
        kind: Kind,
        old_name: &str,
        entry: &mut Entry,
    ) -> Result<(), MetadefError> {
        let old = self
            .db
            .entry(&ns.id, kind, old_name)
            .await?
            .ok_or_else(|| entry_not_found(kind, old_name))?;
        entry.created_at = old.created_at;
        entry.updated_at = Some(crate::time::now_micros());
        let done = self
            .db
            .replace_entry(&ns.id, kind, old_name, entry)
            .await
            .map_err(|e| entry_error(e, kind, &entry.name, &ns.namespace))?;
        if !done {
            return Err(entry_not_found(kind, old_name));
        }
        let change = DefinitionChange::Updated {
            old_name: old_name.to_string(),
        };
        self.tell(&ns.by, Self::definition(ns, kind, entry), change)
            .await;
        Ok(())
    }

    /// Deletes one entry of a namespace the caller may change, unless it is protected.
    pub(crate) async fn delete_entry(
        &self,
        actor: &Actor,
        name: &str,
        kind: Kind,
        entry: &str,
    ) -> Result<(), MetadefError> {
        let (rule, what) = match kind {
            Kind::Object => ("delete_metadef_object", "object"),
            Kind::Property => ("remove_metadef_property", "property"),
            Kind::Tag => ("delete_metadef_tag", "tag"),
        };
        let ns = self.changeable(actor, name, rule).await?;
        let Some(found) = self.db.entry(&ns.id, kind, entry).await? else {
            return Err(entry_not_found(kind, entry));
        };
        if ns.protected {
            return Err(protected(what, entry));
        }
        if !self.db.delete_entries(&ns.id, kind, Some(entry)).await? {
            return Err(entry_not_found(kind, entry));
        }
        self.tell(
            &ns.by,
            Self::definition(&ns, kind, &found),
            DefinitionChange::Deleted,
        )
        .await;
        Ok(())
    }

    /// A property; with `resource_type`, `property` carries that association's prefix.
    pub(crate) async fn property(
        &self,
        ns: &Readable,
        property: &str,
        resource_type: Option<&str>,
    ) -> Result<Entry, MetadefError> {
        let mut key = property.to_string();
        if let Some(rt) = resource_type {
            let association = self
                .db
                .associations(std::slice::from_ref(&ns.id))
                .await?
                .into_iter()
                .map(|(_, a)| a)
                .find(|a| a.name == rt);
            let Some(association) = association else {
                let known = self.db.resource_types().await?.iter().any(|t| t.name == rt);
                return Err(MetadefError::NotFound(match known {
                    false => format!(
                        "The metadata definition resource-type with name={rt}, was not found."
                    ),
                    true => format!(
                        "The metadata definition resource-type association of \
                         resource-type={rt} to namespace={}, was not found.",
                        ns.namespace
                    ),
                }));
            };
            let prefix = association.prefix.clone().unwrap_or_default();
            key = match property
                .strip_prefix(&prefix)
                .filter(|_| !prefix.is_empty())
            {
                Some(k) => k.to_string(),
                None => {
                    return Err(MetadefError::NotFound(format!(
                        "Property {property} does not start with the expected resource type \
                         association prefix of '{}'.",
                        association.prefix.as_deref().unwrap_or("None")
                    )));
                }
            };
        }
        self.db
            .entry(&ns.id, Kind::Property, &key)
            .await?
            .ok_or_else(|| entry_not_found(Kind::Property, property))
    }

    /// A page of a namespace's tags, after the tag named `marker`.
    pub(crate) async fn tags(
        &self,
        ns: &Readable,
        sort_key: &str,
        ascending: bool,
        marker: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Entry>, MetadefError> {
        let marker = match marker {
            Some(m) => Some(self.entry(ns, Kind::Tag, m).await?),
            None => None,
        };
        Ok(self
            .db
            .tags(&ns.id, sort_key, ascending, marker.as_ref(), limit)
            .await?)
    }

    /// Replaces every tag of a namespace with `tags` (or, with `append`, adds them).
    pub(crate) async fn put_tags(
        &self,
        ns: &Changeable,
        tags: &[Entry],
        append: bool,
    ) -> Result<(), MetadefError> {
        self.db
            .put_tags(&ns.id, tags, append)
            .await
            .map_err(|e| match e {
                DbError::Duplicate(tag) => duplicate(Kind::Tag, &tag, &ns.namespace),
                e => e.into(),
            })?;
        let changes = tags
            .iter()
            .map(|tag| {
                let definition = Self::definition(ns, Kind::Tag, tag);
                (definition, DefinitionChange::Created)
            })
            .collect();
        self.tell_all(&ns.by, changes).await;
        Ok(())
    }

    /// Every resource type.
    pub(crate) async fn resource_types(
        &self,
        caller: &Caller,
    ) -> Result<Vec<Association>, MetadefError> {
        self.check_browse(caller, "list_metadef_resource_types")?;
        Ok(self.db.resource_types().await?)
    }

    /// A namespace's resource type associations, when `get_metadef_resource_type` lets the
    /// caller see them (none otherwise, as Glance filters them).
    pub(crate) async fn associations_shown(
        &self,
        caller: &Caller,
        ns: &Readable,
    ) -> Result<Vec<Association>, MetadefError> {
        match self.verdict(caller, "get_metadef_resource_type", Some(&ns.0)) {
            MetadefVerdict::Allowed => self.associations(ns).await,
            _ => Ok(Vec::new()),
        }
    }

    pub(crate) async fn associations(
        &self,
        ns: &Readable,
    ) -> Result<Vec<Association>, MetadefError> {
        Ok(self
            .db
            .associations(std::slice::from_ref(&ns.id))
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect())
    }

    pub(crate) async fn add_association(
        &self,
        ns: &Changeable,
        association: &Association,
    ) -> Result<(), MetadefError> {
        self.db
            .add_association(&ns.id, association)
            .await
            .map_err(|e| match e {
                DbError::Duplicate(_) => association_exists(&association.name, &ns.namespace),
                e => e.into(),
            })?;
        let definition = Definition::ResourceType {
            namespace: ns.namespace.clone(),
            association: association.clone(),
        };
        self.tell(&ns.by, definition, DefinitionChange::Created)
            .await;
        Ok(())
    }

    /// Ends a namespace's association with a resource type, unless the namespace is
    /// protected.
    pub(crate) async fn delete_association(
        &self,
        actor: &Actor,
        name: &str,
        rt: &str,
    ) -> Result<(), MetadefError> {
        let ns = self
            .changeable(actor, name, "remove_metadef_resource_type_association")
            .await?;
        let found = self
            .db
            .associations(std::slice::from_ref(&ns.id))
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .find(|a| a.name == rt);
        let Some(association) = found else {
            return Err(MetadefError::NotFound(format!(
                "Failed to find resource type {rt} to delete"
            )));
        };
        if ns.protected {
            return Err(protected("resource-type-association", rt));
        }
        self.db.delete_association(&ns.id, rt).await?;
        let definition = Definition::ResourceType {
            namespace: ns.namespace.clone(),
            association,
        };
        self.tell(&ns.by, definition, DefinitionChange::Deleted)
            .await;
        Ok(())
    }
}
