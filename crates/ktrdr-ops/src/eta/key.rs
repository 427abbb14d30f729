//! What an ETA is learned for: an operation type and the factors that drive its cost.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::EtaError;

/// Factor name of the instrument symbol (`AAPL`).
pub const SYMBOL: &str = "symbol";
/// Factor name of the bar timeframe (`1h`).
pub const TIMEFRAME: &str = "timeframe";
/// Factor name of the loading mode (`tail`, `backfill`, ...).
pub const MODE: &str = "mode";
/// Factor name of the [`SizeBucket`].
pub const SIZE: &str = "size";

/// Order in which [`EtaKey::fallbacks`] drops factors, most specific first.
///
/// The symbol goes first because two symbols of the same timeframe, mode and size cost about the
/// same; the size bucket goes last because it is the factor that scales the cost most (a `large`
/// load takes ten times a `medium` one, so a prior of another size is off by that much). Keeping
/// the size to the end also makes the last level before the bare operation `op|size:…`, exactly
/// the key the Python system used, so imported legacy history serves as a prior there.
const DROP_ORDER: [&str; 3] = [SYMBOL, MODE, TIMEFRAME];

/// A coarse size class derived from an item count (bars, samples, rows).
///
/// The thresholds are the Python `TimeEstimationEngine`'s (`< 1000` small, `< 10000` medium),
/// so that keys imported from its cache mean the same thing here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SizeBucket {
    /// Fewer than 1 000 items.
    Small,
    /// 1 000 to 9 999 items.
    Medium,
    /// 10 000 items or more.
    Large,
}

impl SizeBucket {
    /// The bucket of `items`.
    pub fn from_items(items: u64) -> Self {
        match items {
            0..1_000 => SizeBucket::Small,
            1_000..10_000 => SizeBucket::Medium,
            _ => SizeBucket::Large,
        }
    }

    /// The name used in keys: `small`, `medium` or `large`.
    pub fn as_str(self) -> &'static str {
        match self {
            SizeBucket::Small => "small",
            SizeBucket::Medium => "medium",
            SizeBucket::Large => "large",
        }
    }
}

impl fmt::Display for SizeBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of operation an ETA history is kept for: an operation type plus the cost factors.
///
/// Its storage form is `operation|name:value|name:value` with the factors sorted by name, e.g.
/// `data_load|mode:tail|size:medium|symbol:AAPL|timeframe:1h`. A key with only a size factor
/// reads the same as the Python system's keys (`data_load|size:medium`).
///
/// ```
/// use ktrdr_ops::eta::EtaKey;
///
/// let key = EtaKey::new("data_load")?
///     .with_symbol("AAPL")?
///     .with_timeframe("1h")?
///     .with_mode("tail")?
///     .with_items(5_000);
/// assert_eq!(key.to_string(), "data_load|mode:tail|size:medium|symbol:AAPL|timeframe:1h");
/// assert_eq!(key.to_string().parse::<EtaKey>()?, key);
/// # Ok::<(), ktrdr_ops::eta::EtaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtaKey {
    operation: String,
    factors: BTreeMap<String, String>,
}

impl EtaKey {
    /// A key for `operation` with no factors yet.
    pub fn new(operation: impl Into<String>) -> Result<Self, EtaError> {
        let operation = operation.into();
        check_part(&operation, "operation", &operation, false)?;
        Ok(EtaKey {
            operation,
            factors: BTreeMap::new(),
        })
    }

    /// Adds (or replaces) the factor `name` with `value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Result<Self, EtaError> {
        let value = value.into();
        check_part(name, "factor name", &self.operation, true)?;
        check_part(&value, "factor value", &self.operation, false)?;
        self.factors.insert(name.to_owned(), value);
        Ok(self)
    }

    /// Adds the [`SYMBOL`] factor.
    pub fn with_symbol(self, symbol: impl Into<String>) -> Result<Self, EtaError> {
        self.with(SYMBOL, symbol)
    }

    /// Adds the [`TIMEFRAME`] factor.
    pub fn with_timeframe(self, timeframe: impl Into<String>) -> Result<Self, EtaError> {
        self.with(TIMEFRAME, timeframe)
    }

    /// Adds the [`MODE`] factor.
    pub fn with_mode(self, mode: impl Into<String>) -> Result<Self, EtaError> {
        self.with(MODE, mode)
    }

    /// Adds the [`SIZE`] factor, the [`SizeBucket`] of `items`.
    pub fn with_items(mut self, items: u64) -> Self {
        // A bucket name always passes `check_part`, so this cannot fail.
        self.factors.insert(
            SIZE.to_owned(),
            SizeBucket::from_items(items).as_str().to_owned(),
        );
        self
    }

    /// The operation type.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The value of factor `name`, if set.
    pub fn factor(&self, name: &str) -> Option<&str> {
        self.factors.get(name).map(String::as_str)
    }

    /// All factors, sorted by name.
    pub fn factors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.factors.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// This key followed by ever coarser ones, ending with the bare operation.
    ///
    /// Factors are dropped one at a time, cumulatively: symbol, mode, timeframe, then any other
    /// factor in name order, and the size bucket last (see `DROP_ORDER` for why). A factor the
    /// key does not have is skipped, so no key appears twice.
    pub fn fallbacks(&self) -> Vec<EtaKey> {
        let mut order: Vec<&str> = DROP_ORDER
            .iter()
            .copied()
            .filter(|f| self.factors.contains_key(*f))
            .collect();
        order.extend(
            self.factors
                .keys()
                .map(String::as_str)
                .filter(|f| !DROP_ORDER.contains(f) && *f != SIZE),
        );
        if self.factors.contains_key(SIZE) {
            order.push(SIZE);
        }
        let mut keys = Vec::with_capacity(order.len() + 1);
        let mut current = self.clone();
        keys.push(current.clone());
        for name in order {
            current.factors.remove(name);
            keys.push(current.clone());
        }
        keys
    }
}

/// Rejects the characters the storage form uses as separators, and empty parts.
fn check_part(
    part: &str,
    what: &'static str,
    operation: &str,
    is_name: bool,
) -> Result<(), EtaError> {
    let reason = if part.is_empty() {
        Some("must not be empty")
    } else if part.contains('|') {
        Some("must not contain '|'")
    } else if is_name && part.contains(':') {
        Some("must not contain ':'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(EtaError::InvalidKey {
            key: operation.to_owned(),
            reason: format!("{what} {part:?} {reason}"),
        }),
        None => Ok(()),
    }
}

impl fmt::Display for EtaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.operation)?;
        for (name, value) in &self.factors {
            write!(f, "|{name}:{value}")?;
        }
        Ok(())
    }
}

impl FromStr for EtaKey {
    type Err = EtaError;

    /// Parses the storage form; factors may come in any order, each name at most once.
    fn from_str(s: &str) -> Result<Self, EtaError> {
        let invalid = |reason: String| EtaError::InvalidKey {
            key: s.to_owned(),
            reason,
        };
        let mut parts = s.split('|');
        let operation = parts.next().unwrap_or_default();
        let mut key = EtaKey::new(operation).map_err(|_| invalid("empty operation".into()))?;
        for part in parts {
            let (name, value) = part
                .split_once(':')
                .ok_or_else(|| invalid(format!("factor {part:?} is not name:value")))?;
            if key.factors.contains_key(name) {
                return Err(invalid(format!("factor {name:?} given twice")));
            }
            key = key.with(name, value).map_err(|e| match e {
                EtaError::InvalidKey { reason, .. } => invalid(reason),
                other => other,
            })?;
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_buckets_follow_the_python_thresholds() {
        assert_eq!(SizeBucket::from_items(0), SizeBucket::Small);
        assert_eq!(SizeBucket::from_items(999), SizeBucket::Small);
        assert_eq!(SizeBucket::from_items(1_000), SizeBucket::Medium);
        assert_eq!(SizeBucket::from_items(9_999), SizeBucket::Medium);
        assert_eq!(SizeBucket::from_items(10_000), SizeBucket::Large);
    }

    #[test]
    fn storage_form_is_sorted_and_round_trips() {
        let key = EtaKey::new("load")
            .unwrap()
            .with_timeframe("1d")
            .unwrap()
            .with_symbol("EURUSD")
            .unwrap()
            .with("host", "gpu-1")
            .unwrap();
        assert_eq!(
            key.to_string(),
            "load|host:gpu-1|symbol:EURUSD|timeframe:1d"
        );
        let parsed: EtaKey = "load|timeframe:1d|symbol:EURUSD|host:gpu-1"
            .parse()
            .unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.factor("symbol"), Some("EURUSD"));
    }

    #[test]
    fn python_keys_parse() {
        let key: EtaKey = "load_data_AAPL_1h|size:medium".parse().unwrap();
        assert_eq!(key.operation(), "load_data_AAPL_1h");
        assert_eq!(key.factor(SIZE), Some("medium"));
        assert_eq!(key.to_string(), "load_data_AAPL_1h|size:medium");
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        for bad in [
            "",
            "|size:small",
            "op|size",
            "op|size:a|size:b",
            "op|:x",
            "op|a:",
        ] {
            let err = bad.parse::<EtaKey>().unwrap_err();
            assert!(matches!(err, EtaError::InvalidKey { .. }), "{bad}: {err}");
        }
        assert!(EtaKey::new("a|b").is_err());
        assert!(EtaKey::new("op").unwrap().with("a:b", "x").is_err());
        assert!(EtaKey::new("op").unwrap().with_symbol("A|B").is_err());
    }

    #[test]
    fn fallbacks_drop_symbol_mode_timeframe_others_then_size() {
        let key = EtaKey::new("data_load")
            .unwrap()
            .with_symbol("AAPL")
            .unwrap()
            .with_timeframe("1h")
            .unwrap()
            .with_mode("tail")
            .unwrap()
            .with("host", "a")
            .unwrap()
            .with_items(50_000);
        let chain: Vec<String> = key.fallbacks().iter().map(ToString::to_string).collect();
        assert_eq!(
            chain,
            [
                "data_load|host:a|mode:tail|size:large|symbol:AAPL|timeframe:1h",
                "data_load|host:a|mode:tail|size:large|timeframe:1h",
                "data_load|host:a|size:large|timeframe:1h",
                "data_load|host:a|size:large",
                "data_load|size:large",
                "data_load",
            ]
        );
        let bare = EtaKey::new("x").unwrap();
        assert_eq!(bare.fallbacks(), vec![bare.clone()]);
    }
}
