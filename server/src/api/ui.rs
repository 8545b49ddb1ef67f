//! The web UI's files beside the API, and `/healthz`.

use axum::Router;
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::Config;

/// The API with the UI's files as fallback and `/healthz`.
pub(crate) fn with_ui(config: &Config, state: super::AppState) -> Router {
    let index = config.ui_dir.join("index.html");
    let ui = if index.is_file() {
        Router::new().fallback_service(
            ServeDir::new(&config.ui_dir).not_found_service(ServeFile::new(index)),
        )
    } else {
        Router::new().fallback(get(super::shared::ui_missing))
    };
    super::router(state)
        .route("/healthz", get(healthz))
        .merge(ui)
}

async fn healthz() -> &'static str {
    "ok"
}
