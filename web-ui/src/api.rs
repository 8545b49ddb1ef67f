//! Every HTTP call the UI makes. Components call these functions; they never build requests.

use gloo_net::http::Request;

/// The server's health check.
pub(crate) async fn health() -> Result<String, String> {
    let response = Request::get("/healthz")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}
