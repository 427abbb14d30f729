//! A walker over a parsed YAML tree that records every problem with its key path instead of
//! stopping at the first one (serde's derive stops at the first error, and the Python system
//! silently dropped keys it did not know).

use serde_norway::{Mapping, Value};

use super::report::Report;

/// The keys of one YAML mapping, read one by one. Every key asked for is an allowed key, so
/// [`Fields::finish`] can name the allowed keys when it reports an unknown one.
pub(super) struct Fields<'v> {
    path: String,
    map: &'v Mapping,
    asked: Vec<&'static str>,
}

impl<'v> Fields<'v> {
    /// The mapping at `path`, or an error if `value` is something else.
    pub(super) fn of(report: &mut Report, path: &str, value: &'v Value) -> Option<Self> {
        match value {
            Value::Mapping(map) => Some(Fields {
                path: path.to_owned(),
                map,
                asked: Vec::new(),
            }),
            other => {
                report.error(path, format!("expected a mapping, found {}", kind(other)));
                None
            }
        }
    }

    /// The path of `key` under this mapping.
    pub(super) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of an optional key (absent and not reported if missing).
    pub(super) fn optional(&mut self, key: &'static str) -> Option<(&'v Value, String)> {
        self.asked.push(key);
        self.map.get(key).map(|v| (v, self.path_of(key)))
    }

    /// The value of a required key; a missing key is an error.
    pub(super) fn required(
        &mut self,
        report: &mut Report,
        key: &'static str,
    ) -> Option<(&'v Value, String)> {
        let found = self.optional(key);
        if found.is_none() {
            report.error(self.path_of(key), "required key is missing");
        }
        found
    }

    /// Reports every key that was not asked for, naming the allowed keys.
    pub(super) fn finish(self, report: &mut Report) {
        for key in self.map.keys() {
            match key.as_str() {
                Some(k) if self.asked.contains(&k) => {}
                Some(k) => report.error(
                    join(&self.path, k),
                    format!("unknown key; allowed here: {}", self.asked.join(", ")),
                ),
                None => report.error(
                    self.path.clone(),
                    format!("keys must be strings, found {}", kind(key)),
                ),
            }
        }
    }
}

/// Entries of a mapping whose keys are names chosen by the user (`fuzzy_sets.<indicator>`), in
/// file order; non-string keys are reported and skipped.
pub(super) fn named_entries<'v>(
    report: &mut Report,
    path: &str,
    value: &'v Value,
) -> Vec<(&'v str, &'v Value, String)> {
    let Value::Mapping(map) = value else {
        report.error(path, format!("expected a mapping, found {}", kind(value)));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        match k.as_str() {
            Some(name) => out.push((name, v, join(path, name))),
            None => report.error(path, format!("keys must be strings, found {}", kind(k))),
        }
    }
    out
}

/// `path.key`, or `key` at the top level.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A string.
pub(super) fn string(report: &mut Report, path: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        other => {
            report.error(path, format!("expected a string, found {}", kind(other)));
            None
        }
    }
}

/// One of `allowed`, compared exactly (the file's spelling is the key's spelling).
pub(super) fn choice<'a>(
    report: &mut Report,
    path: &str,
    v: &Value,
    allowed: &[&'a str],
) -> Option<&'a str> {
    let s = string(report, path, v)?;
    let found = allowed.iter().find(|a| **a == s).copied();
    if found.is_none() {
        report.error(
            path,
            format!("{s:?} is not allowed; allowed: {}", allowed.join(", ")),
        );
    }
    found
}

/// A finite number (integers are accepted where a float is expected).
pub(super) fn number(report: &mut Report, path: &str, v: &Value) -> Option<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Some(x),
        Some(x) => {
            report.error(path, format!("expected a finite number, found {x}"));
            None
        }
        None => {
            report.error(path, format!("expected a number, found {}", kind(v)));
            None
        }
    }
}

/// A number `x` with `lo < x < hi` (open bounds) or within the closed bounds when `closed`.
pub(super) fn number_in(
    report: &mut Report,
    path: &str,
    v: &Value,
    lo: f64,
    hi: f64,
    closed: bool,
) -> Option<f64> {
    let x = number(report, path, v)?;
    let inside = if closed {
        (lo..=hi).contains(&x)
    } else {
        x > lo && x < hi
    };
    if inside {
        Some(x)
    } else {
        let (l, r) = if closed { ('[', ']') } else { ('(', ')') };
        report.error(
            path,
            format!("{x} is out of range; allowed: {l}{lo}, {hi}{r}"),
        );
        None
    }
}

/// A number greater than zero.
pub(super) fn positive(report: &mut Report, path: &str, v: &Value) -> Option<f64> {
    let x = number(report, path, v)?;
    if x > 0.0 {
        Some(x)
    } else {
        report.error(path, format!("{x} must be greater than 0"));
        None
    }
}

/// A whole number of at least `min`.
pub(super) fn count(report: &mut Report, path: &str, v: &Value, min: u64) -> Option<usize> {
    match v.as_u64() {
        Some(n) if n >= min => usize::try_from(n).ok().or_else(|| {
            report.error(path, format!("{n} is too large"));
            None
        }),
        Some(n) => {
            report.error(path, format!("{n} must be at least {min}"));
            None
        }
        None => {
            report.error(
                path,
                format!("expected a whole number >= {min}, found {}", describe(v)),
            );
            None
        }
    }
}

/// A boolean.
pub(super) fn boolean(report: &mut Report, path: &str, v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        other => {
            report.error(
                path,
                format!("expected true or false, found {}", kind(other)),
            );
            None
        }
    }
}

/// A sequence.
pub(super) fn list<'v>(report: &mut Report, path: &str, v: &'v Value) -> Option<&'v [Value]> {
    match v {
        Value::Sequence(items) => Some(items),
        other => {
            report.error(path, format!("expected a list, found {}", kind(other)));
            None
        }
    }
}

/// `path[i]`.
pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// What kind of YAML value this is, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => "a negative number",
        Value::Number(_) => "a whole number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The value itself when it is a scalar, else its kind.
fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        other => kind(other).to_owned(),
    }
}
