//! How the runner learns durations: the ETA key of an operation, its prior, and the record
//! written after a success.

use std::time::Duration;

use serde_json::Value;

use crate::eta::{DurationRecord, EtaError, EtaHistory, EtaKey, Prior, MODE, SYMBOL, TIMEFRAME};

/// The metadata field holding the expected number of items (bars, samples), which selects the
/// size bucket of the ETA key.
pub(super) const ITEMS: &str = "items";

/// The ETA key of an operation: its type plus the metadata factors that drive its cost
/// (`symbol`, `timeframe`, `mode` as strings, `items` as a count).
pub(super) fn eta_key(operation_type: &str, metadata: &Value) -> Result<EtaKey, EtaError> {
    let mut key = EtaKey::new(operation_type)?;
    for factor in [SYMBOL, TIMEFRAME, MODE] {
        if let Some(value) = metadata.get(factor).and_then(Value::as_str) {
            key = key.with(factor, value)?;
        }
    }
    if let Some(items) = metadata.get(ITEMS).and_then(Value::as_u64) {
        key = key.with_items(items);
    }
    Ok(key)
}

/// The learned prior for `key`; a failing history is logged and treated as "no prior", since an
/// ETA without history is still useful.
pub(super) fn prior(history: &dyn EtaHistory, key: &EtaKey) -> Option<Prior> {
    history.prior(key).unwrap_or_else(|error| {
        tracing::warn!(%key, %error, "ETA history unavailable; estimating without a prior");
        None
    })
}

/// Records the duration of a successful run, with the operation's metadata as context.
pub(super) fn record_success(
    history: &dyn EtaHistory,
    key: &EtaKey,
    took: Duration,
    metadata: &Value,
) {
    let mut record = DurationRecord::now(took.as_secs_f64());
    record.context = match metadata {
        Value::Object(map) => map.clone(),
        Value::Null => serde_json::Map::new(),
        other => serde_json::Map::from_iter([("metadata".to_owned(), other.clone())]),
    };
    if let Err(error) = history.record(key, record) {
        tracing::warn!(%key, %error, "could not record the operation's duration");
    }
}
