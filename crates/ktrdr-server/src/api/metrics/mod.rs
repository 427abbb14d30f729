//! `GET /metrics`: the server's state in the Prometheus/OpenMetrics text format
//! (prometheus-client).
//!
//! Kept as the server runs: requests by route, method and status with their latency
//! (`http.rs`), registry write latency by call and the duration of every operation that ends
//! by type and status (both measured by [`MeteredRegistry`], the decorator the server's runner
//! records through), and the open event streams. Read at each scrape: operations by type and
//! status (all processes, from the registry), the data manager's loads, requests, retries and
//! saved bars, and its pacing gate's grants, waits and violations.

mod http;
mod metered;
pub(crate) mod scrape;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

pub(crate) use http::track_requests;
pub use metered::MeteredRegistry;
pub(crate) use scrape::serve_metrics;

/// The metrics kept while the server runs. Share one per process.
#[derive(Debug)]
pub struct Metrics {
    http_requests: Family<HttpLabels, prometheus_client::metrics::counter::Counter>,
    http_seconds: Family<RouteLabels, Histogram>,
    registry_write_seconds: Family<CallLabels, Histogram>,
    operation_seconds: Family<OperationLabels, Histogram>,
    event_streams: Gauge<i64, std::sync::atomic::AtomicI64>,
    scrapes: prometheus_client::metrics::counter::Counter<u64, AtomicU64>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    call: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation_type: String,
    status: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        // 100 µs .. 3.3 s for requests, 10 µs .. 0.33 s for registry writes, 10 ms .. 1.5 h
        // for operations: each spans what the thing can take.
        Metrics {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1e-4, 2.0, 16))
            }),
            registry_write_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1e-5, 2.0, 16))
            }),
            operation_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1e-2, 2.0, 20))
            }),
            event_streams: Gauge::default(),
            scrapes: Default::default(),
        }
    }
}

impl Metrics {
    /// `registry` with its writes and finished operations measured into these metrics.
    pub fn meter_registry(
        self: &Arc<Self>,
        registry: Arc<dyn ktrdr_ops::registry::Registry>,
    ) -> Arc<dyn ktrdr_ops::registry::Registry> {
        Arc::new(MeteredRegistry::new(registry, Arc::clone(self)))
    }

    /// Counts an open event stream until the returned guard is dropped.
    pub fn event_stream(self: &Arc<Self>) -> StreamGuard {
        self.event_streams.inc();
        StreamGuard(Arc::clone(self))
    }

    /// How many event streams are open now.
    pub fn event_streams(&self) -> i64 {
        self.event_streams.get()
    }
}

/// An open event stream, counted until dropped.
#[derive(Debug)]
pub struct StreamGuard(Arc<Metrics>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.event_streams.dec();
    }
}
