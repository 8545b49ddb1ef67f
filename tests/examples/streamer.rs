//! The download bench's limit line: the most direct axum handler that streams a file, with
//! nothing of an image service around it (no database, no access checks, no events). `cargo
//! glint bench-vs-glance` serves the bench's data file with it and downloads it with the same
//! client as from Glint and Glance.
//!
//! `streamer FILE PORT`: `GET /file` answers the whole file (`Content-Length`, read in 256 KiB
//! pieces as Glint's file store reads).

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

async fn file(path: std::sync::Arc<std::path::PathBuf>) -> Response {
    let Ok(file) = tokio::fs::File::open(path.as_path()).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(meta) = file.metadata().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, meta.len().to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: streamer FILE PORT");
        std::process::exit(2);
    };
    let path = std::sync::Arc::new(std::path::PathBuf::from(path));
    let app = Router::new().route("/file", get(move || file(path.clone())));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse().unwrap_or(0))).await?;
    axum::serve(listener, app).await
}
