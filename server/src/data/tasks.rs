//! The tasks imports run under: each holds the image's import lock (one import at a time per
//! image), runs in the background, and records how it ended. And the end every import shares:
//! data written to the first store, copied to the others, made the image's.

use futures_util::future::BoxFuture;
use glint_core::{Image, Location, Status};
use serde_json::{Value, json};

use super::upload::{Ingested, UploadGuard};
use super::{Data, DataError};
use crate::db::Task;
use crate::events::{By, Event};
use crate::images::Actor;

/// The stores an import writes to, first one first.
#[derive(Debug, Clone)]
pub(super) struct Targets {
    pub(super) stores: Vec<String>,
    /// Whether one store failing fails the import (`all_stores_must_succeed`).
    pub(super) must_succeed: bool,
}

/// What a task records about the request that started it.
pub(super) struct TaskOrder {
    /// `api_image_import` for an image's import, `import` for the legacy task,
    /// `location_import` for a location given by URL.
    pub(super) kind: &'static str,
    pub(super) input: Value,
}

impl TaskOrder {
    pub(super) fn image_import(image: &Image, import_req: Value, targets: &Targets) -> TaskOrder {
        TaskOrder {
            kind: "api_image_import",
            input: json!({
                "image_id": image.id,
                "import_req": import_req,
                "backend": targets.stores,
            }),
        }
    }
}

/// The work of a task: given the data operations and the task's id, its result.
pub(super) type Work =
    Box<dyn FnOnce(Data, String) -> BoxFuture<'static, Result<Value, DataError>> + Send>;

/// Data to copy: where it is and what it must hash to.
pub(super) struct Source {
    pub(super) locations: Vec<Location>,
    pub(super) size: u64,
    pub(super) md5: String,
    /// The secure hash and its algorithm (the image's `os_hash_value` and `os_hash_algo`).
    pub(super) os_hash: String,
    pub(super) algorithm: crate::hashing::Algorithm,
}

impl Data {
    /// Records a task for an import of `image`, takes the image's import lock for it (409 if
    /// another import holds it), and runs `work` in the background; the task records its
    /// outcome (`work`'s result, or the reason it failed) and the lock is released after.
    pub(super) async fn run_task(
        &self,
        actor: &Actor,
        image: &Image,
        order: TaskOrder,
        work: Work,
    ) -> Result<Task, DataError> {
        let now = crate::time::now_micros();
        let task = Task {
            id: uuid::Uuid::new_v4().to_string(),
            kind: order.kind.into(),
            status: "processing".into(),
            owner: image.owner.clone(),
            image_id: Some(image.id.clone()),
            request_id: Some(actor.request_id.clone()),
            user_id: actor.user_id.clone(),
            input: order.input,
            result: None,
            message: String::new(),
            created_at: now,
            updated_at: now,
            expires_at: None,
        };
        let lock_owner = format!("{}/{}", self.node, task.id);
        if let Some(holder) = self
            .db()
            .take_import_lock(&image.id, &task.id, &lock_owner)
            .await?
        {
            return Err(DataError::Conflict(format!(
                "Image {} has an import in progress (task {holder}); try again when it ends.",
                image.id
            )));
        }
        if let Err(e) = self.db().start_task(&task).await {
            let _ = self.db().release_import_lock(&image.id, &task.id).await;
            return Err(e.into());
        }
        let by = actor.by();
        self.images
            .tell(Event::TaskCreated {
                task: Box::new(task.clone()),
                by: by.clone(),
            })
            .await;
        let (data, task_id, image_id) = (self.clone(), task.id.clone(), image.id.clone());
        tokio::spawn(async move {
            let result = work(data.clone(), task_id.clone()).await;
            let (status, message, outcome) = match result {
                Ok(outcome) => ("success", String::new(), outcome),
                Err(e) => {
                    tracing::warn!(image = %image_id, "import failed: {e}");
                    ("failure", e.task_message(), json!({"image_id": image_id}))
                }
            };
            match data
                .db()
                .finish_task(&task_id, status, &message, Some(&outcome))
                .await
            {
                Ok(()) => data.tell_task_ended(&task_id, by).await,
                Err(e) => {
                    tracing::error!(task = %task_id, "cannot record the import's outcome: {e}")
                }
            }
            if let Err(e) = data.db().release_import_lock(&image_id, &task_id).await {
                tracing::error!(image = %image_id, "cannot release the import lock: {e}");
            }
        });
        Ok(task)
    }

    async fn tell_task_ended(&self, id: &str, by: By) {
        match self.db().task(id).await {
            Ok(Some(task)) => {
                self.images
                    .tell(Event::TaskEnded {
                        task: Box::new(task),
                        by,
                    })
                    .await
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(task = %id, "cannot tell the task's end: {e}"),
        }
    }

    /// Runs an import of data into an image already `importing` under `owner` (from `was`):
    /// `work` writes the data to the first target store; it is then copied to the others,
    /// and becomes the image's (`active`). A failure puts the image back to `queued`. If the
    /// task cannot start, the image goes back to `was`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn start_import(
        &self,
        actor: &Actor,
        image: Image,
        owner: String,
        was: Status,
        order: TaskOrder,
        targets: Targets,
        work: impl FnOnce(Data, Image, String) -> BoxFuture<'static, Result<Ingested, DataError>>
        + Send
        + 'static,
    ) -> Result<Task, DataError> {
        let image_id = image.id.clone();
        let by = actor.by();
        let task_image = image.clone();
        let started = self
            .run_task(
                actor,
                &image,
                order,
                Box::new(move |data, _| {
                    Box::pin(async move {
                        let image = task_image;
                        let first = targets.stores[0].clone();
                        let written = work(data.clone(), image.clone(), first);
                        data.import_data(&image, &owner, &targets, written, &by)
                            .await
                    })
                }),
            )
            .await;
        if started.is_err() {
            let _ = self
                .db()
                .transition(&image_id, &[Status::Importing], was, None)
                .await;
        }
        started
    }

    /// The end of an import into an image `importing` under `owner`: `data` writes it to the
    /// first target store; it is copied to the others, and becomes the image's (`active`),
    /// the progress shown on the image as it goes. Any failure puts the image back to `queued`.
    pub(super) async fn import_data(
        &self,
        image: &Image,
        owner: &str,
        targets: &Targets,
        data: impl std::future::Future<Output = Result<Ingested, DataError>>,
        by: &By,
    ) -> Result<Value, DataError> {
        let guard = UploadGuard::new(self.db(), &image.id, Status::Importing);
        let first = &targets.stores[0];
        let mut progress = Progress::start(self, &image.id, &targets.stores).await;
        let mut importing = image.clone();
        if self.stores().is_multi() {
            importing.properties.insert(
                "os_glance_importing_to_stores".into(),
                targets.stores.join(","),
            );
        }
        self.tell_prepared(&importing, &targets.stores, by).await;
        let result = async {
            let mut data = data.await?;
            // Copies are of the data as stored: converted, when the import converted it.
            let mut stored_as = image.clone();
            if let Some(c) = &data.converted {
                stored_as.disk_format = Some(c.to.clone());
            }
            let copies = self
                .copy_everywhere(
                    &stored_as,
                    &data,
                    &targets.stores[1..],
                    targets,
                    &mut progress,
                )
                .await?;
            data.locations.extend(copies);
            let converted = data.converted.clone();
            let decompressed = data.decompressed;
            self.finish(image, Status::Importing, owner, data, by)
                .await?;
            progress.store_done(first, true).await;
            let mut outcome = self.outcome(image, targets, &progress.failed);
            if let Some(c) = converted {
                // What the image was before, as the task's result keeps it.
                outcome["converted"] = json!({"from": c.from, "to": c.to});
            }
            if let Some(d) = decompressed {
                outcome["decompressed"] = json!(d.as_str());
            }
            Ok(outcome)
        }
        .await;
        if result.is_err() {
            progress.fail_rest().await;
        }
        guard.settle(result).await
    }

    /// A finished import's task result.
    pub(super) fn outcome(&self, image: &Image, targets: &Targets, failed: &[String]) -> Value {
        let mut v = json!({"image_id": image.id});
        if self.stores().is_multi() {
            let done: Vec<&String> = targets
                .stores
                .iter()
                .filter(|s| !failed.contains(s))
                .collect();
            v["stores"] = json!(done);
            v["failed_stores"] = json!(failed);
        }
        v
    }

    /// Copies data just written (`data`, not yet the image's) into `stores`. With
    /// `must_succeed`, the first failure removes every copy and the data itself and fails;
    /// otherwise failed stores are listed.
    async fn copy_everywhere(
        &self,
        image: &Image,
        data: &Ingested,
        stores: &[String],
        targets: &Targets,
        progress: &mut Progress,
    ) -> Result<Vec<Location>, DataError> {
        let (md5, os_hash) = data
            .digests
            .clone()
            .ok_or_else(|| DataError::Internal("no digests".into()))?;
        let source = Source {
            locations: data.locations.clone(),
            size: data.size,
            md5,
            os_hash,
            algorithm: data.hash_algo,
        };
        let mut copies = Vec::new();
        for id in stores {
            match self.copy_to(image, &source, id).await {
                Ok(location) => {
                    copies.push(location);
                    progress.store_done(id, true).await;
                }
                Err(e) if targets.must_succeed => {
                    self.stores().delete_all(&copies).await;
                    self.stores().delete_all(&data.locations).await;
                    return Err(DataError::Invalid(format!(
                        "Import to store {id} failed: {e}"
                    )));
                }
                Err(e) => {
                    tracing::warn!(image = %image.id, store = %id, "import to this store failed: {e}");
                    progress.store_done(id, false).await;
                }
            }
        }
        Ok(copies)
    }

    /// Copies an image's data into store `id`, hashed and inspected again; a copy whose
    /// digests differ from the source's is removed and refused.
    pub(super) async fn copy_to(
        &self,
        image: &Image,
        source: &Source,
        id: &str,
    ) -> Result<Location, DataError> {
        let stream = self
            .stores()
            .read(&source.locations, 0, source.size)
            .await?;
        let intake = super::upload::Intake {
            hash_algo: source.algorithm,
            ..self.checked_intake(self.named(id), image, Some(source.size), None)
        };
        let copied = self.ingest(intake, stream).await?;
        let location = copied
            .locations
            .into_iter()
            .next()
            .ok_or_else(|| DataError::Internal("a copy without a location".into()))?;
        if copied.digests != Some((source.md5.clone(), source.os_hash.clone())) {
            self.stores()
                .delete_all(std::slice::from_ref(&location))
                .await;
            return Err(DataError::Internal(format!(
                "the copy in store {id} does not hash as the image's data"
            )));
        }
        Ok(location)
    }
}

/// An import's progress as Glance shows it on the image (with several stores):
/// `os_glance_importing_to_stores` lists the stores still to do, `os_glance_failed_import` the
/// ones that failed.
pub(super) struct Progress {
    data: Data,
    image_id: String,
    importing: Vec<String>,
    pub(super) failed: Vec<String>,
}

impl Progress {
    pub(super) async fn start(data: &Data, image_id: &str, stores: &[String]) -> Progress {
        let p = Progress {
            data: data.clone(),
            image_id: image_id.to_string(),
            importing: stores.to_vec(),
            failed: Vec::new(),
        };
        p.write().await;
        p
    }

    async fn write(&self) {
        if !self.data.stores().is_multi() {
            return;
        }
        let properties = [
            (
                "os_glance_importing_to_stores".to_string(),
                self.importing.join(","),
            ),
            ("os_glance_failed_import".to_string(), self.failed.join(",")),
        ];
        if let Err(e) = self
            .data
            .db()
            .set_server_properties(&self.image_id, &properties)
            .await
        {
            tracing::warn!(image = %self.image_id, "cannot record the import's progress: {e}");
        }
    }

    /// A store is done, well or not.
    pub(super) async fn store_done(&mut self, store: &str, ok: bool) {
        self.importing.retain(|s| s != store);
        if !ok {
            self.failed.push(store.to_string());
        }
        self.write().await;
    }

    /// The import ended in failure: every store not done has failed.
    pub(super) async fn fail_rest(&mut self) {
        let rest = std::mem::take(&mut self.importing);
        self.failed.extend(rest);
        self.write().await;
    }
}
