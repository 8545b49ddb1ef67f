//! The web UI's files beside the API, and `/healthz`.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
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
        Router::new().fallback(get(ui_missing))
    };
    super::router(state)
        .route("/healthz", get(healthz))
        .merge(ui)
}

async fn healthz() -> &'static str {
    "ok"
}

/// The UI's entry page, or a note saying how to build it.
pub(crate) async fn index(index: &std::path::Path) -> axum::response::Response {
    match tokio::fs::read_to_string(index).await {
        Ok(page) => Html(page).into_response(),
        Err(_) => ui_missing().await.into_response(),
    }
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
