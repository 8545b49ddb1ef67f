//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route template, method and
//! status with their latency, requests in flight, image bytes uploaded and downloaded, short
//! downloads, uploads and imports in flight, import durations by method and outcome, the image
//! cache's hits, misses, evictions and size, store failures by store and operation, the
//! database pools' busy and idle connections, the domain's events by type, and the
//! notification outbox's depth. Label values are routes, names and outcomes, never an image or
//! project id (cardinality, and nothing to read).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::events::Event;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportLabels {
    method: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
    state: String,
}

type Durations = Family<ImportLabels, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConversionLabels {
    from: String,
    to: String,
    outcome: String,
}

type Conversions = Family<ConversionLabels, Histogram, fn() -> Histogram>;

fn import_histogram() -> Histogram {
    // 0.1 s to about 27 min.
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

/// The image cache's metrics; cloning shares them.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheMetrics {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) evictions: Counter,
    /// Bytes held (and set aside for fills under way).
    pub(crate) size: Gauge,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    in_flight: Gauge,
    uploaded: Counter,
    downloaded: Counter,
    short_downloads: Counter,
    events: Family<EventLabels, Counter>,
    outbox: Gauge,
    uploads: Gauge,
    imports: Gauge,
    import_seconds: Durations,
    cache: CacheMetrics,
    store_errors: Family<StoreLabels, Counter>,
    pool: Family<PoolLabels, Gauge>,
    conversion_seconds: Conversions,
}

/// The server's metrics; cloning shares them.
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("glint");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (to its headers; a download's body streams after)",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being answered",
            in_flight.clone(),
        );
        let uploaded = Counter::default();
        registry.register(
            "image_uploaded_bytes",
            "Image data that became an image's (uploads and imports)",
            uploaded.clone(),
        );
        let downloaded = Counter::default();
        registry.register(
            "image_downloaded_bytes",
            "Image data sent to clients",
            downloaded.clone(),
        );
        let short_downloads = Counter::default();
        registry.register(
            "image_short_downloads",
            "Downloads that ended before all the data asked for was sent",
            short_downloads.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "events",
            "What the image operations did, by Glance's event type",
            events.clone(),
        );
        let outbox = Gauge::default();
        registry.register(
            "notification_outbox_depth",
            "Notifications waiting to be sent",
            outbox.clone(),
        );
        let uploads = Gauge::default();
        registry.register(
            "uploads_in_flight",
            "Image data being received (uploads and staging)",
            uploads.clone(),
        );
        let imports = Gauge::default();
        registry.register(
            "imports_in_flight",
            "Import tasks running on this server",
            imports.clone(),
        );
        let import_seconds: Durations = Family::new_with_constructor(import_histogram);
        registry.register(
            "import_duration_seconds",
            "Time from an import task's start to its end, by method and outcome",
            import_seconds.clone(),
        );
        let conversion_seconds: Conversions = Family::new_with_constructor(import_histogram);
        registry.register(
            "conversion_duration_seconds",
            "Time to check and convert an imported image (qemu-img), by formats and outcome",
            conversion_seconds.clone(),
        );
        let cache = CacheMetrics::default();
        registry.register(
            "image_cache_hits",
            "Downloads served from the image cache",
            cache.hits.clone(),
        );
        registry.register(
            "image_cache_misses",
            "Downloads the image cache had no copy for",
            cache.misses.clone(),
        );
        registry.register(
            "image_cache_evictions",
            "Copies evicted from the image cache to make room",
            cache.evictions.clone(),
        );
        registry.register(
            "image_cache_size_bytes",
            "Bytes the image cache holds or has set aside",
            cache.size.clone(),
        );
        let store_errors = Family::<StoreLabels, Counter>::default();
        registry.register(
            "store_errors",
            "Store operations that failed, by store and operation",
            store_errors.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections by pool (reader, writer) and state (busy, idle); a pool \
             whose busy connections reach its size makes requests wait",
            pool.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                in_flight,
                uploaded,
                downloaded,
                short_downloads,
                events,
                outbox,
                uploads,
                imports,
                import_seconds,
                cache,
                store_errors,
                pool,
                conversion_seconds,
            }),
        }
    }
}

/// A request being answered; counted in flight until dropped.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// Counts a request in flight until the guard is dropped.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.inner.in_flight.inc();
        InFlight(self.inner.in_flight.clone())
    }

    /// Counts an upload in flight until the guard is dropped.
    pub(crate) fn upload(&self) -> InFlight {
        self.inner.uploads.inc();
        InFlight(self.inner.uploads.clone())
    }

    /// The image cache's metrics.
    pub(crate) fn cache(&self) -> CacheMetrics {
        self.inner.cache.clone()
    }

    /// What a store calls when an operation fails (see `store::Watched`).
    pub(crate) fn store_errors(&self, store: &str) -> crate::store::OnError {
        let family = self.inner.store_errors.clone();
        let store = store.to_string();
        Arc::new(move |operation| {
            family
                .get_or_create(&StoreLabels {
                    store: store.clone(),
                    operation: operation.to_string(),
                })
                .inc();
        })
    }

    /// Sets a database pool's busy and idle connections.
    pub(crate) fn set_pool(&self, pool: &str, size: u32, idle: usize) {
        for (state, n) in [
            ("busy", i64::from(size).saturating_sub(idle as i64)),
            ("idle", idle as i64),
        ] {
            self.inner
                .pool
                .get_or_create(&PoolLabels {
                    pool: pool.to_string(),
                    state: state.to_string(),
                })
                .set(n);
        }
    }

    /// Records an answered request: `route` is its template (`/v2/images/{id}`).
    pub(crate) fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.inner
            .latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
                method: method.to_string(),
            })
            .observe(seconds);
    }

    /// An event subscriber: events by type, and the bytes they moved.
    /// A conversion's duration and outcome.
    pub(crate) fn conversion(&self, from: &str, to: &str, ok: bool, took: std::time::Duration) {
        self.inner
            .conversion_seconds
            .get_or_create(&ConversionLabels {
                from: from.to_string(),
                to: to.to_string(),
                outcome: if ok { "success" } else { "failure" }.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn record(&self, event: &Event) {
        self.inner
            .events
            .get_or_create(&EventLabels {
                event: event.name().to_string(),
            })
            .inc();
        match event {
            Event::Uploaded { image, .. } => {
                self.inner.uploaded.inc_by(image.size.unwrap_or_default());
            }
            Event::Sent {
                bytes_sent,
                expected,
                ..
            } => {
                self.inner.downloaded.inc_by(*bytes_sent);
                if bytes_sent < expected {
                    self.inner.short_downloads.inc();
                }
            }
            Event::TaskCreated { .. } => {
                self.inner.imports.inc();
            }
            Event::TaskEnded { task, .. } => {
                self.inner.imports.dec();
                let method = task.input["import_req"]["method"]["name"]
                    .as_str()
                    .unwrap_or(&task.kind);
                self.inner
                    .import_seconds
                    .get_or_create(&ImportLabels {
                        method: method.to_string(),
                        outcome: task.status.clone(),
                    })
                    .observe((task.updated_at - task.created_at).max(0) as f64 / 1e6);
            }
            _ => {}
        }
    }

    pub(crate) fn set_outbox_depth(&self, depth: i64) {
        self.inner.outbox.set(depth);
    }

    /// Every metric in the OpenMetrics text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::error!("cannot encode the metrics: {e}");
        }
        out
    }
}
