//! `glint adopt`: taking over a Glance deployment's database with nothing lost.
//!
//! The Glance database is only read. A dry run (the default) reads everything and says what
//! would be adopted, per table and per store, which locations Glint cannot read, and which
//! values Glint would refuse on a new request; `--apply` writes it, a page of images per
//! transaction, skipping images already adopted, so a run killed halfway finishes when run
//! again and duplicates nothing. `--verify` reads every image back through Glint's own model
//! and compares it with the source; `--verify-data` also hashes the data it can reach.
//!
//! Data stays where it is: locations are adopted as they are, assigned to the Glint store
//! that reads them (`--store-map` names it where the URL alone does not), and kept, readable
//! or not. Property rows Glance soft-deleted become history; rows it marked deleted without a
//! time (Glance before the fix of Launchpad bug 901534) keep an unknown removal time, and the
//! adoption's change record lists them so that they can be restored.

mod glance;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use futures_util::StreamExt;
use glint_core::{Image, Location, Plan, Status, Visibility};
use thiserror::Error;

use crate::db::adopt::{AdoptedImage, AdoptedProperty};
use crate::db::{Db, DbError, Member, Task};
use crate::store::Stores;
use crate::time;
use glance::{Details, GlanceImage, GlanceLocation, Source};

/// Images read (and written) per page.
const PAGE: usize = 250;

/// Why an adoption stopped.
#[derive(Debug, Error)]
pub enum AdoptError {
    #[error("Glance database: {0}")]
    Source(String),
    #[error("Glance database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Glint(#[from] crate::error::StartError),
    #[error(
        "--store-map {0}: expected GLANCE=GLINT, a Glance store id or URL prefix and the id of \
         one of Glint's stores"
    )]
    StoreMap(String),
}

/// What `glint adopt` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct AdoptOptions {
    /// Glance's `[database] connection` URL.
    pub from: String,
    /// `GLANCE=GLINT` pairs: a Glance store id (multi-store location metadata) or a URL
    /// prefix, and the Glint store that reads it.
    pub store_map: Vec<String>,
    pub apply: bool,
    pub verify: bool,
    pub verify_data: bool,
}

/// How an adoption went: the report, and whether verification found differences.
#[derive(Debug)]
pub struct Outcome {
    pub report: String,
    /// Differences `--verify` found (empty when it was not asked or found none).
    pub differences: Vec<String>,
}

/// Where a location's data is read from in Glint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Store(String),
    Http,
    Unreadable(String),
}

#[derive(Debug)]
struct StoreMap {
    by_store: Vec<(String, String)>,
    by_prefix: Vec<(String, String)>,
}

impl StoreMap {
    fn parse(pairs: &[String], stores: &Stores) -> Result<StoreMap, AdoptError> {
        let mut map = StoreMap {
            by_store: Vec::new(),
            by_prefix: Vec::new(),
        };
        for pair in pairs.iter().flat_map(|p| p.split(',')) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (from, to) = pair
                .rsplit_once('=')
                .filter(|(f, t)| !f.is_empty() && !t.is_empty())
                .ok_or_else(|| AdoptError::StoreMap(pair.to_string()))?;
            if stores.get(to).is_none() {
                return Err(AdoptError::StoreMap(format!(
                    "{pair} (Glint has no store '{to}'; its stores: {})",
                    stores
                        .all()
                        .iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let entry = (from.to_string(), to.to_string());
            if from.contains("://") {
                map.by_prefix.push(entry);
            } else {
                map.by_store.push(entry);
            }
        }
        // Longest prefix first.
        map.by_prefix
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(map)
    }

    fn target(&self, location: &GlanceLocation, stores: &Stores) -> Target {
        let http = location.url.starts_with("http://") || location.url.starts_with("https://");
        if let Some(store) = location.metadata.get("store").and_then(|v| v.as_str()) {
            if let Some((_, to)) = self.by_store.iter().find(|(from, _)| from == store) {
                return Target::Store(to.clone());
            }
            if http {
                return Target::Http;
            }
            if stores.get(store).is_some() {
                return Target::Store(store.to_string());
            }
        }
        if let Some((_, to)) = self
            .by_prefix
            .iter()
            .find(|(prefix, _)| location.url.starts_with(prefix.as_str()))
        {
            return Target::Store(to.clone());
        }
        if let Some(store) = stores.owner(&location.url) {
            return Target::Store(store.id.clone());
        }
        if http {
            return Target::Http;
        }
        let scheme = location.url.split("://").next().unwrap_or_default();
        Target::Unreadable(
            match location.metadata.get("store").and_then(|v| v.as_str()) {
                Some(store) => format!(
                    "Glance store '{store}' is not one of Glint's (map it: --store-map {store}=ID)"
                ),
                None => {
                    format!("no Glint store reads this {scheme} location (--store-map PREFIX=ID)")
                }
            },
        )
    }
}

/// A URL as the report shows it: credentials (Swift and S3 URLs carry them) left out.
fn shown_url(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme + 3..];
    // `user:secret@`: the secret may hold '/' or '@', so the credentials run to the last '@';
    // without a ':' before it, an '@' is the path's (over-masking is the safe mistake).
    match rest.rfind('@') {
        Some(at) if rest[..at].contains(':') => format!("{}***{}", &url[..scheme + 3], &rest[at..]),
        _ => url.to_string(),
    }
}

/// The report's tallies.
#[derive(Debug, Default)]
struct Tally {
    images: u64,
    by_status: BTreeMap<String, u64>,
    deleted_images: u64,
    present: u64,
    written: u64,
    not_adopted: Vec<String>,
    properties: u64,
    removed_values: u64,
    removed_without_time: u64,
    images_with_unknown_removals: Vec<String>,
    null_values: u64,
    tags: u64,
    members: BTreeMap<String, u64>,
    removed_members: u64,
    locations: BTreeMap<String, u64>,
    locations_checked: u64,
    gone_locations: u64,
    missing_data: Vec<String>,
    unreadable: Vec<String>,
    refused: Vec<String>,
    mid_upload: Vec<String>,
}

fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_default() += 1;
}

/// Runs an adoption against Glint's database and stores.
pub(crate) async fn run(
    db: &Db,
    stores: &Stores,
    settings: &glint_core::Settings,
    options: &AdoptOptions,
) -> Result<Outcome, AdoptError> {
    let map = StoreMap::parse(&options.store_map, stores)?;
    let source = Source::open(&options.from).await?;
    let request_id = format!("req-adopt-{}", uuid::Uuid::new_v4());
    let now = time::now_micros();
    let total = source.count("images", "").await?;
    let mut tally = Tally::default();
    let mut after: Option<String> = None;
    loop {
        let page = source.images(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let ids: Vec<String> = page.iter().map(|i| i.id.clone()).collect();
        let mut details = source.details(&ids).await?;
        let present = db.present_images(&ids).await?;
        let mut batch = Vec::with_capacity(page.len());
        for g in &page {
            let d = details.remove(&g.id).unwrap_or_default();
            let Some(adopted) = adopt_image(g, &d, &map, stores, settings, &mut tally).await else {
                continue;
            };
            if present.contains(&g.id) {
                tally.present += 1;
            } else {
                batch.push(adopted);
            }
        }
        if options.apply && !batch.is_empty() {
            tally.written += db.adopt_images(&batch, &request_id, now).await? as u64;
        }
        eprintln!(
            "images: {} of {total} read{}",
            tally.images,
            if options.apply {
                format!(", {} adopted in this run", tally.written)
            } else {
                String::new()
            }
        );
    }
    let tasks = adopt_tasks(&source, db, options.apply).await?;
    let namespaces = adopt_namespaces(&source, db, options.apply).await?;
    let cached = source.count("cached_images", "").await?;
    let nodes = source.count("node_reference", "").await?;
    let differences = if options.verify || options.verify_data {
        verify(&source, db, stores, &map, options.verify_data).await?
    } else {
        Vec::new()
    };
    let report = write_report(
        &source,
        options,
        &tally,
        &tasks,
        &namespaces,
        (cached, nodes),
        &differences,
    );
    source.close().await;
    Ok(Outcome {
        report,
        differences,
    })
}

/// Glint's image for a Glance row, with the report's notes; `None` when it cannot be adopted.
async fn adopt_image(
    g: &GlanceImage,
    d: &Details,
    map: &StoreMap,
    stores: &Stores,
    settings: &glint_core::Settings,
    tally: &mut Tally,
) -> Option<AdoptedImage> {
    tally.images += 1;
    count(&mut tally.by_status, &g.status);
    let (Some(status), Some(visibility)) =
        (Status::parse(&g.status), Visibility::parse(&g.visibility))
    else {
        tally.not_adopted.push(format!(
            "{}: status '{}', visibility '{}' are not Glance's",
            g.id, g.status, g.visibility
        ));
        return None;
    };
    if g.deleted {
        tally.deleted_images += 1;
    }
    if matches!(
        status,
        Status::Saving | Status::Uploading | Status::Importing
    ) && !g.deleted
    {
        tally.mid_upload.push(format!(
            "{}: {} in Glance; Glint queues it again at its first start (no data arrived)",
            g.id, g.status
        ));
    }
    let refuse = |tally: &mut Tally, what: String| {
        tally
            .refused
            .push(format!("{}: {what}; adopted as it is", g.id));
    };
    let chars = |s: &str| s.chars().count();
    if let Some(name) = &g.name
        && chars(name) > settings.max_name_len
    {
        refuse(
            tally,
            format!(
                "name of {} characters (Glint allows {})",
                chars(name),
                settings.max_name_len
            ),
        );
    }
    for (value, list, what) in [
        (&g.disk_format, &settings.disk_formats, "disk_format"),
        (
            &g.container_format,
            &settings.container_formats,
            "container_format",
        ),
    ] {
        if let Some(v) = value
            && !list.contains(v)
        {
            refuse(tally, format!("{what} '{v}' is not one Glint lists"));
        }
    }
    let mut properties = Vec::with_capacity(d.properties.len());
    let mut live = BTreeMap::new();
    let mut removed = BTreeMap::new();
    let mut unknown = 0;
    for p in &d.properties {
        let value = match &p.value {
            Some(v) => v.clone(),
            None => {
                tally.null_values += 1;
                String::new()
            }
        };
        if p.deleted {
            tally.removed_values += 1;
            removed.insert(p.name.clone(), value.clone());
            if p.deleted_at.is_none() {
                tally.removed_without_time += 1;
                unknown += 1;
            }
        } else {
            tally.properties += 1;
            if chars(&p.name) > settings.max_key_len {
                refuse(
                    tally,
                    format!("property key of {} characters", chars(&p.name)),
                );
            }
            if chars(&value) > settings.max_value_len {
                refuse(
                    tally,
                    format!(
                        "property '{}' of {} characters (Glint allows {})",
                        p.name,
                        chars(&value),
                        settings.max_value_len
                    ),
                );
            }
            live.insert(p.name.clone(), value.clone());
        }
        properties.push(AdoptedProperty {
            name: p.name.clone(),
            value,
            created_at: p.created_at,
            updated_at: p.updated_at,
            deleted: p.deleted,
            deleted_at: if p.deleted { p.deleted_at } else { None },
        });
    }
    if unknown > 0 {
        tally
            .images_with_unknown_removals
            .push(format!("{}: {unknown}", g.id));
    }
    let counted = live.keys().filter(|k| !k.starts_with("os_glance")).count();
    if let Some(quota) = settings.property_quota
        && counted > quota
    {
        refuse(
            tally,
            format!("{counted} properties (Glint allows {quota})"),
        );
    }
    let mut tags: Vec<String> = Vec::new();
    for t in d.tags.iter().filter(|t| !t.deleted) {
        if !tags.contains(&t.value) {
            tags.push(t.value.clone());
        }
    }
    tally.tags += tags.len() as u64;
    if let Some(quota) = settings.tag_quota
        && tags.len() > quota
    {
        refuse(tally, format!("{} tags (Glint allows {quota})", tags.len()));
    }
    let mut members = Vec::new();
    for m in &d.members {
        if m.deleted {
            tally.removed_members += 1;
            continue;
        }
        count(&mut tally.members, &m.status);
        members.push(Member {
            image_id: g.id.clone(),
            member: m.member.clone(),
            status: m.status.clone(),
            can_share: m.can_share,
            created_at: m.created_at,
            updated_at: m.updated_at,
        });
    }
    let mut locations = Vec::new();
    for l in &d.locations {
        if l.deleted || l.status != "active" {
            tally.gone_locations += 1;
            continue;
        }
        let target = map.target(l, stores);
        let mut metadata = l.metadata.clone();
        match &target {
            Target::Store(id) => {
                count(&mut tally.locations, &format!("store {id}"));
                if stores.is_multi() {
                    metadata.insert("store".into(), id.clone().into());
                } else {
                    metadata.remove("store");
                }
                if matches!(status, Status::Active | Status::Deactivated)
                    && !g.deleted
                    && let Some(store) = stores.get(id)
                {
                    tally.locations_checked += 1;
                    match store.store.size_of(&l.url).await {
                        Ok(n) if g.size.is_none_or(|s| s == n as i64) => {}
                        Ok(n) => tally.missing_data.push(format!(
                            "{}: {} holds {n} bytes, the image says {}",
                            g.id,
                            shown_url(&l.url),
                            g.size.unwrap_or_default()
                        )),
                        Err(e) => {
                            // A store's error may quote the URL: it is shown redacted only.
                            let why = e.to_string().replace(&l.url, &shown_url(&l.url));
                            tally.missing_data.push(format!(
                                "{}: {}: {why}",
                                g.id,
                                shown_url(&l.url)
                            ))
                        }
                    }
                }
            }
            Target::Http => {
                count(&mut tally.locations, "http (read from the web)");
                match stores.http_store() {
                    Some(h) if stores.is_multi() => {
                        metadata.insert("store".into(), h.id.clone().into());
                    }
                    _ => {
                        metadata.remove("store");
                    }
                }
            }
            Target::Unreadable(why) => {
                count(&mut tally.locations, "kept, not readable by Glint");
                let why = why.replace(&l.url, &shown_url(&l.url));
                tally
                    .unreadable
                    .push(format!("{}: {}: {why}", g.id, shown_url(&l.url)));
            }
        }
        locations.push(Location {
            url: l.url.clone(),
            metadata,
            validation_data: None,
        });
    }
    if let Some(quota) = settings.location_quota
        && locations.len() > quota
    {
        refuse(
            tally,
            format!("{} locations (Glint allows {quota})", locations.len()),
        );
    }
    let plan = (!live.is_empty() || !removed.is_empty()).then(|| Plan {
        added: live.clone(),
        removed,
        ..Plan::default()
    });
    let image = Image {
        id: g.id.clone(),
        name: g.name.clone(),
        status,
        visibility,
        protected: g.protected,
        os_hidden: g.os_hidden,
        owner: g.owner.clone(),
        disk_format: g.disk_format.clone(),
        container_format: g.container_format.clone(),
        min_disk: u64::try_from(g.min_disk).unwrap_or_default(),
        min_ram: u64::try_from(g.min_ram).unwrap_or_default(),
        size: g.size.and_then(|s| u64::try_from(s).ok()),
        virtual_size: g.virtual_size.and_then(|s| u64::try_from(s).ok()),
        checksum: g.checksum.clone(),
        os_hash_algo: g.os_hash_algo.clone(),
        os_hash_value: g.os_hash_value.clone(),
        tags,
        locations,
        created_at: time::format(g.created_at),
        updated_at: time::format(g.updated_at),
        properties: live,
    };
    Some(AdoptedImage {
        image,
        created_at: g.created_at,
        updated_at: g.updated_at,
        deleted: g.deleted,
        deleted_at: g.deleted.then_some(g.deleted_at.unwrap_or(g.updated_at)),
        properties,
        members,
        plan,
    })
}

/// Tasks: (in Glance, already here, adopted, deleted in Glance and left).
#[derive(Debug, Default)]
struct TaskTally {
    total: u64,
    present: u64,
    written: u64,
    deleted: u64,
}

async fn adopt_tasks(source: &Source, db: &Db, apply: bool) -> Result<TaskTally, AdoptError> {
    let mut tally = TaskTally::default();
    let rows = source.tasks().await?;
    tally.total = rows.len() as u64;
    let live: Vec<_> = rows.into_iter().filter(|t| !t.deleted).collect();
    tally.deleted = tally.total - live.len() as u64;
    let ids: Vec<String> = live.iter().map(|t| t.id.clone()).collect();
    let present = db.present_tasks(&ids).await?;
    tally.present = present.len() as u64;
    let json = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    };
    let tasks: Vec<Task> = live
        .iter()
        .filter(|t| !present.contains(&t.id))
        .map(|t| Task {
            id: t.id.clone(),
            kind: t.kind.clone(),
            status: t.status.clone(),
            owner: t.owner.clone(),
            image_id: t.image_id.clone(),
            request_id: t.request_id.clone(),
            user_id: t.user_id.clone(),
            input: json(&t.input).unwrap_or(serde_json::Value::Object(Default::default())),
            result: json(&t.result),
            message: t.message.clone().unwrap_or_default(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            expires_at: t.expires_at,
        })
        .collect();
    if apply {
        for chunk in tasks.chunks(PAGE) {
            tally.written += db.adopt_tasks(chunk).await? as u64;
        }
    }
    Ok(tally)
}

#[derive(Debug, Default)]
struct NamespaceTally {
    total: u64,
    present: u64,
    written: u64,
    refused: Vec<String>,
}

async fn adopt_namespaces(
    source: &Source,
    db: &Db,
    apply: bool,
) -> Result<NamespaceTally, AdoptError> {
    let mut tally = NamespaceTally::default();
    for ns in source.namespaces().await? {
        tally.total += 1;
        if db.namespace(&ns.name).await?.is_some() {
            tally.present += 1;
            continue;
        }
        let mut doc =
            match crate::metadefs::documents::namespace_doc(&ns.document, ns.owner.clone(), true) {
                Ok(doc) => doc,
                Err(e) => {
                    tally.refused.push(format!("{}: {e}", ns.name));
                    continue;
                }
            };
        doc.namespace.created_at = ns.created_at;
        doc.namespace.updated_at = ns.updated_at;
        let stamp =
            |kind: &'static str, name: &str| ns.times.get(&(kind, name.to_string())).copied();
        for (kind, entries) in [
            ("properties", &mut doc.properties),
            ("objects", &mut doc.objects),
            ("tags", &mut doc.tags),
        ] {
            for e in entries.iter_mut() {
                if let Some((created, updated)) = stamp(kind, &e.name) {
                    e.created_at = created;
                    e.updated_at = updated;
                }
            }
        }
        for a in doc.associations.iter_mut() {
            if let Some((created, updated)) = stamp("resource_type_associations", &a.name) {
                a.created_at = created;
                a.updated_at = updated;
            }
        }
        if apply {
            db.load_namespace(&doc, crate::db::metadefs::LoadMode::Skip)
                .await?;
            tally.written += 1;
        }
    }
    Ok(tally)
}

/// Reads every adopted image back through Glint's model and compares it with the source;
/// with `data`, hashes what its locations hold. Returns the differences.
async fn verify(
    source: &Source,
    db: &Db,
    stores: &Stores,
    map: &StoreMap,
    data: bool,
) -> Result<Vec<String>, AdoptError> {
    let mut differences = Vec::new();
    let mut after: Option<String> = None;
    let mut checked = 0u64;
    loop {
        let page = source.images(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let ids: Vec<String> = page.iter().map(|i| i.id.clone()).collect();
        let details = source.details(&ids).await?;
        for g in &page {
            let empty = Details::default();
            let d = details.get(&g.id).unwrap_or(&empty);
            let mut differ = |what: String| differences.push(format!("{}: {what}", g.id));
            let Some(stored) = db.any_image(&g.id).await? else {
                differ("not in Glint".into());
                continue;
            };
            let i = &stored.image;
            let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
                format!("{a:?}") == format!("{b:?}")
            };
            let fields: [(&str, &dyn std::fmt::Debug, &dyn std::fmt::Debug); 15] = [
                ("name", &g.name, &i.name),
                ("status", &g.status.as_str(), &i.status.as_str()),
                ("visibility", &g.visibility.as_str(), &i.visibility.as_str()),
                ("protected", &g.protected, &i.protected),
                ("os_hidden", &g.os_hidden, &i.os_hidden),
                ("owner", &g.owner, &i.owner),
                ("disk_format", &g.disk_format, &i.disk_format),
                ("container_format", &g.container_format, &i.container_format),
                ("min_disk", &g.min_disk, &(i.min_disk as i64)),
                ("min_ram", &g.min_ram, &(i.min_ram as i64)),
                ("size", &g.size, &i.size.map(|s| s as i64)),
                (
                    "virtual_size",
                    &g.virtual_size,
                    &i.virtual_size.map(|s| s as i64),
                ),
                ("checksum", &g.checksum, &i.checksum),
                ("os_hash_algo", &g.os_hash_algo, &i.os_hash_algo),
                ("os_hash_value", &g.os_hash_value, &i.os_hash_value),
            ];
            for (name, a, b) in fields {
                if !same(a, b) {
                    differ(format!("{name}: Glance {a:?}, Glint {b:?}"));
                }
            }
            let rows = db.property_rows(&g.id).await?;
            for p in &d.properties {
                let value = p.value.clone().unwrap_or_default();
                match rows.iter().find(|r| r.name == p.name) {
                    Some(r) if r.value == value && r.deleted == p.deleted => {}
                    Some(r) => differ(format!(
                        "property {}: Glance {value:?} (removed: {}), Glint {:?} (removed: {})",
                        p.name, p.deleted, r.value, r.deleted
                    )),
                    None => differ(format!("property {} is missing", p.name)),
                }
            }
            let mut tags: Vec<&str> = d
                .tags
                .iter()
                .filter(|t| !t.deleted)
                .map(|t| t.value.as_str())
                .collect();
            tags.sort_unstable();
            tags.dedup();
            let mut glint_tags: Vec<&str> = i.tags.iter().map(String::as_str).collect();
            glint_tags.sort_unstable();
            if tags != glint_tags {
                differ(format!("tags: Glance {tags:?}, Glint {glint_tags:?}"));
            }
            let urls: Vec<&str> = d
                .locations
                .iter()
                .filter(|l| !l.deleted && l.status == "active")
                .map(|l| l.url.as_str())
                .collect();
            let glint_urls: Vec<&str> = i.locations.iter().map(|l| l.url.as_str()).collect();
            if urls != glint_urls {
                differ(format!(
                    "locations: Glance {} , Glint {}",
                    urls.iter()
                        .map(|u| shown_url(u))
                        .collect::<Vec<_>>()
                        .join(" "),
                    glint_urls
                        .iter()
                        .map(|u| shown_url(u))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            let members = db.members(&g.id).await?;
            for m in d.members.iter().filter(|m| !m.deleted) {
                match members.iter().find(|x| x.member == m.member) {
                    Some(x) if x.status == m.status && x.can_share == m.can_share => {}
                    Some(x) => differ(format!(
                        "member {}: Glance {}, Glint {}",
                        m.member, m.status, x.status
                    )),
                    None => differ(format!("member {} is missing", m.member)),
                }
            }
            if data
                && i.status == Status::Active
                && !g.deleted
                && let Some(why) = verify_data(i, d, stores, map).await
            {
                differ(why);
            }
            checked += 1;
        }
    }
    eprintln!("verified {checked} images");
    Ok(differences)
}

/// Hashes an image's data from the first location Glint reads; `Some(why)` when it differs
/// from the recorded checksums or cannot be read.
async fn verify_data(
    image: &Image,
    d: &Details,
    stores: &Stores,
    map: &StoreMap,
) -> Option<String> {
    use md5::Digest;
    let readable: Vec<Location> = image
        .locations
        .iter()
        .zip(
            d.locations
                .iter()
                .filter(|l| !l.deleted && l.status == "active"),
        )
        .filter(|(_, g)| !matches!(map.target(g, stores), Target::Unreadable(_)))
        .map(|(l, _)| l.clone())
        .collect();
    if readable.is_empty() {
        return None;
    }
    let len = image.size.unwrap_or(u64::MAX);
    let mut stream = match stores.read(&readable, 0, len).await {
        Ok(s) => s,
        Err(e) => return Some(format!("data: {e}")),
    };
    let mut md5 = md5::Md5::new();
    let algorithm = image
        .os_hash_algo
        .as_deref()
        .and_then(crate::hashing::Algorithm::parse);
    let mut secure = algorithm.map(|a| a.hasher());
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                read += bytes.len() as u64;
                md5.update(&bytes);
                if let Some(h) = secure.as_mut() {
                    h.update(&bytes);
                }
            }
            Err(e) => return Some(format!("data: {e}")),
        }
    }
    let md5 = crate::hashing::hex(&md5.finalize());
    if image.size.is_some_and(|s| s != read) {
        return Some(format!("data: {read} bytes, the image says {}", len));
    }
    if image.checksum.as_deref().is_some_and(|c| c != md5) {
        return Some(format!(
            "data: md5 {md5}, the image says {:?}",
            image.checksum
        ));
    }
    if let (Some(h), Some(expected)) = (secure, image.os_hash_value.as_deref()) {
        let value = crate::hashing::hex(&h.finalize());
        if value != expected {
            return Some(format!(
                "data: os_hash_value {value}, the image says {expected}"
            ));
        }
    }
    None
}

fn write_report(
    source: &Source,
    options: &AdoptOptions,
    t: &Tally,
    tasks: &TaskTally,
    namespaces: &NamespaceTally,
    (cached, nodes): (u64, u64),
    differences: &[String],
) -> String {
    let mut r = String::new();
    let dialect = match source.dialect {
        glance::Dialect::Mysql => "MySQL/MariaDB",
        glance::Dialect::Postgres => "PostgreSQL",
        glance::Dialect::Sqlite => "SQLite",
    };
    let _ = writeln!(
        r,
        "Glance database: {dialect}, schema {}",
        if source.schema.is_empty() {
            "unknown"
        } else {
            &source.schema
        }
    );
    let _ = writeln!(
        r,
        "{}",
        if options.apply {
            "Mode: apply (the Glance database is only read)"
        } else {
            "Mode: dry run (nothing is written; --apply adopts)"
        }
    );
    let _ = writeln!(r, "\nImages: {}", t.images);
    for (status, n) in &t.by_status {
        let _ = writeln!(r, "  {status}: {n}");
    }
    let _ = writeln!(
        r,
        "  deleted in Glance (adopted as deleted): {}",
        t.deleted_images
    );
    let _ = writeln!(r, "  already in Glint (left as they are): {}", t.present);
    if options.apply {
        let _ = writeln!(r, "  adopted in this run: {}", t.written);
    } else {
        let _ = writeln!(
            r,
            "  to adopt: {}",
            t.images - t.present - t.not_adopted.len() as u64
        );
    }
    list(&mut r, "  not adopted", &t.not_adopted);
    list(&mut r, "  mid-upload in Glance", &t.mid_upload);
    let _ = writeln!(r, "\nProperties: {} live", t.properties);
    let _ = writeln!(
        r,
        "  removed values (history, restorable): {}",
        t.removed_values
    );
    let _ = writeln!(
        r,
        "  removed without a time (Glance before Launchpad #901534's fix; history with an unknown \
         removal time): {}",
        t.removed_without_time
    );
    list(
        &mut r,
        "  images with removals of unknown time",
        &t.images_with_unknown_removals,
    );
    if t.null_values > 0 {
        let _ = writeln!(
            r,
            "  NULL values (adopted as empty strings): {}",
            t.null_values
        );
    }
    let _ = writeln!(r, "Tags: {}", t.tags);
    let members: Vec<String> = t.members.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(
        r,
        "Members: {} ({}); removed memberships left: {}",
        t.members.values().sum::<u64>(),
        members.join(", "),
        t.removed_members
    );
    let _ = writeln!(
        r,
        "\nLocations: {} (data stays where it is)",
        t.locations.values().sum::<u64>()
    );
    for (target, n) in &t.locations {
        let _ = writeln!(r, "  {target}: {n}");
    }
    let _ = writeln!(
        r,
        "  data checked (size): {}, missing or different: {}",
        t.locations_checked,
        t.missing_data.len()
    );
    let _ = writeln!(
        r,
        "  deleted or pending_delete in Glance (left to Glance's scrubber): {}",
        t.gone_locations
    );
    list(
        &mut r,
        "  not readable by Glint (kept as locations)",
        &t.unreadable,
    );
    list(&mut r, "  missing data", &t.missing_data);
    list(
        &mut r,
        "\nValues Glint would refuse on a new request",
        &t.refused,
    );
    let _ = writeln!(
        r,
        "\nTasks: {} ({} deleted in Glance, left; {} already in Glint{})",
        tasks.total,
        tasks.deleted,
        tasks.present,
        if options.apply {
            format!("; {} adopted in this run", tasks.written)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        r,
        "Metadata definition namespaces: {} ({} already in Glint{})",
        namespaces.total,
        namespaces.present,
        if options.apply {
            format!("; {} adopted in this run", namespaces.written)
        } else {
            String::new()
        }
    );
    list(&mut r, "  not adopted", &namespaces.refused);
    let _ = writeln!(
        r,
        "Image cache entries: {cached} on {nodes} nodes (not carried over: each Glint server's \
         cache fills as images are read)"
    );
    if options.verify || options.verify_data {
        let _ = writeln!(
            r,
            "\nVerification{}: {} differences",
            if options.verify_data {
                " (metadata and data)"
            } else {
                " (metadata)"
            },
            differences.len()
        );
        for d in differences {
            let _ = writeln!(r, "  {d}");
        }
    }
    let _ = writeln!(
        r,
        "\nSwitching over: run Glint on the same stores (file stores on Glance's folders, \
         --store-map for Glance's store ids); make Glance read-only (its policy file: \
         add_image, modify_image, upload_image, delete_image, add_member, modify_member: \"!\"); \
         run `glint adopt --apply` again to take what changed meanwhile; \
         `glint adopt --verify`; then point the image endpoint (Keystone catalogue or DNS) at \
         Glint and stop Glance."
    );
    r
}

fn list(r: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(r, "{title}: {}", items.len());
    for item in items {
        let _ = writeln!(r, "    {item}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_out_of_the_report() {
        assert_eq!(
            shown_url("swift+https://tenant:key@swift.example/v1/glance/abc"),
            "swift+https://***@swift.example/v1/glance/abc"
        );
        assert_eq!(
            shown_url("file:///var/lib/glance/images/abc"),
            "file:///var/lib/glance/images/abc"
        );
        assert_eq!(
            shown_url("http://example.com/a@b"),
            "http://example.com/a@b"
        );
        // AWS secrets hold '/'.
        assert_eq!(
            shown_url("s3+https://AKIA:wJal/rXUt@nF/EMI@s3.example/glance/abc"),
            "s3+https://***@s3.example/glance/abc"
        );
    }
}
