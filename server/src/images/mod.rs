//! Image operations below the HTTP API: creating an image and changing it by plan, with the
//! access checks, the plan-and-write loop and the change record each needs. The API (v2 JSON,
//! v1 headers, the web UI's calls) translates requests into these calls and their results and
//! errors into Glance's responses; nothing here knows HTTP.

mod error;
mod sharing;

use std::sync::Arc;

use glint_core::{
    Caller, Create, Image, Plan, PlanContext, PropertyProtections, Request, Settings,
};
use serde_json::Value;

pub(crate) use error::ImageError;

use crate::db::{ChangeRecord, Db, StoredImage};
use crate::events::{By, Event, Events};
use crate::locks::ImageLocks;
use crate::store::Stores;

/// How many times an update is planned again when another writer changed the image first.
const UPDATE_ATTEMPTS: usize = 16;

/// Who acts: the caller, and what its change records name.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) caller: Caller,
    pub(crate) user_id: Option<String>,
    pub(crate) request_id: String,
}

impl Actor {
    /// The change record for a write this actor makes.
    /// The actor as events name it.
    pub(crate) fn by(&self) -> By {
        By {
            project_id: self.caller.project_id.clone(),
            user_id: self.user_id.clone(),
            request_id: self.request_id.clone(),
        }
    }

    pub(crate) fn record<'a>(&'a self, action: &'a str) -> ChangeRecord<'a> {
        ChangeRecord {
            request_id: &self.request_id,
            user_id: self.user_id.as_deref(),
            project_id: self.caller.project_id.as_deref(),
            action,
            announce: None,
        }
    }
}

/// An image's version as an entity tag (the `ETag` and `If-Match` of the API).
pub(crate) fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Whether an `If-Match` value names `version` (or `*`); a stale one is refused.
pub(crate) fn check_version(if_match: Option<&str>, version: i64) -> Result<(), ImageError> {
    let Some(value) = if_match.map(str::trim) else {
        return Ok(());
    };
    let current = etag(version);
    let matches = value == "*"
        || value
            .split(',')
            .map(|v| v.trim().trim_start_matches("W/"))
            .any(|v| v == current);
    match matches {
        true => Ok(()),
        false => Err(ImageError::Stale {
            current,
            expected: value.to_string(),
        }),
    }
}

/// What an update ended with.
#[derive(Debug)]
pub(crate) enum Outcome {
    Applied(StoredImage),
    Preview(Box<Plan>, StoredImage),
}

/// The image operations and what they need.
#[derive(Debug, Clone)]
pub(crate) struct Images {
    pub(crate) db: Db,
    pub(crate) settings: Arc<Settings>,
    pub(crate) protections: Option<Arc<PropertyProtections>>,
    pub(crate) locks: Arc<ImageLocks>,
    pub(crate) stores: Arc<Stores>,
    pub(crate) guard: crate::webdownload::Guard,
    /// Per-project limits (Glint's own or Keystone's).
    pub(crate) limits: Arc<crate::limits::Limits>,
    /// Where every operation tells what it did.
    pub(crate) events: Events,
    /// With the RabbitMQ notification drivers: the notifications a change makes, written to
    /// the outbox in the change's own transaction.
    pub(crate) notifier: Option<crate::notifications::Notifier>,
    /// The policy rules (Glance's defaults, the operator's file over them).
    pub(crate) rules: Arc<crate::access::Rules>,
}

impl Images {
    /// Tells an event that has no transaction of its own to join: its notifications are in the
    /// outbox (awaited, so they keep their place among the image's) before it is emitted.
    pub(crate) async fn tell(&self, event: Event) {
        let told = [event];
        crate::notifications::tell(&self.db, self.notifier.as_ref(), &self.events, &told).await;
    }

    /// The notifications an event makes, when they go through the outbox.
    pub(crate) fn outgoing(&self, event: &Event) -> Vec<crate::db::Outgoing> {
        match &self.notifier {
            Some(n) => n.notifications(event),
            None => Vec::new(),
        }
    }

    /// An image `caller` may change as `policy` says (404 unseen, 403 naming the policy).
    pub(crate) async fn load_writable(
        &self,
        caller: &Caller,
        id: &str,
        policy: &str,
    ) -> Result<StoredImage, crate::access::Denied> {
        crate::access::load_writable(&self.db, &self.rules, caller, id, policy).await
    }

    /// Of the properties the deployment injects into `caller`'s imports, those it may read
    /// (what the import's dry run and the web UI show it).
    pub(crate) fn injected_shown_to(
        &self,
        caller: &Caller,
    ) -> std::collections::BTreeMap<String, String> {
        let readable = self.context(caller);
        self.settings
            .injected_for(caller)
            .into_iter()
            .filter(|(k, _)| readable.may(k, glint_core::Operation::Read))
            .collect()
    }

    /// What planning needs for this caller: settings and property protections.
    pub(crate) fn context<'a>(&'a self, caller: &'a Caller) -> PlanContext<'a> {
        let ctx = PlanContext::new(caller, &self.settings);
        match &self.protections {
            Some(p) => ctx.with_protections(p),
            None => ctx,
        }
    }

    /// The empty image a create starts from (its id given or new), and the create's plan.
    pub(crate) fn plan_create(&self, caller: &Caller, create: Create) -> (Image, Plan) {
        let id = create
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let template = Image::new(id, caller.project_id.clone(), "");
        let policy = self.rules.current();
        let ctx = self.context(caller).with_policy(&policy);
        let plan = glint_core::plan(&template, &Request::Create(create), &ctx);
        (template, plan)
    }

    /// Creates an image: refused on the plan's first violation or beyond the image quota.
    pub(crate) async fn create(
        &self,
        actor: &Actor,
        create: Create,
    ) -> Result<StoredImage, ImageError> {
        let (template, plan) = self.plan_create(&actor.caller, create);
        self.insert_planned(actor, &template, &plan, "create").await
    }

    /// Stores a planned create (`action` names it in the change record).
    pub(crate) async fn insert_planned(
        &self,
        actor: &Actor,
        template: &Image,
        plan: &Plan,
        action: &str,
    ) -> Result<StoredImage, ImageError> {
        if let Some(v) = plan.first_violation() {
            return Err(ImageError::Refused(v.clone()));
        }
        let image = glint_core::apply(plan, template);
        self.check_image_quota(image.owner.as_deref()).await?;
        let announce = |written: &StoredImage| {
            self.outgoing(&Event::Created {
                image: Box::new(written.image.clone()),
                plan: Box::new(plan.clone()),
                by: actor.by(),
            })
        };
        let mut record = actor.record(action);
        if self.notifier.is_some() {
            record.announce = Some(&announce);
        }
        let stored = self.db.insert_image(&image, plan, record).await?;
        self.events.emit(&Event::Created {
            image: Box::new(stored.image.clone()),
            plan: Box::new(plan.clone()),
            by: actor.by(),
        });
        Ok(stored)
    }

    /// Deletes an image the caller may change and is not protected: soft-deleted in the
    /// database, its data removed from the stores.
    pub(crate) async fn delete(&self, actor: &Actor, id: &str) -> Result<StoredImage, ImageError> {
        let stored = self
            .load_writable(&actor.caller, id, "delete_image")
            .await?;
        if stored.image.protected {
            return Err(ImageError::Protected(stored.image.id.clone()));
        }
        let outbox = self.outgoing(&Event::Deleted {
            image: Box::new(stored.image.clone()),
            by: actor.by(),
        });
        if !self.db.delete_image(&stored.image.id, &outbox).await? {
            return Err(crate::access::Denied::NotFound(stored.image.id.clone()).into());
        }
        self.stores.delete_all(&stored.image.locations).await;
        self.events.emit(&Event::Deleted {
            image: Box::new(stored.image.clone()),
            by: actor.by(),
        });
        Ok(stored)
    }

    /// Refuses a new image for `owner` beyond the project's `image_count_total` (413).
    pub(crate) async fn check_image_quota(&self, owner: Option<&str>) -> Result<(), ImageError> {
        if let Some(owner) = owner {
            let one = [(crate::limits::Resource::CountTotal, 1)];
            self.limits.enforce(owner, &one).await?;
        }
        Ok(())
    }

    /// Plans and applies a metadata change, planning again if another writer got there first,
    /// so no update is ever lost. `build` makes the request from the image as it is now;
    /// `if_match` (an entity tag) must name the version planned against; `preview` returns the
    /// plan without writing.
    pub(crate) async fn update(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<&str>,
        preview: bool,
        action: &str,
        mut build: impl FnMut(&Image) -> Result<Request, ImageError>,
    ) -> Result<Outcome, ImageError> {
        let _lock = match preview {
            true => None,
            false => Some(self.locks.lock(&crate::access::image_id(id)?).await),
        };
        for attempt in 0..UPDATE_ATTEMPTS {
            if attempt > 0 {
                // Another server wrote first: back off a little, differently each time.
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 8;
                tokio::time::sleep(std::time::Duration::from_millis(
                    jitter + 2 * attempt as u64,
                ))
                .await;
            }
            let stored = self
                .load_writable(&actor.caller, id, "modify_image")
                .await?;
            check_version(if_match, stored.version)?;
            let request = build(&stored.image)?;
            let policy = self.rules.current();
            let ctx = self.context(&actor.caller).with_policy(&policy);
            let plan = glint_core::plan(&stored.image, &request, &ctx);
            if preview {
                return Ok(Outcome::Preview(Box::new(plan), stored));
            }
            if let Some(v) = plan.first_violation() {
                return Err(ImageError::Refused(v.clone()));
            }
            if plan.is_noop() {
                return Ok(Outcome::Applied(stored));
            }
            let mut after = glint_core::apply(&plan, &stored.image);
            if plan.attributes.locations.is_some() {
                self.settle_locations(&stored.image, &mut after).await?;
            }
            let announce = |written: &StoredImage| {
                self.outgoing(&Event::Updated {
                    before: Box::new(stored.image.clone()),
                    after: Box::new(written.image.clone()),
                    plan: Box::new(plan.clone()),
                    action: action.to_string(),
                    by: actor.by(),
                })
            };
            let mut record = actor.record(action);
            if self.notifier.is_some() {
                record.announce = Some(&announce);
            }
            if let Some(updated) = self.db.update_image(&stored, &plan, &after, record).await? {
                self.events.emit(&Event::Updated {
                    before: Box::new(stored.image),
                    after: Box::new(updated.image.clone()),
                    plan: Box::new(plan),
                    action: action.to_string(),
                    by: actor.by(),
                });
                return Ok(Outcome::Applied(updated));
            }
        }
        Err(ImageError::Busy)
    }

    /// What adding locations does beyond the plan: a new http(s) location must pass the import
    /// guard (its host resolved, as web-download's), its validation data becomes the image's
    /// checksums, and a queued image that gets a location becomes active, sized from it.
    async fn settle_locations(&self, before: &Image, after: &mut Image) -> Result<(), ImageError> {
        let mut given = Vec::new();
        for l in &mut after.locations {
            let data = l.validation_data.take();
            if before.locations.iter().any(|o| o.url == l.url) {
                continue;
            }
            given.extend(data);
            if let Some(store) = self.stores.owner(&l.url) {
                // In one of this deployment's stores (an RBD pool it has): nothing is fetched,
                // and with several stores the location names it.
                if self.stores.is_multi() && !l.metadata.contains_key("store") {
                    l.metadata
                        .insert("store".into(), Value::String(store.id.clone()));
                }
                continue;
            }
            if l.url.starts_with("rbd://") {
                return Err(ImageError::InvalidLocation(format!(
                    "Invalid location {}: not an image in a Ceph cluster and pool of this \
                     deployment's stores",
                    l.url
                )));
            }
            let url = reqwest::Url::parse(&l.url).map_err(|e| {
                ImageError::InvalidLocation(format!("Invalid location {}: {e}", l.url))
            })?;
            self.guard.check_resolving(&url).await.map_err(|why| {
                ImageError::InvalidLocation(format!(
                    "Invalid location {}: it does not pass filtering: {why}",
                    l.url
                ))
            })?;
        }
        for data in given {
            let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
            if after.checksum.is_none() {
                after.checksum = text("checksum");
            }
            if after.os_hash_value.is_none() {
                after.os_hash_algo = text("os_hash_algo");
                after.os_hash_value = text("os_hash_value");
            }
        }
        if before.status == glint_core::Status::Queued && !after.locations.is_empty() {
            after.status = glint_core::Status::Active;
            if after.size.is_none() {
                after.size = self.stores.size_at(&after.locations[0].url).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use glint_core::{Patch, PatchDialect};
    use serde_json::json;

    use super::*;
    use crate::store::{FsStore, HttpStore, NamedStore};

    pub(crate) async fn images(dir: &std::path::Path) -> Images {
        crate::install_tls_provider();
        let db = Db::connect(&format!("sqlite:{}", dir.join("glint.db").display()))
            .await
            .expect("the database");
        let store = NamedStore {
            id: "default".into(),
            description: None,
            weight: 0,
            read_only: false,
            kind: "file",
            properties: json!({}),
            store: Arc::new(FsStore::new(dir.join("images"), "test").expect("the store")),
        };
        Images {
            settings: Arc::new(Settings::default()),
            protections: None,
            locks: Arc::default(),
            stores: Arc::new(Stores::single(
                store,
                HttpStore::new(reqwest::Client::new()),
            )),
            guard: crate::webdownload::Guard::new(&crate::webdownload::ImportFilter::default()),
            limits: Arc::new(crate::limits::Limits::local(db.clone(), None, None)),
            db,
            events: Events::default(),
            notifier: None,
            rules: Arc::new(crate::access::Rules::defaults()),
        }
    }

    fn patch(ops: serde_json::Value) -> Request {
        Request::Patch(Patch::parse(PatchDialect::V2_1, &ops).expect("a patch"))
    }

    /// Every operation tells what it did, once it is written, with its plan; a preview, a
    /// refused change and a change that changes nothing tell nothing.
    #[tokio::test]
    async fn operations_emit_what_they_did() {
        let dir = std::env::temp_dir().join(format!("glint-images-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let images = images(&dir).await;
        let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
        let log = seen.clone();
        images
            .events
            .subscribe(move |e| log.lock().expect("the log").push(e.clone()));
        let actor = Actor {
            caller: Caller::new(Some("p1"), &["member", "reader"]),
            user_id: Some("u1".into()),
            request_id: "req-1".into(),
        };
        let create = Create::from_body(br#"{"name": "e", "os_distro": "debian", "t": "1"}"#)
            .expect("a create");
        let id = images
            .create(&actor, create)
            .await
            .expect("created")
            .image
            .id;

        // A preview, a refused change and a no-op: nothing told.
        let remove_t = patch(json!([{"op": "remove", "path": "/t"}]));
        let preview = images
            .update(&actor, &id, None, true, "patch", |_| Ok(remove_t.clone()))
            .await
            .expect("a preview");
        assert!(matches!(preview, Outcome::Preview(..)));
        let refused = images
            .update(&actor, &id, None, false, "patch", |_| {
                Ok(patch(json!([{"op": "remove", "path": "/nothing"}])))
            })
            .await;
        assert!(
            matches!(refused, Err(ImageError::Refused(_))),
            "{refused:?}"
        );
        let stale = images
            .update(&actor, &id, Some("\"999\""), false, "patch", |_| {
                Ok(remove_t.clone())
            })
            .await;
        assert!(matches!(stale, Err(ImageError::Stale { .. })), "{stale:?}");
        images
            .update(&actor, &id, None, false, "patch", |_| {
                Ok(patch(
                    json!([{"op": "replace", "path": "/t", "value": "1"}]),
                ))
            })
            .await
            .expect("a no-op");
        assert_eq!(seen.lock().expect("the log").len(), 1, "only the create");

        images
            .update(&actor, &id, None, false, "patch", |_| Ok(remove_t.clone()))
            .await
            .expect("removed");
        let outsider = Actor {
            caller: Caller::new(Some("p2"), &["member", "reader"]),
            ..actor.clone()
        };
        let denied = images.delete(&outsider, &id).await;
        assert!(matches!(denied, Err(ImageError::Denied(_))), "{denied:?}");
        images.delete(&actor, &id).await.expect("deleted");

        let seen = seen.lock().expect("the log").clone();
        let names: Vec<&str> = seen.iter().map(Event::name).collect();
        assert_eq!(names, ["image.create", "image.update", "image.delete"]);
        match &seen[0] {
            Event::Created { plan, by, image } => {
                assert_eq!(
                    plan.added.get("os_distro").map(String::as_str),
                    Some("debian")
                );
                assert_eq!(by.user_id.as_deref(), Some("u1"));
                assert_eq!(image.owner.as_deref(), Some("p1"));
            }
            other => panic!("{other:?}"),
        }
        match &seen[1] {
            Event::Updated {
                before,
                after,
                plan,
                action,
                ..
            } => {
                assert_eq!(action, "patch");
                assert_eq!(plan.removed.get("t").map(String::as_str), Some("1"));
                assert!(before.properties.contains_key("t"));
                assert!(!after.properties.contains_key("t"));
            }
            other => panic!("{other:?}"),
        }
        images.db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Sharing: the owner adds a member, the member project answers, the owner removes it;
    /// each told once, refusals not at all.
    #[tokio::test]
    async fn sharing_emits_member_events() {
        let dir = std::env::temp_dir().join(format!("glint-sharing-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let images = images(&dir).await;
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        images.events.subscribe(move |e| {
            log.lock()
                .expect("the log")
                .push(format!("{} {}", e.name(), e.image_id()))
        });
        let owner = Actor {
            caller: Caller::new(Some("p1"), &["member", "reader"]),
            user_id: None,
            request_id: "req-2".into(),
        };
        let guest = Actor {
            caller: Caller::new(Some("p2"), &["member", "reader"]),
            ..owner.clone()
        };
        let reader = Actor {
            caller: Caller::new(Some("p2"), &["reader"]),
            ..owner.clone()
        };
        let private = images
            .create(
                &owner,
                Create::from_body(br#"{"name": "p", "visibility": "private"}"#).expect("a create"),
            )
            .await
            .expect("created")
            .image
            .id;
        let refused = images.add_member(&owner, &private, "p2").await;
        assert!(matches!(refused, Err(ImageError::NotShared)), "{refused:?}");
        let id = images
            .create(
                &owner,
                Create::from_body(br#"{"name": "s", "visibility": "shared"}"#).expect("a create"),
            )
            .await
            .expect("created")
            .image
            .id;
        let m = images
            .add_member(&owner, &id, " p2 ")
            .await
            .expect("shared");
        assert_eq!((m.member.as_str(), m.status.as_str()), ("p2", "pending"));
        let refused = images.answer_share(&reader, &id, "p2", "accepted").await;
        assert!(matches!(refused, Err(ImageError::Denied(_))), "{refused:?}");
        let refused = images.answer_share(&guest, &id, "p2", "maybe").await;
        assert!(
            matches!(refused, Err(ImageError::Invalid(_))),
            "{refused:?}"
        );
        images
            .answer_share(&guest, &id, "p2", "accepted")
            .await
            .expect("accepted");
        let refused = images.remove_member(&guest, &id, "p2").await;
        assert!(matches!(refused, Err(ImageError::Denied(_))), "{refused:?}");
        images
            .remove_member(&owner, &id, "p2")
            .await
            .expect("removed");
        let refused = images.remove_member(&owner, &id, "p2").await;
        assert!(
            matches!(refused, Err(ImageError::NoSuchMember(..))),
            "{refused:?}"
        );
        let seen = seen.lock().expect("the log").clone();
        assert_eq!(
            seen,
            [
                format!("image.create {private}"),
                format!("image.create {id}"),
                format!("image.member.create {id}"),
                format!("image.member.update {id}"),
                format!("image.member.delete {id}"),
            ]
        );
        images.db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
