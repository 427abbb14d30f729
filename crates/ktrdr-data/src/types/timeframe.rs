use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A bar size. The canonical spelling ([`Timeframe::as_str`]) is the one used in file names
/// (`MSFT_1h.csv`) and on the wire.
///
/// Parsing accepts what users type: the canonical form in any case (`1h`, `1H`, `5M` is refused,
/// see below), the same duration in smaller units (`60m`, `240m`, `120min`), spelled-out and IB
/// bar-size forms (`1 hour`, `5 mins`, `1 day`, `1 week`) and the words `hourly`, `daily`,
/// `weekly`. Two spellings are refused on purpose:
/// - a capital `M` alone (`1M`, `5M`): the Python system used it for *month*; we refuse rather
///   than guess minutes;
/// - `24h` / `1440m` / `7d`: a daily bar is one *session*, not 24 hours, so only `1d`/`1w` name them.
///
/// ```
/// use ktrdr_data::types::Timeframe;
/// let tf: Timeframe = "60m".parse().unwrap();
/// assert_eq!(tf, Timeframe::H1);
/// assert_eq!(tf.as_str(), "1h");
/// assert_eq!(tf.seconds(), 3600);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timeframe {
    /// 1 minute.
    M1,
    /// 5 minutes.
    M5,
    /// 15 minutes.
    M15,
    /// 30 minutes.
    M30,
    /// 1 hour.
    H1,
    /// 2 hours.
    H2,
    /// 4 hours.
    H4,
    /// 1 trading day (one session).
    D1,
    /// 1 week.
    W1,
}

/// A string that names no supported [`Timeframe`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timeframe {input:?}{}; allowed: 1m 5m 15m 30m 1h 2h 4h 1d 1w (also written 1H, 60m, '1 hour', daily, ...)", .hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct TimeframeError {
    /// The rejected input.
    pub input: String,
    /// Why it was refused, when there is more to say than "unknown".
    pub hint: Option<&'static str>,
}

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 9] = [
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H2,
        Timeframe::H4,
        Timeframe::D1,
        Timeframe::W1,
    ];

    /// The canonical spelling: `1m 5m 15m 30m 1h 2h 4h 1d 1w`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H2 => "2h",
            Timeframe::H4 => "4h",
            Timeframe::D1 => "1d",
            Timeframe::W1 => "1w",
        }
    }

    /// The nominal bar length in seconds (a `1d` bar is 86 400 s even though a session is shorter).
    pub const fn seconds(self) -> i64 {
        match self {
            Timeframe::M1 => 60,
            Timeframe::M5 => 300,
            Timeframe::M15 => 900,
            Timeframe::M30 => 1800,
            Timeframe::H1 => 3600,
            Timeframe::H2 => 7200,
            Timeframe::H4 => 14_400,
            Timeframe::D1 => 86_400,
            Timeframe::W1 => 604_800,
        }
    }

    /// True for bars shorter than a day.
    pub const fn is_intraday(self) -> bool {
        self.seconds() < 86_400
    }

    /// The IB `barSizeSetting` string (`1 min`, `5 mins`, `1 hour`, `2 hours`, `1 day`, `1 week`).
    pub const fn ib_bar_size(self) -> &'static str {
        match self {
            Timeframe::M1 => "1 min",
            Timeframe::M5 => "5 mins",
            Timeframe::M15 => "15 mins",
            Timeframe::M30 => "30 mins",
            Timeframe::H1 => "1 hour",
            Timeframe::H2 => "2 hours",
            Timeframe::H4 => "4 hours",
            Timeframe::D1 => "1 day",
            Timeframe::W1 => "1 week",
        }
    }

    fn from_intraday_seconds(secs: u64) -> Option<Self> {
        Some(match secs {
            60 => Timeframe::M1,
            300 => Timeframe::M5,
            900 => Timeframe::M15,
            1800 => Timeframe::M30,
            3600 => Timeframe::H1,
            7200 => Timeframe::H2,
            14_400 => Timeframe::H4,
            _ => return None,
        })
    }
}

impl FromStr for Timeframe {
    type Err = TimeframeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |hint| TimeframeError {
            input: s.to_owned(),
            hint,
        };
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "hourly" => return Ok(Timeframe::H1),
            "daily" => return Ok(Timeframe::D1),
            "weekly" => return Ok(Timeframe::W1),
            _ => {}
        }
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let (num, unit) = t.split_at(digits);
        let n: u64 = num.parse().map_err(|_| err(None))?;
        let unit = unit.trim_start();
        if unit == "M" {
            return Err(err(Some(
                "'M' means month in the Python system; write 'm' for minutes",
            )));
        }
        let unit_secs: u64 = match unit.to_ascii_lowercase().as_str() {
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => {
                return if n == 1 {
                    Ok(Timeframe::D1)
                } else {
                    Err(err(None))
                };
            }
            "w" | "wk" | "week" | "weeks" => {
                return if n == 1 {
                    Ok(Timeframe::W1)
                } else {
                    Err(err(None))
                };
            }
            _ => return Err(err(None)),
        };
        let secs = n.checked_mul(unit_secs).ok_or_else(|| err(None))?;
        if secs == 86_400 {
            return Err(err(Some("a daily bar is one session, write 1d")));
        }
        Timeframe::from_intraday_seconds(secs).ok_or_else(|| err(None))
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_round_trip() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().unwrap(), tf);
            assert_eq!(
                tf.to_string()
                    .to_uppercase()
                    .replace('M', "m")
                    .parse::<Timeframe>()
                    .unwrap(),
                tf
            );
        }
        let secs: Vec<i64> = Timeframe::ALL.iter().map(|t| t.seconds()).collect();
        assert!(secs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn accepts_what_users_type() {
        let cases = [
            ("1H", Timeframe::H1),
            ("60m", Timeframe::H1),
            ("60min", Timeframe::H1),
            ("1 hour", Timeframe::H1),
            ("hourly", Timeframe::H1),
            ("240m", Timeframe::H4),
            ("2 hours", Timeframe::H2),
            ("5 mins", Timeframe::M5),
            (" 15m ", Timeframe::M15),
            ("1D", Timeframe::D1),
            ("Daily", Timeframe::D1),
            ("1 day", Timeframe::D1),
            ("1W", Timeframe::W1),
            ("1 week", Timeframe::W1),
        ];
        for (s, tf) in cases {
            assert_eq!(s.parse::<Timeframe>(), Ok(tf), "{s}");
        }
        for tf in Timeframe::ALL {
            assert_eq!(tf.ib_bar_size().parse::<Timeframe>(), Ok(tf));
        }
    }

    #[test]
    fn refuses_with_allowed_values() {
        for bad in [
            "3h",
            "1M",
            "5M",
            "24h",
            "1440m",
            "7d",
            "2d",
            "",
            "h",
            "1x",
            "99999999999999999999m",
        ] {
            let e = bad.parse::<Timeframe>().unwrap_err();
            assert!(
                e.to_string()
                    .contains("allowed: 1m 5m 15m 30m 1h 2h 4h 1d 1w"),
                "{e}"
            );
        }
        assert!("1M"
            .parse::<Timeframe>()
            .unwrap_err()
            .to_string()
            .contains("month"));
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        assert_eq!(serde_json::to_string(&Timeframe::H4).unwrap(), "\"4h\"");
        assert_eq!(
            serde_json::from_str::<Timeframe>("\"1H\"").unwrap(),
            Timeframe::H1
        );
    }
}
