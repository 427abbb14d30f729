//! How the runner learns durations: the ETA key of an operation, its prior, and the record
//! written after a success.

use std::time::Duration;

use serde_json::Value;

use crate::eta::{DurationRecord, EtaError, EtaHistory, EtaKey, Prior, MODE, SYMBOL, TIMEFRAME};

/// The metadata field holding the expected number of items (bars, samples), which selects the
/// size bucket of the ETA key.
pub(super) const ITEMS: &str = "items";

/// The metadata field holding a domain's own cost factors (an object of strings or numbers: a
/// training's strategy and epochs, say), added to the ETA key beside the common ones.
pub(super) const ETA_FACTORS: &str = "eta_factors";

/// The ETA key of an operation: its type plus the metadata factors that drive its cost
/// (`symbol`, `timeframe`, `mode` as strings, `items` as a count, and each entry of
/// `eta_factors`).
pub(super) fn eta_key(operation_type: &str, metadata: &Value) -> Result<EtaKey, EtaError> {
    let mut key = EtaKey::new(operation_type)?;
    for factor in [SYMBOL, TIMEFRAME, MODE] {
        if let Some(value) = metadata.get(factor).and_then(Value::as_str) {
            key = key.with(factor, value)?;
        }
    }
    if let Some(extra) = metadata.get(ETA_FACTORS).and_then(Value::as_object) {
        for (name, value) in extra {
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                other => {
                    return Err(EtaError::InvalidKey {
                        key: operation_type.to_owned(),
                        reason: format!(
                            "eta factor {name:?} is {other}; a factor is a string or a number"
                        ),
                    })
                }
            };
            key = key.with(name, value)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    #[test]
    fn a_domains_own_factors_join_the_key_before_the_size_bucket_is_dropped() {
        let metadata = json!({
            "symbol": "AAPL",
            "timeframe": "1h",
            "items": 25_000,
            "eta_factors": {"strategy": "rsi_mean_reversion", "epochs": 50},
        });
        let key = eta_key("training", &metadata).unwrap();
        assert_eq!(
            key.to_string(),
            "training|epochs:50|size:large|strategy:rsi_mean_reversion|symbol:AAPL|timeframe:1h"
        );
        let coarsest_with_size = &key.fallbacks()[4];
        assert_eq!(coarsest_with_size.to_string(), "training|size:large");
    }

    #[test]
    fn a_factor_that_is_neither_text_nor_a_number_is_refused_by_name() {
        let metadata = json!({"eta_factors": {"epochs": [50]}});
        let error = eta_key("training", &metadata).unwrap_err().to_string();
        assert!(error.contains("\"epochs\""), "{error}");
    }
}
