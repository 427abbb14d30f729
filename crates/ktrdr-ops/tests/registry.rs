//! Black-box tests of the two registry stores, run against both through one suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::progress::{ProgressHandle, ProgressState, StepPlan};
use ktrdr_ops::registry::OperationStatus::{self, *};
use ktrdr_ops::registry::{
    KeyClaim, MemoryRegistry, OperationFilter, OperationRecord, Owner, Registry, RegistryError,
    Retention, SqliteRegistry, TransitionPatch, MAX_KEY_LEN,
};
use serde_json::json;
use tempfile::TempDir;

/// A progress snapshot at `percent` (each call has its own start time, so compare a snapshot
/// with itself, not with another call's).
fn sample_progress(id: &str, percent: u64) -> ProgressState {
    let handle = ProgressHandle::new(id, StepPlan::new([("fetch", 100)]).unwrap());
    handle.set_sub_progress(percent, 100);
    handle.set_step_detail("segment 3/7");
    let state = handle.snapshot();
    assert!(
        (state.percent - percent as f64).abs() < 1e-9,
        "{}",
        state.percent
    );
    state
}

fn pending(id: &str, kind: &str) -> OperationRecord {
    OperationRecord::pending(id, kind, json!({"symbol": "AAPL", "timeframe": "1h"}))
}

fn none() -> TransitionPatch {
    TransitionPatch::default()
}

/// A registry under test, with whatever keeps its storage alive.
struct Store {
    registry: Box<dyn Registry>,
    _dir: Option<TempDir>,
}

fn memory() -> Store {
    Store {
        registry: Box::new(MemoryRegistry::new()),
        _dir: None,
    }
}

fn sqlite() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let registry = SqliteRegistry::open(dir.path().join("ktrdr.db")).unwrap();
    Store {
        registry: Box::new(registry),
        _dir: Some(dir),
    }
}

/// Runs a test body against both stores.
macro_rules! both_stores {
    ($($name:ident($reg:ident) $body:block)*) => {
        mod memory_store { use super::*; $(#[test] fn $name() { let s = memory(); let $reg = &*s.registry; $body })* }
        mod sqlite_store { use super::*; $(#[test] fn $name() { let s = sqlite(); let $reg = &*s.registry; $body })* }
    };
}

both_stores! {
    counts_group_by_type_and_status(reg) {
        assert_eq!(reg.counts().unwrap(), []);
        for (id, kind) in [("op_a", "data_load"), ("op_b", "data_load"), ("op_c", "training")] {
            reg.insert(&pending(id, kind)).unwrap();
        }
        reg.transition("op_b", &[Pending], Running, &none()).unwrap();
        let counts: Vec<_> = reg
            .counts()
            .unwrap()
            .into_iter()
            .map(|c| (c.operation_type, c.status, c.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("data_load".to_owned(), Pending, 1),
                ("data_load".to_owned(), Running, 1),
                ("training".to_owned(), Pending, 1),
            ]
        );
    }

    insert_then_get_returns_the_same_record(reg) {
        let mut record = pending("op_a", "data_load");
        record.progress = Some(sample_progress("op_a", 12));
        record.cancel_reason = Some(CancelReason::Parent(Box::new(CancelReason::Remote("api".into()))));
        reg.insert(&record).unwrap();
        assert_eq!(reg.get("op_a").unwrap(), Some(record));
        assert_eq!(reg.get("op_missing").unwrap(), None);
    }

    duplicate_ids_are_refused(reg) {
        reg.insert(&pending("op_a", "data_load")).unwrap();
        let err = reg.insert(&pending("op_a", "training")).unwrap_err();
        assert!(matches!(err, RegistryError::Duplicate { ref id } if id == "op_a"), "{err}");
        assert_eq!(reg.get("op_a").unwrap().unwrap().operation_type, "data_load");
    }

    records_breaking_invariants_are_refused(reg) {
        let mut record = pending("op_a", "data_load");
        record.status = Completed;
        let err = reg.insert(&record).unwrap_err();
        assert!(matches!(err, RegistryError::InvalidRecord { .. }), "{err}");
        assert!(err.to_string().contains("finished_at"), "{err}");
        assert_eq!(reg.get("op_a").unwrap(), None);
    }

    lifecycle_sets_timestamps_and_outcome(reg) {
        reg.insert(&pending("op_a", "data_load")).unwrap();
        reg.transition("op_a", &[Pending], Running, &none()).unwrap();
        let running = reg.get("op_a").unwrap().unwrap();
        assert_eq!(running.status, Running);
        let started = running.started_at.expect("started_at set on running");
        assert!(started >= running.created_at);
        assert_eq!(running.finished_at, None);

        let last = sample_progress("op_a", 100);
        let patch = TransitionPatch {
            result_summary: Some(json!({"fetched_bars": 1400, "segments": 7})),
            progress: Some(last.clone()),
            ..none()
        };
        reg.transition("op_a", &[Running], Completed, &patch).unwrap();
        let done = reg.get("op_a").unwrap().unwrap();
        assert_eq!(done.status, Completed);
        assert_eq!(done.started_at, Some(started));
        assert!(done.finished_at.unwrap() >= started);
        assert_eq!(done.result_summary, Some(json!({"fetched_bars": 1400, "segments": 7})));
        assert_eq!(done.progress, Some(last));
        assert!(done.duration().unwrap() >= chrono::Duration::zero());
    }

    late_completion_cannot_overwrite_a_cancel(reg) {
        reg.insert(&pending("op_a", "data_load")).unwrap();
        reg.transition("op_a", &[Pending], Running, &none()).unwrap();
        let cancel = TransitionPatch { cancel_reason: Some(CancelReason::User), ..none() };
        reg.transition("op_a", &[Pending, Running], Cancelling, &cancel).unwrap();
        let late = TransitionPatch { result_summary: Some(json!({"bars": 1})), ..none() };
        let err = reg.transition("op_a", &[Running], Completed, &late).unwrap_err();
        match err {
            RegistryError::Conflict { actual, to, .. } => {
                assert_eq!((actual, to), (Cancelling, Completed));
            }
            other => panic!("expected a conflict, got {other}"),
        }
        let kept = TransitionPatch { result_summary: Some(json!({"kept_bars": 600})), ..none() };
        reg.transition("op_a", &[Cancelling], Cancelled, &kept).unwrap();
        let finished = reg.get("op_a").unwrap().unwrap().finished_at;
        // A second terminal write of any kind is refused and changes nothing.
        for to in [Completed, Failed, Cancelled, Interrupted] {
            let expected: Vec<OperationStatus> =
                OperationStatus::ACTIVE.into_iter().filter(|s| s.can_become(to)).collect();
            let err = reg.transition("op_a", &expected, to, &late).unwrap_err();
            assert!(matches!(err, RegistryError::Conflict { actual: Cancelled, .. }), "{err}");
        }
        let record = reg.get("op_a").unwrap().unwrap();
        assert_eq!(record.status, Cancelled);
        assert_eq!(record.cancel_reason, Some(CancelReason::User));
        assert_eq!(record.result_summary, Some(json!({"kept_bars": 600})));
        assert_eq!(record.finished_at, finished);
    }

    illegal_and_malformed_transitions_are_refused(reg) {
        reg.insert(&pending("op_a", "data_load")).unwrap();
        let err = reg.transition("op_a", &[Pending], Completed, &none()).unwrap_err();
        assert!(matches!(err, RegistryError::IllegalTransition { from: Pending, to: Completed }), "{err}");
        let err = reg.transition("op_a", &[], Running, &none()).unwrap_err();
        assert!(matches!(err, RegistryError::NoExpectedStatus { to: Running }), "{err}");
        let err = reg.transition("op_nope", &[Pending], Running, &none()).unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { ref id } if id == "op_nope"), "{err}");
        assert_eq!(reg.get("op_a").unwrap().unwrap().status, Pending);
    }

    progress_is_stored_only_while_active(reg) {
        reg.insert(&pending("op_a", "data_load")).unwrap();
        let forty = sample_progress("op_a", 40);
        assert!(reg.update_progress("op_a", &forty).unwrap());
        assert_eq!(reg.get("op_a").unwrap().unwrap().progress, Some(forty));
        reg.transition("op_a", &[Pending], Running, &none()).unwrap();
        let hundred = sample_progress("op_a", 100);
        let last = TransitionPatch { progress: Some(hundred.clone()), ..none() };
        reg.transition("op_a", &[Running], Completed, &last).unwrap();
        assert!(!reg.update_progress("op_a", &sample_progress("op_a", 55)).unwrap());
        assert_eq!(reg.get("op_a").unwrap().unwrap().progress, Some(hundred));
        let err = reg.update_progress("op_nope", &sample_progress("op_nope", 1)).unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    }

    list_filters_orders_and_pages(reg) {
        // Six operations, created in this order; even ones are data loads.
        for i in 0..6 {
            let kind = if i % 2 == 0 { "data_load" } else { "training" };
            reg.insert(&pending(&format!("op_{i}"), kind)).unwrap();
        }
        reg.transition("op_0", &[Pending], Running, &none()).unwrap();
        reg.transition("op_0", &[Running], Completed, &none()).unwrap();
        reg.transition("op_1", &[Pending], Running, &none()).unwrap();
        reg.transition("op_2", &[Pending], Failed, &none()).unwrap();
        reg.transition("op_3", &[Pending], Cancelling, &none()).unwrap();

        let ids = |filter: OperationFilter| -> (Vec<String>, usize, usize) {
            let list = reg.list(&filter).unwrap();
            (list.operations.into_iter().map(|r| r.id).collect(), list.total_count, list.active_count)
        };
        let all = ids(OperationFilter::default());
        assert_eq!(all.0, ["op_5", "op_4", "op_3", "op_2", "op_1", "op_0"]);
        assert_eq!((all.1, all.2), (6, 4));

        let page = ids(OperationFilter { limit: Some(2), offset: 1, ..Default::default() });
        assert_eq!(page, (vec!["op_4".to_owned(), "op_3".to_owned()], 6, 4));
        let beyond = ids(OperationFilter { offset: 10, ..Default::default() });
        assert_eq!(beyond, (vec![], 6, 4));

        let active = ids(OperationFilter { active_only: true, ..Default::default() });
        assert_eq!(active.0, ["op_5", "op_4", "op_3", "op_1"]);
        let loads = ids(OperationFilter { operation_type: Some("data_load".into()), ..Default::default() });
        assert_eq!((loads.0, loads.1), (vec!["op_4".into(), "op_2".into(), "op_0".into()], 3));
        let active_loads = ids(OperationFilter {
            operation_type: Some("data_load".into()),
            active_only: true,
            ..Default::default()
        });
        assert_eq!(active_loads.0, ["op_4"]);
        let failed = ids(OperationFilter { status: Some(Failed), ..Default::default() });
        assert_eq!(failed.0, ["op_2"]);
        let none_match = ids(OperationFilter { status: Some(Completed), active_only: true, ..Default::default() });
        assert_eq!(none_match, (vec![], 0, 4));
    }

    list_orders_by_creation_time_not_insertion(reg) {
        let mut old = pending("op_old", "data_load");
        old.created_at -= chrono::Duration::hours(1);
        reg.insert(&pending("op_new", "data_load")).unwrap();
        reg.insert(&old).unwrap();
        let list = reg.list(&OperationFilter::default()).unwrap();
        let ids: Vec<&str> = list.operations.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["op_new", "op_old"]);
    }

    cancel_requests_answer_the_cancelling_among_the_ids_with_their_reasons(reg) {
        for (id, status) in [("op_run", Running), ("op_ask", Running), ("op_bare", Pending), ("op_done", Running)] {
            reg.insert(&pending(id, "data_load")).unwrap();
            if status == Running {
                reg.transition(id, &[Pending], Running, &none()).unwrap();
            }
        }
        let api = TransitionPatch { cancel_reason: Some(CancelReason::Remote("api".into())), ..none() };
        reg.transition("op_ask", &[Running], Cancelling, &api).unwrap();
        reg.transition("op_bare", &[Pending], Cancelling, &none()).unwrap();
        reg.transition("op_done", &[Running], Cancelling, &api).unwrap();
        reg.transition("op_done", &[Cancelling], Cancelled, &none()).unwrap();

        let ask = |ids: &[&str]| {
            let ids: Vec<String> = ids.iter().map(|&id| id.to_owned()).collect();
            let mut found = reg.cancel_requests(&ids).unwrap();
            found.sort_by(|a, b| a.id.cmp(&b.id));
            found.into_iter().map(|r| (r.id, r.reason)).collect::<Vec<_>>()
        };
        assert_eq!(
            ask(&["op_run", "op_ask", "op_bare", "op_done", "op_unknown"]),
            [("op_ask".to_owned(), Some(CancelReason::Remote("api".into()))), ("op_bare".to_owned(), None)]
        );
        assert_eq!(ask(&["op_run"]), []);
        assert_eq!(ask(&[]), []);
        // Far more ids than SQLite binds parameters in one statement.
        let mut many: Vec<String> = (0..40_000).map(|i| format!("op_other_{i}")).collect();
        many.push("op_ask".to_owned());
        let found = reg.cancel_requests(&many).unwrap();
        assert_eq!(found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["op_ask"]);
    }

    dead_owners_are_swept_through_the_trait_and_the_living_left_alone(reg) {
        let me = Owner::current();
        // Linux caps pids at 2^22, so this owner cannot be running.
        let dead = Owner { pid: 999_999_999, ..me.clone() };
        let remote = Owner { host: "gpu-box.example".into(), ..dead.clone() };
        for (id, owner, status) in [
            ("op_dead_running", &dead, Running),
            ("op_dead_cancelling", &dead, Cancelling),
            ("op_dead_pending", &dead, Pending),
            ("op_dead_done", &dead, Failed),
            ("op_mine", &me, Running),
            ("op_remote", &remote, Running),
        ] {
            let mut record = pending(id, "data_load");
            record.owner = owner.clone();
            reg.insert(&record).unwrap();
            if status == Cancelling {
                reg.transition(id, &[Pending], Running, &none()).unwrap();
                reg.transition(id, &[Running], Cancelling, &none()).unwrap();
            } else if status != Pending {
                reg.transition(id, &[Pending], status, &none()).unwrap();
            }
        }
        let mut swept = reg.interrupt_dead_owners().unwrap();
        swept.sort();
        assert_eq!(swept, ["op_dead_cancelling", "op_dead_pending", "op_dead_running"]);
        let record = reg.get("op_dead_cancelling").unwrap().unwrap();
        assert_eq!(record.status, Interrupted);
        assert!(record.finished_at.is_some());
        let error = record.error.unwrap();
        assert!(error.contains("999999999") && error.contains("cancelling"), "{error}");
        for (id, status) in [("op_dead_done", Failed), ("op_mine", Running), ("op_remote", Running)] {
            assert_eq!(reg.get(id).unwrap().unwrap().status, status, "{id}");
        }
        assert!(reg.interrupt_dead_owners().unwrap().is_empty());
    }

    idempotent_inserts_answer_existing_or_conflict_and_write_nothing_else(reg) {
        let claim = |id: &str, key: &str, fingerprint: &str| {
            reg.insert_idempotent(&pending(id, "data_load"), key, fingerprint)
        };
        assert_eq!(claim("op_a", "key-1", "body-1").unwrap(), KeyClaim::Inserted);
        assert_eq!(reg.get("op_a").unwrap().unwrap().status, Pending);
        assert_eq!(
            claim("op_b", "key-1", "body-1").unwrap(),
            KeyClaim::Existing { operation_id: "op_a".into() }
        );
        assert_eq!(
            claim("op_c", "key-1", "body-2").unwrap(),
            KeyClaim::Conflict { operation_id: "op_a".into() }
        );
        assert_eq!(reg.get("op_b").unwrap(), None);
        assert_eq!(reg.get("op_c").unwrap(), None);
        // A duplicate id leaves the key unrecorded too.
        let err = claim("op_a", "key-2", "body-1").unwrap_err();
        assert!(matches!(err, RegistryError::Duplicate { .. }), "{err}");
        assert_eq!(claim("op_d", "key-2", "body-1").unwrap(), KeyClaim::Inserted);

        let long = "k".repeat(MAX_KEY_LEN + 1);
        for (key, words) in [("", "is empty"), (long.as_str(), "256 bytes"), ("a\nb", "control")] {
            let err = claim("op_e", key, "body-1").unwrap_err();
            assert!(matches!(err, RegistryError::InvalidIdempotencyKey { .. }), "{err}");
            assert!(err.to_string().contains(words), "{err}");
        }
        assert_eq!(reg.get("op_e").unwrap(), None);
        assert_eq!(claim("op_e", &"k".repeat(MAX_KEY_LEN), "body-1").unwrap(), KeyClaim::Inserted);
    }

    idempotency_keys_expire_with_their_operations(reg) {
        let days_ago = |id: &str, days: i64| {
            let mut record = pending(id, "data_load");
            record.created_at -= chrono::Duration::days(days);
            record
        };
        let finish = |id: &str| reg.transition(id, &[Pending], Failed, &none()).unwrap();
        // Old key, finished operation: both go.
        reg.insert_idempotent(&days_ago("op_old", 3), "old", "b").unwrap();
        finish("op_old");
        // Old key, operation still running: both stay.
        reg.insert_idempotent(&days_ago("op_running", 3), "running", "b").unwrap();
        // Recent key, finished operation: the key stays while the operation does.
        reg.insert_idempotent(&pending("op_recent", "data_load"), "recent", "b").unwrap();
        finish("op_recent");

        // Finished now, so the operation outlives a one-day retention; its old key does not.
        assert_eq!(reg.cleanup(Duration::from_secs(24 * 3600)).unwrap(), 0);
        let again = |key: &str| reg.insert_idempotent(&pending("op_new", "data_load"), key, "b");
        assert_eq!(again("old").unwrap(), KeyClaim::Inserted);
        assert_eq!(again("running").unwrap(), KeyClaim::Existing { operation_id: "op_running".into() });
        assert_eq!(again("recent").unwrap(), KeyClaim::Existing { operation_id: "op_recent".into() });
        // Once its operation is deleted, a key is free.
        assert_eq!(reg.cleanup(Duration::ZERO).unwrap(), 2);
        let fresh = reg.insert_idempotent(&pending("op_fresh", "data_load"), "recent", "b");
        assert_eq!(fresh.unwrap(), KeyClaim::Inserted);
    }

    cleanup_removes_only_old_terminal_records(reg) {
        let mut old = pending("op_old", "data_load");
        old.status = Completed;
        old.created_at -= chrono::Duration::days(3);
        old.finished_at = Some(old.created_at + chrono::Duration::minutes(5));
        reg.insert(&old).unwrap();
        reg.insert(&pending("op_recent", "data_load")).unwrap();
        reg.transition("op_recent", &[Pending], Running, &none()).unwrap();
        reg.transition("op_recent", &[Running], Completed, &none()).unwrap();
        reg.insert(&pending("op_active", "data_load")).unwrap();

        assert_eq!(reg.cleanup(Duration::from_secs(24 * 3600)).unwrap(), 1);
        assert_eq!(reg.get("op_old").unwrap(), None);
        assert!(reg.get("op_recent").unwrap().is_some());
        assert_eq!(reg.cleanup(Duration::ZERO).unwrap(), 1);
        assert_eq!(reg.get("op_recent").unwrap(), None);
        assert_eq!(reg.get("op_active").unwrap().unwrap().status, Pending);
        assert_eq!(reg.cleanup(Duration::MAX).unwrap(), 0);
    }
}

#[test]
fn sqlite_records_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/ktrdr.db");
    let record = {
        let reg = SqliteRegistry::open(&path).unwrap();
        reg.insert(&pending("op_a", "data_load")).unwrap();
        reg.transition("op_a", &[Pending], Running, &none())
            .unwrap();
        let patch = TransitionPatch {
            result_summary: Some(json!({"fetched_bars": 3})),
            ..none()
        };
        reg.transition("op_a", &[Running], Completed, &patch)
            .unwrap();
        reg.get("op_a").unwrap().unwrap()
    };
    let reg = SqliteRegistry::open(&path).unwrap();
    assert_eq!(reg.get("op_a").unwrap(), Some(record));
    assert!(reg.interrupted_at_open().is_empty());
}

#[test]
fn sqlite_open_interrupts_operations_of_dead_local_processes_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    {
        let reg = SqliteRegistry::open(&path).unwrap();
        let me = Owner::current();
        // Linux caps pids at 2^22, so this owner cannot be running.
        let dead = Owner {
            pid: 999_999_999,
            ..me.clone()
        };
        let remote = Owner {
            host: "gpu-box.example".into(),
            pid: 999_999_999,
            ..me.clone()
        };
        for (id, owner, status) in [
            ("op_dead_running", &dead, Running),
            ("op_dead_cancelling", &dead, Cancelling),
            ("op_dead_pending", &dead, Pending),
            ("op_mine", &me, Running),
            ("op_remote", &remote, Running),
        ] {
            let mut record = pending(id, "data_load");
            record.owner = owner.clone();
            reg.insert(&record).unwrap();
            if status != Pending {
                reg.transition(id, &[Pending], status, &none()).unwrap();
            }
        }
        let mut done = pending("op_dead_done", "data_load");
        done.owner = dead.clone();
        reg.insert(&done).unwrap();
        reg.transition("op_dead_done", &[Pending], Failed, &none())
            .unwrap();
    }
    let reg = SqliteRegistry::open(&path).unwrap();
    let mut interrupted = reg.interrupted_at_open().to_vec();
    interrupted.sort();
    assert_eq!(
        interrupted,
        ["op_dead_cancelling", "op_dead_pending", "op_dead_running"]
    );
    let status = |id| reg.get(id).unwrap().unwrap();
    let record = status("op_dead_running");
    assert_eq!(record.status, Interrupted);
    assert!(record.finished_at.is_some());
    assert!(record.error.unwrap().contains("999999999"));
    assert_eq!(status("op_mine").status, Running);
    assert_eq!(status("op_remote").status, Running);
    assert_eq!(status("op_dead_done").status, Failed);
    // Nothing left to interrupt: a second sweep changes nothing.
    assert!(reg.interrupt_dead_owners().unwrap().is_empty());
}

#[test]
fn sqlite_corrupt_rows_are_typed_errors_naming_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    let reg = SqliteRegistry::open(&path).unwrap();
    reg.insert(&pending("op_bad_status", "data_load")).unwrap();
    reg.insert(&pending("op_bad_json", "data_load")).unwrap();
    reg.insert(&pending("op_bad_time", "data_load")).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE operations SET status = 'done' WHERE id = 'op_bad_status'",
        [],
    )
    .unwrap();
    raw.execute(
        "UPDATE operations SET metadata = '{oops' WHERE id = 'op_bad_json'",
        [],
    )
    .unwrap();
    raw.execute(
        "UPDATE operations SET created_at = 'yesterday' WHERE id = 'op_bad_time'",
        [],
    )
    .unwrap();

    for (id, column) in [
        ("op_bad_status", "status"),
        ("op_bad_json", "metadata"),
        ("op_bad_time", "created_at"),
    ] {
        match reg.get(id) {
            Err(RegistryError::Corrupt {
                id: row,
                column: col,
                ..
            }) => {
                assert_eq!((row.as_str(), col), (id, column));
            }
            other => panic!("{id}: expected a corrupt-row error, got {other:?}"),
        }
    }
    // A listing skips the undecodable rows (logging each) and still shows the readable one.
    reg.insert(&pending("op_good", "data_load")).unwrap();
    let list = reg.list(&OperationFilter::default()).unwrap();
    let ids: Vec<&str> = list.operations.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["op_good"]);
    // A CAS against a row with an unknown status reports it too, and changes nothing.
    let err = reg
        .transition("op_bad_status", &[Pending], Running, &none())
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Corrupt {
                column: "status",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    drop(SqliteRegistry::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE schema_version SET version = 99 WHERE component = 'operations'",
        [],
    )
    .unwrap();
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::SchemaTooNew {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn sqlite_cas_holds_across_connections() {
    // Two registries on one file (as two processes would have): for each operation one thread
    // completes while another cancels; exactly one terminal outcome wins, and it is consistent.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    let setup = SqliteRegistry::open(&path).unwrap();
    let ids: Vec<String> = (0..40).map(|i| format!("op_{i}")).collect();
    for id in &ids {
        setup.insert(&pending(id, "data_load")).unwrap();
        setup.transition(id, &[Pending], Running, &none()).unwrap();
    }
    let completer = {
        let (path, ids) = (path.clone(), ids.clone());
        std::thread::spawn(move || {
            let reg = SqliteRegistry::open(&path).unwrap();
            ids.iter()
                .filter(|id| reg.transition(id, &[Running], Completed, &none()).is_ok())
                .count()
        })
    };
    let canceller = {
        let (path, ids) = (path.clone(), ids.clone());
        std::thread::spawn(move || {
            let reg = SqliteRegistry::open(&path).unwrap();
            let mut won = 0;
            for id in ids.iter().rev() {
                if reg
                    .transition(id, &[Pending, Running], Cancelling, &none())
                    .is_ok()
                {
                    reg.transition(id, &[Cancelling], Cancelled, &none())
                        .unwrap();
                    won += 1;
                }
            }
            won
        })
    };
    let (completed, cancelled) = (completer.join().unwrap(), canceller.join().unwrap());
    assert_eq!(completed + cancelled, ids.len());
    let list = setup.list(&OperationFilter::default()).unwrap();
    let count = |s| list.operations.iter().filter(|r| r.status == s).count();
    assert_eq!((count(Completed), count(Cancelled)), (completed, cancelled));
    assert!(list.operations.iter().all(|r| r.finished_at.is_some()));
}

/// Rewrites one cell behind the registry's back, as a newer build or a damaged file would.
fn corrupt_cell(path: &std::path::Path, id: &str, column: &str, value: &str) {
    let raw = rusqlite::Connection::open(path).unwrap();
    let changed = raw
        .execute(
            &format!("UPDATE operations SET {column} = ?1 WHERE id = ?2"),
            [value, id],
        )
        .unwrap();
    assert_eq!(changed, 1, "no row {id}");
}

#[test]
fn sqlite_open_and_list_survive_undecodable_progress_and_result_cells() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    let dead = Owner {
        pid: 999_999_999,
        ..Owner::current()
    };
    {
        let reg = SqliteRegistry::open(&path).unwrap();
        for id in [
            "op_dead_new_progress",
            "op_dead_fine",
            "op_mine_bad_summary",
        ] {
            let mut record = pending(id, "data_load");
            if id.starts_with("op_dead") {
                record.owner = dead.clone();
            }
            reg.insert(&record).unwrap();
            reg.transition(id, &[Pending], Running, &none()).unwrap();
        }
    }
    // Progress as a newer build might write it (a phase this build does not know), and a
    // result summary that is not JSON at all, both in active rows the sweep looks at.
    let progress = serde_json::to_string(&sample_progress("op_dead_new_progress", 40)).unwrap();
    let from_newer_build = progress.replace(r#""phase":"running""#, r#""phase":"paused""#);
    assert_ne!(progress, from_newer_build);
    corrupt_cell(&path, "op_dead_new_progress", "progress", &from_newer_build);
    corrupt_cell(&path, "op_mine_bad_summary", "result_summary", "{not json");

    let reg = SqliteRegistry::open(&path).unwrap();
    let mut interrupted = reg.interrupted_at_open().to_vec();
    interrupted.sort();
    assert_eq!(interrupted, ["op_dead_fine", "op_dead_new_progress"]);

    let list = reg.list(&OperationFilter::default()).unwrap();
    let ids: Vec<&str> = list.operations.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["op_dead_fine"]);
    assert_eq!(
        list.total_count, 3,
        "counts include the rows the page skips"
    );

    for (id, column) in [
        ("op_dead_new_progress", "progress"),
        ("op_mine_bad_summary", "result_summary"),
    ] {
        let err = reg.get(id).unwrap_err();
        assert!(
            matches!(&err, RegistryError::Corrupt { id: row, column: col, .. }
                if row == id && *col == column),
            "{id}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains(id) && message.contains(column),
            "{message}"
        );
    }
}

#[test]
fn sqlite_sweep_skips_rows_whose_owner_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    {
        let reg = SqliteRegistry::open(&path).unwrap();
        let mut record = pending("op_dead", "data_load");
        record.owner.pid = 999_999_999;
        reg.insert(&record).unwrap();
        reg.insert(&pending("op_bad_owner", "data_load")).unwrap();
    }
    corrupt_cell(&path, "op_bad_owner", "owner_pid", "-5");
    let reg = SqliteRegistry::open(&path).unwrap();
    assert_eq!(reg.interrupted_at_open(), ["op_dead"]);
    assert_eq!(
        reg.list(&OperationFilter::default())
            .unwrap()
            .operations
            .len(),
        1
    );
}
/// A record that finished `days` ago.
fn finished_days_ago(id: &str, days: i64) -> OperationRecord {
    let mut record = pending(id, "data_load");
    record.status = Completed;
    record.created_at -= chrono::Duration::days(days);
    record.updated_at = record.created_at;
    record.finished_at = Some(record.created_at);
    record
}

#[test]
fn sqlite_open_with_retention_drops_old_terminal_operations_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    {
        let reg = SqliteRegistry::open(&path).unwrap();
        reg.insert(&finished_days_ago("op_ancient", 400)).unwrap();
        reg.insert(&finished_days_ago("op_old", 91)).unwrap();
        reg.insert(&finished_days_ago("op_recent", 89)).unwrap();
        // Active for a long time, owned by this (live) process: never removed.
        let mut active = pending("op_long_running", "data_load");
        active.created_at -= chrono::Duration::days(200);
        reg.insert(&active).unwrap();
    }
    let ids = |reg: &SqliteRegistry| -> Vec<String> {
        let list = reg.list(&OperationFilter::default()).unwrap();
        let mut ids: Vec<String> = list.operations.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    let kept = SqliteRegistry::open_with_retention(&path, Retention::Forever).unwrap();
    assert_eq!(ids(&kept).len(), 4);
    drop(kept);

    let reg = SqliteRegistry::open_with_retention(&path, Retention::DEFAULT).unwrap();
    assert_eq!(ids(&reg), ["op_long_running", "op_recent"]);
    drop(reg);
    let reg = SqliteRegistry::open_with_retention(&path, Retention::days(30)).unwrap();
    assert_eq!(ids(&reg), ["op_long_running"]);
}

#[test]
fn retention_is_read_from_its_variable_and_bad_values_are_clear_errors() {
    assert_eq!(Retention::DEFAULT, Retention::days(90));
    assert_eq!(Retention::parse_days(None).unwrap(), Retention::DEFAULT);
    assert_eq!(Retention::parse_days(Some("")).unwrap(), Retention::DEFAULT);
    assert_eq!(
        Retention::parse_days(Some("0")).unwrap(),
        Retention::Forever
    );
    assert_eq!(
        Retention::parse_days(Some(" 7 ")).unwrap(),
        Retention::days(7)
    );
    assert_eq!(Retention::days(0), Retention::Forever);
    for bad in ["-1", "ninety", "1.5", "99999999999999999999"] {
        let err = Retention::parse_days(Some(bad)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("KTRDR_OPERATIONS_RETENTION_DAYS") && message.contains(bad),
            "{message}"
        );
    }
}

#[test]
fn sqlite_one_key_claimed_from_many_connections_makes_one_operation() {
    // Four registries on one file (as four processes would have) claim the same keys at once,
    // each with its own operation ids: every key ends with exactly one operation, which every
    // claimant is told about.
    const KEYS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    drop(SqliteRegistry::open(&path).unwrap());
    let start = Arc::new(std::sync::Barrier::new(4));
    let claimants: Vec<_> = (0..4)
        .map(|c| {
            let (path, start) = (path.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let reg = SqliteRegistry::open(&path).unwrap();
                start.wait();
                (0..KEYS)
                    .map(|k| {
                        let record = pending(&format!("op_{c}_{k}"), "data_load");
                        match reg.insert_idempotent(&record, &format!("key-{k}"), "body") {
                            Ok(KeyClaim::Inserted) => record.id,
                            Ok(KeyClaim::Existing { operation_id }) => operation_id,
                            other => panic!("claimant {c}, key {k}: {other:?}"),
                        }
                    })
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let answers: Vec<Vec<String>> = claimants.into_iter().map(|t| t.join().unwrap()).collect();
    let reg = SqliteRegistry::open(&path).unwrap();
    let list = reg.list(&OperationFilter::default()).unwrap();
    assert_eq!(list.total_count, KEYS, "one operation per key");
    for k in 0..KEYS {
        let ids: Vec<&String> = answers.iter().map(|a| &a[k]).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "key-{k}: {ids:?}");
        assert!(reg.get(ids[0]).unwrap().is_some());
    }
}

#[test]
fn sqlite_keys_survive_reopen_and_an_older_database_gains_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    {
        let reg = SqliteRegistry::open(&path).unwrap();
        reg.insert(&pending("op_before", "data_load")).unwrap();
    }
    // A database written before idempotency keys existed.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP TABLE idempotency_keys; DELETE FROM schema_version WHERE component = 'idempotency'",
    )
    .unwrap();
    drop(raw);
    {
        let reg = SqliteRegistry::open(&path).unwrap();
        assert!(reg.get("op_before").unwrap().is_some());
        let claim = reg.insert_idempotent(&pending("op_a", "data_load"), "key", "body");
        assert_eq!(claim.unwrap(), KeyClaim::Inserted);
    }
    let reg = SqliteRegistry::open(&path).unwrap();
    let claim = reg.insert_idempotent(&pending("op_b", "data_load"), "key", "body");
    assert_eq!(
        claim.unwrap(),
        KeyClaim::Existing {
            operation_id: "op_a".into()
        }
    );
    // A newer idempotency schema is refused, naming the component.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE schema_version SET version = 7 WHERE component = 'idempotency'",
        [],
    )
    .unwrap();
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::SchemaTooNew {
                component: "idempotency",
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
}
