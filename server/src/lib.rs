//! Glint's server: the Glance-compatible image API and the web UI's host.

mod access;
pub mod accounts;
pub mod adopt;
pub mod api;
mod auth;
mod blocks;
mod cache;
pub mod catalogue;
pub mod config;
mod data;
pub mod db;
pub mod error;
mod events;
pub mod hashing;
mod health;
mod identity;
mod images;
pub mod keystone;
mod limits;
mod locks;
mod metadefs;
mod metrics;
mod notifications;
pub mod store;
pub mod time;
pub mod webdownload;

use std::future::Future;
use std::sync::Arc;

use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tower::Layer;
use tower::util::MapRequestLayer;

pub use config::{Config, DbArgs, ServeArgs};
pub use error::StartError;

use api::AppState;
use config::StoreKind;
use db::Db;
use store::{FsStore, HttpStore, NamedStore, S3Store, Store, Stores};

/// The image stores and the staging area, as configured: one store (files under the data
/// folder, or S3), or several named ones.
/// Every store's failures are counted in `metrics` under its id.
async fn open_stores(
    config: &Config,
    http: HttpStore,
    metrics: &metrics::Metrics,
) -> Result<(Stores, Arc<dyn Store>), StartError> {
    let mut clusters = store::Clusters::default();
    let watched = |id: &str, store: Arc<dyn Store>| -> Arc<dyn Store> {
        Arc::new(store::Watched::new(store, metrics.store_errors(id)))
    };
    let one = |prefix: &str,
               dir: std::path::PathBuf|
     -> Result<(Arc<dyn Store>, serde_json::Value), StartError> {
        Ok(match &config.s3 {
            Some(s3) => (
                Arc::new(S3Store::new(s3, prefix)?),
                serde_json::json!({"bucket": s3.bucket, "prefix": prefix}),
            ),
            None => (
                Arc::new(FsStore::new(&dir, &config.node_name)?),
                serde_json::json!({"datadir": dir.display().to_string()}),
            ),
        })
    };
    let kind = if config.s3.is_some() { "s3" } else { "file" };
    let (staging, _) = one("staging", config.data_dir.join("staging"))?;
    let staging = watched("staging", staging);
    if config.stores.is_empty() {
        if let Some(s3) = &config.s3 {
            tracing::info!("image data in S3 bucket {}", s3.bucket);
        }
        let (store, properties, kind) = match &config.rbd {
            Some(settings) => {
                let (store, properties) = clusters.open(settings, &config.node_name).await?;
                (store, properties, "rbd")
            }
            None => {
                let (store, properties) = one("images", config.data_dir.join("images"))?;
                (store, properties, kind)
            }
        };
        let single = NamedStore {
            id: "default".into(),
            description: None,
            weight: 0,
            read_only: false,
            kind,
            properties,
            store: watched("default", store),
        };
        return Ok((Stores::single(single, http), staging));
    }
    let mut named = Vec::with_capacity(config.stores.len());
    for s in &config.stores {
        let (store, properties): (Arc<dyn Store>, serde_json::Value) = match (s.kind, &config.s3) {
            (StoreKind::Http, _) => (Arc::new(http.clone()), serde_json::json!({})),
            (StoreKind::Rbd, _) => {
                let settings = s.rbd_settings()?;
                clusters.open(&settings, &config.node_name).await?
            }
            (StoreKind::S3, Some(s3)) => {
                let prefix = s
                    .s3_prefix
                    .as_deref()
                    .map(|p| p.trim_matches('/').to_string())
                    .unwrap_or_else(|| format!("stores/{}", s.id));
                (
                    Arc::new(S3Store::new(s3, &prefix)?),
                    serde_json::json!({"bucket": s3.bucket, "prefix": prefix}),
                )
            }
            _ => {
                let dir = s
                    .path
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("stores").join(&s.id));
                (
                    Arc::new(FsStore::new(&dir, &config.node_name)?),
                    serde_json::json!({"datadir": dir.display().to_string()}),
                )
            }
        };
        named.push(NamedStore {
            id: s.id.clone(),
            description: s.description.clone(),
            weight: s.weight,
            read_only: s.read_only || s.kind == StoreKind::Http,
            kind: s.kind.glance_name(),
            properties,
            store: watched(&s.id, store),
        });
    }
    let stores = Stores::multi(named, config.default_store.as_deref(), http)
        .map_err(|message| StartError::Config { message })?;
    tracing::info!(
        "stores: {} (default {})",
        stores
            .all()
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        stores.default_store().id
    );
    Ok((stores, staging))
}

/// How imports are converted, when the deployment converts them; what conversions cut off by
/// a stop left in its work folder goes.
fn conversion(config: &Config) -> Option<data::Conversion> {
    let output = config
        .image_conversion_output_format
        .as_deref()
        .and_then(data::OutputFormat::parse)?;
    let conversion = data::Conversion {
        output,
        work_dir: config.data_dir.join("convert"),
        timeout: std::time::Duration::from_secs(config.image_conversion_timeout),
        memory: config.image_conversion_memory,
    };
    conversion.sweep();
    tracing::info!("imported images are converted to {}", output.as_str());
    Some(conversion)
}

/// Selects the TLS implementation (rustls on ring) for every HTTPS client in the process:
/// Glint's own (Keystone) and any other that shares its `reqwest`. Safe to call many times.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What planning checks against, from the configuration and the stores.
fn core_settings(
    config: &Config,
    stores: &Stores,
    http_store: Option<String>,
) -> glint_core::Settings {
    glint_core::Settings {
        require_format_match: config.require_format_match,
        locations_enabled: config.show_multiple_locations,
        direct_url_shown: config.show_image_direct_url,
        conversion_output_format: config.image_conversion_output_format.clone(),
        rbd_locations: stores.all().iter().any(|s| s.kind == "rbd"),
        http_store,
        image_schema: config.image_schema.clone(),
        inject: config.inject_metadata_properties.clone(),
        inject_ignore_roles: config.inject_ignore_user_roles.clone(),
        ..glint_core::Settings::default()
    }
}

/// `glint adopt`: takes over a Glance database (see [`adopt`]) into the database and stores
/// `args` configure, as `glint serve` reads them.
pub async fn adopt(
    args: ServeArgs,
    options: &adopt::AdoptOptions,
) -> Result<adopt::Outcome, adopt::AdoptError> {
    install_tls_provider();
    let config = Config::resolve(args)?;
    let db = Db::connect(&config.database_url).await?;
    let guard = webdownload::Guard::new(&config.import_filter);
    let client = guard.client().map_err(|e| StartError::Config {
        message: format!("web client: {e}"),
    })?;
    let metrics = metrics::Metrics::default();
    let (stores, _) = open_stores(&config, HttpStore::new(client), &metrics).await?;
    let http_store = stores.http_store().map(|s| s.id.clone());
    let settings = core_settings(&config, &stores, http_store);
    let outcome = adopt::run(&db, &stores, &settings, options).await;
    db.close().await;
    outcome
}

/// `glint db purge`: purges as `what` says; with a RabbitMQ notification driver configured,
/// each task removed is told (`task.delete`) through the outbox the servers send.
pub async fn purge(args: &DbArgs, what: &db::Purge) -> Result<db::Purged, StartError> {
    let settings = args.notification_settings()?;
    let db = Db::connect(&args.database_url()?).await?;
    // Without a sink that uses the outbox, a notifier makes no rows.
    let notifier =
        notifications::Notifier::new(settings, Arc::new(glint_core::Settings::default()), None);
    let by = events::By {
        project_id: None,
        user_id: None,
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
    };
    let gone = |task: &db::Task| {
        notifier.notifications(&events::Event::TaskDeleted {
            task: Box::new(task.clone()),
            by: by.clone(),
        })
    };
    let done = db.purge_telling(what, &gone).await;
    db.close().await;
    Ok(done?)
}

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    install_tls_provider();
    let db = Db::connect(&config.database_url).await?;
    let web_guard = webdownload::Guard::new(&config.import_filter);
    let web_client = web_guard.client().map_err(|e| StartError::Config {
        message: format!("web-download client: {e}"),
    })?;
    let metrics = metrics::Metrics::default();
    let (stores, staging) =
        open_stores(&config, HttpStore::new(web_client.clone()), &metrics).await?;
    let node: Arc<str> = Arc::from(config.node_name.as_str());
    db.heartbeat(&node).await?;
    recover(&db, &stores, staging.as_ref(), &node, config.node_timeout).await?;
    if config.insecure_noauth {
        tracing::warn!(
            "INSECURE: --insecure-noauth trusts X-Tenant-Id and X-Roles headers from anyone; \
             never use it outside development"
        );
    } else if let Some(k) = &config.keystone {
        tracing::info!("tokens are validated by Keystone at {}", k.url);
    } else {
        bootstrap(&db, &config).await?;
    }
    let keystone = match &config.keystone {
        Some(k) => Some(
            keystone::Keystone::new(k.clone()).map_err(|e| StartError::Config {
                message: format!("Keystone client: {e}"),
            })?,
        ),
        None => None,
    }
    .map(Arc::new);
    let http_store = stores.http_store().map(|s| s.id.clone());
    let stores = Arc::new(stores);
    let settings = Arc::new(core_settings(&config, &stores, http_store));
    let protections = load_protections(&config)?;
    let locks: Arc<locks::ImageLocks> = Arc::default();
    let notifier = notifications::Notifier::new(
        config.notifications.clone(),
        settings.clone(),
        protections.clone(),
    );
    let images = images::Images {
        notifier: notifier.uses_outbox().then(|| notifier.clone()),
        db: db.clone(),
        settings: settings.clone(),
        protections: protections.clone(),
        locks: locks.clone(),
        stores: stores.clone(),
        guard: web_guard.clone(),
        limits: Arc::new(match (&config.keystone_limits, &keystone) {
            (Some(settings), Some(k)) => {
                limits::Limits::keystone(db.clone(), k.clone(), settings.clone())
            }
            _ => limits::Limits::local(db.clone(), config.image_quota, config.storage_quota),
        }),
        events: events::Events::default(),
        rules: Arc::new(
            access::Rules::load(config.policy_file.as_deref())
                .map_err(|message| StartError::Config { message })?,
        ),
    };
    images.events.subscribe(events::audit);
    {
        let metrics = metrics.clone();
        images.events.subscribe(move |event| metrics.record(event));
    }
    notifications::start(notifier, db.clone(), node.clone(), &images.events);
    let cache = match config.image_cache_max_size {
        0 => None,
        max => Some(
            cache::ImageCache::open(&config.data_dir.join("cache"), max, metrics.cache()).map_err(
                |e| StartError::Config {
                    message: format!("image cache: {e}"),
                },
            )?,
        ),
    };
    let data = data::Data {
        images: images.clone(),
        staging: staging.clone(),
        node,
        size_cap: config.image_size_cap,
        hashing: config.hashing_algorithm,
        cache: cache.clone(),
        metrics: metrics.clone(),
        imports: data::Imports {
            methods: Arc::from(config.enabled_import_methods.as_slice()),
            guard: web_guard,
            client: web_client,
            self_url: config.worker_self_reference_url.as_deref().map(Arc::from),
            conversion: conversion(&config),
            decompression: config.image_decompression,
            peers: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| StartError::Config {
                    message: format!("HTTP client: {e}"),
                })?,
            keystone: keystone.clone(),
        },
    };
    let metadefs = metadefs::Metadefs {
        db: db.clone(),
        events: images.events.clone(),
        notifier: images.notifier.clone(),
        rules: images.rules.clone(),
    };
    let state = AppState {
        images,
        data,
        metadefs,
        metrics,
        health: health::Health {
            db: db.clone(),
            stores: stores.clone(),
            staging: staging.clone(),
            keystone: keystone.clone(),
            outbox: config.notifications.driver.uses_broker(),
            disable_file: config.healthcheck_disable_file.clone(),
        },
        db: db.clone(),
        stores,
        http: api::HttpSettings {
            auth: Arc::new(auth::Auth::new(
                db.clone(),
                config.insecure_noauth,
                keystone,
            )),
            token_ttl: config.token_ttl,
            ui_index: Arc::from(config.ui_dir.join("index.html").as_path()),
        },
    };
    // A deleted image's copy leaves this server's cache with it.
    if let Some(cache) = cache {
        state.images.events.subscribe(move |event| {
            if let events::Event::Deleted { image, .. } = event {
                cache.delete(&image.id);
            }
        });
    }
    // Liveness among servers sharing the database: say this one is alive, and queue again the
    // uploads of any that has gone quiet (killed mid-upload), so another server can take them.
    let liveness = {
        let db = db.clone();
        let node = config.node_name.clone();
        let timeout = config.node_timeout as i64 * 1_000_000;
        let node_timeout = config.node_timeout;
        let swept_stores = state.stores.clone();
        let swept_staging = staging.clone();
        let every = std::time::Duration::from_millis((config.node_timeout * 1000 / 3).max(500));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = db.heartbeat(&node).await {
                    tracing::warn!("heartbeat failed: {e}");
                    continue;
                }
                if let Err(e) = db
                    .release_orphaned_import_locks(time::now_micros() - timeout)
                    .await
                {
                    tracing::warn!("releasing orphaned import locks failed: {e}");
                }
                match db.requeue_orphans(time::now_micros() - timeout).await {
                    Ok(ids) => {
                        for id in ids {
                            tracing::warn!(image = %id, "its server went quiet mid-upload; the image is queued again");
                        }
                    }
                    Err(e) => tracing::warn!("looking for orphaned uploads failed: {e}"),
                }
                match sweep(
                    &db,
                    &swept_stores,
                    swept_staging.as_ref(),
                    None,
                    node_timeout,
                )
                .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("removed {n} partial uploads of servers gone quiet"),
                    Err(e) => tracing::warn!("removing partial uploads failed: {e}"),
                }
            }
        })
    };
    // Planner statistics: refreshed now and then while the server runs.
    let maintenance = {
        let db = db.clone();
        let every = config.maintenance_every;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(every);
            loop {
                every.tick().await;
                if let Err(e) = db.optimize().await {
                    tracing::warn!("database maintenance failed: {e}");
                }
            }
        })
    };
    // `/metrics` on an address of its own, when asked: for a scraper kept off the API's network.
    let metrics_server = match config.metrics_bind {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            let app = api::metrics_only(state.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("the metrics server stopped: {e}");
                }
            }))
        }
        None => None,
    };
    let app = api::ui::with_ui(&config, state);
    let app = MapRequestLayer::new(api::normalize_version).layer(app);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Some(m) = metrics_server {
        m.abort();
    }
    maintenance.abort();
    liveness.abort();
    db.close().await;
    Ok(())
}

/// Reads and checks the property protections file, if one is configured: a bad file stops the
/// server from starting, as it stops Glance.
fn load_protections(
    config: &Config,
) -> Result<Option<Arc<glint_core::PropertyProtections>>, StartError> {
    let Some(path) = &config.property_protections else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| StartError::Config {
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    let rules = glint_core::PropertyProtections::parse(&text).map_err(|e| StartError::Config {
        message: format!("{}: {e}", path.display()),
    })?;
    tracing::info!("property protections from {}", path.display());
    Ok(Some(Arc::new(rules)))
}

/// On first start, an administrator: project `admin`, user `admin`. Its password is
/// `GLINT_ADMIN_PASSWORD` or a random one printed once; `GLINT_ADMIN_TOKEN` becomes a token.
async fn bootstrap(db: &Db, config: &Config) -> Result<(), StartError> {
    let wrap = |e: accounts::AccountError| StartError::Config {
        message: format!("cannot set up the admin account: {e}"),
    };
    if db.user_count().await.map_err(wrap)? == 0 {
        let project = match db.project("admin").await {
            Ok(p) => p,
            Err(_) => db.create_project("admin").await.map_err(wrap)?,
        };
        let (password, generated) = match &config.admin_password {
            Some(p) => (p.clone(), false),
            None => (accounts::new_secret().split_off(6)[..24].to_string(), true),
        };
        db.create_user("admin", &password, &project.id, "admin,member,reader")
            .await
            .map_err(wrap)?;
        if generated {
            eprintln!(
                "\nGlint created its first account. Log in to the web UI or the API as\n\n    user: admin\n    password: {password}\n\n\
                 This is shown once; change it with `glint user password admin --password-stdin`.\n"
            );
        }
        tracing::info!("created the admin account");
    }
    if let Some(token) = &config.admin_token {
        db.issue_token(
            "admin",
            None,
            10 * 365 * 86_400,
            Some("GLINT_ADMIN_TOKEN"),
            Some(token),
        )
        .await
        .map_err(wrap)?;
    }
    Ok(())
}

/// Uploads this node was writing when it stopped go back to `queued`; what it left of their
/// data goes, with what servers gone quiet left (never what a live one is writing).
async fn recover(
    db: &Db,
    stores: &Stores,
    staging: &dyn Store,
    node: &str,
    node_timeout: u64,
) -> Result<(), StartError> {
    let stale = db.stale_uploads(&format!("{node}/")).await?;
    for (id, status) in &stale {
        db.transition(id, &[*status], glint_core::Status::Queued, None)
            .await?;
        tracing::warn!(image = %id, "{status} interrupted by a restart; the image is queued again");
    }
    db.release_import_locks(&format!("{node}/")).await?;
    let swept = sweep(db, stores, staging, Some(node), node_timeout).await?;
    if swept > 0 {
        tracing::info!("removed {swept} partial uploads");
    }
    Ok(())
}

/// Removes the partial data that `own` (this server, at its start) and servers silent for
/// `node_timeout` seconds left in the staging area and the writable stores.
async fn sweep(
    db: &Db,
    stores: &Stores,
    staging: &dyn Store,
    own: Option<&str>,
    node_timeout: u64,
) -> Result<usize, StartError> {
    let alive_since = time::now_micros() - node_timeout as i64 * 1_000_000;
    let rule = store::Sweep {
        own: own.map(str::to_string),
        alive: db.alive_nodes(alive_since).await?.into_iter().collect(),
        known: db.known_nodes().await?.into_iter().collect(),
        untouched: std::time::Duration::from_secs(UNCLAIMED_PARTIAL_SECONDS.max(node_timeout)),
    };
    let mut swept = staging.sweep(&rule).await?;
    for s in stores.all().iter().filter(|s| !s.read_only) {
        swept += s.store.sweep(&rule).await?;
    }
    Ok(swept)
}

/// Partial data that names no server (written before servers were recorded) is removed once
/// untouched this long.
const UNCLAIMED_PARTIAL_SECONDS: u64 = 3600;
