//! Imports: `glance-direct` (staged data; sent to the server that staged it when that is
//! another one), `web-download` (a URI the server fetches), `copy-image` (an active image's
//! data into more stores), `glance-download` (an image of an image service in the caller's
//! catalog), the legacy import task, and a location given by URL (API 2.17). Each runs in the
//! background under a task, which records its outcome, and under the image's import lock.
//!
//! With several stores, an import goes to the stores the request names (`stores`,
//! `all_stores`, or the store header; the default store otherwise): the data is written to the
//! first and copied from there to the others, each copy hashed and inspected again. With
//! `all_stores_must_succeed` (the default) one failed store fails the import and leaves nothing
//! behind; without it the import succeeds where it could and the task names the stores that
//! failed.

use futures_util::StreamExt;
use glint_core::{Image, Location, Status};
use serde_json::{Value, json};

use super::tasks::{Progress, Source, Targets, TaskOrder};
use super::upload::{Ingested, UploadGuard};
use super::{Data, DataError};
use crate::config::ImportMethod as Method;
use crate::db::{Task, Upload};
use crate::images::{Actor, Outcome};
use crate::limits::{Resource, fetched_import, mib};

/// An import request, as `POST /v2/images/{id}/import` takes it.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct ImportRequest {
    pub(crate) method: ImportMethod,
    #[serde(default)]
    pub(crate) stores: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) all_stores: Option<bool>,
    #[serde(default)]
    pub(crate) all_stores_must_succeed: Option<bool>,
}

/// The method of an import request and its parameters.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct ImportMethod {
    pub(crate) name: String,
    /// The `web-download` source.
    #[serde(default)]
    pub(crate) uri: Option<String>,
    /// The `glance-download` source: an image of another region's image service.
    #[serde(default)]
    pub(crate) glance_image_id: Option<String>,
    #[serde(default)]
    pub(crate) glance_region: Option<String>,
    #[serde(default)]
    pub(crate) glance_service_interface: Option<String>,
}

/// How an import request was taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Started {
    /// It runs here, under a task.
    Here,
    /// Its data was staged on the server at this URL, which must be asked instead.
    StagedOn(String),
}

/// The legacy `import` task's input, once read.
#[derive(Debug)]
pub(crate) struct LegacyImport {
    /// Where to fetch the data.
    pub(crate) from: String,
    /// The image to create, as a v2 create body.
    pub(crate) image: glint_core::Create,
    /// The input as sent, which the task records.
    pub(crate) input: Value,
}

/// Where a location's data is read from to hash it.
enum LocationSource {
    /// Fetched through the import guard.
    Http(reqwest::Url),
    /// Read from the store (by id) whose URL it is.
    Store(String, String),
}

/// A location given by URL (API 2.17's `POST /v2/images/{id}/locations`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLocation {
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) validation_data: Option<serde_json::Map<String, Value>>,
}

/// The properties `glance-download` copies from the source image (Glance's default
/// `[glance_download_properties] extra_properties`, `hw_*` and `trait:*` by prefix).
const DOWNLOADED_PROPERTIES: [&str; 5] =
    ["hw_", "trait:", "os_distro", "os_secure_boot", "os_type"];

fn copied_property(key: &str) -> bool {
    DOWNLOADED_PROPERTIES
        .iter()
        .any(|p| key == *p || (p.ends_with(['_', ':']) && key.starts_with(p)))
}

/// Where a glance-download takes its image from.
struct Remote {
    token: String,
    region: String,
    interface: String,
    image: String,
}

impl Data {
    /// The import methods offered.
    pub(crate) fn import_methods(&self) -> &[Method] {
        &self.imports.methods
    }

    /// The method a request names, if this deployment offers it.
    fn import_method(&self, body: &ImportRequest) -> Result<Method, DataError> {
        Method::parse(&body.method.name)
            .filter(|m| self.imports.methods.contains(m))
            .ok_or_else(|| {
                DataError::Invalid(format!(
                    "Unknown import method name '{}'.",
                    body.method.name
                ))
            })
    }

    /// An image the caller may copy into more stores (the `copy_image` policy).
    async fn load_copyable(&self, actor: &Actor, id: &str) -> Result<Image, DataError> {
        let rules = &self.images.rules;
        let stored =
            crate::access::load_by_policy(self.db(), rules, &actor.caller, id, "copy_image")
                .await?;
        Ok(stored.image)
    }

    /// The default store (or the one `header` names), nothing else.
    fn default_targets(&self, header: Option<&str>) -> Result<Targets, DataError> {
        Ok(Targets {
            stores: vec![self.target_store(header)?.id.clone()],
            must_succeed: true,
        })
    }

    /// Reads the target stores of an import request. With one store, as Glance without
    /// `enabled_backends`, `stores` and `all_stores` are not looked at: the data goes to the
    /// one store. So is `all_stores_must_succeed`, which one store cannot make matter (Glance
    /// refuses `false` there, but python-openstackclient sends `false` unless told otherwise
    /// and openstacksdk does not check the answer, so `openstack image import` would do
    /// nothing).
    fn targets(&self, body: &ImportRequest, header: Option<&str>) -> Result<Targets, DataError> {
        if !self.stores().is_multi() {
            return self.default_targets(None);
        }
        let all = body.all_stores.unwrap_or(false);
        let must_succeed = body.all_stores_must_succeed.unwrap_or(true);
        let listed = body.stores.as_deref().filter(|s| !s.is_empty());
        let stores = match (all, listed) {
            (true, Some(_)) => {
                return Err(DataError::Invalid(
                    "'stores' and 'all_stores' cannot be given together.".into(),
                ));
            }
            (true, None) => self
                .stores()
                .all()
                .iter()
                .filter(|s| !s.read_only)
                .map(|s| s.id.clone())
                .collect(),
            (false, Some(ids)) => {
                let mut out: Vec<String> = Vec::with_capacity(ids.len());
                for id in ids {
                    let store = self.target_store(Some(id))?;
                    if !out.contains(&store.id) {
                        out.push(store.id.clone());
                    }
                }
                out
            }
            (false, None) => vec![self.target_store(header)?.id.clone()],
        };
        Ok(Targets {
            stores,
            must_succeed,
        })
    }

    /// An image's import: checks the request and starts its task (202 then), or says which
    /// server holds the staged data. `header` is the store the request's header names;
    /// `token` the caller's, which glance-download acts with.
    pub(crate) async fn import(
        &self,
        actor: &Actor,
        id: &str,
        body: &ImportRequest,
        header: Option<&str>,
        token: Option<&str>,
    ) -> Result<Started, DataError> {
        let method = self.import_method(body)?;
        match method {
            Method::GlanceDirect | Method::WebDownload => {}
            Method::CopyImage => {
                self.copy_image(actor, id, body, header).await?;
                return Ok(Started::Here);
            }
            Method::GlanceDownload => {
                self.glance_download(actor, id, body, header, token).await?;
                return Ok(Started::Here);
            }
        }
        let image = self
            .images
            .load_writable(&actor.caller, id, "modify_image")
            .await?
            .image;
        if method == Method::GlanceDirect
            && let Some(host) = image.properties.get("os_glance_stage_host")
            && self.imports.self_url.as_deref() != Some(host.as_str())
        {
            return Ok(Started::StagedOn(host.clone()));
        }
        let targets = self.targets(body, header)?;
        if method == Method::WebDownload {
            let uri = body.method.uri.clone().ok_or_else(|| {
                DataError::Invalid("The web-download method needs a 'uri'.".into())
            })?;
            let url = self.checked_source(&uri).await?;
            self.within_limits(&image, &fetched_import(0), None).await?;
            let owner = self.claim_for_import(&image, Status::Queued).await?;
            let image = self.inject(actor, image, Status::Queued).await?;
            let method = json!({"method": {"name": "web-download", "uri": uri}});
            let order = TaskOrder::image_import(&image, method, &targets);
            self.start_import(
                actor,
                image,
                owner,
                Status::Queued,
                order,
                targets,
                move |data, image, store| Box::pin(data.fetch_into(image, url, store)),
            )
            .await?;
            return Ok(Started::Here);
        }
        let adds = [(Resource::SizeTotal, mib(image.size.unwrap_or(0)))];
        self.within_limits(&image, &adds, None).await?;
        let owner = self.claim_for_import(&image, Status::Uploading).await?;
        let image = self.inject(actor, image, Status::Uploading).await?;
        let staged = self.staging.location_of(&image.id);
        let method = json!({"method": {"name": "glance-direct"}});
        let order = TaskOrder::image_import(&image, method, &targets);
        self.start_import(
            actor,
            image,
            owner,
            Status::Uploading,
            order,
            targets,
            move |data, image, store| {
                Box::pin(async move {
                    let result = async {
                        let room = data.within_limits(&image, &[], image.size).await?;
                        let stream = data.staging.read(&staged, 0, u64::MAX).await?;
                        let intake =
                            data.checked_intake(data.named(&store), &image, image.size, room);
                        data.ingest_import(intake, stream, &image).await
                    }
                    .await;
                    if let Err(e) = data.staging.delete(&staged).await {
                        tracing::warn!(image = %image.id, "cannot remove staged data: {e}");
                    }
                    result
                })
            },
        )
        .await?;
        Ok(Started::Here)
    }

    /// Sets the properties the deployment injects into this caller's imports (Glance's
    /// `inject_image_metadata`), as the deployment, recorded in the image's history; the image
    /// as it is then. Called once the import has claimed the image: if it cannot be done, the
    /// image goes back to `from` and the import does not start.
    async fn inject(&self, actor: &Actor, image: Image, from: Status) -> Result<Image, DataError> {
        match self.injected(actor, &image).await {
            Ok(image) => Ok(image),
            Err(e) => {
                let id = &image.id;
                if let Err(reset) = self
                    .db()
                    .transition(id, &[Status::Importing], from, None)
                    .await
                {
                    tracing::error!(image = %id, "cannot reset a refused import: {reset}");
                }
                Err(e)
            }
        }
    }

    async fn injected(&self, actor: &Actor, image: &Image) -> Result<Image, DataError> {
        let properties = self.images.settings.injected_for(&actor.caller);
        if properties.is_empty() {
            return Ok(image.clone());
        }
        let deployment = Actor {
            caller: crate::access::deployment(),
            user_id: actor.user_id.clone(),
            request_id: actor.request_id.clone(),
        };
        let edit = glint_core::Edit {
            properties,
            ..Default::default()
        };
        let request = glint_core::Request::Edit(edit);
        let outcome = self
            .images
            .update(&deployment, &image.id, None, false, "inject", |_| {
                Ok(request.clone())
            })
            .await?;
        Ok(match outcome {
            Outcome::Applied(stored) | Outcome::Preview(_, stored) => stored.image,
        })
    }

    /// What an import would do, checked as the import checks it, without starting it (the
    /// import's dry run): the method, the stores the data would go to, and the formats the
    /// image would end with (`converted` when the deployment's conversion applies).
    pub(crate) async fn plan_import(
        &self,
        actor: &Actor,
        id: &str,
        body: &ImportRequest,
        header: Option<&str>,
    ) -> Result<Value, DataError> {
        let method = self.import_method(body)?;
        let image = if method == Method::CopyImage {
            self.load_copyable(actor, id).await?
        } else {
            self.images
                .load_writable(&actor.caller, id, "modify_image")
                .await?
                .image
        };
        let needed = match method {
            Method::GlanceDirect => Status::Uploading,
            Method::WebDownload | Method::GlanceDownload => Status::Queued,
            Method::CopyImage => Status::Active,
        };
        if image.status != needed {
            return Err(DataError::Conflict(format!(
                "Image {} must be {needed} for this import: it is {}.",
                image.id, image.status
            )));
        }
        if method != Method::CopyImage
            && method != Method::GlanceDownload
            && (image.disk_format.is_none() || image.container_format.is_none())
        {
            return Err(DataError::Conflict(
                "'disk_format' and 'container_format' must be set before import.".into(),
            ));
        }
        if method == Method::WebDownload {
            let uri = body.method.uri.clone().ok_or_else(|| {
                DataError::Invalid("The web-download method needs a 'uri'.".into())
            })?;
            self.checked_source(&uri).await?;
        }
        let targets = self.targets(body, header)?;
        let conversion = self.imports.conversion.as_ref();
        // copy-image copies the data as it is; glance-download takes the source's formats,
        // known once it is read.
        let converted = match method {
            Method::CopyImage | Method::GlanceDownload => false,
            _ => conversion.is_some_and(|c| c.applies_to(image.disk_format.as_deref())),
        };
        let after = |before: &Option<String>, converted_to: &str| -> Value {
            match (method, converted) {
                (Method::GlanceDownload, _) => Value::Null,
                (_, true) => Value::String(converted_to.to_string()),
                (_, false) => json!(before),
            }
        };
        let output = conversion.map(|c| c.output.as_str());
        Ok(json!({
            "image_id": image.id,
            "method": method.name(),
            "stores": targets.stores,
            "all_stores_must_succeed": targets.must_succeed,
            "disk_format": {
                "before": image.disk_format,
                "after": after(&image.disk_format, output.unwrap_or_default()),
            },
            "container_format": {
                "before": image.container_format,
                "after": after(&image.container_format, "bare"),
            },
            "converted": converted,
            "conversion_output_format": output,
            // copy-image runs no import step (as in Glance).
            "injected": match method {
                Method::CopyImage => serde_json::Map::new(),
                _ => self
                    .images
                    .injected_shown_to(&actor.caller)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            },
        }))
    }

    /// `glance-download` (Keystone mode): imports an image of another region's image service
    /// (or this one's), found in the service catalog of the caller's token. In the background,
    /// under a task: the source's formats and its `hw_*`, `trait:*`, `os_distro`,
    /// `os_secure_boot` and `os_type` properties go to the image, then its data is fetched
    /// with the caller's token, hashed and inspected. A failure leaves the image queued.
    async fn glance_download(
        &self,
        actor: &Actor,
        id: &str,
        body: &ImportRequest,
        header: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), DataError> {
        if self.imports.keystone.is_none() {
            return Err(DataError::NotFound(
                "Import method glance-download needs Keystone (--auth keystone).".into(),
            ));
        }
        let source = body.method.glance_image_id.clone().unwrap_or_default();
        if uuid::Uuid::parse_str(&source).is_err() {
            return Err(DataError::Invalid(format!(
                "Invalid glance_image_id '{source}': image id does not look like a UUID."
            )));
        }
        let region =
            body.method.glance_region.clone().ok_or_else(|| {
                DataError::Invalid("glance-download needs a 'glance_region'.".into())
            })?;
        let interface = body
            .method
            .glance_service_interface
            .clone()
            .unwrap_or_else(|| "public".into());
        let token = token
            .map(str::to_string)
            .ok_or_else(|| DataError::NoToken("glance-download needs a token.".into()))?;
        let image = self
            .images
            .load_writable(&actor.caller, id, "modify_image")
            .await?
            .image;
        if image.status != Status::Queued {
            return Err(DataError::Conflict(format!(
                "Image {id} must be queued for glance-download: it is {}.",
                image.status
            )));
        }
        let targets = self.targets(body, header)?;
        self.within_limits(&image, &fetched_import(0), None).await?;
        let method = json!({"method": {"name": "glance-download", "glance_image_id": source,
            "glance_region": region, "glance_service_interface": interface}});
        let order = TaskOrder::image_import(&image, method, &targets);
        let who = actor.clone();
        let image_id = image.id.clone();
        self.run_task(
            actor,
            &image,
            order,
            Box::new(move |data, _| {
                Box::pin(async move {
                    let from = Remote {
                        token,
                        region,
                        interface,
                        image: source,
                    };
                    data.download_from_glance(&who, &image_id, &from, &targets)
                        .await
                })
            }),
        )
        .await?;
        Ok(())
    }

    async fn download_from_glance(
        &self,
        actor: &Actor,
        id: &str,
        from: &Remote,
        targets: &Targets,
    ) -> Result<Value, DataError> {
        let keystone = self
            .imports
            .keystone
            .as_ref()
            .ok_or_else(|| DataError::Internal("Keystone mode ended".into()))?;
        let endpoint = keystone
            .endpoint(&from.token, "image", &from.region, &from.interface)
            .await?
            .ok_or_else(|| {
                DataError::Invalid(format!(
                    "No image service in region '{}' at interface '{}' in the token's catalog.",
                    from.region, from.interface
                ))
            })?;
        let base = endpoint
            .trim_end_matches('/')
            .trim_end_matches("/v2")
            .to_string();
        let fetch = |path: String| {
            self.imports
                .peers
                .get(format!("{base}{path}"))
                .header("X-Auth-Token", &from.token)
                .send()
        };
        let unreachable = |e: reqwest::Error| {
            DataError::Invalid(format!(
                "The image service at {base} cannot be reached: {e}"
            ))
        };
        let r = fetch(format!("/v2/images/{}", from.image))
            .await
            .map_err(unreachable)?;
        if !r.status().is_success() {
            return Err(DataError::Invalid(format!(
                "The source image {} answered {} at {base}.",
                from.image,
                r.status()
            )));
        }
        let source: Value = r.json().await.map_err(unreachable)?;
        if source["status"] != "active" {
            return Err(DataError::Invalid(format!(
                "The source image {} is {}, not active.",
                from.image, source["status"]
            )));
        }
        // The source's formats and chosen properties, while the image is still queued.
        let mut edit = glint_core::Edit::default();
        for attr in ["disk_format", "container_format"] {
            if let Some(v) = source.get(attr).filter(|v| v.is_string()) {
                edit.attributes.insert(attr.into(), v.clone());
            }
        }
        for (k, v) in source.as_object().into_iter().flatten() {
            if copied_property(k)
                && let Some(v) = v.as_str()
            {
                edit.properties.insert(k.clone(), v.to_string());
            }
        }
        let request = glint_core::Request::Edit(edit);
        let edited = self
            .images
            .update(actor, id, None, false, "glance-download", |_| {
                Ok(request.clone())
            })
            .await?;
        let image = match edited {
            Outcome::Applied(stored) | Outcome::Preview(_, stored) => stored.image,
        };
        let owner = self.claim_for_import(&image, Status::Queued).await?;
        // Injected over what the source gave.
        let image = self.inject(actor, image, Status::Queued).await?;
        let data = async {
            let r = fetch(format!("/v2/images/{}/file", from.image))
                .await
                .map_err(unreachable)?;
            if !r.status().is_success() {
                return Err(DataError::Invalid(format!(
                    "The source image's data answered {}.",
                    r.status()
                )));
            }
            let declared = r.content_length();
            let room = self.within_limits(&image, &[], declared).await?;
            let store = self.named(&targets.stores[0]);
            let intake = self.checked_intake(store, &image, declared, room);
            self.ingest_import(intake, Box::pin(r.bytes_stream()), &image)
                .await
        };
        self.import_data(&image, &owner, targets, data, &actor.by())
            .await
    }

    /// `copy-image`: an administrator copies an active image's data into more stores. The
    /// image stays active meanwhile; each copy is added as a location as it is made.
    async fn copy_image(
        &self,
        actor: &Actor,
        id: &str,
        body: &ImportRequest,
        header: Option<&str>,
    ) -> Result<(), DataError> {
        let image = self.load_copyable(actor, id).await?;
        if image.status != Status::Active {
            return Err(DataError::Conflict(format!(
                "Image {} must be active to be copied: it is {}.",
                image.id, image.status
            )));
        }
        if !self.stores().is_multi() {
            // The one store holds the data already.
            return Err(DataError::Conflict(format!(
                "Image {} is already in every store.",
                image.id
            )));
        }
        let (Some(size), Some(md5), Some(os_hash)) = (
            image.size,
            image.checksum.clone(),
            image.os_hash_value.clone(),
        ) else {
            return Err(DataError::Conflict(format!(
                "Image {} has no data to copy.",
                image.id
            )));
        };
        // A copy is checked against the hash the image has, whatever new data is hashed with.
        let algo_name = image.os_hash_algo.as_deref().unwrap_or("sha512");
        let algorithm = crate::hashing::Algorithm::parse(algo_name).ok_or_else(|| {
            DataError::Conflict(format!(
                "Image {} is hashed with {algo_name}, which this server cannot check a copy \
                 against.",
                image.id
            ))
        })?;
        let mut targets = self.targets(body, header)?;
        let held: Vec<String> = image
            .locations
            .iter()
            .filter_map(|l| self.stores().holding(l).map(|s| s.id.clone()))
            .collect();
        if body.stores.is_some() {
            if let Some(already) = targets.stores.iter().find(|s| held.contains(s)) {
                return Err(DataError::Conflict(format!(
                    "Image {} is already present in store {already}.",
                    image.id
                )));
            }
        } else {
            targets.stores.retain(|s| !held.contains(s));
        }
        if targets.stores.is_empty() {
            return Err(DataError::Conflict(format!(
                "Image {} is already in every store.",
                image.id
            )));
        }
        self.within_limits(&image, &fetched_import(mib(size)), None)
            .await?;
        let source = Source {
            locations: image.locations.clone(),
            size,
            md5,
            os_hash,
            algorithm,
        };
        let method = json!({"method": {"name": "copy-image"}});
        let order = TaskOrder::image_import(&image, method, &targets);
        let task_image = image.clone();
        self.run_task(
            actor,
            &image,
            order,
            Box::new(move |data, _| {
                Box::pin(async move {
                    let image = task_image;
                    let mut progress = Progress::start(&data, &image.id, &targets.stores).await;
                    let result = data
                        .copy_image_to(&image, &source, &targets, &mut progress)
                        .await;
                    if result.is_err() {
                        progress.fail_rest().await;
                    }
                    result
                })
            }),
        )
        .await?;
        Ok(())
    }

    /// Copies an active image's data into each target store and adds the copies as locations.
    async fn copy_image_to(
        &self,
        image: &Image,
        source: &Source,
        targets: &Targets,
        progress: &mut Progress,
    ) -> Result<Value, DataError> {
        for id in &targets.stores {
            let copied = match self.copy_to(image, source, id).await {
                Ok(location) => location,
                Err(e) if targets.must_succeed => {
                    return Err(DataError::Invalid(format!(
                        "Copying to store {id} failed: {e}"
                    )));
                }
                Err(e) => {
                    tracing::warn!(image = %image.id, store = %id, "copy failed: {e}");
                    progress.store_done(id, false).await;
                    continue;
                }
            };
            if !self.db().add_location(&image.id, &copied).await? {
                self.stores()
                    .delete_all(std::slice::from_ref(&copied))
                    .await;
                return Err(DataError::Gone(
                    "The image was deleted or deactivated while it was being copied.".into(),
                ));
            }
            progress.store_done(id, true).await;
        }
        Ok(self.outcome(image, targets, &progress.failed))
    }

    /// Parses and checks a URI the server is asked to fetch: it must pass the guard's
    /// filtering (scheme, port, allowed hosts); resolved addresses and redirects are checked
    /// as it is fetched.
    async fn checked_source(&self, uri: &str) -> Result<reqwest::Url, DataError> {
        let url = reqwest::Url::parse(uri)
            .map_err(|e| DataError::Invalid(format!("Invalid URI for web-download: {e}")))?;
        self.imports
            .guard
            .check_resolving(&url)
            .await
            .map_err(|why| {
                DataError::Invalid(format!(
                    "URI for web-download does not pass filtering: {why}"
                ))
            })?;
        Ok(url)
    }

    /// Moves an image from `from` (`queued` for web-download, `uploading` for glance-direct)
    /// to `importing` under a fresh owner token, or says why it cannot (409).
    async fn claim_for_import(&self, image: &Image, from: Status) -> Result<String, DataError> {
        if image.disk_format.is_none() || image.container_format.is_none() {
            return Err(DataError::Conflict(
                "'disk_format' and 'container_format' must be set before import.".into(),
            ));
        }
        let owner = self.new_owner();
        if image.status != from
            || !self
                .db()
                .transition(&image.id, &[from], Status::Importing, Some(&owner))
                .await?
        {
            return Err(DataError::Conflict(format!(
                "Image {} must be {from} for this import: it is {}.",
                image.id, image.status
            )));
        }
        Ok(owner)
    }

    /// `GET url` through the import guard; `failed` starts the message when it does not
    /// answer with success.
    async fn fetch_guarded(
        &self,
        url: reqwest::Url,
        failed: &str,
    ) -> Result<reqwest::Response, DataError> {
        let response = self
            .imports
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| DataError::Invalid(format!("{failed}: {e}")))?;
        if !response.status().is_success() {
            return Err(DataError::Invalid(format!(
                "{failed}: the source answered {}",
                response.status()
            )));
        }
        Ok(response)
    }

    /// Streams `url` into the image's data in `store` through hashing, inspection and the
    /// quota.
    async fn fetch_into(
        self,
        image: Image,
        url: reqwest::Url,
        store: String,
    ) -> Result<Ingested, DataError> {
        let response = self.fetch_guarded(url, "web-download failed").await?;
        let declared = response.content_length();
        let room = self.within_limits(&image, &[], declared).await?;
        let intake = self.checked_intake(self.named(&store), &image, declared, room);
        self.ingest_import(intake, Box::pin(response.bytes_stream()), &image)
            .await
    }

    /// The legacy `import` task (administrators): creates an image from the input's
    /// properties and fetches `import_from` into it in the background, through the
    /// web-download guard, hashing, inspection and quota. A failed fetch leaves the image
    /// `queued` with the reason in the task.
    pub(crate) async fn legacy_import(
        &self,
        actor: &Actor,
        order: LegacyImport,
    ) -> Result<Task, DataError> {
        let url = self.checked_source(&order.from).await?;
        let stored = self.images.create(actor, order.image).await?;
        let owner = self.claim_for_import(&stored.image, Status::Queued).await?;
        let order = TaskOrder {
            kind: "import",
            input: order.input,
        };
        let targets = self.default_targets(None)?;
        self.start_import(
            actor,
            stored.image,
            owner,
            Status::Queued,
            order,
            targets,
            move |data, image, store| Box::pin(data.fetch_into(image, url, store)),
        )
        .await
    }

    /// A location given by URL to a queued image (API 2.17): the server fetches it in the
    /// background (a `location_import` task), computing its checksum (md5) and secure hash
    /// (the algorithm the validation data names, else sha512), and checks them against the
    /// validation data; then the image is active. If they do not match, the task fails and
    /// the image is queued again, keeping the location.
    pub(crate) async fn add_location(
        &self,
        actor: &Actor,
        id: &str,
        body: NewLocation,
    ) -> Result<(), DataError> {
        if let Some(data) = &body.validation_data {
            glint_core::image::check_validation_data(data)
                .map_err(|e| DataError::Invalid(format!("Invalid validation data: {e}")))?;
        }
        let image = self
            .images
            .load_writable(&actor.caller, id, "add_image_location")
            .await?
            .image;
        // An RBD image in a pool of this deployment (Nova's direct snapshot) is hashed where
        // it is; an http(s) URL is fetched through the import guard.
        // Only an RBD store takes data by URL: a file or S3 store's URLs name other images'
        // data (they are read in place only where adoption wrote them).
        let owner_store = self
            .stores()
            .owner(&body.url)
            .filter(|s| s.kind == "rbd")
            .map(|s| s.id.clone());
        let source = match &owner_store {
            Some(store) => LocationSource::Store(store.clone(), body.url.clone()),
            None if body.url.starts_with("http://") || body.url.starts_with("https://") => {
                LocationSource::Http(self.checked_source(&body.url).await?)
            }
            None => {
                return Err(DataError::Invalid(format!(
                    "Invalid location {}: only http(s) locations and images in this \
                     deployment's stores (its Ceph clusters and pools) can be added.",
                    body.url
                )));
            }
        };
        if image.status != Status::Queued {
            return Err(DataError::Conflict(format!(
                "Image {id} must be queued to be given a location: it is {}.",
                image.status
            )));
        }
        let mut metadata = serde_json::Map::new();
        match &owner_store {
            Some(store) if self.stores().is_multi() => {
                metadata.insert("store".into(), Value::String(store.clone()));
            }
            Some(_) => {}
            None => {
                if let Some(store) = self.stores().http_store() {
                    metadata.insert("store".into(), Value::String(store.id.clone()));
                }
            }
        }
        let location = Location {
            url: body.url.clone(),
            metadata,
            validation_data: None,
        };
        let owner = self.new_owner();
        if !self
            .db()
            .claim_with_location(&image.id, &owner, &location)
            .await?
        {
            return Err(DataError::Conflict(format!(
                "Image {id} must be queued to be given a location."
            )));
        }
        let order = TaskOrder {
            kind: "location_import",
            input: json!({"image_id": image.id, "loc_url": body.url,
                "validation_data": body.validation_data}),
        };
        let task_image = image.clone();
        let by = actor.by();
        let started = self
            .run_task(
                actor,
                &image,
                order,
                Box::new(move |data, _| {
                    Box::pin(async move {
                        let image = task_image;
                        let guard = UploadGuard::new(data.db(), &image.id, Status::Importing);
                        let result = async {
                            let validation = body.validation_data.unwrap_or_default();
                            let (size, md5, algo, value) =
                                data.hash_remote(source, &validation).await?;
                            let text = |k: &str| validation.get(k).and_then(Value::as_str);
                            if text("checksum").is_some_and(|c| c != md5)
                                || text("os_hash_value").is_some_and(|v| v != value)
                            {
                                return Err(DataError::Invalid(
                                    "The data at the location does not hash as its validation \
                                     data says."
                                        .into(),
                                ));
                            }
                            let upload = Upload {
                                size,
                                checksum: md5,
                                os_hash_algo: algo,
                                os_hash_value: value,
                                virtual_size: None,
                                locations: vec![location],
                                formats: None,
                            };
                            data.record_location(&image, &owner, &upload, &by).await?;
                            Ok(json!({"image_id": image.id}))
                        }
                        .await;
                        guard.settle(result).await
                    })
                }),
            )
            .await;
        if started.is_err() {
            let _ = self
                .db()
                .transition(&image.id, &[Status::Importing], Status::Queued, None)
                .await;
        }
        started.map(|_| ())
    }

    /// Makes a checked location the image's data; unlike an upload's data, the location is
    /// not removed if the image went away meanwhile (it is not this server's).
    async fn record_location(
        &self,
        image: &Image,
        owner: &str,
        upload: &Upload,
        by: &crate::events::By,
    ) -> Result<(), DataError> {
        match self
            .activate(image, Status::Importing, owner, upload, by)
            .await?
        {
            true => Ok(()),
            false => Err(DataError::Gone(
                "The image was deleted or changed while its location was checked.".into(),
            )),
        }
    }

    /// Reads the data at a location and returns its size, md5 and secure hash (the algorithm
    /// `validation` names, else the deployment's) as `(size, md5, algorithm, hash)`.
    async fn hash_remote(
        &self,
        source: LocationSource,
        validation: &serde_json::Map<String, Value>,
    ) -> Result<(u64, String, String, String), DataError> {
        use sha2::digest::DynDigest;
        // The algorithm the validation data names, else the deployment's; the one used is
        // the one recorded.
        let named = validation.get("os_hash_algo").and_then(Value::as_str);
        let (algo, mut secure): (String, Box<dyn DynDigest + Send>) = match named {
            Some("md5") => ("md5".into(), Box::new(<md5::Md5 as md5::Digest>::new())),
            _ => {
                let a = named
                    .and_then(crate::hashing::Algorithm::parse)
                    .unwrap_or(self.hashing);
                (a.name().into(), a.hasher())
            }
        };
        let mut md5 = <md5::Md5 as md5::Digest>::new();
        let mut stream: crate::store::ByteStream =
            match source {
                LocationSource::Http(url) => {
                    let response = self
                        .fetch_guarded(url, "Fetching the location failed")
                        .await?;
                    Box::pin(
                        response
                            .bytes_stream()
                            .map(|r| r.map_err(std::io::Error::other)),
                    )
                }
                LocationSource::Store(store, url) => {
                    let store = self
                        .stores()
                        .get(&store)
                        .ok_or_else(|| DataError::Invalid(format!("Unknown store {store}.")))?;
                    store.store.read(&url, 0, u64::MAX).await.map_err(|e| {
                        DataError::Invalid(format!("Reading the location failed: {e}"))
                    })?
                }
            };
        let mut size: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| DataError::Invalid(format!("Fetching the location failed: {e}")))?;
            size += chunk.len() as u64;
            if size > self.size_cap {
                return Err(DataError::TooLarge(
                    "The data at the location exceeds the image size cap.".into(),
                ));
            }
            md5::Digest::update(&mut md5, &chunk);
            secure.update(&chunk);
        }
        let hex = crate::hashing::hex;
        Ok((
            size,
            hex(&md5::Digest::finalize(md5)),
            algo,
            hex(&secure.finalize()),
        ))
    }

    /// Removes an image's data from one store (administrators, multi-store only), as long as
    /// another store keeps a copy.
    pub(crate) async fn delete_from_store(
        &self,
        actor: &Actor,
        store_id: &str,
        id: &str,
    ) -> Result<(), DataError> {
        if !self.stores().is_multi() {
            return Err(DataError::NotFound(
                "Multi backend is not supported at this site.".into(),
            ));
        }
        let store = self
            .stores()
            .get(store_id)
            .ok_or_else(|| DataError::NotFound(format!("Unknown store {store_id}.")))?;
        let rules = &self.images.rules;
        let image = crate::access::load_visible(self.db(), rules, &actor.caller, id)
            .await?
            .image;
        // Glance's order: the caller must see the image's locations, then may delete one.
        for policy in ["get_image_location", "delete_image_location"] {
            if !rules.allows(policy, &actor.caller, Some(&image)) {
                return Err(crate::access::refused(policy).into());
            }
        }
        if image.status != Status::Active {
            return Err(DataError::Conflict(format!(
                "Image {id} must be active to be deleted from a store: it is {}.",
                image.status
            )));
        }
        let Some(location) = image
            .locations
            .iter()
            .find(|l| self.stores().holding(l).is_some_and(|s| s.id == store.id))
        else {
            return Err(DataError::NotFound(format!(
                "Image {id} is not present in store {store_id}."
            )));
        };
        if store.read_only {
            return Err(DataError::Conflict(format!(
                "Store {store_id} is read-only: its data cannot be deleted."
            )));
        }
        if !self.db().remove_location(id, &location.url).await? {
            return Err(DataError::Conflict(format!(
                "Store {store_id} holds the only copy of image {id}; delete the image instead."
            )));
        }
        self.stores()
            .delete_all(std::slice::from_ref(location))
            .await;
        Ok(())
    }
}
