//! What the image operations did, told to whoever listens: one place where every operation's
//! outcome is emitted (`images` for metadata and sharing, `data` for data and tasks), and where notifications, metrics and audit subscribe. A
//! subscriber is called in line, after the change is written, and must not block; one that has
//! slow work to do hands it to a task of its own.

use std::sync::{Arc, RwLock};

use glint_core::{Image, Plan};

use crate::db::metadefs::{Association, Entry, Kind, Namespace};
use crate::db::{Member, Task};

/// Who did it, as change records name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct By {
    pub(crate) project_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) request_id: String,
}

/// One thing that happened to an image.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// An image was created with the properties its plan lists.
    Created {
        image: Box<Image>,
        plan: Box<Plan>,
        by: By,
    },
    /// An image was changed by `plan` (`action` names the request: patch, v1_put, restore, ...).
    Updated {
        before: Box<Image>,
        after: Box<Image>,
        plan: Box<Plan>,
        action: String,
        by: By,
    },
    /// An image was deleted (its data removed from the stores).
    Deleted { image: Box<Image>, by: By },
    /// An image was shared with a project (pending).
    MemberCreated { member: Member, by: By },
    /// A member project answered a share.
    MemberUpdated { member: Member, by: By },
    /// A share ended.
    MemberDeleted { member: Member, by: By },
    /// Data for an image starts to arrive (an upload, or an import's data), for `stores`.
    Prepared {
        image: Box<Image>,
        stores: Vec<String>,
        by: By,
    },
    /// An image's data was written and recorded (its size and checksums set).
    Uploaded { image: Box<Image>, by: By },
    /// An image became active with its data.
    Activated { image: Box<Image>, by: By },
    /// Image data was sent to a client: `bytes_sent` of the `expected` (fewer when the client
    /// went away or a store failed mid-way).
    Sent {
        image_id: String,
        owner: Option<String>,
        bytes_sent: u64,
        expected: u64,
        by: By,
    },
    /// A task started (an import).
    TaskCreated { task: Box<Task>, by: By },
    /// A task ended, well (`success`) or not (`failure`).
    TaskEnded { task: Box<Task>, by: By },
    /// A finished task was removed (`glint db purge`).
    TaskDeleted { task: Box<Task>, by: By },
    /// A metadata definition was created, changed or deleted.
    Metadef {
        definition: Box<Definition>,
        change: DefinitionChange,
        by: By,
    },
}

/// A metadata definition as it is after a change (before it, for a deletion).
#[derive(Debug, Clone)]
pub(crate) enum Definition {
    Namespace(Namespace),
    /// An object, property or tag of the namespace named `namespace`.
    Entry {
        namespace: String,
        kind: Kind,
        entry: Entry,
    },
    /// A namespace's association with a resource type.
    ResourceType {
        namespace: String,
        association: Association,
    },
}

/// What happened to a metadata definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DefinitionChange {
    Created,
    /// Changed; `old_name` is its name before (a change may rename it).
    Updated {
        old_name: String,
    },
    Deleted,
    /// Every entry of a kind was deleted from the namespace.
    Emptied(Kind),
}

impl Definition {
    /// The definition's name (a namespace's `namespace`).
    pub(crate) fn name(&self) -> &str {
        match self {
            Definition::Namespace(ns) => &ns.namespace,
            Definition::Entry { entry, .. } => &entry.name,
            Definition::ResourceType { association, .. } => &association.name,
        }
    }

    /// Glance's event type for a change of this definition.
    fn event_type(&self, change: &DefinitionChange) -> &'static str {
        use DefinitionChange as C;
        match (self, change) {
            (Definition::Namespace(_), C::Created) => "metadef_namespace.create",
            (Definition::Namespace(_), C::Updated { .. }) => "metadef_namespace.update",
            (Definition::Namespace(_), C::Deleted) => "metadef_namespace.delete",
            (Definition::Namespace(_), C::Emptied(Kind::Object)) => {
                "metadef_namespace.delete_objects"
            }
            (Definition::Namespace(_), C::Emptied(Kind::Property)) => {
                "metadef_namespace.delete_properties"
            }
            (Definition::Namespace(_), C::Emptied(Kind::Tag)) => "metadef_namespace.delete_tags",
            (Definition::Entry { kind, .. }, change) => match (kind, change) {
                (Kind::Object, C::Created) => "metadef_object.create",
                (Kind::Object, C::Deleted) => "metadef_object.delete",
                (Kind::Object, _) => "metadef_object.update",
                (Kind::Property, C::Created) => "metadef_property.create",
                (Kind::Property, C::Deleted) => "metadef_property.delete",
                (Kind::Property, _) => "metadef_property.update",
                (Kind::Tag, C::Created) => "metadef_tag.create",
                (Kind::Tag, C::Deleted) => "metadef_tag.delete",
                (Kind::Tag, _) => "metadef_tag.update",
            },
            (Definition::ResourceType { .. }, C::Deleted) => "metadef_resource_type.delete",
            (Definition::ResourceType { .. }, _) => "metadef_resource_type.create",
        }
    }
}

impl Event {
    /// The event's name, as Glance names its notifications.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Event::Created { .. } => "image.create",
            Event::Updated { .. } => "image.update",
            Event::Deleted { .. } => "image.delete",
            Event::MemberCreated { .. } => "image.member.create",
            Event::MemberUpdated { .. } => "image.member.update",
            Event::MemberDeleted { .. } => "image.member.delete",
            Event::Prepared { .. } => "image.prepare",
            Event::Uploaded { .. } => "image.upload",
            Event::Activated { .. } => "image.activate",
            Event::Sent { .. } => "image.send",
            Event::TaskCreated { .. } => "task.create",
            Event::TaskEnded { task, .. } if task.status == "success" => "task.success",
            Event::TaskEnded { .. } => "task.failure",
            Event::TaskDeleted { .. } => "task.delete",
            Event::Metadef {
                definition, change, ..
            } => definition.event_type(change),
        }
    }

    /// The id of the image the event is about (none for a metadata definition).
    pub(crate) fn image_id(&self) -> &str {
        match self {
            Event::Metadef { .. } => "",
            Event::Created { image, .. }
            | Event::Deleted { image, .. }
            | Event::Prepared { image, .. }
            | Event::Uploaded { image, .. }
            | Event::Activated { image, .. } => &image.id,
            Event::TaskCreated { task, .. }
            | Event::TaskEnded { task, .. }
            | Event::TaskDeleted { task, .. } => task.image_id.as_deref().unwrap_or_default(),
            Event::Sent { image_id, .. } => image_id,
            Event::Updated { after, .. } => &after.id,
            Event::MemberCreated { member, .. }
            | Event::MemberUpdated { member, .. }
            | Event::MemberDeleted { member, .. } => &member.image_id,
        }
    }
}

type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

/// The subscribers; cloning shares them.
#[derive(Clone, Default)]
pub(crate) struct Events {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.subscribers.read().map(|s| s.len()).unwrap_or_default();
        write!(f, "Events({n} subscribers)")
    }
}

impl Events {
    pub(crate) fn subscribe(&self, subscriber: impl Fn(&Event) + Send + Sync + 'static) {
        self.subscribers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(subscriber));
    }

    pub(crate) fn emit(&self, event: &Event) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for s in subscribers {
            s(event);
        }
    }
}

/// The audit log: a line per event at `glint::audit`, naming the keys a change added, changed
/// and removed, never their values (an operator's log is not a way around protections).
pub(crate) fn audit(event: &Event) {
    let keys = |m: &mut dyn Iterator<Item = &String>| m.cloned().collect::<Vec<_>>().join(",");
    let (by, plan, action, was) = match event {
        Event::Created { plan, by, .. } => (by, Some(&**plan), "create", None),
        Event::Updated {
            plan,
            by,
            action,
            before,
            ..
        } => (by, Some(&**plan), action.as_str(), Some(before.status)),
        Event::Deleted { by, .. } => (by, None, "delete", None),
        Event::Prepared { image, stores, by } => {
            tracing::info!(
                target: "glint::audit",
                event = event.name(),
                image = %image.id,
                status = %image.status,
                stores = %stores.join(","),
                project = by.project_id.as_deref().unwrap_or("-"),
                user = by.user_id.as_deref().unwrap_or("-"),
                request = %by.request_id,
            );
            return;
        }
        Event::Uploaded { by, .. } => (by, None, "upload", None),
        Event::Activated { by, .. } => (by, None, "activate", None),
        Event::Sent {
            image_id,
            bytes_sent,
            expected,
            by,
            ..
        } => {
            tracing::info!(
                target: "glint::audit",
                event = event.name(),
                image = %image_id,
                bytes_sent,
                expected,
                project = by.project_id.as_deref().unwrap_or("-"),
                user = by.user_id.as_deref().unwrap_or("-"),
                request = %by.request_id,
            );
            return;
        }
        Event::TaskCreated { task, by }
        | Event::TaskEnded { task, by }
        | Event::TaskDeleted { task, by } => {
            tracing::info!(
                target: "glint::audit",
                event = event.name(),
                image = %event.image_id(),
                task = %task.id,
                kind = %task.kind,
                status = %task.status,
                project = by.project_id.as_deref().unwrap_or("-"),
                user = by.user_id.as_deref().unwrap_or("-"),
                request = %by.request_id,
            );
            return;
        }
        Event::Metadef { definition, by, .. } => {
            let namespace = match &**definition {
                Definition::Namespace(ns) => &ns.namespace,
                Definition::Entry { namespace, .. }
                | Definition::ResourceType { namespace, .. } => namespace,
            };
            tracing::info!(
                target: "glint::audit",
                event = event.name(),
                namespace = %namespace,
                name = %definition.name(),
                project = by.project_id.as_deref().unwrap_or("-"),
                user = by.user_id.as_deref().unwrap_or("-"),
                request = %by.request_id,
            );
            return;
        }
        Event::MemberCreated { member, by }
        | Event::MemberUpdated { member, by }
        | Event::MemberDeleted { member, by } => {
            tracing::info!(
                target: "glint::audit",
                event = event.name(),
                image = %member.image_id,
                member = %member.member,
                status = %member.status,
                project = by.project_id.as_deref().unwrap_or("-"),
                user = by.user_id.as_deref().unwrap_or("-"),
                request = %by.request_id,
            );
            return;
        }
    };
    let status = match event {
        Event::Created { image, .. }
        | Event::Deleted { image, .. }
        | Event::Uploaded { image, .. }
        | Event::Activated { image, .. } => image.status,
        Event::Updated { after, .. } => after.status,
        _ => return,
    };
    tracing::info!(
        target: "glint::audit",
        event = event.name(),
        action,
        image = %event.image_id(),
        status = %status,
        was = was.map(|s| s.to_string()).unwrap_or_default(),
        project = by.project_id.as_deref().unwrap_or("-"),
        user = by.user_id.as_deref().unwrap_or("-"),
        request = %by.request_id,
        added = plan.map(|p| keys(&mut p.added.keys())).unwrap_or_default(),
        changed = plan.map(|p| keys(&mut p.changed.keys())).unwrap_or_default(),
        removed = plan.map(|p| keys(&mut p.removed.keys())).unwrap_or_default(),
    );
}
