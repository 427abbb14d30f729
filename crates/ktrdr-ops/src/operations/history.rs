//! How the runner learns durations: the ETA key of an operation, its prior, and the record
//! written after a success.

use std::time::Duration;

use serde_json::Value;

use crate::eta::{DurationRecord, EtaHistory, EtaKey, Prior};

/// The ETA key of an operation: its type plus the metadata factors that drive its cost.
pub(super) fn eta_key(operation_type: &str, metadata: &Value) -> EtaKey {
    let factor = |name: &str| metadata.get(name).and_then(Value::as_str).map(str::to_owned);
    EtaKey {
        operation_type: operation_type.to_owned(),
        symbol: factor("symbol"),
        timeframe: factor("timeframe"),
        mode: factor("mode"),
        size_bucket: factor("size_bucket"),
    }
}

/// The learned prior for `key`; a failing history is logged and treated as "no prior", since an
/// ETA without history is still useful.
pub(super) fn prior(history: &dyn EtaHistory, key: &EtaKey) -> Option<Prior> {
    history.prior(key).unwrap_or_else(|error| {
        tracing::warn!(?key, %error, "ETA history unavailable; estimating without a prior");
        None
    })
}

/// Records the duration of a successful run.
pub(super) fn record_success(history: &dyn EtaHistory, key: &EtaKey, took: Duration, metadata: &Value) {
    let record = DurationRecord {
        duration_secs: took.as_secs_f64(),
        recorded_at: chrono::Utc::now(),
        context: metadata.clone(),
    };
    history.record(key, record);
}
