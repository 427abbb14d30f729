use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validated instrument symbol, normalised to upper case.
///
/// Allowed: 1 to [`Symbol::MAX_LEN`] ASCII letters, digits, `.`, `-` and `_`, starting with a
/// letter or digit (`MSFT`, `BRK.B`, `EURUSD`, `ES-FUT`, `BTC_USD`, `7203`). Lower-case input is upper-cased, so `msft` and `MSFT` name the
/// same series. Everything else is refused, above all `/` and `\` (a symbol becomes part of a file
/// name) and spaces, and a leading `.`, `-` or `_`: `.` and `..` would name hidden files
/// (`.._1h.csv`) beside the store's own sidecars, and `-X` reads as an option. `_` is allowed because the Python system allowed it; file names stay
/// unambiguous because a timeframe never contains `_`, so `{SYMBOL}_{TF}.csv` splits at its last `_`.
///
/// ```
/// use ktrdr_data::types::Symbol;
/// let s: Symbol = "brk.b".parse().unwrap();
/// assert_eq!(s.as_str(), "BRK.B");
/// assert!("EUR/USD".parse::<Symbol>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(Box<str>);

/// Why a string is not a [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The string was empty (or only whitespace).
    #[error("empty symbol")]
    Empty,
    /// Starts with `.`, `-` or `_` instead of a letter or digit.
    #[error("symbol {symbol:?} starts with {ch:?}; a symbol starts with a letter or digit ('.' would make a hidden file, '-' reads as an option)")]
    BadStart {
        /// The rejected input.
        symbol: String,
        /// Its first character.
        ch: char,
    },
    /// Longer than [`Symbol::MAX_LEN`] characters.
    #[error("symbol {symbol:?} is {len} characters long; at most {max} are allowed", max = Symbol::MAX_LEN)]
    TooLong {
        /// The rejected input.
        symbol: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character outside `A-Z a-z 0-9 . - _`.
    #[error("symbol {symbol:?} contains {ch:?} at position {pos}; allowed are letters, digits, '.', '-' and '_'")]
    BadChar {
        /// The rejected input.
        symbol: String,
        /// The first offending character.
        ch: char,
        /// Its position (0-based, in characters).
        pos: usize,
    },
}

impl Symbol {
    /// The longest symbol accepted.
    pub const MAX_LEN: usize = 32;

    /// Validates and normalises `s` (surrounding whitespace is trimmed).
    pub fn new(s: &str) -> Result<Self, SymbolError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(SymbolError::Empty);
        }
        if let Some((pos, ch)) = t
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(SymbolError::BadChar {
                symbol: t.to_owned(),
                ch,
                pos,
            });
        }
        // All ASCII from here on, so bytes == characters.
        if let Some(ch) = t.chars().next().filter(|c| !c.is_ascii_alphanumeric()) {
            return Err(SymbolError::BadStart {
                symbol: t.to_owned(),
                ch,
            });
        }
        if t.len() > Self::MAX_LEN {
            return Err(SymbolError::TooLong {
                symbol: t.to_owned(),
                len: t.len(),
            });
        }
        Ok(Symbol(t.to_ascii_uppercase().into_boxed_str()))
    }

    /// The normalised symbol text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Symbol::new(s)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.0)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Symbol::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_accepts_the_allowed_set() {
        assert_eq!(Symbol::new(" msft ").unwrap().as_str(), "MSFT");
        for ok in [
            "BRK.B",
            "ES-FUT",
            "BTC_USD",
            "A",
            "eurusd",
            "7203",
            "X.",
            &"X".repeat(32),
        ] {
            assert!(Symbol::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn names_the_bad_character() {
        let e = Symbol::new("EUR/USD").unwrap_err();
        assert_eq!(
            e,
            SymbolError::BadChar {
                symbol: "EUR/USD".into(),
                ch: '/',
                pos: 3
            }
        );
        assert!(e.to_string().contains("'/'"));
        assert!(matches!(
            Symbol::new("MS FT"),
            Err(SymbolError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            Symbol::new("É"),
            Err(SymbolError::BadChar {
                ch: 'É',
                pos: 0,
                ..
            })
        ));
        assert_eq!(Symbol::new("  "), Err(SymbolError::Empty));
        assert!(matches!(
            Symbol::new(&"X".repeat(33)),
            Err(SymbolError::TooLong { len: 33, .. })
        ));
    }

    /// `.` and `..` used to be accepted and stored as hidden files (`._1h.csv`, `.._1h.csv`).
    #[test]
    fn refuses_symbols_that_would_be_hidden_files_or_options() {
        for (bad, ch) in [
            (".", '.'),
            ("..", '.'),
            (".MSFT", '.'),
            ("-X", '-'),
            ("_X", '_'),
        ] {
            assert_eq!(
                Symbol::new(bad),
                Err(SymbolError::BadStart {
                    symbol: bad.into(),
                    ch
                }),
                "{bad}"
            );
        }
        let e = Symbol::new("..").unwrap_err().to_string();
        assert!(
            e.contains("starts with '.'") && e.contains("hidden file"),
            "{e}"
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let s: Symbol = serde_json::from_str("\"aapl\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"AAPL\"");
        assert!(serde_json::from_str::<Symbol>("\"../etc\"").is_err());
    }
}
