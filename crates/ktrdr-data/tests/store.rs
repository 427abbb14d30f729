//! Black-box tests of the bar store on the real IB files and on crafted ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ktrdr_data::store::{BarStore, SaveAction, StoreError};
use ktrdr_data::types::{format_timestamp, parse_timestamp, Bar, BarSeries, Symbol, Timeframe};
use proptest::prelude::*;

const IB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");

fn sym(s: &str) -> Symbol {
    s.parse().unwrap()
}

fn bar(ts: i64, c: f64) -> Bar {
    Bar {
        ts,
        open: c,
        high: c + 1.0,
        low: c - 1.0,
        close: c,
        volume: 100.0,
    }
}

fn series(bars: impl IntoIterator<Item = Bar>) -> BarSeries {
    BarSeries::from_bars(bars).unwrap()
}

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

/// (file stem, rows, first, last) from the data README.
const IB_FILES: [(&str, Timeframe, usize, &str, &str); 5] = [
    (
        "MSFT",
        Timeframe::H1,
        20_758,
        "2013-12-31 00:30",
        "2025-06-06 23:00",
    ),
    (
        "MSFT",
        Timeframe::M1,
        5_746,
        "2025-05-30 08:02",
        "2025-06-06 23:59",
    ),
    ("MSFT", Timeframe::D1, 11, "2025-05-22", "2025-06-06"),
    (
        "AAPL",
        Timeframe::M5,
        1_536,
        "2025-05-27 08:00",
        "2025-06-06 23:55",
    ),
    (
        "EURUSD",
        Timeframe::H1,
        2_591,
        "2025-01-02 00:00",
        "2025-06-06 20:00",
    ),
];

#[test]
fn loads_every_ib_file_with_the_documented_counts_and_ranges() {
    let store = BarStore::new(IB_DIR);
    let listed = store.list_series().unwrap();
    assert_eq!(listed.len(), IB_FILES.len(), "{listed:?}");
    for (s, tf, rows, first, last) in IB_FILES {
        let s = sym(s);
        let loaded = store.load(&s, tf).unwrap();
        assert_eq!(loaded.len(), rows, "{s} {tf}");
        assert_eq!(loaded.first_ts(), Some(ts(first)));
        assert_eq!(loaded.last_ts(), Some(ts(last)));
        let info = store.series_info(&s, tf).unwrap();
        assert_eq!(info.rows, rows);
        let r = store.date_range(&s, tf).unwrap().unwrap();
        assert_eq!((r.first, r.last), (ts(first), ts(last)));
        assert_eq!(info.range, Some(r));
        let raw = store.read_raw(&s, tf).unwrap();
        assert_eq!(raw.rows.len(), rows);
        assert_eq!(raw.rows[0].line, 2);
        assert!(raw.rows.iter().zip(loaded.iter()).all(|(r, b)| r.bar == b));
        // Forex carries no volume, equities do: the values came through, not defaults.
        let vol: f64 = loaded.volume().iter().sum();
        assert_eq!(vol == 0.0, s.as_str() == "EURUSD", "{s}");
    }
}

#[test]
fn a_real_file_survives_a_round_trip_in_canonical_form() {
    let src = BarStore::new(IB_DIR);
    let dir = tempfile::tempdir().unwrap();
    let dst = BarStore::new(dir.path());
    let msft = sym("MSFT");
    let bars = src.load(&msft, Timeframe::H1).unwrap();
    let rep = dst.merge_and_save(&msft, Timeframe::H1, &bars).unwrap();
    assert_eq!(
        (rep.action, rep.added, rep.total),
        (SaveAction::Created, bars.len(), bars.len())
    );
    assert_eq!(dst.load(&msft, Timeframe::H1).unwrap(), bars);
    let text = fs::read_to_string(dst.path(&msft, Timeframe::H1)).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,open,high,low,close,volume"));
    assert_eq!(
        lines.next(),
        Some("2013-12-31T00:30:00Z,37.21,37.27,36.94,36.99,2265000")
    );
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn reads_every_timestamp_variant_and_header_the_python_system_wrote() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "X_1h.csv",
        "date,open,high,low,close,volume\r\n\
         2025-05-22 08:00:00+00:00,1,2,0.5,1.5,10.0\r\n\
         2025-05-22T09:00:00Z,1,2,0.5,1.5,10\r\n\
         2025-05-22T10:00:00,1,2,0.5,1.5,10\r\n\
         2025-05-22 07:00:00-04:00,1,2,0.5,1.5,10\r\n\
         \r\n",
    );
    write_file(
        dir.path(),
        "X_1d.csv",
        "Date,Open,High,Low,Close,Volume\n2025-05-22,1,2,0.5,1.5,10\n2025-05-23,1,2,0.5,1.5,1e3\n",
    );
    let store = BarStore::new(dir.path());
    let h = store.load(&sym("x"), Timeframe::H1).unwrap();
    let t0 = ts("2025-05-22T08:00:00Z");
    assert_eq!(h.ts(), &[t0, t0 + 3600, t0 + 7200, t0 + 3 * 3600]);
    let d = store.load(&sym("X"), Timeframe::D1).unwrap();
    assert_eq!(d.ts(), &[t0 - 8 * 3600, t0 + 16 * 3600]);
    assert_eq!(d.volume(), &[10.0, 1000.0]);
    assert_eq!(store.series_info(&sym("X"), Timeframe::H1).unwrap().rows, 4);
}

fn parse_error(text: &str) -> (u64, &'static str, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "BAD_1h.csv", text);
    match BarStore::new(dir.path()).load(&sym("BAD"), Timeframe::H1) {
        Err(e @ StoreError::Parse { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            let StoreError::Parse {
                line, field, value, ..
            } = e
            else {
                unreachable!()
            };
            (line, field, value, msg)
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn a_malformed_row_names_file_line_and_field() {
    let head = "timestamp,open,high,low,close,volume\n2025-01-01T00:00:00Z,1,2,0.5,1.5,10\n";
    let (line, field, value, msg) =
        parse_error(&format!("{head}2025-01-01T01:00:00Z,1,2,abc,1.5,10\n"));
    assert_eq!((line, field, value.as_str()), (3, "low", "abc"));
    assert!(msg.contains(":3: field 'low'"), "{msg}");
    let (line, field, ..) = parse_error(&format!("{head}\n2025-02-30T00:00:00Z,1,2,0.5,1.5,10\n"));
    assert_eq!((line, field), (4, "timestamp"));
    let (_, field, _, msg) = parse_error(&format!("{head}2025-01-01T01:00:00Z,1,2,0.5,1.5\n"));
    assert_eq!(field, "volume");
    assert!(msg.contains("missing"), "{msg}");
    let (_, field, ..) = parse_error(&format!("{head}2025-01-01T01:00:00Z,1,,0.5,1.5,10\n"));
    assert_eq!(field, "high");
    let (_, field, ..) = parse_error(&format!("{head}2025-01-01T01:00:00Z,1,2,0.5,1.5,10,7\n"));
    assert_eq!(field, "(after the last column)");
    let (_, field, _, msg) = parse_error(&format!("{head}2025-01-01T01:00:00Z,NaN,2,0.5,1.5,10\n"));
    assert_eq!(field, "open");
    assert!(msg.contains("finite"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "H_1h.csv", "timestamp,open,high,low,close\n");
    let e = BarStore::new(dir.path())
        .load(&sym("H"), Timeframe::H1)
        .unwrap_err();
    assert!(
        e.is_format() && e.to_string().contains("H_1h.csv:1: bad header"),
        "{e}"
    );
}

#[test]
fn a_missing_series_says_where_it_looked_and_what_exists() {
    let store = BarStore::new(IB_DIR);
    let e = store.load(&sym("MSFT"), Timeframe::H4).unwrap_err();
    assert!(e.is_not_found());
    let msg = e.to_string();
    assert!(
        msg.contains("MSFT_4h.csv does not exist") && msg.contains("1m, 1h, 1d"),
        "{msg}"
    );
    let msg = store
        .date_range(&sym("NOPE"), Timeframe::H1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no files for NOPE"), "{msg}");
}

#[test]
fn unsorted_files_load_sorted_and_raw_rows_keep_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "U_1h.csv",
        "timestamp,open,high,low,close,volume\n\
         2025-01-01T02:00:00Z,2,2,2,2,2\n\
         2025-01-01T00:00:00Z,0,0,0,0,0\n\
         2025-01-01T02:00:00Z,9,9,9,9,9\n",
    );
    let store = BarStore::new(dir.path());
    let u = sym("U");
    let t0 = ts("2025-01-01");
    let loaded = store.load(&u, Timeframe::H1).unwrap();
    assert_eq!(loaded.ts(), &[t0, t0 + 7200]);
    assert_eq!(loaded.close(), &[0.0, 9.0]);
    let raw = store.read_raw(&u, Timeframe::H1).unwrap();
    let order: Vec<(u64, i64)> = raw.rows.iter().map(|r| (r.line, r.bar.ts)).collect();
    assert_eq!(order, vec![(2, t0 + 7200), (3, t0), (4, t0 + 7200)]);
    let (_, report) = raw.into_series();
    assert_eq!((report.out_of_order, report.duplicates), (1, 1));
    // A file whose last row is before its first: the range is the series', not the file's ends.
    write_file(
        dir.path(),
        "R_1h.csv",
        "timestamp,open,high,low,close,volume
         2025-01-01T05:00:00Z,2,2,2,2,2
         2025-01-01T09:00:00Z,0,0,0,0,0
         2025-01-01T01:00:00Z,9,9,9,9,9
",
    );
    let range = store.date_range(&sym("R"), Timeframe::H1).unwrap().unwrap();
    assert_eq!((range.first, range.last), (t0 + 3600, t0 + 9 * 3600));
    let info = store.series_info(&sym("R"), Timeframe::H1).unwrap();
    assert_eq!((info.range, info.rows), (Some(range), 3));
    // A save inside the stored range is a rewrite, which sorts the file and drops the shadowed
    // duplicate. (One that only extends would append: the file's ends look canonical, and the
    // append decision trusts what lies between, invariant 4.)
    let rep = store
        .merge_and_save(&u, Timeframe::H1, &series([bar(t0 + 3600, 1.0)]))
        .unwrap();
    assert_eq!(
        (rep.action, rep.added, rep.total),
        (SaveAction::Rewritten, 1, 3)
    );
    let text = fs::read_to_string(path).unwrap();
    let stamps: Vec<&str> = text.lines().skip(1).map(|l| &l[..20]).collect();
    assert_eq!(
        stamps,
        [
            "2025-01-01T00:00:00Z",
            "2025-01-01T01:00:00Z",
            "2025-01-01T02:00:00Z"
        ]
    );
    assert!(
        text.contains("2025-01-01T02:00:00Z,9,"),
        "the later duplicate won: {text}"
    );
}

#[test]
fn extending_appends_in_place_and_overlapping_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("AAA");
    let tf = Timeframe::M1;
    let path = store.path(&s, tf);
    let a = series((0..100).map(|i| bar(i * 60, i as f64)));
    assert_eq!(
        store.merge_and_save(&s, tf, &a).unwrap().action,
        SaveAction::Created
    );
    let before = fs::read(&path).unwrap();
    let ino_before = inode(&path);

    let b = series((100..150).map(|i| bar(i * 60, i as f64)));
    let rep = store.merge_and_save(&s, tf, &b).unwrap();
    assert_eq!(
        (rep.action, rep.added, rep.total),
        (SaveAction::Appended, 50, 150)
    );
    let after = fs::read(&path).unwrap();
    assert!(
        after.starts_with(&before),
        "an append must not rewrite the old bytes"
    );
    assert_eq!(inode(&path), ino_before, "an append keeps the same file");

    let c = series([bar(60, 1.0), bar(120, 99.0), bar(150 * 60, 150.0)]);
    let rep = store.merge_and_save(&s, tf, &c).unwrap();
    assert_eq!(
        (
            rep.action,
            rep.added,
            rep.replaced,
            rep.unchanged,
            rep.total
        ),
        (SaveAction::Rewritten, 1, 1, 1, 151)
    );
    assert_ne!(
        inode(&path),
        ino_before,
        "a rewrite renames a new file into place"
    );

    let rep = store.merge_and_save(&s, tf, &c).unwrap();
    assert_eq!((rep.action, rep.unchanged), (SaveAction::Unchanged, 3));
    let loaded = store.load(&s, tf).unwrap();
    assert_eq!(loaded, a.merge(&b).merge(&c));
    assert!(fs::read_dir(dir.path()).unwrap().all(|e| {
        let n = e.unwrap().file_name().into_string().unwrap();
        !n.contains(".tmp-") && !n.ends_with(".append")
    }));
}

#[test]
fn a_python_file_is_rewritten_canonical_once_then_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        format!("{IB_DIR}/MSFT_1d.csv"),
        dir.path().join("MSFT_1d.csv"),
    )
    .unwrap();
    let store = BarStore::new(dir.path());
    let msft = sym("MSFT");
    let before = store.load(&msft, Timeframe::D1).unwrap();
    let next = series([bar(ts("2025-06-09"), 471.0)]);
    let rep = store.merge_and_save(&msft, Timeframe::D1, &next).unwrap();
    assert_eq!((rep.action, rep.total), (SaveAction::Rewritten, 12));
    let text = fs::read_to_string(dir.path().join("MSFT_1d.csv")).unwrap();
    assert!(
        text.starts_with("timestamp,open,high,low,close,volume\n2025-05-22T00:00:00Z,452.85,"),
        "{text}"
    );
    let rep = store
        .merge_and_save(
            &msft,
            Timeframe::D1,
            &series([bar(ts("2025-06-10"), 472.0)]),
        )
        .unwrap();
    assert_eq!((rep.action, rep.total), (SaveAction::Appended, 13));
    let m = store.load(&msft, Timeframe::D1).unwrap();
    assert_eq!(m.slice_index(0..11), before);
    assert_eq!(m.last_ts(), Some(ts("2025-06-10")));
}

#[test]
fn a_file_with_other_column_order_is_rewritten_not_appended() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "R_1d.csv",
        "timestamp,close,open,high,low,volume\n2025-01-01,1,1,1,1,1\n",
    );
    let store = BarStore::new(dir.path());
    // Write twice so the second save finds a lock file and a canonical file before the copy.
    store
        .merge_and_save(
            &sym("R"),
            Timeframe::D1,
            &series([bar(ts("2025-01-01"), 1.0)]),
        )
        .unwrap();
    write_file(
        dir.path(),
        "R_1d.csv",
        "timestamp,close,open,high,low,volume\n2025-01-01,1,1,1,1,1\n",
    );
    let rep = store
        .merge_and_save(
            &sym("R"),
            Timeframe::D1,
            &series([bar(ts("2025-01-02"), 2.0)]),
        )
        .unwrap();
    assert_eq!(rep.action, SaveAction::Rewritten);
    assert!(fs::read_to_string(dir.path().join("R_1d.csv"))
        .unwrap()
        .starts_with("timestamp,open,"));
    assert_eq!(store.load(&sym("R"), Timeframe::D1).unwrap().len(), 2);
}

#[test]
fn a_torn_append_is_invisible_to_readers_and_rolled_back_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("T");
    let tf = Timeframe::H1;
    let a = series((0..10).map(|i| bar(i * 3600, i as f64)));
    store.merge_and_save(&s, tf, &a).unwrap();
    let path = store.path(&s, tf);
    let committed = fs::metadata(&path).unwrap().len();
    // What a writer killed mid-append leaves: the journal, then a partial row.
    fs::write(
        dir.path().join(".T_1h.csv.append"),
        format!("{committed}\n"),
    )
    .unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"1970-01-01T10:00:00Z,10,11,9,10,9").unwrap();
    drop(f);
    // A partial row that parses ("9" of "900") would be wrong data: readers must not see it.
    assert_eq!(store.load(&s, tf).unwrap(), a);
    assert_eq!(store.date_range(&s, tf).unwrap().unwrap().last, 9 * 3600);
    assert_eq!(store.series_info(&s, tf).unwrap().rows, 10);

    let b = series([bar(10 * 3600, 10.0)]);
    let rep = store.merge_and_save(&s, tf, &b).unwrap();
    assert_eq!(rep.rolled_back_bytes, 33);
    assert_eq!(rep.action, SaveAction::Appended);
    assert_eq!(store.load(&s, tf).unwrap(), a.merge(&b));
    assert!(!dir.path().join(".T_1h.csv.append").exists());

    // A journal cut short while being written predates any append: the file is whole.
    fs::write(dir.path().join(".T_1h.csv.append"), "12").unwrap();
    assert_eq!(store.load(&s, tf).unwrap().len(), 11);
}

#[test]
fn stale_temp_files_are_removed_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let stale = write_file(dir.path(), ".S_1h.csv.tmp-999999-0", "timestamp,open");
    store
        .merge_and_save(&sym("S"), Timeframe::H1, &series([bar(0, 1.0)]))
        .unwrap();
    assert!(!stale.exists());
}

#[test]
fn the_series_lock_excludes_writers_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("L");
    let guard = store
        .try_lock_series(&s, Timeframe::H1)
        .unwrap()
        .expect("free lock");
    assert!(
        store.try_lock_series(&s, Timeframe::H1).unwrap().is_none(),
        "second holder"
    );
    assert!(
        store.try_lock_series(&s, Timeframe::H4).unwrap().is_some(),
        "other series are independent"
    );

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, s, done) = (store.clone(), s.clone(), done.clone());
        std::thread::spawn(move || {
            let r = store.merge_and_save(&s, Timeframe::H1, &series([bar(0, 1.0)]));
            done.store(true, Ordering::SeqCst);
            r
        })
    };
    // Wall-clock on purpose: we check the writer really waits on the OS lock.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !done.load(Ordering::SeqCst),
        "the writer ran while the lock was held"
    );
    drop(guard);
    assert_eq!(writer.join().unwrap().unwrap().action, SaveAction::Created);
}

#[test]
fn concurrent_writers_never_lose_bars() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("C");
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let (store, s) = (store.clone(), s.clone());
            std::thread::spawn(move || {
                for i in 0..40 {
                    // Interleaved timestamps force rewrites as well as appends.
                    let t = (i * 2 + w) * 60;
                    store
                        .merge_and_save(&s, Timeframe::M1, &series([bar(t, t as f64)]))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let loaded = store.load(&s, Timeframe::M1).unwrap();
    assert_eq!(
        loaded.ts(),
        (0..80).map(|i| i * 60).collect::<Vec<_>>().as_slice()
    );
}

fn inode(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap())
}

fn arb_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..100_000_000).prop_map(|c| c as f64 / 100.0),
        -1e6..1e6f64,
        prop::num::f64::NORMAL,
        Just(0.0),
        Just(-0.0),
    ]
}

fn arb_series() -> impl Strategy<Value = BTreeMap<i64, [f64; 5]>> {
    // Timestamps across 1900..2100 so date arithmetic is exercised, not only recent years.
    prop::collection::btree_map(
        -2_208_988_800i64..4_102_444_800,
        prop::array::uniform5(arb_value()),
        0..60,
    )
}

fn to_series(m: &BTreeMap<i64, [f64; 5]>) -> BarSeries {
    series(m.iter().map(|(&ts, v)| Bar {
        ts,
        open: v[0],
        high: v[1],
        low: v[2],
        close: v[3],
        volume: v[4],
    }))
}

fn bits(s: &BarSeries) -> Vec<[u64; 6]> {
    s.iter()
        .map(|b| {
            [
                b.ts as u64,
                b.open.to_bits(),
                b.high.to_bits(),
                b.low.to_bits(),
                b.close.to_bits(),
                b.volume.to_bits(),
            ]
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_round_trip_is_bit_exact(m in arb_series()) {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let s = to_series(&m);
        store.merge_and_save(&sym("P"), Timeframe::M5, &s).unwrap();
        if s.is_empty() {
            prop_assert!(store.load(&sym("P"), Timeframe::M5).unwrap_err().is_not_found());
        } else {
            let back = store.load(&sym("P"), Timeframe::M5).unwrap();
            prop_assert_eq!(bits(&back), bits(&s));
            let r = store.date_range(&sym("P"), Timeframe::M5).unwrap().unwrap();
            prop_assert_eq!((Some(r.first), Some(r.last)), (s.first_ts(), s.last_ts()));
            prop_assert_eq!(format_timestamp(r.first).len(), 20);
        }
    }

    #[test]
    fn merge_and_save_is_the_union_with_new_bars_winning(old in arb_series(), new in arb_series()) {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        store.merge_and_save(&sym("P"), Timeframe::M5, &to_series(&old)).unwrap();
        let rep = store.merge_and_save(&sym("P"), Timeframe::M5, &to_series(&new)).unwrap();
        let mut model = old.clone();
        model.extend(new.iter().map(|(k, v)| (*k, *v)));
        let want = to_series(&model);
        if !want.is_empty() {
            prop_assert_eq!(bits(&store.load(&sym("P"), Timeframe::M5).unwrap()), bits(&want));
        }
        prop_assert_eq!(rep.total, model.len());
        prop_assert_eq!(rep.added, new.keys().filter(|k| !old.contains_key(k)).count());
        prop_assert_eq!(rep.added + rep.replaced + rep.unchanged, new.len());
        // In-memory merge agrees with the store.
        prop_assert_eq!(bits(&to_series(&old).merge(&to_series(&new))), bits(&want));
    }
}

#[test]
fn readers_never_create_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        format!("{IB_DIR}/AAPL_5m.csv"),
        dir.path().join("AAPL_5m.csv"),
    )
    .unwrap();
    let store = BarStore::new(dir.path());
    let aapl = sym("AAPL");
    store.load(&aapl, Timeframe::M5).unwrap();
    store.read_raw(&aapl, Timeframe::M5).unwrap();
    store.date_range(&aapl, Timeframe::M5).unwrap();
    store.series_info(&aapl, Timeframe::M5).unwrap();
    assert!(store.load(&sym("NOPE"), Timeframe::H1).is_err());
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["AAPL_5m.csv"]);
}

#[test]
fn row_counts_skip_blank_lines_in_every_line_ending() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "2025-01-01,1,1,1,1,1\n\n2025-01-02,1,1,1,1,1\n\n\n2025-01-03,1,1,1,1,1";
    write_file(
        dir.path(),
        "LF_1d.csv",
        &format!("timestamp,open,high,low,close,volume\n{rows}"),
    );
    write_file(
        dir.path(),
        "CR_1d.csv",
        &format!(
            "timestamp,open,high,low,close,volume\r\n{}\r\n\r\n",
            rows.replace('\n', "\r\n")
        ),
    );
    let store = BarStore::new(dir.path());
    for s in ["LF", "CR"] {
        let info = store.series_info(&sym(s), Timeframe::D1).unwrap();
        assert_eq!(info.rows, 3, "{s}");
        assert_eq!(info.range.unwrap().last, ts("2025-01-03"), "{s}");
        assert_eq!(store.load(&sym(s), Timeframe::D1).unwrap().len(), 3, "{s}");
    }
}

/// Every path that names a line (full parse, head probe, tail probe) counts physical lines,
/// blank ones included: the number an editor shows.
#[test]
fn error_lines_are_physical_lines_on_every_read_path() {
    let head = "timestamp,open,high,low,close,volume\n";
    let good = "2025-01-01T00:00:00Z,1,2,0.5,1.5,10\n";
    let bad = "2025-01-01T01:00:00Z,1,2,x,1.5,10\n";
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    // Blank lines before a bad last row (the tail probe), and before a bad first row (the head
    // probe), in both line endings.
    let cases = [
        ("TAIL", format!("{head}{good}\n\n{bad}"), 5),
        (
            "TAILCR",
            format!("{head}{good}\n\n{bad}").replace('\n', "\r\n"),
            5,
        ),
        ("HEAD", format!("{head}\n{bad}{good}"), 3),
    ];
    for (name, text, want) in &cases {
        write_file(dir.path(), &format!("{name}_1h.csv"), text);
        let s = sym(name);
        let line_of = |r: Result<(), StoreError>| match r {
            Err(StoreError::Parse { line, field, .. }) => (line, field),
            other => panic!("{name}: expected a parse error, got {other:?}"),
        };
        let load = line_of(store.load(&s, Timeframe::H1).map(drop));
        let skipped = &store.read_raw(&s, Timeframe::H1).unwrap().skipped;
        let raw = (skipped[0].line, skipped[0].field);
        let range = line_of(store.date_range(&s, Timeframe::H1).map(drop));
        let skipped = &store.series_info(&s, Timeframe::H1).unwrap().skipped;
        let info = (skipped[0].line, skipped[0].field);
        assert_eq!([load, raw, range, info], [(*want, "low"); 4], "{name}");
    }
}

#[test]
fn a_missing_series_names_near_miss_files_without_contradiction() {
    let dir = tempfile::tempdir().unwrap();
    let text = "timestamp,open,high,low,close,volume\n2025-01-02,1,2,0.5,1.5,10\n";
    write_file(dir.path(), "msft_1h.csv", text);
    write_file(dir.path(), "MSFT_60m.csv", text);
    write_file(dir.path(), "MSFT_1d.csv", text);
    let store = BarStore::new(dir.path());
    // Only files the store would open count as series.
    assert_eq!(store.list_series().unwrap(), [(sym("MSFT"), Timeframe::D1)]);
    let e = store.load(&sym("MSFT"), Timeframe::H1).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("MSFT_1h.csv does not exist"), "{msg}");
    assert!(msg.contains("MSFT exists there for: 1d;"), "{msg}");
    assert!(
        msg.contains("MSFT_60m.csv and msft_1h.csv are there but the store reads only MSFT_1h.csv"),
        "{msg}"
    );
    // A file of another series is no near miss.
    let msg = store
        .load(&sym("MSFT"), Timeframe::H4)
        .unwrap_err()
        .to_string();
    assert!(
        !msg.contains("are there") && !msg.contains("is there"),
        "{msg}"
    );
}

/// A foreign file is rewritten canonical by the save that extends it, whatever sidecars
/// exist: the append decision reads the file, not the lock file's history.
#[test]
fn a_header_only_file_with_blank_lines_is_rewritten_not_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let (msft, tf) = (sym("MSFT"), Timeframe::D1);
    let path = store.path(&msft, tf);
    fs::write(&path, "timestamp,open,high,low,close,volume\n\n").unwrap();
    let rep = store
        .merge_and_save(&msft, tf, &series([bar(ts("2025-06-09"), 471.0)]))
        .unwrap();
    assert_eq!(rep.action, SaveAction::Rewritten);
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("\n\n"), "{text:?}");
    // The bare canonical header is extended in place.
    fs::write(&path, "timestamp,open,high,low,close,volume\n").unwrap();
    let rep = store
        .merge_and_save(&msft, tf, &series([bar(ts("2025-06-09"), 471.0)]))
        .unwrap();
    assert_eq!(rep.action, SaveAction::Appended);
}

#[test]
fn a_python_file_is_rewritten_even_when_its_lock_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let msft = sym("MSFT");
    let tf = Timeframe::D1;
    let path = store.path(&msft, tf);
    let python = fs::read(format!("{IB_DIR}/MSFT_1d.csv")).unwrap();
    let check = |extra: &BarSeries, want_total: usize| {
        let before = store.load(&msft, tf).unwrap();
        let rep = store.merge_and_save(&msft, tf, extra).unwrap();
        assert_eq!((rep.action, rep.total), (SaveAction::Rewritten, want_total));
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("open").count(), 1, "{text}");
        assert!(text.starts_with("timestamp,open,high,low,close,volume\n"));
        assert!(
            text.lines().skip(1).all(|l| l.as_bytes()[19] == b'Z'),
            "{text}"
        );
        assert!(!text.contains("+00:00") && !text.contains(".0,"), "{text}");
        assert_eq!(store.load(&msft, tf).unwrap(), before.merge(extra));
    };

    // The lock file exists because someone took the series lock before any save.
    fs::write(&path, &python).unwrap();
    drop(
        store
            .try_lock_series(&msft, tf)
            .unwrap()
            .expect("free lock"),
    );
    check(&series([bar(ts("2025-06-09"), 471.0)]), 12);

    // A Python file copied over a series the store has written before.
    fs::write(&path, &python).unwrap();
    check(&series([bar(ts("2025-06-10"), 472.0)]), 12);

    // Now canonical, the file is extended in place again.
    let rep = store
        .merge_and_save(&msft, tf, &series([bar(ts("2025-06-11"), 473.0)]))
        .unwrap();
    assert_eq!((rep.action, rep.total), (SaveAction::Appended, 13));
}

#[test]
fn replace_series_clears_an_unfinished_append_and_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("J");
    let tf = Timeframe::D1;
    let path = store.path(&s, tf);
    // A foreign daily file (date-only rows, shorter than canonical ones), and what a writer
    // killed mid-append leaves.
    let text = "timestamp,open,high,low,close,volume\n2025-01-02,1,2,0.5,1.5,10\n2025-01-03,1,2,0.5,1.5,10\n";
    fs::write(&path, text).unwrap();
    fs::write(
        dir.path().join(".J_1d.csv.append"),
        format!("{}\n", text.len()),
    )
    .unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"2025-01-0").unwrap();
    drop(f);

    let new = series((0..5).map(|i| bar(ts("2025-01-06") + i * 86_400, i as f64)));
    let guard = store.try_lock_series(&s, tf).unwrap().expect("free lock");
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, s, new, done) = (store.clone(), s.clone(), new.clone(), done.clone());
        std::thread::spawn(move || {
            let rep = store.replace_series(&s, tf, &new);
            done.store(true, Ordering::SeqCst);
            rep
        })
    };
    // Wall-clock on purpose: we check the writer really waits on the OS lock.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !done.load(Ordering::SeqCst),
        "replaced while the lock was held"
    );
    drop(guard);
    writer.join().unwrap().unwrap();
    // The journal went with the old file: the new one (longer than the recorded length) is
    // read whole, now and by the next writer.
    assert!(!dir.path().join(".J_1d.csv.append").exists());
    assert_eq!(store.load(&s, tf).unwrap(), new);
    let more = series([bar(ts("2025-01-13"), 9.0)]);
    assert_eq!(
        store.merge_and_save(&s, tf, &more).unwrap().action,
        SaveAction::Appended
    );
    assert_eq!(store.load(&s, tf).unwrap(), new.merge(&more));
}

#[test]
fn write_csv_prints_exactly_the_rows_the_store_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let msft = sym("MSFT");
    let mut odd = bar(ts("1969-12-31T23:00:00Z"), 0.1 + 0.2);
    odd.volume = 2_265_000.0;
    let s = series([odd, bar(ts("2025-05-22T08:00:00Z"), 37.21)]);
    store.merge_and_save(&msft, Timeframe::H1, &s).unwrap();
    let mut printed = Vec::new();
    ktrdr_data::store::write_csv(&mut printed, &s).unwrap();
    let stored = fs::read(store.path(&msft, Timeframe::H1)).unwrap();
    assert_eq!(
        String::from_utf8(printed).unwrap(),
        String::from_utf8(stored).unwrap()
    );
}

/// What a power loss leaves: a file of NUL bytes, no comma, no newline. Every read path refuses
/// it with a short message; none quotes the header whole (it used to: twice the file's size).
#[test]
fn a_file_of_nul_bytes_is_refused_with_a_short_error_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let nul = sym("NUL");
    let path = store.path(&nul, Timeframe::H1);
    let size = 8 << 20;
    fs::write(&path, vec![0u8; size]).unwrap();
    let errors: Vec<(&str, StoreError)> = vec![
        ("load", store.load(&nul, Timeframe::H1).unwrap_err()),
        ("read_raw", store.read_raw(&nul, Timeframe::H1).unwrap_err()),
        (
            "date_range",
            store.date_range(&nul, Timeframe::H1).unwrap_err(),
        ),
        (
            "series_info",
            store.series_info(&nul, Timeframe::H1).unwrap_err(),
        ),
        (
            "merge_and_save",
            store
                .merge_and_save(&nul, Timeframe::H1, &series([bar(0, 1.0)]))
                .unwrap_err(),
        ),
        (
            "replace_series_with",
            store
                .replace_series_with(&nul, Timeframe::H1, |raw| {
                    Ok::<_, StoreError>((raw.into_series().0, ()))
                })
                .unwrap_err(),
        ),
        (
            "read_csv_file",
            ktrdr_data::store::read_csv_file(&path).unwrap_err(),
        ),
    ];
    for (op, e) in errors {
        let text = e.to_string();
        assert!(text.len() < 400, "{op}: {} bytes of error", text.len());
        assert!(text.contains("bad header"), "{op}: {text}");
        assert!(text.contains("NUL bytes"), "{op}: {text}");
    }
    // The file is what it was: nothing rejected it by rewriting it.
    assert_eq!(fs::metadata(&path).unwrap().len(), size as u64);

    // Other text without a line break is quoted as a cut excerpt.
    fs::write(&path, "x,".repeat(size / 2)).unwrap();
    let text = store.load(&nul, Timeframe::H1).unwrap_err().to_string();
    assert!(text.len() < 400, "{} bytes of error", text.len());
    assert!(text.ends_with(r#"start with "x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,"..."#), "{text}");
}

/// The Python demo file's defect: daily rows with an empty close (five of them), plus a
/// non-numeric cell. `load` refuses the file at the first; the lenient reads keep every
/// readable row and name each skipped one by line and field.
#[test]
fn lenient_reads_keep_the_readable_rows_and_name_the_skipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let demo = sym("DEMO");
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    let day = ts("2024-01-01T00:00:00Z");
    let mut want_skipped = Vec::new();
    for i in 0..20i64 {
        let line = i as u64 + 2;
        let row = match i {
            3 | 7 | 8 | 12 | 19 => {
                want_skipped.push((line, "close", "empty"));
                format!("{},10,11,9,,100\n", format_timestamp(day + i * 86_400))
            }
            15 => {
                want_skipped.push((line, "volume", "not a number"));
                format!("{},10,11,9,10,n/a\n", format_timestamp(day + i * 86_400))
            }
            _ => format!("{},10,11,9,10,100\n", format_timestamp(day + i * 86_400)),
        };
        text.push_str(&row);
    }
    write_file(dir.path(), "DEMO_1d.csv", &text);

    match store.load(&demo, Timeframe::D1) {
        Err(StoreError::Parse {
            line: 5,
            field: "close",
            ..
        }) => {}
        other => panic!("load should stop at line 5: {other:?}"),
    }
    let (readable, skipped) = store.load_lenient(&demo, Timeframe::D1).unwrap();
    assert_eq!(readable.len(), 14);
    let got: Vec<_> = skipped
        .iter()
        .map(|s| (s.line, s.field, s.reason))
        .collect();
    assert_eq!(got, want_skipped);
    assert_eq!(
        skipped[0].to_string(),
        r#"line 5: field 'close': empty (found "")"#
    );

    let raw = store.read_raw(&demo, Timeframe::D1).unwrap();
    assert_eq!(raw.rows.len(), 14);
    assert_eq!(raw.skipped, skipped);
    // A save still refuses the file rather than drop rows it cannot read.
    let err = store
        .merge_and_save(&demo, Timeframe::D1, &series([bar(day, 1.0)]))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Parse { field: "close", .. }),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(store.path(&demo, Timeframe::D1)).unwrap(),
        text
    );
}

/// `series_info` (what `data range` prints) used to trust the file's ends: an unsorted file
/// whose earliest bar sits in the middle got a wrong first with no warning, and an unreadable
/// last row failed it. It now reports the true earliest and latest readable bar, the real row
/// count, how far the file is out of order and which rows it could not read.
#[test]
fn series_info_is_true_for_unsorted_and_partly_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let head = "timestamp,open,high,low,close,volume\n";
    let row = |t: &str| format!("{t},1,2,0.5,1.5,10\n");
    let text = [
        head.to_string(),
        row("2025-01-02T10:00:00Z"),
        row("2025-01-01T09:00:00Z"), // the earliest, out of order
        row("2025-01-03T12:00:00Z"), // the latest
        row("2025-01-02T11:00:00Z"), // out of order
        "2025-01-04T00:00:00Z,1,2,0.5,,10\n".into(), // unreadable, would be the latest
        row("2025-01-02T12:00:00Z"),
    ]
    .concat();
    write_file(dir.path(), "U_1h.csv", &text);
    let info = store.series_info(&sym("U"), Timeframe::H1).unwrap();
    assert_eq!(
        info.range,
        Some(ktrdr_data::store::DateRange {
            first: ts("2025-01-01T09:00:00Z"),
            last: ts("2025-01-03T12:00:00Z"),
        })
    );
    assert_eq!(info.rows, 6);
    assert_eq!(info.out_of_order, 2);
    let lines: Vec<_> = info.skipped.iter().map(|s| (s.line, s.field)).collect();
    assert_eq!(lines, [(6, "close")]);
    assert_eq!(info.bytes, text.len() as u64);

    // A store-written file is in order with nothing skipped.
    let msft = sym("MSFT");
    store
        .merge_and_save(&msft, Timeframe::H1, &series([bar(0, 1.0), bar(3600, 2.0)]))
        .unwrap();
    let info = store.series_info(&msft, Timeframe::H1).unwrap();
    assert_eq!(
        (info.rows, info.out_of_order, info.skipped.len()),
        (2, 0, 0)
    );
}

/// Two rows share a timestamp: the first is valid, the later one impossible (high < low).
/// Validate and repair keep the valid one; a load's rewrite used to keep the later, impossible
/// row and drop the valid one. Both now follow one rule (`types::kept_duplicate`).
#[test]
fn a_rewrite_keeps_the_valid_duplicate_like_repair_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let d = sym("DUP");
    let t = ts("2025-06-02T14:00:00Z");
    write_file(
        dir.path(),
        "DUP_1h.csv",
        &format!(
            "timestamp,open,high,low,close,volume\n\
             {a},10,11,9,10.5,100\n\
             {b},10,11,9,10.5,100\n\
             {b},10,8,12,10.5,100\n\
             {c},10,11,9,10.5,100\n",
            a = format_timestamp(t - 3600),
            b = format_timestamp(t),
            c = format_timestamp(t + 3600),
        ),
    );
    let valid = Bar {
        ts: t,
        open: 10.0,
        high: 11.0,
        low: 9.0,
        close: 10.5,
        volume: 100.0,
    };
    assert_eq!(store.load(&d, Timeframe::H1).unwrap().bar(1), Some(valid));

    // Repair's choice, through validation.
    let raw = store.read_raw(&d, Timeframe::H1).unwrap();
    let rows: Vec<Bar> = raw.rows.iter().map(|r| r.bar).collect();
    let report = ktrdr_data::validate::validate_rows(
        &rows,
        ktrdr_data::calendar::Calendar::Xnys,
        Timeframe::H1,
        &Default::default(),
    )
    .unwrap();
    let (repaired, _) = ktrdr_data::validate::repair(&rows, &report, Default::default()).unwrap();
    assert_eq!(repaired.bar(1), Some(valid));

    // A save that rewrites the file (a new bar inside the stored range) keeps the same row.
    let report = store
        .merge_and_save(&d, Timeframe::H1, &series([bar(t - 1800, 10.0)]))
        .unwrap();
    assert_eq!(report.action, SaveAction::Rewritten);
    let stored = store.load(&d, Timeframe::H1).unwrap();
    assert_eq!(stored.len(), 4);
    assert_eq!(stored.bar(2), Some(valid));
    assert_eq!(store.read_raw(&d, Timeframe::H1).unwrap().rows.len(), 4);
}

/// A series file that is a symlink: appends always wrote through the link, but a rewrite
/// replaced the link with a regular file, leaving the target stale. Both now follow the link.
#[test]
fn writes_follow_a_symlinked_series_file_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("LINK");
    let target = elsewhere.path().join("real.csv");
    let link = store.path(&s, Timeframe::H1);
    store
        .merge_and_save(&s, Timeframe::H1, &series([bar(0, 1.0), bar(7200, 3.0)]))
        .unwrap();
    fs::rename(&link, &target).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let appended = store
        .merge_and_save(&s, Timeframe::H1, &series([bar(10_800, 4.0)]))
        .unwrap();
    assert_eq!(appended.action, SaveAction::Appended);
    let rewritten = store
        .merge_and_save(&s, Timeframe::H1, &series([bar(3600, 2.0)]))
        .unwrap();
    assert_eq!(rewritten.action, SaveAction::Rewritten);

    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let want = series([
        bar(0, 1.0),
        bar(3600, 2.0),
        bar(7200, 3.0),
        bar(10_800, 4.0),
    ]);
    assert_eq!(ktrdr_data::store::read_csv_file(&target).unwrap().0, want);
    assert_eq!(store.load(&s, Timeframe::H1).unwrap(), want);
    // No temp file left beside the link or the target.
    for d in [dir.path(), elsewhere.path()] {
        for e in fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(!name.contains(".tmp-"), "{name} left in {}", d.display());
        }
    }

    // A link to nothing is refused with a message that says so, and is left alone.
    fs::remove_file(&target).unwrap();
    let err = store
        .merge_and_save(&s, Timeframe::H1, &series([bar(0, 1.0)]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("symlink") && err.contains("does not exist"),
        "{err}"
    );
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A FIFO named like a series made every command hang (opening a FIFO for reading waits for a
/// writer). Anything but a regular file is refused, by its type, before it is opened. The test
/// holds the FIFO open read-write so that the old code returned (with a wrong error) instead of
/// hanging.
#[test]
fn a_fifo_as_a_series_file_is_refused_without_opening_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("PIPE");
    let path = store.path(&s, Timeframe::H1);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let _held = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let errors = [
        ("load", store.load(&s, Timeframe::H1).unwrap_err()),
        ("read_raw", store.read_raw(&s, Timeframe::H1).unwrap_err()),
        (
            "date_range",
            store.date_range(&s, Timeframe::H1).unwrap_err(),
        ),
        (
            "series_info",
            store.series_info(&s, Timeframe::H1).unwrap_err(),
        ),
        (
            "merge_and_save",
            store
                .merge_and_save(&s, Timeframe::H1, &series([bar(0, 1.0)]))
                .unwrap_err(),
        ),
    ];
    for (op, e) in errors {
        let text = e.to_string();
        assert!(
            text.contains("is a FIFO, not a regular file"),
            "{op}: {text}"
        );
    }
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_fifo());
}

/// The environment variable that makes [`a_failed_append_is_rolled_back_at_once`] run its child
/// part (the append under a file-size limit).
const APPEND_CHILD: &str = "KTRDR_TEST_FAILED_APPEND_DIR";

fn hours(from: i64, n: i64) -> BarSeries {
    series((from..from + n).map(|i| bar(i * 3600, 100.0 + i as f64)))
}

/// An append that fails part-way (here a file-size limit, as a full disk would) used to leave
/// its partial row and its journal until the next write; it is rolled back at once. The test
/// runs the append in a child process (this test binary again) whose file size is capped by
/// `ulimit -f` with SIGXFSZ ignored, so the write fails with EFBIG after some bytes landed.
#[test]
fn a_failed_append_is_rolled_back_at_once() {
    let s = sym("FULL");
    if let Some(dir) = std::env::var_os(APPEND_CHILD) {
        let err = BarStore::new(dir)
            .merge_and_save(&s, Timeframe::H1, &hours(40, 400))
            .unwrap_err();
        println!("child error: {err}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    store
        .merge_and_save(&s, Timeframe::H1, &hours(0, 40))
        .unwrap();
    let path = store.path(&s, Timeframe::H1);
    let before = fs::read(&path).unwrap();
    // Under the cap (4 KiB in dash's 512-byte blocks, 8 KiB in bash's), the 400 new rows are not.
    assert!(before.len() < 4096, "{}", before.len());

    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 8; exec "$0" --exact a_failed_append_is_rolled_back_at_once --nocapture --test-threads 1"#)
        .arg(std::env::current_exe().unwrap())
        .env(APPEND_CHILD, dir.path())
        .output()
        .unwrap();
    let child = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{child}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(child.contains("child error: append"), "{child}");

    let after = fs::read(&path).unwrap();
    assert_eq!(after.len(), before.len(), "partial rows left behind");
    assert!(after == before, "the stored rows changed");
    let journal = dir.path().join(".FULL_1h.csv.append");
    assert!(!journal.exists(), "journal left behind");
    assert_eq!(store.load(&s, Timeframe::H1).unwrap(), hours(0, 40));
}

/// `prepare_load` holds the series' load lock until its guard drops, while readers and the
/// saves of the load itself go on (they take only the series lock).
#[test]
fn a_load_lock_excludes_other_loads_but_not_readers_or_saves() {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let s = sym("L");
    let guard = store.prepare_load(&s, Timeframe::H1).unwrap();
    let lock_file = fs::File::open(dir.path().join(".L_1h.csv.load")).unwrap();
    assert!(
        matches!(lock_file.try_lock(), Err(fs::TryLockError::WouldBlock)),
        "a second load would not wait"
    );
    store
        .merge_and_save(&s, Timeframe::H1, &series([bar(0, 1.0)]))
        .unwrap();
    assert_eq!(store.load(&s, Timeframe::H1).unwrap().len(), 1);
    assert_eq!(store.series_info(&s, Timeframe::H1).unwrap().rows, 1);
    drop(guard);
    lock_file.try_lock().unwrap();
}
