//! Sending the outbox to a webhook: each notification POSTed on its own, in order, as the JSON
//! message the `messaging` driver sends, signed with HMAC-SHA256 so the receiver can tell it
//! came from here (`X-Glint-Signature-256: sha256=<hex>`, over the body as sent). A receiver
//! that is down or answers 5xx, 408 or 429 gets the same notification again, after a pause that
//! grows, and nothing after it meanwhile; one that refuses a notification with another 4xx
//! will refuse it again, so that one is logged and dropped.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;

use crate::config::Secret;
use crate::db::Queued;

/// Why a webhook cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HookError {
    #[error("{0}: not an http(s) URL")]
    Url(String),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A webhook as a destination of the outbox.
pub(super) struct Hook {
    url: reqwest::Url,
    /// The URL as logs show it: no credentials, no query.
    shown: String,
    sink: String,
    key: Vec<u8>,
    publisher_id: String,
    client: reqwest::Client,
}

/// The signature header's value for `body`.
pub(crate) fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!(
        "sha256={}",
        crate::hashing::hex(&mac.finalize().into_bytes())
    )
}

impl Hook {
    pub(super) fn new(
        url: &str,
        sink: String,
        secret: &Secret,
        publisher_id: &str,
    ) -> Result<Hook, HookError> {
        let url = reqwest::Url::parse(url).map_err(|_| HookError::Url(url.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HookError::Url(url.to_string()));
        }
        let shown = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + url.path();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Hook {
            url,
            shown,
            sink,
            key: secret.0.clone(),
            publisher_id: publisher_id.to_string(),
            client,
        })
    }
}

/// Whether a receiver that answered `status` may take the notification if it comes again.
fn worth_retrying(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

impl super::Destination for Hook {
    fn sink(&self) -> &str {
        &self.sink
    }

    async fn deliver(&mut self, batch: &[Queued]) -> (Vec<i64>, Option<String>) {
        let mut done = Vec::with_capacity(batch.len());
        for queued in batch {
            let o = &queued.outgoing;
            let body = super::message(o, &self.publisher_id).to_string();
            let answer = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Glint-Event", &o.event_type)
                .header("X-Glint-Delivery", &o.message_id)
                .header(
                    "X-Glint-Signature-256",
                    signature(&self.key, body.as_bytes()),
                )
                .body(body)
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => done.push(queued.id),
                Ok(r) if worth_retrying(r.status()) => {
                    let status = r.status();
                    return (done, Some(format!("{} answered {status}", self.shown)));
                }
                Ok(r) => {
                    tracing::error!(
                        event_type = %o.event_type,
                        message_id = %o.message_id,
                        "notifications: {} refused a notification ({}); it is dropped",
                        self.shown,
                        r.status()
                    );
                    done.push(queued.id);
                }
                Err(e) => {
                    let e = e.without_url();
                    return (done, Some(format!("cannot reach {} ({e})", self.shown)));
                }
            }
        }
        (done, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn signatures_are_hmac_sha256() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_passing_refusals_are_retried() {
        for s in [500, 502, 503, 408, 429] {
            assert!(worth_retrying(StatusCode::from_u16(s).expect("a status")));
        }
        for s in [400, 401, 404, 410, 413] {
            assert!(!worth_retrying(StatusCode::from_u16(s).expect("a status")));
        }
    }
}
