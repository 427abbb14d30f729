//! The legacy import against the real Python caches in `../shared/data/legacy`.

use std::path::{Path, PathBuf};

use ktrdr_ops::eta::{
    import_legacy, EtaError, EtaHistory, EtaKey, LegacyCache, MemoryEtaHistory, SqliteEtaHistory,
    LEGACY_CONTEXT_FIELD,
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
