//! Per-project limits, as Glance's unified limits define them: `image_size_total` and
//! `image_stage_total` (MiB), `image_count_total` and `image_count_uploading`. In keystone mode
//! with `use_keystone_limits` they are Keystone's (a project's limit over the registered
//! default, read as oslo.limit reads them); otherwise Glint's own (`image_quota`,
//! `storage_quota`). Usage is counted as Glance counts it, and an operation is refused (413)
//! when usage plus what it adds goes over a limit. `GET /v2/info/usage` shows both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;
use tokio::sync::{Mutex, OnceCell};

use crate::config::KeystoneLimitsConfig;
use crate::db::{Db, DbError, ProjectUsage};
use crate::keystone::{Keystone, KeystoneError, Scope};

const MIB: u64 = 1 << 20;

/// What a limit is set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// MiB of image data in stores (each copy counts).
    SizeTotal,
    /// MiB of data staged or being imported.
    StageTotal,
    /// Images not killed or deleted.
    CountTotal,
    /// Images taking data (upload, staging, import, copy).
    CountUploading,
}

impl Resource {
    pub(crate) const ALL: [Resource; 4] = [
        Resource::SizeTotal,
        Resource::StageTotal,
        Resource::CountTotal,
        Resource::CountUploading,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Resource::SizeTotal => "image_size_total",
            Resource::StageTotal => "image_stage_total",
            Resource::CountTotal => "image_count_total",
            Resource::CountUploading => "image_count_uploading",
        }
    }

    pub(crate) fn named(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The project's usage of this resource, in its unit.
    fn used(self, usage: &ProjectUsage) -> u64 {
        match self {
            Resource::SizeTotal => usage.stored_bytes / MIB,
            Resource::StageTotal => usage.staged_bytes / MIB,
            Resource::CountTotal => usage.images,
            Resource::CountUploading => usage.uploading,
        }
    }
}

/// Bytes as the MiB a check adds (rounded down, as Glance does).
pub(crate) fn mib(bytes: u64) -> u64 {
    bytes / MIB
}

/// What an import that fetches its data (web-download, glance-download, copy-image) adds:
/// `staged_mib` to the staging total and one image taking data, as Glance's import flow
/// checks it, with the stored total as it is.
pub(crate) fn fetched_import(staged_mib: u64) -> [(Resource, u64); 3] {
    [
        (Resource::SizeTotal, 0),
        (Resource::StageTotal, staged_mib),
        (Resource::CountUploading, 1),
    ]
}

/// One project's limits, by [`Resource::index`]; `None` is unlimited.
type Set = [Option<u64>; 4];

#[derive(Debug, Error)]
pub(crate) enum LimitError {
    /// Usage and what the operation adds go over a limit (oslo.limit's words).
    #[error("{0}")]
    Over(String),
    #[error(transparent)]
    Keystone(#[from] KeystoneError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One resource's limit and usage (`GET /v2/info/usage`); `limit` -1 is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) resource: Resource,
    pub(crate) limit: i64,
    pub(crate) usage: u64,
}

/// Where limits come from.
#[derive(Debug)]
enum Source {
    /// Glint's own: the deployment's, under each project's own (`glint project limit`).
    Local {
        image_count_total: Option<u64>,
        storage_bytes: Option<u64>,
    },
    Keystone(Box<KeystoneLimits>),
}

/// A project's limits, and (local mode) its storage limit in bytes, enforced while data
/// streams.
struct Effective {
    set: Set,
    storage_bytes: Option<u64>,
}

/// The limits every project's operations are checked against.
#[derive(Debug)]
pub(crate) struct Limits {
    db: Db,
    source: Source,
}

impl Limits {
    /// Glint's own limits: `image_quota` images and `storage_quota` bytes per project, unless
    /// the project has its own; nothing else is limited but by a project's own.
    pub(crate) fn local(db: Db, image_quota: Option<u64>, storage_quota: Option<u64>) -> Limits {
        Limits {
            db,
            source: Source::Local {
                image_count_total: image_quota,
                storage_bytes: storage_quota,
            },
        }
    }

    /// Keystone's unified limits for the image service's endpoint the settings name.
    pub(crate) fn keystone(
        db: Db,
        keystone: Arc<Keystone>,
        config: KeystoneLimitsConfig,
    ) -> Limits {
        Limits {
            db,
            source: Source::Keystone(Box::new(KeystoneLimits {
                keystone,
                config,
                endpoint: OnceCell::new(),
                cache: Mutex::default(),
            })),
        }
    }

    async fn effective(&self, project: &str) -> Result<Effective, LimitError> {
        match &self.source {
            Source::Local {
                image_count_total,
                storage_bytes,
            } => {
                let mut set: Set = [None; 4];
                set[Resource::CountTotal.index()] = *image_count_total;
                set[Resource::SizeTotal.index()] = storage_bytes.map(mib);
                let mut storage_bytes = *storage_bytes;
                for (name, value) in self.db.project_limits(project).await? {
                    let Some(r) = Resource::named(&name) else {
                        continue;
                    };
                    let limit = u64::try_from(value).ok();
                    set[r.index()] = limit;
                    if r == Resource::SizeTotal {
                        storage_bytes = limit.map(|l| l.saturating_mul(MIB));
                    }
                }
                Ok(Effective { set, storage_bytes })
            }
            Source::Keystone(k) => Ok(Effective {
                set: k.set(project).await?,
                storage_bytes: None,
            }),
        }
    }

    /// Refuses (413) an operation of `project` that would take usage over a limit: each check
    /// names a resource and what the operation adds to it. Returns the bytes the project may
    /// still store, where its storage limit holds while data streams (local mode; Keystone's
    /// limits are checked before, as Glance checks them). One read of the limits, and one of
    /// the usage when any limit applies.
    pub(crate) async fn enforce(
        &self,
        project: &str,
        checks: &[(Resource, u64)],
    ) -> Result<Option<u64>, LimitError> {
        let Effective { set, storage_bytes } = self.effective(project).await?;
        if storage_bytes.is_none() && checks.iter().all(|(r, _)| set[r.index()].is_none()) {
            return Ok(None);
        }
        let usage = self.db.project_usage(project).await?;
        let over: Vec<String> = checks
            .iter()
            .filter_map(|&(r, delta)| {
                let limit = set[r.index()]?;
                let used = r.used(&usage);
                (used.saturating_add(delta) > limit).then(|| {
                    format!(
                        "Resource {} is over limit of {limit} due to current usage {used} and \
                         delta {delta}",
                        r.name()
                    )
                })
            })
            .collect();
        match over.is_empty() {
            true => Ok(storage_bytes.map(|b| b.saturating_sub(usage.stored_bytes))),
            false => Err(LimitError::Over(format!(
                "Project {project} is over a limit for [{}]",
                over.join(", ")
            ))),
        }
    }

    /// A project's limits and usage, every resource.
    pub(crate) async fn usage(&self, project: &str) -> Result<Vec<Line>, LimitError> {
        let set = self.effective(project).await?.set;
        let usage = self.db.project_usage(project).await?;
        Ok(Resource::ALL
            .iter()
            .map(|&r| Line {
                resource: r,
                limit: set[r.index()].map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
                usage: r.used(&usage),
            })
            .collect())
    }
}

/// Keystone's unified limits, read as oslo.limit reads them (flat model): the endpoint names
/// the service and region; a project's limit wins over the registered default; a resource
/// without either is limited to 0; a negative limit is no limit.
#[derive(Debug)]
struct KeystoneLimits {
    keystone: Arc<Keystone>,
    config: KeystoneLimitsConfig,
    /// The service id and region of the endpoint, found once.
    endpoint: OnceCell<(String, Option<String>)>,
    /// Limits read within `cache_seconds`, by project.
    cache: Mutex<HashMap<String, (Instant, Set)>>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl KeystoneLimits {
    async fn endpoint(&self) -> Result<&(String, Option<String>), KeystoneError> {
        self.endpoint.get_or_try_init(|| self.find_endpoint()).await
    }

    async fn find_endpoint(&self) -> Result<(String, Option<String>), KeystoneError> {
        let c = &self.config;
        let k = &self.keystone;
        if let Some(id) = &c.endpoint_id {
            let body = k
                .get(Scope::System, &format!("/v3/endpoints/{id}"), &[])
                .await?;
            let service = text(&body["endpoint"]["service_id"]).ok_or_else(|| {
                KeystoneError::Unexpected(format!("endpoint {id} without a service"))
            })?;
            return Ok((service, text(&body["endpoint"]["region_id"])));
        }
        let services = k
            .get(
                Scope::System,
                "/v3/services",
                &[("type", c.service_type.as_str())],
            )
            .await?;
        let services: Vec<String> = services["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| c.service_name.is_none() || text(&s["name"]) == c.service_name)
            .filter_map(|s| text(&s["id"]))
            .collect();
        let [service] = services.as_slice() else {
            return Err(KeystoneError::Unexpected(format!(
                "{} services of type {}{}: limits need exactly one (limits_endpoint_id names it)",
                services.len(),
                c.service_type,
                c.service_name
                    .as_deref()
                    .map(|n| format!(" named {n}"))
                    .unwrap_or_default()
            )));
        };
        let mut query = vec![
            ("service_id", service.as_str()),
            ("interface", c.interface.as_str()),
        ];
        if let Some(region) = &c.region_name {
            query.push(("region_id", region.as_str()));
        }
        let endpoints = k.get(Scope::System, "/v3/endpoints", &query).await?;
        let regions: Vec<Option<String>> = endpoints["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| text(&e["region_id"]))
            .collect();
        match regions.as_slice() {
            [region] => Ok((service.clone(), region.clone())),
            other => Err(KeystoneError::Unexpected(format!(
                "{} {} endpoints of service {service}: limits need exactly one \
                 (limits_endpoint_id or limits_endpoint_region_name names it)",
                other.len(),
                c.interface
            ))),
        }
    }

    async fn set(&self, project: &str) -> Result<Set, KeystoneError> {
        let ttl = Duration::from_secs(self.config.cache_seconds);
        if !ttl.is_zero()
            && let Some((at, set)) = self.cache.lock().await.get(project)
            && at.elapsed() < ttl
        {
            return Ok(*set);
        }
        let set = self.read(project).await?;
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().await;
            if cache.len() >= 4096 {
                cache.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            cache.insert(project.to_string(), (Instant::now(), set));
        }
        Ok(set)
    }

    async fn read(&self, project: &str) -> Result<Set, KeystoneError> {
        let (service, region) = self.endpoint().await?;
        let mut scope = vec![("service_id", service.as_str())];
        if let Some(region) = region {
            scope.push(("region_id", region.as_str()));
        }
        let mut of_project = scope.clone();
        of_project.push(("project_id", project));
        let limits = self
            .keystone
            .get(Scope::System, "/v3/limits", &of_project)
            .await?;
        let registered = self
            .keystone
            .get(Scope::System, "/v3/registered_limits", &scope)
            .await?;
        let find = |list: &Value, field: &str, name: &str| -> Option<i64> {
            list.as_array()?
                .iter()
                .find(|l| {
                    l["resource_name"] == name
                        && (field != "resource_limit" || l["project_id"] == project)
                })
                .and_then(|l| l[field].as_i64())
        };
        let mut set: Set = [None; 4];
        for r in Resource::ALL {
            let limit = find(&limits["limits"], "resource_limit", r.name())
                .or_else(|| find(&registered["registered_limits"], "default_limit", r.name()));
            set[r.index()] = match limit {
                Some(l) => u64::try_from(l).ok(),
                None => {
                    tracing::error!(
                        resource = r.name(),
                        "no limit registered in Keystone: the resource is limited to 0"
                    );
                    Some(0)
                }
            };
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_whole_mib_and_images() {
        let usage = ProjectUsage {
            stored_bytes: 3 * MIB - 1,
            staged_bytes: MIB,
            images: 4,
            uploading: 1,
        };
        let used: Vec<u64> = Resource::ALL.iter().map(|r| r.used(&usage)).collect();
        assert_eq!(used, [2, 1, 4, 1]);
        assert_eq!(mib(MIB + 5), 1);
    }
}
