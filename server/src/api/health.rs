//! `GET /metrics` (Prometheus), and `GET` and `HEAD /healthcheck`, as oslo.middleware's
//! healthcheck answers them (Glance's
//! `/healthcheck`): `OK` (200; 204 to `HEAD`), or `DISABLED BY FILE` (503) while the operator's
//! disable file exists; text, JSON or HTML by `Accept`. An administrator asking for JSON gets
//! the detailed view: every part's state and latency, 503 if one fails.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::extract::Identity;

fn accepts(headers: &HeaderMap, kind: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(kind))
}

pub(crate) async fn healthcheck(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    identity: Option<Identity>,
) -> Response {
    let health = &state.health;
    let reason = match health.disabled() {
        true => "DISABLED BY FILE",
        false => "OK",
    };
    let available = reason == "OK";
    let admin = identity.is_some_and(|i| state.images.rules.is_admin(&i.caller));
    if method == Method::HEAD {
        return match available {
            true => StatusCode::NO_CONTENT,
            false => StatusCode::SERVICE_UNAVAILABLE,
        }
        .into_response();
    }
    if admin && accepts(&headers, "application/json") {
        let checks = health.checks().await;
        let healthy = available && checks.iter().all(|c| c.ok);
        let mut reasons = vec![json!({
            "reason": reason,
            "details": "",
            "class": "DisableByFileHealthcheck",
        })];
        reasons.extend(checks.iter().map(|c| {
            json!({
                "reason": if c.ok { "OK" } else { "FAILED" },
                "details": c.detail,
                "class": c.name,
                "latency_ms": (c.millis * 1000.0).round() / 1000.0,
            })
        }));
        let status = match healthy {
            true => StatusCode::OK,
            false => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body: Value = json!({"detailed": true, "healthy": healthy, "reasons": reasons});
        return (status, Json(body)).into_response();
    }
    let status = match available {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    if accepts(&headers, "application/json") {
        return (
            status,
            Json(json!({"detailed": false, "reasons": [reason]})),
        )
            .into_response();
    }
    if accepts(&headers, "text/html") {
        let page = format!(
            "<HTML>\n<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>\n<BODY>\n<H2>Result of 1 checks:</H2>\n\
             <TABLE bgcolor=\"#ffffff\" border=\"1\">\n<TBODY>\n<TR>\n<TH>\nReason\n</TH>\n</TR>\n\
             <TR>\n<TD>{reason}</TD>\n</TR>\n</TBODY>\n</TABLE>\n<HR></HR>\n</BODY>\n</HTML>"
        );
        return (status, Html(page)).into_response();
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        reason,
    )
        .into_response()
}

/// `GET /metrics`: the server's metrics in the OpenMetrics text format Prometheus scrapes.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    for (pool, size, idle) in state.db.pool_connections() {
        state.metrics.set_pool(pool, size, idle);
    }
    if let Ok((waiting, _)) = state.db.outbox_waiting().await {
        state.metrics.set_outbox_depth(waiting);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Records each request's route template, method, status and latency, and counts it in flight.
pub(crate) async fn measure(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let started = std::time::Instant::now();
    let _counted = state.metrics.in_flight();
    let response = next.run(req).await;
    state.metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
