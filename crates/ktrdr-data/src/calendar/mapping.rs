//! Which calendar a symbol trades on: built-in rules, overridable per symbol by
//! `$KTRDR_HOME/calendars.toml`.
//!
//! Resolution order (the first match wins):
//! 1. the config file's `[symbols]` table (exact symbol, case-insensitive);
//! 2. a currency pair: six letters (optionally split by `.`, `-` or `_`, as in `EUR.USD`)
//!    whose halves are two different ISO 4217 codes of traded currencies → `FX`;
//! 3. a crypto pair: a known coin followed by a quote currency or stablecoin (`BTCUSD`,
//!    `ETH-USDT`, `ETHBTC`) → `CRYPTO`. Only whole pairs match, so a stock ticker that merely
//!    starts with a coin's letters (`BTCS`) stays an equity;
//! 4. the config file's `default`, else `XNYS`.
//!
//! ```toml
//! # $KTRDR_HOME/calendars.toml
//! default = "XNYS"        # optional: the calendar of symbols no rule matches
//!
//! [symbols]
//! QQQ = "XNAS"
//! XAUUSD = "FX"           # spot gold trades the FX week
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::Calendar;
use crate::types::Symbol;

/// The config file's name inside `$KTRDR_HOME`.
pub const CONFIG_FILE: &str = "calendars.toml";

/// ISO 4217 codes of currencies traded as spot FX pairs (the IDEALPRO list and the majors).
const CURRENCIES: &[&str] = &[
    "AED", "AUD", "BRL", "CAD", "CHF", "CNH", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF",
    "ILS", "INR", "JPY", "KRW", "MXN", "NOK", "NZD", "PLN", "RUB", "SAR", "SEK", "SGD", "THB",
    "TRY", "TWD", "USD", "ZAR",
];

/// Coins recognised as the base of a crypto pair.
const COINS: &[&str] = &[
    "ADA", "AVAX", "BCH", "BNB", "BTC", "DOGE", "DOT", "ETH", "LINK", "LTC", "MATIC", "SOL", "UNI",
    "XLM", "XRP",
];

/// Quote currencies of crypto pairs.
const CRYPTO_QUOTES: &[&str] = &["BTC", "ETH", "EUR", "GBP", "USD", "USDC", "USDT"];

const SEPARATORS: &[char] = &['.', '-', '_'];

/// Which rule decided a symbol's calendar (shown by `ktrdr calendar for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingRule {
    /// Listed in the config file's `[symbols]`.
    Config,
    /// A pair of ISO currency codes.
    CurrencyPair,
    /// A coin / quote pair.
    CryptoPair,
    /// No rule matched: the default calendar.
    Default,
}

impl std::fmt::Display for MappingRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MappingRule::Config => "listed in the config file",
            MappingRule::CurrencyPair => "currency pair",
            MappingRule::CryptoPair => "crypto pair",
            MappingRule::Default => "default",
        })
    }
}

/// A calendar config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalendarConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read calendar config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key the format does not have.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Valid TOML, but a value is wrong (an unknown calendar, an empty or repeated symbol).
    #[error("{}:{line}: `{field}`: {message}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key at fault (`default`, or `symbols.SYMBOL`).
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default: Option<Spanned<String>>,
    #[serde(default)]
    symbols: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Symbol → calendar mapping. Cheap to query; build once and share.
///
/// ```
/// use ktrdr_data::calendar::{Calendar, CalendarMap};
/// use ktrdr_data::types::Symbol;
///
/// let map = CalendarMap::from_toml("[symbols]\nQQQ = \"XNAS\"\n", "calendars.toml".as_ref())?;
/// let calendar_of = |s: &str| map.calendar_for(&Symbol::new(s).unwrap());
/// assert_eq!(calendar_of("qqq"), Calendar::Xnas);
/// assert_eq!(calendar_of("EURUSD"), Calendar::Fx);
/// assert_eq!(calendar_of("BTC-USD"), Calendar::Crypto);
/// assert_eq!(calendar_of("MSFT"), Calendar::Xnys);
/// # Ok::<(), ktrdr_data::calendar::CalendarConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarMap {
    symbols: HashMap<Symbol, Calendar>,
    default: Calendar,
    source: Option<PathBuf>,
}

impl Default for CalendarMap {
    fn default() -> Self {
        Self::builtin()
    }
}

impl CalendarMap {
    /// The built-in rules only, default `XNYS`.
    pub fn builtin() -> Self {
        CalendarMap {
            symbols: HashMap::new(),
            default: Calendar::Xnys,
            source: None,
        }
    }

    /// `$KTRDR_HOME/calendars.toml` if it exists, else the built-in rules.
    pub fn load() -> Result<Self, CalendarConfigError> {
        Self::load_or_builtin(&ktrdr_ops::db::ktrdr_home().join(CONFIG_FILE))
    }

    /// `path` if it exists, else the built-in rules.
    pub fn load_or_builtin(path: &Path) -> Result<Self, CalendarConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::builtin()),
            Err(source) => Err(CalendarConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses a config's text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, CalendarConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            CalendarConfigError::Syntax {
                path: origin.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let field_error = |span: std::ops::Range<usize>, field: String, message: String| {
            CalendarConfigError::Field {
                path: origin.to_path_buf(),
                line: line_col(text, span.start).0,
                field,
                message,
            }
        };
        let parse_calendar = |value: &Spanned<String>, field: &str| {
            value.get_ref().parse::<Calendar>().map_err(|_| {
                field_error(
                    value.span(),
                    field.to_string(),
                    format!(
                        "unknown calendar `{}` (known calendars: XNYS, XNAS, FX, CRYPTO)",
                        value.get_ref()
                    ),
                )
            })
        };
        let default = match &raw.default {
            Some(value) => parse_calendar(value, "default")?,
            None => Calendar::Xnys,
        };
        let mut symbols = HashMap::with_capacity(raw.symbols.len());
        let mut first_line = HashMap::new();
        for (key, value) in &raw.symbols {
            let field = format!("symbols.{}", key.get_ref());
            let symbol = Symbol::new(key.get_ref())
                .map_err(|e| field_error(key.span(), field.clone(), e.to_string()))?;
            let calendar = parse_calendar(value, &field)?;
            let line = line_col(text, key.span().start).0;
            if let Some(previous) = first_line.insert(symbol.clone(), line) {
                return Err(field_error(
                    key.span(),
                    field,
                    format!("symbol {symbol} is already mapped on line {previous} (symbols are case-insensitive)"),
                ));
            }
            symbols.insert(symbol, calendar);
        }
        Ok(CalendarMap {
            symbols,
            default,
            source: Some(origin.to_path_buf()),
        })
    }

    /// The config file this map was read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The calendar `symbol` trades on.
    pub fn calendar_for(&self, symbol: &Symbol) -> Calendar {
        self.resolve(symbol).0
    }

    /// The calendar `symbol` trades on, and the rule that decided it.
    pub fn resolve(&self, symbol: &Symbol) -> (Calendar, MappingRule) {
        if let Some(&calendar) = self.symbols.get(symbol) {
            (calendar, MappingRule::Config)
        } else if is_currency_pair(symbol.as_str()) {
            (Calendar::Fx, MappingRule::CurrencyPair)
        } else if is_crypto_pair(symbol.as_str()) {
            (Calendar::Crypto, MappingRule::CryptoPair)
        } else {
            (self.default, MappingRule::Default)
        }
    }
}

/// 1-based (line, column) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `EURUSD`, `EUR.USD`, `EUR_USD`: two different ISO currencies (symbols are upper-case).
fn is_currency_pair(symbol: &str) -> bool {
    let (base, quote) = match symbol.len() {
        6 => (symbol.get(..3), symbol.get(3..)),
        7 if symbol[3..].starts_with(SEPARATORS) => (symbol.get(..3), symbol.get(4..)),
        _ => return false,
    };
    matches!((base, quote), (Some(b), Some(q)) if b != q && CURRENCIES.contains(&b) && CURRENCIES.contains(&q))
}

/// `BTCUSD`, `BTC-USD`, `ETHBTC`, `SOLUSDT` (symbols are upper-case).
fn is_crypto_pair(symbol: &str) -> bool {
    COINS.iter().any(|coin| {
        symbol
            .strip_prefix(coin)
            .map(|rest| rest.strip_prefix(SEPARATORS).unwrap_or(rest))
            .is_some_and(|quote| quote != *coin && CRYPTO_QUOTES.contains(&quote))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules() {
        let map = CalendarMap::builtin();
        for (symbol, calendar, rule) in [
            ("EURUSD", Calendar::Fx, MappingRule::CurrencyPair),
            ("usdjpy", Calendar::Fx, MappingRule::CurrencyPair),
            ("EUR.USD", Calendar::Fx, MappingRule::CurrencyPair),
            ("BTCUSD", Calendar::Crypto, MappingRule::CryptoPair),
            ("ETH-USDT", Calendar::Crypto, MappingRule::CryptoPair),
            ("ETHBTC", Calendar::Crypto, MappingRule::CryptoPair),
            ("BTCS", Calendar::Xnys, MappingRule::Default),
            ("MSFT", Calendar::Xnys, MappingRule::Default),
            ("USDUSD", Calendar::Xnys, MappingRule::Default),
            ("ABCDEF", Calendar::Xnys, MappingRule::Default),
            ("BRK.B", Calendar::Xnys, MappingRule::Default),
        ] {
            let symbol = Symbol::new(symbol).unwrap();
            assert_eq!(map.resolve(&symbol), (calendar, rule), "{symbol}");
        }
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd\nef", 0), (1, 1));
        assert_eq!(line_col("ab\ncd\nef", 4), (2, 2));
        assert_eq!(line_col("ab\ncd\nef", 6), (3, 1));
    }
}
