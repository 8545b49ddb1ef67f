//! Whether this server can do its work, for load balancers and operators: a node an operator
//! drains (the disable file exists) is unavailable; the detailed view checks the database, each
//! store, the staging area, Keystone and the notification outbox, each with how long it took.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::keystone::Keystone;
use crate::store::{Store, Stores};

/// How old the oldest unsent notification may get before the notifier counts as failing.
const OUTBOX_LAG: Duration = Duration::from_secs(60);

/// One part's state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// `database`, `store:<id>`, `staging`, `keystone`, `notifications`.
    pub(crate) name: String,
    pub(crate) ok: bool,
    /// How long the check took, in milliseconds.
    pub(crate) millis: f64,
    /// What it found (an error's text, the outbox's depth).
    pub(crate) detail: String,
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    pub(crate) db: Db,
    pub(crate) stores: Arc<Stores>,
    pub(crate) staging: Arc<dyn Store>,
    pub(crate) keystone: Option<Arc<Keystone>>,
    /// Whether notifications go through the outbox.
    pub(crate) outbox: bool,
    /// While this file exists the server says it is unavailable (oslo.middleware's
    /// `disable_by_file_path`), so an operator can take it out of a load balancer.
    pub(crate) disable_file: Option<PathBuf>,
}

async fn timed<E: std::fmt::Display>(
    name: String,
    check: impl std::future::Future<Output = Result<String, E>>,
) -> Check {
    let start = Instant::now();
    let result = check.await;
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(detail) => Check {
            name,
            ok: true,
            millis,
            detail,
        },
        Err(e) => Check {
            name,
            ok: false,
            millis,
            detail: e.to_string(),
        },
    }
}

impl Health {
    /// Whether an operator has disabled this server.
    pub(crate) fn disabled(&self) -> bool {
        self.disable_file.as_deref().is_some_and(|f| f.exists())
    }

    /// Every part's state, in a fixed order.
    pub(crate) async fn checks(&self) -> Vec<Check> {
        let mut out = vec![
            timed("database".into(), async {
                self.db.ping().await.map(|()| String::new())
            })
            .await,
        ];
        for store in self.stores.all() {
            out.push(
                timed(format!("store:{}", store.id), async {
                    store.store.check().await.map(|()| store.kind.to_string())
                })
                .await,
            );
        }
        out.push(
            timed("staging".into(), async {
                self.staging.check().await.map(|()| String::new())
            })
            .await,
        );
        if let Some(keystone) = &self.keystone {
            out.push(
                timed("keystone".into(), async {
                    keystone.check().await.map(|()| String::new())
                })
                .await,
            );
        }
        if self.outbox {
            out.push(
                timed("notifications".into(), async {
                    let (waiting, oldest) =
                        self.db.outbox_waiting().await.map_err(|e| e.to_string())?;
                    let age = oldest
                        .map(|t| (crate::time::now_micros() - t).max(0) as u64)
                        .map(Duration::from_micros)
                        .unwrap_or_default();
                    let detail = format!("{waiting} waiting, the oldest {}s old", age.as_secs());
                    match age > OUTBOX_LAG {
                        true => Err(format!("not being sent: {detail}")),
                        false => Ok(detail),
                    }
                })
                .await,
            );
        }
        out
    }
}
