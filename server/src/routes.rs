//! The HTTP surface.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::Config;

pub(crate) fn router(config: &Config, state: crate::api::AppState) -> Router {
    let index = config.ui_dir.join("index.html");
    let ui = if index.is_file() {
        Router::new().fallback_service(
            ServeDir::new(&config.ui_dir).not_found_service(ServeFile::new(index)),
        )
    } else {
        Router::new().fallback(get(ui_missing))
    };
    crate::api::router(state)
        .route("/healthz", get(healthz))
        .merge(ui)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn ui_missing() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><title>Glint</title><p>The web UI is not built. \
             Start Glint with <code>cargo glint run</code>, which builds it.</p>",
        ),
    )
}
