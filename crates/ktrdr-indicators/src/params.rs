//! Indicator parameters as they arrive (from a strategy file or the command line), the schema
//! each indicator declares for them, and their validation against it.

use std::fmt;

use crate::error::SpecError;

/// A parameter value before validation: what a YAML scalar or a `key=value` argument holds.
///
/// Deserialises from any YAML/JSON scalar, so a strategy file's indicator entry can be read
/// straight into a map of these.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Anything else.
    Text(String),
}

impl ParamValue {
    /// Reads a command-line value: `true`/`false`, then an integer, then a float, else text.
    pub fn parse_cli(s: &str) -> Self {
        let s = s.trim();
        match s {
            "true" => return ParamValue::Bool(true),
            "false" => return ParamValue::Bool(false),
            _ => {}
        }
        if let Ok(i) = s.parse::<i64>() {
            return ParamValue::Int(i);
        }
        if let Ok(f) = s.parse::<f64>() {
            return ParamValue::Float(f);
        }
        ParamValue::Text(s.to_owned())
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// The bar column an indicator reads when it reads only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Opening price.
    Open,
    /// Highest price.
    High,
    /// Lowest price.
    Low,
    /// Closing price (every indicator's default).
    Close,
    /// Traded volume.
    Volume,
}

impl Source {
    /// Every source, in the order `--help` lists them.
    pub const ALL: [Source; 5] = [
        Source::Open,
        Source::High,
        Source::Low,
        Source::Close,
        Source::Volume,
    ];

    /// The lowercase name used in strategy files and column names.
    pub fn name(self) -> &'static str {
        match self {
            Source::Open => "open",
            Source::High => "high",
            Source::Low => "low",
            Source::Close => "close",
            Source::Volume => "volume",
        }
    }

    fn from_name(s: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|src| src.name().eq_ignore_ascii_case(s))
    }
}

/// What values a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A whole number of bars in `min..=max`.
    Period {
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A finite number with `min < value <= max` (`min` excluded, `max` included).
    Number {
        /// Exclusive lower bound.
        min_excl: f64,
        /// Inclusive upper bound.
        max: f64,
    },
    /// A bar column name (see [`Source`]).
    Source,
    /// `true` or `false`.
    Flag,
}

impl ParamKind {
    /// A human description of the accepted values, for errors and `--help`.
    pub fn expected(self) -> String {
        match self {
            ParamKind::Period { min, max } => format!("a whole number of bars in {min}..={max}"),
            ParamKind::Number { min_excl, max } => {
                format!("a number greater than {min_excl} and at most {max}")
            }
            ParamKind::Source => {
                let names: Vec<_> = Source::ALL.iter().map(|s| s.name()).collect();
                format!("one of {}", names.join(", "))
            }
            ParamKind::Flag => "true or false".to_owned(),
        }
    }
}

/// A parameter's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamDefault {
    /// For [`ParamKind::Period`].
    Period(usize),
    /// For [`ParamKind::Number`].
    Number(f64),
    /// For [`ParamKind::Source`].
    Source(Source),
    /// For [`ParamKind::Flag`].
    Flag(bool),
}

impl fmt::Display for ParamDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamDefault::Period(n) => write!(f, "{n}"),
            ParamDefault::Number(x) => write!(f, "{x}"),
            ParamDefault::Source(s) => write!(f, "{}", s.name()),
            ParamDefault::Flag(b) => write!(f, "{b}"),
        }
    }
}

/// One parameter an indicator accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamDef {
    /// The canonical name (as the Python classes spell it).
    pub name: &'static str,
    /// Other accepted spellings (e.g. `std_dev` for Bollinger's `multiplier`).
    pub aliases: &'static [&'static str],
    /// Accepted values.
    pub kind: ParamKind,
    /// Used when the parameter is absent.
    pub default: ParamDefault,
}

impl ParamDef {
    fn matches(&self, key: &str) -> bool {
        self.name.eq_ignore_ascii_case(key)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
    }
}

/// A validated parameter value, typed by its [`ParamKind`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Resolved {
    Period(usize),
    Number(f64),
    Source(Source),
    Flag(bool),
}

impl From<ParamDefault> for Resolved {
    fn from(d: ParamDefault) -> Self {
        match d {
            ParamDefault::Period(n) => Resolved::Period(n),
            ParamDefault::Number(x) => Resolved::Number(x),
            ParamDefault::Source(s) => Resolved::Source(s),
            ParamDefault::Flag(b) => Resolved::Flag(b),
        }
    }
}

/// The parameters of one indicator after validation, in the order of its schema.
#[derive(Debug)]
pub(crate) struct ResolvedParams {
    defs: &'static [ParamDef],
    values: Vec<Resolved>,
}

impl ResolvedParams {
    /// Validates `given` against `defs`: every key must name a parameter (or an alias), appear
    /// once, and hold an accepted value; absent parameters take their defaults.
    pub(crate) fn resolve<'a>(
        indicator: &'static str,
        defs: &'static [ParamDef],
        given: impl IntoIterator<Item = (&'a str, &'a ParamValue)>,
    ) -> Result<Self, SpecError> {
        let mut values: Vec<Option<Resolved>> = vec![None; defs.len()];
        for (key, value) in given {
            let Some(pos) = defs.iter().position(|d| d.matches(key)) else {
                return Err(SpecError::UnknownParam {
                    indicator,
                    param: key.to_owned(),
                    allowed: allowed_list(defs),
                });
            };
            let def = &defs[pos];
            if values[pos].is_some() {
                return Err(SpecError::DuplicateParam {
                    indicator,
                    param: def.name,
                });
            }
            let invalid = || SpecError::InvalidParam {
                indicator,
                param: def.name,
                value: value.to_string(),
                expected: def.kind.expected(),
            };
            values[pos] = Some(check(def.kind, value).ok_or_else(invalid)?);
        }
        let values = values
            .into_iter()
            .zip(defs)
            .map(|(v, d)| v.unwrap_or_else(|| d.default.into()))
            .collect();
        Ok(ResolvedParams { defs, values })
    }

    fn get(&self, name: &str) -> Resolved {
        match self.defs.iter().position(|d| d.name == name) {
            Some(i) => self.values[i],
            // The registry's constructors only ask for names their own schema declares; the
            // test `every_indicator_builds_from_its_defaults` walks every one of them.
            None => unreachable!("parameter {name} is not in the schema"),
        }
    }

    pub(crate) fn period(&self, name: &str) -> usize {
        match self.get(name) {
            Resolved::Period(n) => n,
            other => unreachable!("parameter {name} is {other:?}, not a period"),
        }
    }

    pub(crate) fn number(&self, name: &str) -> f64 {
        match self.get(name) {
            Resolved::Number(x) => x,
            other => unreachable!("parameter {name} is {other:?}, not a number"),
        }
    }

    pub(crate) fn source(&self, name: &str) -> Source {
        match self.get(name) {
            Resolved::Source(s) => s,
            other => unreachable!("parameter {name} is {other:?}, not a source"),
        }
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            Resolved::Flag(b) => b,
            other => unreachable!("parameter {name} is {other:?}, not a flag"),
        }
    }
}

/// `name (default …), …` for error messages.
pub(crate) fn allowed_list(defs: &[ParamDef]) -> String {
    if defs.is_empty() {
        return "none (this indicator takes no parameters)".to_owned();
    }
    let names: Vec<String> = defs.iter().map(|d| d.name.to_owned()).collect();
    names.join(", ")
}

fn check(kind: ParamKind, value: &ParamValue) -> Option<Resolved> {
    match kind {
        ParamKind::Period { min, max } => {
            let n = match value {
                ParamValue::Int(i) => usize::try_from(*i).ok()?,
                // 14.0 from a YAML float is still a whole number; 14.5 is not.
                ParamValue::Float(x) if x.fract() == 0.0 && *x >= 0.0 && *x <= max as f64 => {
                    *x as usize
                }
                _ => return None,
            };
            (min..=max).contains(&n).then_some(Resolved::Period(n))
        }
        ParamKind::Number { min_excl, max } => {
            let x = match value {
                ParamValue::Int(i) => *i as f64,
                ParamValue::Float(x) => *x,
                _ => return None,
            };
            (x.is_finite() && x > min_excl && x <= max).then_some(Resolved::Number(x))
        }
        ParamKind::Source => match value {
            ParamValue::Text(s) => Source::from_name(s).map(Resolved::Source),
            _ => None,
        },
        ParamKind::Flag => match value {
            ParamValue::Bool(b) => Some(Resolved::Flag(*b)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &[ParamDef] = &[
        ParamDef {
            name: "period",
            aliases: &["length"],
            kind: ParamKind::Period { min: 2, max: 100 },
            default: ParamDefault::Period(14),
        },
        ParamDef {
            name: "multiplier",
            aliases: &[],
            kind: ParamKind::Number {
                min_excl: 0.0,
                max: 10.0,
            },
            default: ParamDefault::Number(2.0),
        },
    ];

    fn resolve(given: &[(&str, ParamValue)]) -> Result<ResolvedParams, SpecError> {
        ResolvedParams::resolve("Test", DEFS, given.iter().map(|(k, v)| (*k, v)))
    }

    #[test]
    fn defaults_fill_absent_parameters() {
        let p = resolve(&[]).unwrap();
        assert_eq!(p.period("period"), 14);
        assert_eq!(p.number("multiplier"), 2.0);
    }

    #[test]
    fn aliases_and_case_are_accepted_and_whole_floats_are_periods() {
        let p = resolve(&[("LENGTH", ParamValue::Float(20.0))]).unwrap();
        assert_eq!(p.period("period"), 20);
    }

    #[test]
    fn unknown_parameter_is_refused_with_the_allowed_list() {
        let e = resolve(&[("perod", ParamValue::Int(3))]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("perod") && msg.contains("period, multiplier"),
            "{msg}"
        );
    }

    #[test]
    fn ill_typed_and_out_of_range_values_are_refused() {
        for bad in [
            ("period", ParamValue::Float(14.5)),
            ("period", ParamValue::Int(1)),
            ("period", ParamValue::Int(-3)),
            ("period", ParamValue::Text("x".into())),
            ("multiplier", ParamValue::Int(0)),
            ("multiplier", ParamValue::Float(f64::NAN)),
            ("multiplier", ParamValue::Bool(true)),
        ] {
            let e = resolve(&[(bad.0, bad.1.clone())]).unwrap_err();
            assert!(
                matches!(e, SpecError::InvalidParam { param, .. } if param == bad.0),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn a_parameter_given_twice_through_an_alias_is_refused() {
        let e = resolve(&[
            ("period", ParamValue::Int(3)),
            ("length", ParamValue::Int(4)),
        ])
        .unwrap_err();
        assert!(matches!(
            e,
            SpecError::DuplicateParam {
                param: "period",
                ..
            }
        ));
    }

    #[test]
    fn cli_values_are_typed() {
        assert_eq!(ParamValue::parse_cli("14"), ParamValue::Int(14));
        assert_eq!(ParamValue::parse_cli("2.5"), ParamValue::Float(2.5));
        assert_eq!(ParamValue::parse_cli("true"), ParamValue::Bool(true));
        assert_eq!(
            ParamValue::parse_cli("close"),
            ParamValue::Text("close".into())
        );
    }
}
