//! What a provider says about itself ([`ProviderInfo`], [`SpanLimits`]) and about a symbol
//! ([`SymbolInfo`], the host-service protocol's `contract_info`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ProviderError;
use crate::calendar::SessionHours;
use crate::pacing::PacingRules;
use crate::planner::ib_max_span;
use crate::types::TimeRange;
use crate::types::{Symbol, Timeframe};

const DAY: i64 = 86_400;

/// How a provider describes itself: shown to users, and read by the planner (spans) and by
/// whoever builds the [`PacingGate`](crate::pacing::PacingGate) for the connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    /// What users see, e.g. `sim (simulated data)`, `host (IB host service at http://…)`.
    pub name: String,
    /// True when the bars are made up (the simulator); shown wherever data is shown.
    pub simulated: bool,
    /// The longest range one request may cover, per timeframe.
    pub spans: SpanLimits,
    /// The pacing rules the provider's connection must respect.
    pub pacing: PacingRules,
    /// Which hours intraday bars cover (IB's `useRTH`): gap analysis must expect the same.
    pub session_hours: SessionHours,
}

/// The longest range one request may cover, per timeframe (seconds). A timeframe without an
/// entry is not supported by the provider.
///
/// ```
/// use ktrdr_data::provider::SpanLimits;
/// use ktrdr_data::types::TimeRange;
/// use ktrdr_data::types::Timeframe;
///
/// let ib = SpanLimits::ib();
/// assert_eq!(ib.max_span(Timeframe::H1), Some(30 * 86_400));
/// let too_long = TimeRange::new(0, 31 * 86_400)?;
/// assert!(ib.check(Timeframe::H1, too_long).unwrap_err().is_invalid_request());
/// # Ok::<(), ktrdr_data::provider::ProviderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanLimits {
    max: BTreeMap<Timeframe, i64>,
}

impl SpanLimits {
    /// Interactive Brokers' maximum duration per bar size, from the planner's table
    /// ([`crate::planner::ib_max_span`]: 1m 1 day, 5m 7 days, … 1w 730 days), for every
    /// timeframe.
    pub fn ib() -> Self {
        Self::new(Timeframe::ALL.map(|tf| (tf, ib_max_span(tf))))
    }

    /// Limits from `(timeframe, max span in seconds)` pairs.
    pub fn new(limits: impl IntoIterator<Item = (Timeframe, i64)>) -> Self {
        SpanLimits {
            max: limits.into_iter().collect(),
        }
    }

    /// The longest span (`end - start`, seconds) of one request, or `None` if the timeframe is
    /// not supported.
    pub fn max_span(&self, timeframe: Timeframe) -> Option<i64> {
        self.max.get(&timeframe).copied()
    }

    /// The supported timeframes, shortest first.
    pub fn timeframes(&self) -> impl Iterator<Item = Timeframe> + '_ {
        self.max.keys().copied()
    }

    /// `Ok` if one request may cover `range` at `timeframe`; otherwise an invalid-request error
    /// naming the limit.
    pub fn check(&self, timeframe: Timeframe, range: TimeRange) -> Result<(), ProviderError> {
        let Some(max) = self.max_span(timeframe) else {
            let allowed: Vec<&str> = self.timeframes().map(Timeframe::as_str).collect();
            return Err(ProviderError::invalid_request(format!(
                "timeframe {timeframe} is not supported (supported: {})",
                allowed.join(" ")
            )));
        };
        if range.span() > max {
            return Err(ProviderError::invalid_request(format!(
                "{range} spans {} but one {timeframe} request may span at most {}",
                HumanSpan(range.span()),
                HumanSpan(max)
            )));
        }
        Ok(())
    }
}

/// Seconds as `30 days`, `6 hours` or `90 s`, for error messages.
struct HumanSpan(i64);

impl fmt::Display for HumanSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let plural = |n: i64| if n == 1 { "" } else { "s" };
        if s % DAY == 0 {
            write!(f, "{} day{}", s / DAY, plural(s / DAY))
        } else if s % 3600 == 0 {
            write!(f, "{} hour{}", s / 3600, plural(s / 3600))
        } else {
            write!(f, "{s} s")
        }
    }
}

/// The kind of instrument, as IB names it on the wire (`secType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AssetType {
    /// `STK`.
    Stock,
    /// `CASH` (spot FX).
    Forex,
    /// `FUT`.
    Future,
    /// `IND`.
    Index,
    /// `CRYPTO`.
    Crypto,
    /// Any other IB security type, kept verbatim.
    Other(String),
}

impl AssetType {
    /// The wire name (`STK`, `CASH`, …).
    pub fn as_str(&self) -> &str {
        match self {
            AssetType::Stock => "STK",
            AssetType::Forex => "CASH",
            AssetType::Future => "FUT",
            AssetType::Index => "IND",
            AssetType::Crypto => "CRYPTO",
            AssetType::Other(s) => s,
        }
    }
}

impl From<&str> for AssetType {
    fn from(s: &str) -> Self {
        match s {
            "STK" => AssetType::Stock,
            "CASH" => AssetType::Forex,
            "FUT" => AssetType::Future,
            "IND" => AssetType::Index,
            "CRYPTO" => AssetType::Crypto,
            other => AssetType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for AssetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AssetType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AssetType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(AssetType::from(s.as_str()))
    }
}

/// A span of the trading day in the exchange's time zone, as in `contract_info.trading_hours`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursSpan {
    /// `HH:MM`, exchange time.
    pub start: String,
    /// `HH:MM`, exchange time.
    pub end: String,
    /// e.g. `Regular Trading Hours`, `Pre-Market`.
    pub name: String,
}

/// `contract_info.trading_hours` of the host-service protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradingHours {
    /// IANA time zone of the exchange, e.g. `America/New_York`.
    pub timezone: String,
    /// The regular session.
    pub regular_hours: HoursSpan,
    /// Pre- and after-market spans, if any.
    #[serde(default)]
    pub extended_hours: Vec<HoursSpan>,
    /// Trading weekdays, `0` = Monday … `6` = Sunday.
    pub trading_days: Vec<u8>,
}

impl TradingHours {
    /// The protocol's shape from the regular session and the full (extended) session, each
    /// `(start, end)` as `HH:MM` exchange time: where they differ, the full session's extra
    /// time before the regular open is `Pre-Market` and after the close `After Hours`. Shared
    /// by the providers, so that the sim (reading its calendar) and IB (reading the contract's
    /// liquid and trading hours) describe hours the same way.
    ///
    /// ```
    /// use ktrdr_data::provider::TradingHours;
    /// let h = TradingHours::from_sessions(
    ///     "America/New_York",
    ///     ("09:30".into(), "16:00".into()),
    ///     Some(("04:00".into(), "20:00".into())),
    ///     vec![0, 1, 2, 3, 4],
    /// );
    /// let names: Vec<_> = h.extended_hours.iter().map(|s| s.name.as_str()).collect();
    /// assert_eq!(names, ["Pre-Market", "After Hours"]);
    /// ```
    pub fn from_sessions(
        timezone: impl Into<String>,
        regular: (String, String),
        full: Option<(String, String)>,
        trading_days: Vec<u8>,
    ) -> Self {
        let mut extended_hours = Vec::new();
        if let Some((start, end)) = full {
            if start != regular.0 {
                extended_hours.push(HoursSpan {
                    start,
                    end: regular.0.clone(),
                    name: "Pre-Market".to_owned(),
                });
            }
            if end != regular.1 {
                extended_hours.push(HoursSpan {
                    start: regular.1.clone(),
                    end,
                    name: "After Hours".to_owned(),
                });
            }
        }
        TradingHours {
            timezone: timezone.into(),
            regular_hours: HoursSpan {
                start: regular.0,
                end: regular.1,
                name: "Regular Trading Hours".to_owned(),
            },
            extended_hours,
            trading_days,
        }
    }
}

/// What a provider knows about a symbol: the host-service protocol's `contract_info`, field for
/// field, so the host-service server can serve it as is and the `host` provider can read a
/// Python host service's answer. Timestamps are unix seconds here and ISO 8601 on the wire.
///
/// ```
/// use ktrdr_data::provider::{AssetType, SymbolInfo};
///
/// let json = r#"{"symbol":"AAPL","contract":{"conId":265598},"asset_type":"STK",
///   "exchange":"NASDAQ","currency":"USD","description":"Apple Inc","validated_at":1.7e9,
///   "trading_hours":{"timezone":"America/New_York","regular_hours":{"start":"09:30",
///   "end":"16:00","name":"Regular Trading Hours"},"extended_hours":[],"trading_days":[0,1,2,3,4]},
///   "head_timestamp":"1980-12-12T14:30:00+00:00","head_timestamp_timeframes":{"1h":"1980-12-12T14:30:00Z"},
///   "head_timestamp_fetched_at":1.7e9}"#;
/// let info: SymbolInfo = serde_json::from_str(json).unwrap();
/// assert_eq!(info.asset_type, AssetType::Stock);
/// assert_eq!(info.head_timestamp, Some(345_479_400));
/// assert_eq!(serde_json::to_value(&info).unwrap()["head_timestamp"], "1980-12-12T14:30:00Z");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolInfo {
    /// The symbol as the provider knows it.
    pub symbol: Symbol,
    /// Broker-specific contract details (IB's `Contract` fields), passed through untouched.
    #[serde(default)]
    pub contract: serde_json::Map<String, serde_json::Value>,
    /// The kind of instrument.
    pub asset_type: AssetType,
    /// The primary exchange, e.g. `NASDAQ`, `IDEALPRO`.
    pub exchange: String,
    /// The currency prices are quoted in.
    pub currency: String,
    /// A human name, e.g. `Apple Inc`.
    pub description: String,
    /// When the provider answered, epoch seconds.
    pub validated_at: f64,
    /// When the instrument trades.
    pub trading_hours: TradingHours,
    /// The earliest bar the provider has, if known.
    #[serde(default, with = "iso_opt")]
    pub head_timestamp: Option<i64>,
    /// The earliest bar per timeframe (keys as the provider spells them, e.g. `1h`).
    #[serde(default, with = "iso_map")]
    pub head_timestamp_timeframes: BTreeMap<String, i64>,
    /// When the head timestamps were fetched, epoch seconds.
    #[serde(default)]
    pub head_timestamp_fetched_at: Option<f64>,
}

impl SymbolInfo {
    /// The head timestamp for `timeframe`, falling back to the symbol's overall one.
    pub fn head_timestamp_for(&self, timeframe: Timeframe) -> Option<i64> {
        self.head_timestamp_timeframes
            .get(timeframe.as_str())
            .copied()
            .or(self.head_timestamp)
    }
}

/// `Option<i64>` unix seconds as an optional ISO 8601 string.
mod iso_opt {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::types::{format_timestamp, parse_timestamp};

    pub(super) fn serialize<S: Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.serialize_some(&format_timestamp(*ts)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse_timestamp(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// A map of unix seconds as a JSON object of ISO 8601 strings (`null` values are dropped).
mod iso_map {
    use std::collections::BTreeMap;

    use serde::{de::Error, ser::SerializeMap, Deserialize, Deserializer, Serializer};

    use crate::types::{format_timestamp, parse_timestamp};

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<String, i64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, ts) in map {
            m.serialize_entry(k, &format_timestamp(*ts))?;
        }
        m.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, i64>, D::Error> {
        let raw = Option::<BTreeMap<String, Option<String>>>::deserialize(d)?.unwrap_or_default();
        raw.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .map(|(k, v)| {
                parse_timestamp(&v)
                    .map(|ts| (k, ts))
                    .map_err(D::Error::custom)
            })
            .collect()
    }
}
