//! Where image data lives. The server streams data through a [`Store`]; nothing above this
//! module knows whether it is a file or an object.

mod fs;
mod http;
mod rbd;
mod s3;
mod watched;

use std::fmt::Debug;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use thiserror::Error;

pub use fs::FsStore;
pub use http::HttpStore;
pub use rbd::{RbdSettings, RbdStore};
pub use s3::{S3Settings, S3Store};
pub use watched::{OnError, Watched};

/// The Ceph clusters a deployment's RBD stores use: one connection per cluster and user,
/// shared by its pools.
#[derive(Debug, Default)]
pub struct Clusters {
    connected: Vec<(ClusterKey, glint_rbd::Cluster)>,
}

/// A cluster as settings name it: its configuration file and user.
type ClusterKey = (Option<std::path::PathBuf>, Option<String>);

impl Clusters {
    /// The RBD store `settings` describe (connecting to its cluster if no store did yet), with
    /// what `/v2/info/stores/detail` shows of it.
    pub async fn open(
        &mut self,
        settings: &RbdSettings,
        writer: &str,
    ) -> Result<(std::sync::Arc<dyn Store>, serde_json::Value), StoreError> {
        let key = settings.cluster_key();
        let cluster = match self.connected.iter().find(|(k, _)| *k == key) {
            Some((_, c)) => c.clone(),
            None => {
                let s = settings.clone();
                let c = tokio::task::spawn_blocking(move || rbd::connect(&s))
                    .await
                    .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
                self.connected.push((key, c.clone()));
                c
            }
        };
        let (s, w) = (settings.clone(), writer.to_string());
        let store = tokio::task::spawn_blocking(move || RbdStore::open(&cluster, &s, &w))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        tracing::info!(
            "image data in RBD pool {} of Ceph cluster {}",
            settings.pool,
            store.fsid()
        );
        let properties = serde_json::json!({
            "pool": settings.pool,
            "chunk_size": settings.chunk_size,
            "thin_provisioning": settings.thin_provisioning,
            "fsid": store.fsid(),
        });
        Ok((std::sync::Arc::new(store), properties))
    }
}

/// A stream of image data.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Why the store could not do what was asked.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("no data at {0}")]
    NotFound(String),
    #[error("location {0} does not belong to this store")]
    ForeignLocation(String),
}

/// A place to keep image data.
pub trait Store: Send + Sync + Debug {
    /// Starts writing the data of an image. Nothing is visible until the writer commits.
    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>>;

    /// Reads `len` bytes from `offset` of the data at `location`.
    fn read<'a>(
        &'a self,
        location: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>>;

    /// Removes the data at `location` (no error if it is already gone).
    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Where `begin(image_id)` puts committed data.
    fn location_of(&self, image_id: &str) -> String;

    /// Whether a location that names no store is this store's (an `rbd://` URL of its
    /// cluster and pool).
    fn owns(&self, _location: &str) -> bool {
        false
    }

    /// The size of the data at `location`, where the store can tell without reading it.
    fn size_of<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move { Err(StoreError::NotFound(location.to_string())) })
    }

    /// Removes data that writers `rule` says are gone left behind (a crash, a kill); returns
    /// how many pieces went.
    fn sweep<'a>(&'a self, rule: &'a Sweep) -> BoxFuture<'a, Result<usize, StoreError>>;

    /// Whether the store answers: its folder is there, its bucket answers. Nothing is written.
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Whose unfinished writes a sweep may remove. Several servers may share a store (an NFS
/// export, one bucket, one Ceph pool): a write belongs to the server that began it, and only
/// that server (at its next start) or a sweep run after it has gone quiet removes what it
/// left. Writes of servers this deployment's database does not know (another deployment
/// sharing the pool) are left to them.
#[derive(Debug, Clone, Default)]
pub struct Sweep {
    /// The server sweeping at its start: what it left before is its own to remove.
    pub own: Option<String>,
    /// Servers heard from recently: their writes may be under way.
    pub alive: std::collections::HashSet<String>,
    /// Every server the deployment's database has heard from.
    pub known: std::collections::HashSet<String>,
    /// A write whose server is not recorded (or not known here) is removed once untouched
    /// this long.
    pub untouched: std::time::Duration,
}

impl Sweep {
    /// Whether a write by `writer` (if named), last touched `age` ago, may be removed.
    pub fn removable(&self, writer: Option<&str>, age: std::time::Duration) -> bool {
        match writer {
            Some(w) if self.own.as_deref() == Some(w) => true,
            Some(w) if self.known.contains(w) => !self.alive.contains(w),
            _ => age >= self.untouched,
        }
    }
}

/// Data being written. Dropping it without `commit` discards what was written.
pub trait StoreWriter: Send {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Makes the data durable and visible; returns its location.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<String, StoreError>>;
}

/// One store of a deployment, as operators name and weigh it.
#[derive(Debug, Clone)]
pub struct NamedStore {
    pub id: String,
    pub description: Option<String>,
    /// Reads prefer the heaviest store holding an image.
    pub weight: i64,
    /// Data is read from it, never written.
    pub read_only: bool,
    /// `file` or `s3`, as `/v2/info/stores/detail` names the kind.
    pub kind: &'static str,
    /// What `/v2/info/stores/detail` shows of its settings.
    pub properties: serde_json::Value,
    pub store: std::sync::Arc<dyn Store>,
}

/// Where image data can live: one store, or several named ones (Glance's multi-store, where
/// each location names its store and `/v2/info/stores` lists them).
#[derive(Debug)]
pub struct Stores {
    named: Vec<NamedStore>,
    default: usize,
    multi: bool,
    /// Reads http(s) locations that name no store.
    http: HttpStore,
}

/// The location metadata key naming a location's store.
const STORE_KEY: &str = "store";

impl Stores {
    /// One store; locations carry no store name.
    pub fn single(store: NamedStore, http: HttpStore) -> Stores {
        Stores {
            named: vec![store],
            default: 0,
            multi: false,
            http,
        }
    }

    /// Several named stores; `default` (or the first) takes data no store was asked for.
    pub fn multi(
        named: Vec<NamedStore>,
        default: Option<&str>,
        http: HttpStore,
    ) -> Result<Stores, String> {
        if named.is_empty() {
            return Err("no stores are configured".into());
        }
        for (i, s) in named.iter().enumerate() {
            if named[..i].iter().any(|o| o.id == s.id) {
                return Err(format!("store '{}' is configured twice", s.id));
            }
        }
        let default = match default {
            Some(id) => named
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| format!("the default store '{id}' is not configured"))?,
            None => 0,
        };
        if named[default].read_only {
            return Err(format!(
                "the default store '{}' is read-only",
                named[default].id
            ));
        }
        Ok(Stores {
            named,
            default,
            multi: true,
            http,
        })
    }

    /// Whether stores are named (Glance's `enabled_backends`).
    pub fn is_multi(&self) -> bool {
        self.multi
    }

    pub fn default_store(&self) -> &NamedStore {
        &self.named[self.default]
    }

    pub fn all(&self) -> &[NamedStore] {
        &self.named
    }

    pub fn get(&self, id: &str) -> Option<&NamedStore> {
        self.named.iter().find(|s| s.id == id)
    }

    /// The store a location is in: the one its metadata names, else the one whose URL it is
    /// (an RBD pool), else the default.
    pub fn holding(&self, location: &glint_core::Location) -> Option<&NamedStore> {
        match location.metadata.get(STORE_KEY).and_then(|v| v.as_str()) {
            Some(id) => self.get(id),
            None => Some(self.owner(&location.url).unwrap_or(self.default_store())),
        }
    }

    /// The store whose URL a location is, by its form alone (an `rbd://` URL names its
    /// cluster and pool).
    pub fn owner(&self, url: &str) -> Option<&NamedStore> {
        self.named.iter().find(|s| s.store.owns(url))
    }

    /// The size of the data at a location given by URL: from the store whose URL it is, else
    /// (http) from the server's answer.
    pub async fn size_at(&self, url: &str) -> Option<u64> {
        match self.owner(url) {
            Some(store) => store.store.size_of(url).await.ok(),
            None => self.http.size(url).await,
        }
    }

    /// The http store the deployment lists (with several stores), if any.
    pub fn http_store(&self) -> Option<&NamedStore> {
        self.named.iter().find(|s| s.kind == "http")
    }

    /// The reader of http(s) locations.
    pub fn http(&self) -> &HttpStore {
        &self.http
    }

    /// What reads a location: its store, or for an http(s) URL in no store, the http reader.
    fn reader(&self, location: &glint_core::Location) -> Option<&dyn Store> {
        let named = location.metadata.get(STORE_KEY).is_some();
        let http = location.url.starts_with("http://") || location.url.starts_with("https://");
        match (named, http) {
            (false, true) => Some(&self.http),
            _ => self.holding(location).map(|s| s.store.as_ref()),
        }
    }

    /// The metadata of a location written to `store`.
    pub fn metadata(&self, store: &NamedStore) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if self.multi {
            m.insert(STORE_KEY.into(), store.id.clone().into());
        }
        m
    }

    /// Reads `len` bytes from `offset` of an image's data from the first store that answers.
    pub(crate) async fn read(
        &self,
        locations: &[glint_core::Location],
        offset: u64,
        len: u64,
    ) -> Result<ByteStream, StoreError> {
        let mut last = StoreError::NotFound("no location".into());
        let mut ordered: Vec<(&glint_core::Location, i64)> = locations
            .iter()
            .map(|l| (l, self.holding(l).map(|s| s.weight).unwrap_or(0)))
            .collect();
        ordered.sort_by_key(|(_, w)| std::cmp::Reverse(*w));
        for (location, _) in ordered {
            let Some(store) = self.reader(location) else {
                continue;
            };
            match store.read(&location.url, offset, len).await {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    tracing::warn!("cannot read {}: {e}", location.url);
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Removes the data at every location (logging what it cannot remove).
    pub(crate) async fn delete_all(&self, locations: &[glint_core::Location]) {
        for location in locations {
            let Some(store) = self.reader(location) else {
                tracing::warn!("no configured store holds {}", location.url);
                continue;
            };
            if let Err(e) = store.delete(&location.url).await {
                tracing::warn!("cannot delete data at {}: {e}", location.url);
            }
        }
    }
}
