//! Glint's server: the Glance-compatible image API and the web UI's host.

pub mod config;
pub mod error;
mod routes;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::{Config, ServeArgs};
pub use error::StartError;

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let app = routes::router(&config);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
