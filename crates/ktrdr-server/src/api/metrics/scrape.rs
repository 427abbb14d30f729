//! Rendering `/metrics`: the kept metrics plus what is read from the registry and the data
//! manager at the moment of the scrape.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::api::{ApiError, ApiState};

/// The content type of the OpenMetrics text format (which Prometheus reads).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountLabels {
    operation_type: String,
    status: &'static str,
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "Metrics in the OpenMetrics text format",
               content_type = "application/openmetrics-text"))
)]
pub(crate) async fn serve_metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    // The registry count is a SQLite query: off the runtime like every registry call.
    let text = state.blocking(render).await?;
    Ok(([(CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

fn render(state: &ApiState) -> Result<String, ApiError> {
    let metrics = state.metrics();
    metrics.scrapes.inc();
    let mut registry = Registry::with_prefix("ktrdr");
    registry.register(
        "http_requests",
        "Requests answered, by route template, method and status",
        metrics.http_requests.clone(),
    );
    registry.register_with_unit(
        "http_request_duration",
        "Time to answer a request (to its first byte for an event stream), by route template",
        Unit::Seconds,
        metrics.http_seconds.clone(),
    );
    registry.register_with_unit(
        "registry_write_duration",
        "Time of a write to the operations registry by this server, by call",
        Unit::Seconds,
        metrics.registry_write_seconds.clone(),
    );
    registry.register_with_unit(
        "operation_duration",
        "Running time of the operations this server ran, by type and final status",
        Unit::Seconds,
        metrics.operation_seconds.clone(),
    );
    registry.register(
        "event_streams",
        "Open Server-Sent Event streams (operation watchers)",
        metrics.event_streams.clone(),
    );
    registry.register(
        "metrics_scrapes",
        "Scrapes of this endpoint",
        metrics.scrapes.clone(),
    );

    let operations = Family::<CountLabels, Gauge>::default();
    for count in state.registry().counts()? {
        let labels = CountLabels {
            operation_type: count.operation_type,
            status: count.status.as_str(),
        };
        operations
            .get_or_create(&labels)
            .set(i64::try_from(count.count).unwrap_or(i64::MAX));
    }
    registry.register(
        "operations",
        "Operations in the registry (of every process sharing it), by type and status",
        operations,
    );

    let data = state.manager().stats();
    registry.register(
        "data_loads",
        "Data loads this server ran to an end (any outcome)",
        ConstCounter::new(data.loads),
    );
    registry.register(
        "fetch_requests",
        "Requests sent to the data provider",
        ConstCounter::new(data.requests_sent),
    );
    registry.register(
        "fetch_retries",
        "Provider requests repeated after a failed attempt (the host client sends each request \
         once; the data manager retries)",
        ConstCounter::new(data.retries),
    );
    registry.register(
        "bars_saved",
        "Bars written to the store by loads",
        ConstCounter::new(data.bars_saved),
    );
    if let Some(pacing) = data.pacing {
        registry.register(
            "pacing_grants",
            "Requests the pacing gate let through",
            ConstCounter::new(pacing.granted),
        );
        registry.register(
            "pacing_waits",
            "Requests that waited at the pacing gate",
            ConstCounter::new(pacing.waited),
        );
        registry.register_with_unit(
            "pacing_wait",
            "Time requests waited at the pacing gate, together",
            Unit::Seconds,
            ConstCounter::new(pacing.waited_secs),
        );
        registry.register(
            "pacing_violations",
            "Pacing violations the broker reported anyway",
            ConstCounter::new(pacing.violations),
        );
    }

    let mut text = String::new();
    encode(&mut text, &registry).map_err(ApiError::internal)?;
    Ok(text)
}
