//! The legacy import against the real Python caches in `../shared/data/legacy`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};

use chrono::{Datelike, Timelike};
use ktrdr_ops::eta::{
    import_legacy, DurationRecord, EtaError, EtaHistory, EtaKey, LegacyCache, LegacyRecord,
    LegacyTimestamp, MemoryEtaHistory, SqliteEtaHistory, LEGACY_CONTEXT_FIELD,
};
use serde_json::Value;

const LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/legacy");
const CACHES: [&str; 2] = ["time_estimation", "progress_time_estimation"];

fn pkl(name: &str) -> PathBuf {
    Path::new(LEGACY).join(format!("{name}.pkl"))
}

fn expected(name: &str) -> Value {
    let text =
        std::fs::read_to_string(Path::new(LEGACY).join(format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn decoded_caches_equal_what_python_decoded() {
    for name in CACHES {
        let cache = LegacyCache::read(&pkl(name)).unwrap();
        assert_eq!(cache.to_json(), expected(name), "{name}");
    }
}

#[test]
fn import_keeps_every_record_once_and_reproduces_the_python_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let history = SqliteEtaHistory::open(&dir.path().join("ktrdr.db")).unwrap();
    let report = import_legacy(&[LEGACY], &history).unwrap();
    assert!(
        report.corrupt.is_empty() && report.already_imported.is_empty(),
        "{report:?}"
    );
    let imported: Vec<(String, usize, usize)> = report
        .imported
        .iter()
        .map(|c| {
            (
                c.path.file_name().unwrap().to_string_lossy().into_owned(),
                c.keys,
                c.records,
            )
        })
        .collect();
    assert_eq!(
        imported,
        [
            ("progress_time_estimation.pkl".to_owned(), 2, 14),
            ("time_estimation.pkl".to_owned(), 4, 20)
        ]
    );

    // Every record, in order, with its duration, context and exact original timestamp.
    for name in CACHES {
        let Value::Object(want) = expected(name) else {
            panic!("{name}: not an object")
        };
        for (key, records) in want {
            let got = history.records(&key.parse::<EtaKey>().unwrap()).unwrap();
            let records = records.as_array().unwrap();
            assert_eq!(got.len(), records.len(), "{key}");
            for (g, w) in got.iter().zip(records) {
                assert_eq!(Value::from(g.duration_secs), w["duration"], "{key}");
                let mut context = g.context.clone();
                let origin = context.remove(LEGACY_CONTEXT_FIELD).unwrap();
                assert_eq!(Value::Object(context), w["context"], "{key}");
                assert_eq!(origin["timestamp"], w["timestamp"], "{key}");
                assert_eq!(origin["key"], Value::from(key.as_str()));
                assert_eq!(origin["file"], Value::from(format!("{name}.pkl")));
                // The UTC instant is the naive time read in this machine's zone.
                let naive = chrono::NaiveDateTime::parse_from_str(
                    w["timestamp"].as_str().unwrap(),
                    "%Y-%m-%dT%H:%M:%S%.f",
                )
                .unwrap();
                assert_eq!(
                    g.finished_at.with_timezone(&chrono::Local).naive_local(),
                    naive,
                    "{key}"
                );
            }
        }
    }

    // The Python engine's estimate_duration("data_load", {"data_points": 5000}): record i of n,
    // oldest first, weighs i + 1.
    let records = history
        .records(&"data_load|size:medium".parse().unwrap())
        .unwrap();
    let (num, den) = records
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(n, d), (i, r)| {
            (n + (i + 1) as f64 * r.duration_secs, d + (i + 1) as f64)
        });
    assert!(
        (num / den - 43.55713417457712).abs() < 1e-12,
        "{}",
        num / den
    );

    // A second run does nothing.
    let again = import_legacy(
        &[pkl("time_estimation"), pkl("progress_time_estimation")],
        &history,
    )
    .unwrap();
    assert!(
        again.imported.is_empty() && again.corrupt.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.already_imported.len(), 2);
    assert_eq!(
        history
            .records(&"data_load|size:medium".parse().unwrap())
            .unwrap()
            .len(),
        10
    );

    // The imported history serves as a prior for a richer key, through the size fallback.
    let key = EtaKey::new("data_load")
        .unwrap()
        .with_symbol("AAPL")
        .unwrap()
        .with_items(5_000);
    let prior = history.prior(&key).unwrap().unwrap();
    assert_eq!(prior.samples, 10);
    assert!((40.0..49.0).contains(&prior.duration_secs), "{prior:?}");
}

#[test]
fn a_corrupt_cache_is_reported_and_moved_aside_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(pkl("time_estimation")).unwrap();
    let truncated = &original[..original.len() / 2];
    let bad = dir.path().join("progress_time_estimation.pkl");
    std::fs::write(&bad, truncated).unwrap();
    std::fs::write(dir.path().join("time_estimation.pkl"), &original).unwrap();
    std::fs::write(dir.path().join("unrelated.pkl"), b"not ours").unwrap();

    let history = MemoryEtaHistory::new();
    let report = import_legacy(&[dir.path()], &history).unwrap();
    assert_eq!(report.imported.len(), 1, "{report:?}");
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    let corrupt = &report.corrupt[0];
    assert_eq!(corrupt.path, bad);
    assert!(
        corrupt.error.contains("truncated data"),
        "{}",
        corrupt.error
    );
    let moved = corrupt.moved_to.as_ref().unwrap();
    assert!(!bad.exists());
    assert!(moved
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("progress_time_estimation.pkl.corrupt-"));
    assert_eq!(
        std::fs::read(moved).unwrap(),
        truncated,
        "the bytes are kept as they were"
    );
    assert!(dir.path().join("unrelated.pkl").exists());

    // The set-aside file is not picked up again; the good one was imported once.
    let again = import_legacy(&[dir.path()], &history).unwrap();
    assert!(
        again.imported.is_empty() && again.corrupt.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.already_imported.len(), 1);
}

#[test]
fn corruption_inside_the_pickle_names_the_offset() {
    let mut bytes = std::fs::read(pkl("time_estimation")).unwrap();
    // Turn the first SHORT_BINBYTES (a datetime's state) into an unknown opcode.
    let at = bytes.iter().position(|&b| b == b'C').unwrap();
    bytes[at] = b'd';
    let err = LegacyCache::decode(&bytes, Path::new("time_estimation.pkl")).unwrap_err();
    let EtaError::Pickle { source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((source.offset, source.opcode), (at, Some(b'd')));
    assert!(
        err.to_string()
            .contains(&format!("offset {at} (opcode 0x64 'd')")),
        "{err}"
    );
}

#[test]
fn missing_paths_are_not_errors() {
    let report = import_legacy(
        &[Path::new(LEGACY).join("no-such-dir")],
        &MemoryEtaHistory::new(),
    )
    .unwrap();
    assert_eq!(report, Default::default());
}

#[test]
fn a_pickle_bomb_is_reported_and_moved_aside_at_once() {
    // 60 levels of lists each holding the previous one twice (memo references): 609 bytes
    // that would expand to 2^61 values.
    let mut bomb = vec![0x80, 2, b']', b'q', 0, b'0'];
    for i in 1..=60u8 {
        bomb.extend([b']', b'q', i, b'h', i - 1, b'a', b'h', i - 1, b'a', b'0']);
    }
    bomb.extend([b'h', 60, b'.']);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("time_estimation.pkl");
    std::fs::write(&file, &bomb).unwrap();

    let history = MemoryEtaHistory::new();
    let report = import_legacy(&[dir.path()], &history).unwrap();
    assert!(report.imported.is_empty(), "{report:?}");
    let [corrupt] = report.corrupt.as_slice() else {
        panic!("{report:?}")
    };
    assert!(
        corrupt.error.contains("more than 10000000 values"),
        "{}",
        corrupt.error
    );
    assert!(!file.exists());
    assert_eq!(
        std::fs::read(corrupt.moved_to.as_ref().unwrap()).unwrap(),
        bomb
    );
}

/// `cache` as CPython's pickle protocol 4 writes it, without the framing and memo a reader does
/// not need: what the Python engine leaves after it saves. Naive timestamps only, as the
/// Python engine writes.
fn to_pickle(cache: &LegacyCache) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        match u8::try_from(s.len()) {
            Ok(n) => out.extend([0x8c, n]),
            Err(_) => {
                out.push(b'X');
                out.extend(u32::try_from(s.len()).unwrap().to_le_bytes());
            }
        }
        out.extend(s.as_bytes());
    }
    fn json(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Null => out.push(b'N'),
            Value::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => {
                    out.extend([0x8a, 8]);
                    out.extend(i.to_le_bytes());
                }
                (None, Some(f)) => {
                    out.push(b'G');
                    out.extend(f.to_be_bytes());
                }
                (None, None) => panic!("{n} is neither an i64 nor an f64"),
            },
            Value::String(s) => text(out, s),
            Value::Array(items) => {
                out.extend(b"](");
                items.iter().for_each(|i| json(out, i));
                out.push(b'e');
            }
            Value::Object(map) => {
                out.extend(b"}(");
                for (k, v) in map {
                    text(out, k);
                    json(out, v);
                }
                out.push(b'u');
            }
        }
    }
    let mut out = vec![0x80, 4, b'}', b'('];
    for (key, records) in &cache.entries {
        text(&mut out, key);
        out.extend(b"](");
        for r in records {
            out.extend(b"}(");
            text(&mut out, "duration");
            out.push(b'G');
            out.extend(r.duration_secs.to_be_bytes());
            text(&mut out, "timestamp");
            let t = r.timestamp.0;
            assert_eq!(t.utc_offset_secs, None, "only naive timestamps");
            text(&mut out, "datetime");
            text(&mut out, "datetime");
            out.extend([0x93, b'C', 10]);
            out.extend(u16::try_from(t.naive.year()).unwrap().to_be_bytes());
            let n = t.naive;
            out.extend([
                n.month() as u8 | if t.fold { 0x80 } else { 0 },
                n.day() as u8,
                n.hour() as u8,
                n.minute() as u8,
                n.second() as u8,
            ]);
            out.extend(&n.nanosecond().div_euclid(1000).to_be_bytes()[1..]);
            out.extend([0x85, b'R']);
            text(&mut out, "context");
            json(&mut out, &Value::Object(r.context.clone()));
            out.push(b'u');
        }
        out.push(b'e');
    }
    out.extend(b"u.");
    out
}

fn all_records(history: &dyn EtaHistory, cache: &LegacyCache) -> Vec<(String, DurationRecord)> {
    let mut out = Vec::new();
    for (key, _) in &cache.entries {
        for r in history.records(&key.parse().unwrap()).unwrap() {
            out.push((key.clone(), r));
        }
    }
    out
}

fn histories(keep: usize) -> Vec<(&'static str, Box<dyn EtaHistory>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteEtaHistory::open(&dir.path().join("ktrdr.db"))
        .unwrap()
        .with_keep(keep);
    vec![
        (
            "memory",
            Box::new(MemoryEtaHistory::with_keep(keep)),
            tempfile::tempdir().unwrap(),
        ),
        ("sqlite", Box::new(sqlite), dir),
    ]
}

#[test]
fn the_test_pickler_writes_what_the_decoder_reads() {
    for name in CACHES {
        let cache = LegacyCache::read(&pkl(name)).unwrap();
        let again = LegacyCache::decode(&to_pickle(&cache), Path::new("x.pkl")).unwrap();
        assert_eq!(again, cache, "{name}");
    }
}

#[test]
fn a_cache_python_rewrote_after_our_import_brings_only_its_new_records() {
    let original = LegacyCache::read(&pkl("time_estimation")).unwrap();
    // What the Python engine leaves after one more run: the new record appended, the oldest
    // dropped to keep ten.
    let key = "data_load|size:medium";
    let mut rewritten = original.clone();
    let records = &mut rewritten
        .entries
        .iter_mut()
        .find(|(k, _)| k == key)
        .unwrap()
        .1;
    let newest = records.last().unwrap().clone();
    let added = LegacyRecord {
        duration_secs: 51.25,
        timestamp: LegacyTimestamp(ktrdr_ops::eta::pickle::PyDateTime {
            naive: newest.timestamp.0.naive + chrono::Duration::minutes(90),
            ..newest.timestamp.0
        }),
        context: newest.context.clone(),
    };
    records.remove(0);
    records.push(added.clone());
    assert_eq!(records.len(), 10);

    for (kind, history, _db) in histories(50) {
        let first = import_legacy(&[LEGACY], history.as_ref()).unwrap();
        assert_eq!(first.imported.len(), 2, "{kind}: {first:?}");
        let before = all_records(history.as_ref(), &original);
        assert_eq!(before.len(), 20, "{kind}");

        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("time_estimation.pkl"),
            to_pickle(&rewritten),
        )
        .unwrap();
        std::fs::copy(
            pkl("progress_time_estimation"),
            home.path().join("progress_time_estimation.pkl"),
        )
        .unwrap();
        let second = import_legacy(&[home.path()], history.as_ref()).unwrap();
        assert!(second.corrupt.is_empty(), "{kind}: {second:?}");
        let [cache] = second.imported.as_slice() else {
            panic!("{kind}: {second:?}")
        };
        assert_eq!(
            (cache.keys, cache.records, cache.added),
            (4, 20, 1),
            "{kind}"
        );
        assert_eq!(
            second.already_imported,
            [home.path().join("progress_time_estimation.pkl")],
            "{kind}: same content, same marker"
        );

        // Everything imported before is still there once, plus the one new record.
        let after = all_records(history.as_ref(), &original);
        assert_eq!(after.len(), 21, "{kind}");
        for r in &before {
            assert_eq!(after.iter().filter(|a| *a == r).count(), 1, "{kind}: {r:?}");
        }
        let new: Vec<_> = after.iter().filter(|a| !before.contains(a)).collect();
        let [(new_key, new)] = new.as_slice() else {
            panic!("{kind}: {new:?}")
        };
        assert_eq!(new_key, key, "{kind}");
        assert_eq!(new.duration_secs, added.duration_secs, "{kind}");
        assert_eq!(
            new.context[LEGACY_CONTEXT_FIELD]["timestamp"],
            Value::from(added.timestamp.isoformat()),
            "{kind}"
        );

        // Importing the rewritten cache again, under another name, adds nothing either.
        std::fs::rename(
            home.path().join("time_estimation.pkl"),
            home.path().join("old_time_estimation.pkl"),
        )
        .unwrap();
        let third = import_legacy(&[home.path()], history.as_ref()).unwrap();
        let added: Vec<usize> = third.imported.iter().map(|c| c.added).collect();
        assert_eq!(added, [0], "{kind}: {third:?}");
        assert_eq!(all_records(history.as_ref(), &original).len(), 21, "{kind}");
    }
}

#[test]
fn an_import_stores_every_record_whatever_the_keep_limit() {
    let cache = LegacyCache::read(&pkl("time_estimation")).unwrap();
    for (kind, history, _db) in histories(3) {
        let report = import_legacy(&[pkl("time_estimation")], history.as_ref()).unwrap();
        assert_eq!(report.imported[0].added, 20, "{kind}: {report:?}");
        for (key, records) in &cache.entries {
            let key: EtaKey = key.parse().unwrap();
            assert_eq!(
                history.records(&key).unwrap().len(),
                records.len(),
                "{kind}: {key}"
            );
        }
        // Retention is the history's own policy: the next run recorded under a key brings it
        // back to the newest `keep`.
        let key: EtaKey = "data_load|size:medium".parse().unwrap();
        let latest = history.records(&key).unwrap().last().unwrap().finished_at;
        let run = DurationRecord {
            finished_at: latest + chrono::Duration::hours(1),
            ..DurationRecord::now(40.0)
        };
        history.record(&key, run).unwrap();
        let kept = history.records(&key).unwrap();
        assert_eq!(kept.len(), 3, "{kind}");
        assert_eq!(kept[2].duration_secs, 40.0, "{kind}");
    }
}
