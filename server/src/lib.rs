//! Glint's server: the Glance-compatible image API and the web UI's host.

pub mod api;
pub mod config;
pub mod db;
pub mod error;
mod hashing;
mod locks;
mod routes;
pub mod store;
mod time;

use std::future::Future;
use std::sync::Arc;

use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tower::Layer;
use tower::util::MapRequestLayer;

pub use config::{Config, ServeArgs};
pub use error::StartError;

use api::AppState;
use db::Db;
use store::{FsStore, Store};

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let db = Db::connect(&config.database_url).await?;
    let store: Arc<dyn Store> = Arc::new(FsStore::new(config.data_dir.join("images"))?);
    let staging: Arc<dyn Store> = Arc::new(FsStore::new(config.data_dir.join("staging"))?);
    let node: Arc<str> = Arc::from(config.node_name.as_str());
    recover(&db, store.as_ref(), staging.as_ref(), &node).await?;
    let state = AppState {
        db: db.clone(),
        store,
        staging,
        settings: Arc::new(glint_core::Settings {
            require_format_match: config.require_format_match,
            ..glint_core::Settings::default()
        }),
        node,
        ui_index: Arc::from(config.ui_dir.join("index.html").as_path()),
        locks: Arc::default(),
    };
    // Planner statistics: refreshed now and then while the server runs.
    let maintenance = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(e) = db.optimize().await {
                    tracing::warn!("database maintenance failed: {e}");
                }
            }
        })
    };
    let app = routes::router(&config, state);
    let app = MapRequestLayer::new(api::normalize_version).layer(app);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    maintenance.abort();
    db.close().await;
    Ok(())
}

/// Uploads this node was writing when it stopped go back to `queued`; their partial data goes.
async fn recover(
    db: &Db,
    store: &dyn Store,
    staging: &dyn Store,
    node: &str,
) -> Result<(), StartError> {
    let stale = db.stale_uploads(&format!("{node}/"), 0).await?;
    for (id, status) in &stale {
        db.transition(id, &[*status], glint_core::Status::Queued, None)
            .await?;
        tracing::warn!(image = %id, "{status} interrupted by a restart; the image is queued again");
    }
    let swept = store.sweep().await? + staging.sweep().await?;
    if swept > 0 {
        tracing::info!("removed {swept} partial uploads");
    }
    Ok(())
}
