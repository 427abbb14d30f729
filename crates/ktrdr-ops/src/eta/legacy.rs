//! One-time import of the Python system's time-estimation caches (pickles).
//!
//! A cache is a dict: key (`"{operation_type}"` or `"{operation_type}|size:…"`) → list of
//! `{"duration": float, "timestamp": datetime, "context": dict}`, oldest first. Each record is
//! imported under the key as written (it parses as an [`EtaKey`]: the Python key form is ours
//! with only a size factor), in file order, with its context unchanged plus one
//! `"ktrdr_legacy"` object holding the file name, the original key and the original timestamp
//! exactly as Python would print it.
//!
//! # Each record once, none lost
//!
//! The Python engine rewrites its cache after every run (the new record appended, the oldest
//! beyond ten dropped), and may still run after ours has imported. A marker (file name and
//! content hash) makes an unchanged file cost one read; a changed one is decoded again and
//! brings only the records not already stored: same key, same duration and the same original
//! timestamp (`ktrdr_legacy.timestamp`, kept verbatim, so a change of the machine's time zone
//! does not make an old record look new). Every record an import brings is stored, however many
//! a key holds: the history's keep limit is its retention policy for later runs (recording the
//! next run under a key prunes it to the newest `keep`, see [`super::EtaHistory`]), not a cap
//! on what an import keeps. Known limit: "already stored" is judged against what the history
//! holds now, so a record that retention pruned comes back if the Python system, still running,
//! rewrites a cache that holds it; the next recorded run prunes it again (the newest `keep`
//! records per key are what estimates use, so the estimate is unaffected).
//!
//! # Timestamps
//!
//! Python wrote `datetime.now()`: a *naive local* time. It is mapped to UTC with the importing
//! machine's time zone (the cache lives in that machine's home, written by that machine); an
//! ambiguous time (DST fall-back) takes Python's `fold` to pick the first or second instant, and
//! a nonexistent one (spring-forward gap) is read one hour later, as the clock would have shown.
//! Because that mapping depends on the zone, the naive value itself is kept verbatim in
//! `ktrdr_legacy.timestamp`; an aware timestamp (fixed offset) is converted exactly.

use std::path::{Path, PathBuf};

use chrono::{
    DateTime, Duration as ChronoDuration, FixedOffset, Local, LocalResult, NaiveDateTime, TimeZone,
    Utc,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::history::{DurationRecord, EtaHistory};
use super::pickle::{self, PyDateTime, PyValue};
use super::{EtaError, EtaKey};

/// Name of the context field that records where an imported record came from.
pub const LEGACY_CONTEXT_FIELD: &str = "ktrdr_legacy";

/// Files in a folder that [`import_legacy`] picks up: the Python engines' cache names
/// (`time_estimation.pkl`, `progress_time_estimation.pkl`).
const CACHE_SUFFIX: &str = "time_estimation.pkl";

/// The folder where the Python system kept its caches: `$KTRDR_HOME/cache`.
pub fn default_legacy_dir() -> PathBuf {
    crate::db::ktrdr_home().join("cache")
}

/// A timestamp from a legacy cache, as Python held it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyTimestamp(pub PyDateTime);

impl LegacyTimestamp {
    /// Python's `datetime.isoformat()`: microseconds only when non-zero, offset when aware.
    pub fn isoformat(&self) -> String {
        let dt = &self.0;
        let mut s = dt.naive.format("%Y-%m-%dT%H:%M:%S").to_string();
        let micros = dt.naive.and_utc().timestamp_subsec_micros();
        if micros != 0 {
            s.push_str(&format!(".{micros:06}"));
        }
        if let Some(off) = dt.utc_offset_secs {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60));
            if a % 60 != 0 {
                s.push_str(&format!(":{:02}", a % 60));
            }
        }
        s
    }

    /// The instant, mapping a naive local time with the time zone of this machine (see the
    /// module documentation).
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.to_utc_in(&Local)
    }

    /// The instant, reading a naive time in `zone`.
    pub fn to_utc_in<Tz: TimeZone>(&self, zone: &Tz) -> DateTime<Utc> {
        let dt = &self.0;
        if let Some(off) = dt.utc_offset_secs {
            // The offset was validated to lie within ±24 h when decoding.
            if let Some(fixed) = FixedOffset::east_opt(off) {
                if let LocalResult::Single(t) = fixed.from_local_datetime(&dt.naive) {
                    return t.with_timezone(&Utc);
                }
            }
        }
        local_to_utc(zone, dt.naive, dt.fold)
    }
}

fn local_to_utc<Tz: TimeZone>(zone: &Tz, naive: NaiveDateTime, fold: bool) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => {
            if fold { second } else { first }.with_timezone(&Utc)
        }
        LocalResult::None => match zone.from_local_datetime(&(naive + ChronoDuration::hours(1))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            // No zone has two adjacent gaps; if one did, UTC is the least surprising reading.
            LocalResult::None => naive.and_utc(),
        },
    }
}

/// One record of a legacy cache.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyRecord {
    /// `duration`, seconds.
    pub duration_secs: f64,
    /// `timestamp`.
    pub timestamp: LegacyTimestamp,
    /// `context`, converted to JSON (datetimes inside become their `isoformat()`).
    pub context: Map<String, Value>,
}

/// A decoded legacy cache, keys and records in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCache {
    /// Key → records, oldest first.
    pub entries: Vec<(String, Vec<LegacyRecord>)>,
}

impl LegacyCache {
    /// Decodes a cache file.
    pub fn read(path: &Path) -> Result<Self, EtaError> {
        let bytes = std::fs::read(path).map_err(|source| EtaError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::decode(&bytes, path)
    }

    /// Decodes cache bytes; `path` only names the source in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, EtaError> {
        let value = pickle::decode(bytes).map_err(|source| EtaError::Pickle {
            path: path.to_owned(),
            source,
        })?;
        let format = |reason: String| EtaError::LegacyFormat {
            path: path.to_owned(),
            reason,
        };
        let PyValue::Dict(top) = value else {
            return Err(format(format!(
                "top level is a {}, not a dict",
                type_name(&value)
            )));
        };
        let mut entries = Vec::with_capacity(top.len());
        for (key, list) in top {
            let PyValue::Str(key) = key else {
                return Err(format(format!("a key is a {}, not a str", type_name(&key))));
            };
            let PyValue::List(items) = list else {
                return Err(format(format!(
                    "{key:?}: records are a {}, not a list",
                    type_name(&list)
                )));
            };
            let records = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    record(item).map_err(|reason| format(format!("{key:?}[{i}]: {reason}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            entries.push((key, records));
        }
        Ok(LegacyCache { entries })
    }

    /// The cache as the JSON Python's `json.dump(cache, default=isoformat)` writes: what the
    /// `*.expected.json` reference files hold.
    pub fn to_json(&self) -> Value {
        let mut top = Map::new();
        for (key, records) in &self.entries {
            let list = records
                .iter()
                .map(|r| {
                    let mut o = Map::new();
                    o.insert("duration".into(), number(r.duration_secs));
                    o.insert("timestamp".into(), Value::String(r.timestamp.isoformat()));
                    o.insert("context".into(), Value::Object(r.context.clone()));
                    Value::Object(o)
                })
                .collect();
            top.insert(key.clone(), Value::Array(list));
        }
        Value::Object(top)
    }

    /// The records as they are imported into an [`EtaHistory`] (see the module documentation).
    pub fn to_history(&self, file_name: &str) -> Result<Vec<(EtaKey, DurationRecord)>, EtaError> {
        let mut out = Vec::new();
        for (key_text, records) in &self.entries {
            let key: EtaKey = key_text.parse()?;
            for r in records {
                let mut context = r.context.clone();
                let mut origin = Map::new();
                origin.insert("file".into(), file_name.into());
                origin.insert("key".into(), key_text.as_str().into());
                origin.insert("timestamp".into(), r.timestamp.isoformat().into());
                context.insert(LEGACY_CONTEXT_FIELD.into(), Value::Object(origin));
                let record = DurationRecord {
                    duration_secs: r.duration_secs,
                    finished_at: r.timestamp.to_utc(),
                    context,
                };
                out.push((key.clone(), record));
            }
        }
        Ok(out)
    }
}

fn number(x: f64) -> Value {
    // Durations were validated finite; a non-finite one never reaches here.
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn record(item: PyValue) -> Result<LegacyRecord, String> {
    let PyValue::Dict(fields) = item else {
        return Err(format!("record is a {}, not a dict", type_name(&item)));
    };
    let (mut duration, mut timestamp, mut context) = (None, None, None);
    for (name, value) in fields {
        let PyValue::Str(name) = name else {
            return Err(format!("a field name is a {}", type_name(&name)));
        };
        match (name.as_str(), value) {
            ("duration", PyValue::Float(d)) => duration = Some(d),
            // An int duration is exactly representable up to 2^53 s.
            ("duration", PyValue::Int(d)) => duration = Some(d as f64),
            ("timestamp", PyValue::DateTime(t)) => timestamp = Some(LegacyTimestamp(t)),
            ("context", PyValue::Dict(c)) => context = Some(dict_to_json(c, 0)?),
            ("duration" | "timestamp" | "context", v) => {
                return Err(format!("field {name:?} is a {}", type_name(&v)));
            }
            (other, _) => return Err(format!("unknown field {other:?}")),
        }
    }
    let duration_secs = duration.ok_or("missing field \"duration\"")?;
    if !(duration_secs.is_finite() && duration_secs > 0.0) {
        return Err(format!(
            "duration {duration_secs} is not finite and positive"
        ));
    }
    Ok(LegacyRecord {
        duration_secs,
        timestamp: timestamp.ok_or("missing field \"timestamp\"")?,
        context: context.ok_or("missing field \"context\"")?,
    })
}

fn dict_to_json(
    pairs: Vec<(PyValue, PyValue)>,
    depth: usize,
) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (k, v) in pairs {
        let PyValue::Str(k) = k else {
            return Err(format!("context key is a {}, not a str", type_name(&k)));
        };
        map.insert(k, to_json(v, depth + 1)?);
    }
    Ok(map)
}

fn to_json(v: PyValue, depth: usize) -> Result<Value, String> {
    Ok(match v {
        PyValue::None => Value::Null,
        PyValue::Bool(b) => Value::Bool(b),
        PyValue::Int(i) => Value::from(i),
        PyValue::Float(f) => Value::Number(
            serde_json::Number::from_f64(f)
                .ok_or_else(|| format!("context value {f} has no JSON form"))?,
        ),
        PyValue::Str(s) => Value::String(s),
        PyValue::DateTime(t) => Value::String(LegacyTimestamp(t).isoformat()),
        PyValue::List(items) | PyValue::Tuple(items) => Value::Array(
            items
                .into_iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        PyValue::Dict(pairs) => Value::Object(dict_to_json(pairs, depth)?),
        PyValue::Bytes(_) => return Err("context holds bytes, which have no JSON form".into()),
    })
}

fn type_name(v: &PyValue) -> &'static str {
    match v {
        PyValue::None => "None",
        PyValue::Bool(_) => "bool",
        PyValue::Int(_) => "int",
        PyValue::Float(_) => "float",
        PyValue::Str(_) => "str",
        PyValue::Bytes(_) => "bytes",
        PyValue::List(_) => "list",
        PyValue::Tuple(_) => "tuple",
        PyValue::Dict(_) => "dict",
        PyValue::DateTime(_) => "datetime",
    }
}

/// What [`import_legacy`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Caches imported by this call.
    pub imported: Vec<ImportedCache>,
    /// Caches skipped because this very content was imported before.
    pub already_imported: Vec<PathBuf>,
    /// Caches that could not be decoded, reported and moved aside.
    pub corrupt: Vec<CorruptCache>,
}

/// A cache imported by [`import_legacy`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedCache {
    /// The file.
    pub path: PathBuf,
    /// Keys it held.
    pub keys: usize,
    /// Records it held.
    pub records: usize,
    /// Records this call stored: all of them, less those an earlier version of the file (or
    /// another file) already brought.
    pub added: usize,
}

/// A cache [`import_legacy`] could not decode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorruptCache {
    /// Where it was.
    pub path: PathBuf,
    /// Where it is now (`<name>.corrupt-<UTC time>`), or `None` if renaming failed (then
    /// `error` says why, too).
    pub moved_to: Option<PathBuf>,
    /// Why it could not be imported.
    pub error: String,
}

/// Imports the legacy caches among `paths` (files, or folders searched for
/// `*time_estimation.pkl`) into `history`, each once.
///
/// A cache whose content was imported before (a marker in the history, keyed by file name and
/// content hash) is skipped, so a second run does nothing; a cache whose content changed adds
/// only the records not already stored (see the module documentation), all of them whatever
/// the history's keep limit. A cache that cannot be decoded is
/// reported and renamed `<name>.corrupt-<UTC time>` next to where it was, never deleted. Paths
/// that do not exist are skipped (having no legacy cache is the normal case). Errors reading a
/// file or writing the history are returned.
pub fn import_legacy<P: AsRef<Path>>(
    paths: &[P],
    history: &dyn EtaHistory,
) -> Result<ImportReport, EtaError> {
    let mut report = ImportReport::default();
    for file in cache_files(paths)? {
        let bytes = std::fs::read(&file).map_err(|source| EtaError::Io {
            path: file.clone(),
            source,
        })?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let decoded =
            LegacyCache::decode(&bytes, &file).and_then(|c| Ok((c.to_history(&name)?, c)));
        let (records, cache) = match decoded {
            Ok(ok) => ok,
            Err(e) => {
                report.corrupt.push(set_aside(&file, &e));
                continue;
            }
        };
        let marker = format!("legacy-pickle:{name}:{:016x}", fnv1a64(&bytes));
        match history.import_once(&marker, &records)? {
            Some(added) => {
                tracing::info!(path = %file.display(), records = records.len(), added, "imported legacy ETA cache");
                report.imported.push(ImportedCache {
                    path: file,
                    keys: cache.entries.len(),
                    records: records.len(),
                    added,
                });
            }
            None => report.already_imported.push(file),
        }
    }
    Ok(report)
}

fn cache_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>, EtaError> {
    let mut files = Vec::new();
    for path in paths.iter().map(AsRef::as_ref) {
        if path.is_dir() {
            let io = |source| EtaError::Io {
                path: path.to_owned(),
                source,
            };
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io)? {
                let entry = entry.map_err(io)?;
                let p = entry.path();
                let is_cache = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(CACHE_SUFFIX));
                if is_cache && p.is_file() {
                    found.push(p);
                }
            }
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.to_owned());
        } else {
            tracing::debug!(path = %path.display(), "no legacy ETA cache here");
        }
    }
    Ok(files)
}

fn set_aside(file: &Path, error: &EtaError) -> CorruptCache {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = file.with_file_name(format!("{name}.corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = file.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
    }
    match std::fs::rename(file, &target) {
        Ok(()) => {
            tracing::warn!(path = %file.display(), moved_to = %target.display(), %error, "corrupt legacy ETA cache set aside");
            CorruptCache {
                path: file.to_owned(),
                moved_to: Some(target),
                error: error.to_string(),
            }
        }
        Err(e) => {
            tracing::warn!(path = %file.display(), %error, rename_error = %e, "corrupt legacy ETA cache could not be moved");
            CorruptCache {
                path: file.to_owned(),
                moved_to: None,
                error: format!("{error}; moving it to {} failed: {e}", target.display()),
            }
        }
    }
}

/// FNV-1a, 64 bit: a stable content fingerprint for import markers (not for security).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(wall: &str, fold: bool, off: Option<i32>) -> LegacyTimestamp {
        let naive = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        LegacyTimestamp(PyDateTime {
            naive,
            fold,
            utc_offset_secs: off,
        })
    }

    #[test]
    fn isoformat_matches_python() {
        assert_eq!(
            ts("2026-11-26 17:40:03.376552", false, None).isoformat(),
            "2026-11-26T17:40:03.376552"
        );
        assert_eq!(
            ts("2026-01-02 03:04:05.000000", false, None).isoformat(),
            "2026-01-02T03:04:05"
        );
        assert_eq!(
            ts("2026-01-02 03:04:05.000007", false, Some(-18000)).isoformat(),
            "2026-01-02T03:04:05.000007-05:00"
        );
        assert_eq!(
            ts("2026-01-02 03:04:05.000000", false, Some(19800 + 7)).isoformat(),
            "2026-01-02T03:04:05+05:30:07"
        );
    }

    #[test]
    fn naive_times_map_through_the_zone_with_fold_and_gaps() {
        let zone = FixedOffset::east_opt(3600).unwrap();
        let plain = ts("2026-11-01 01:30:00.000000", false, None);
        assert_eq!(
            plain.to_utc_in(&zone).to_rfc3339(),
            "2026-11-01T00:30:00+00:00"
        );
        // Aware timestamps ignore the zone.
        let aware = ts("2026-11-01 01:30:00.000000", false, Some(-18000));
        assert_eq!(
            aware.to_utc_in(&zone).to_rfc3339(),
            "2026-11-01T06:30:00+00:00"
        );
        // 01:30 occurs twice (at +01:00, then at +00:00): fold picks the second.
        let naive = plain.0.naive;
        assert_eq!(
            local_to_utc(&zones::Dst, naive, false).to_rfc3339(),
            "2026-11-01T00:30:00+00:00"
        );
        assert_eq!(
            local_to_utc(&zones::Dst, naive, true).to_rfc3339(),
            "2026-11-01T01:30:00+00:00"
        );
        // 02:30 does not exist; it reads as 03:30 (+01:00).
        let gap = ts("2026-11-01 02:30:00.000000", false, None).0.naive;
        assert_eq!(
            local_to_utc(&zones::Dst, gap, false).to_rfc3339(),
            "2026-11-01T02:30:00+00:00"
        );
    }

    /// A toy zone whose 01:xx local times are ambiguous (+01:00 or +00:00), whose 02:xx do not
    /// exist, and which is +01:00 otherwise: enough to pin the mapping rules.
    mod zones {
        use chrono::{FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};

        #[derive(Clone, Copy, Debug)]
        pub struct Dst;

        fn off(h: i32) -> FixedOffset {
            FixedOffset::east_opt(h * 3600).unwrap()
        }

        impl TimeZone for Dst {
            type Offset = FixedOffset;
            fn from_offset(_: &FixedOffset) -> Self {
                Dst
            }
            fn offset_from_local_date(&self, _: &NaiveDate) -> LocalResult<FixedOffset> {
                LocalResult::Single(off(1))
            }
            fn offset_from_local_datetime(
                &self,
                local: &NaiveDateTime,
            ) -> LocalResult<FixedOffset> {
                match local.hour() {
                    1 => LocalResult::Ambiguous(off(1), off(0)),
                    2 => LocalResult::None,
                    _ => LocalResult::Single(off(1)),
                }
            }
            fn offset_from_utc_date(&self, _: &NaiveDate) -> FixedOffset {
                off(1)
            }
            fn offset_from_utc_datetime(&self, _: &NaiveDateTime) -> FixedOffset {
                off(1)
            }
        }
    }

    #[test]
    fn structure_errors_name_key_and_index() {
        // pickle.dumps({'op': [{'duration': 1.0, 'context': {}}]}, 4): no timestamp.
        let data = b"\x80\x04\x950\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x02op\x94]\x94}\x94(\x8c\x08duration\x94G?\xf0\x00\x00\x00\x00\x00\x00\x8c\x07context\x94}\x94uas.";
        let err = LegacyCache::decode(data, Path::new("x.pkl")).unwrap_err();
        assert!(matches!(err, EtaError::LegacyFormat { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("\"op\"[0]: missing field \"timestamp\""),
            "{err}"
        );
        // pickle.dumps([1], 4): not a dict.
        let err = LegacyCache::decode(
            b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a.",
            Path::new("x.pkl"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("top level is a list"), "{err}");
    }

    #[test]
    fn fingerprint_is_fnv1a() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
