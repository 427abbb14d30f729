//! Property test of the registry's state machine: random sequences of compare-and-set
//! transitions (completions, cancels, failures, interruptions, malformed requests) against a
//! model, on both stores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::HashMap;

use ktrdr_ops::registry::OperationStatus::{self, *};
use ktrdr_ops::registry::{
    MemoryRegistry, OperationRecord, Registry, RegistryError, SqliteRegistry, TransitionPatch,
};
use proptest::prelude::*;
use serde_json::json;

const IDS: usize = 3;

#[derive(Debug, Clone)]
struct Step {
    op: usize,
    expected: Vec<OperationStatus>,
    to: OperationStatus,
}

fn legal_predecessors(to: OperationStatus) -> Vec<OperationStatus> {
    OperationStatus::ALL
        .into_iter()
        .filter(|from| from.can_become(to))
        .collect()
}

fn step() -> impl Strategy<Value = Step> {
    let status = prop::sample::select(OperationStatus::ALL.to_vec());
    (
        0..IDS,
        status,
        any::<bool>(),
        prop::sample::subsequence(OperationStatus::ALL.to_vec(), 0..=3),
    )
        .prop_map(|(op, to, well_formed, random)| {
            // Half the steps ask for a legal move from every status that allows it (a runner's
            // "complete if still running"), half ask with arbitrary expectations.
            let expected = if well_formed {
                legal_predecessors(to)
            } else {
                random
            };
            Step { op, expected, to }
        })
}

fn check(registry: &dyn Registry, steps: &[Step]) -> Result<(), TestCaseError> {
    let ids: Vec<String> = (0..IDS).map(|i| format!("op_{i}")).collect();
    let mut model: HashMap<&str, OperationStatus> = HashMap::new();
    let mut terminal_writes: HashMap<&str, usize> = HashMap::new();
    let mut finished_at = HashMap::new();
    for id in &ids {
        registry
            .insert(&OperationRecord::pending(id, "data_load", json!({})))
            .unwrap();
        model.insert(id, Pending);
    }
    for (n, step) in steps.iter().enumerate() {
        let id = ids[step.op].as_str();
        let before = model[id];
        let patch = TransitionPatch {
            result_summary: Some(json!({ "step": n })),
            ..Default::default()
        };
        let result = registry.transition(id, &step.expected, step.to, &patch);
        let legal = step.expected.iter().all(|from| from.can_become(step.to));
        match result {
            Ok(()) => {
                prop_assert!(
                    legal && step.expected.contains(&before),
                    "accepted {before} -> {:?}",
                    step
                );
                prop_assert!(
                    before.can_become(step.to),
                    "illegal {before} -> {} accepted",
                    step.to
                );
                model.insert(id, step.to);
                if step.to.is_terminal() {
                    *terminal_writes.entry(id).or_default() += 1;
                }
            }
            Err(RegistryError::NoExpectedStatus { .. }) => prop_assert!(step.expected.is_empty()),
            Err(RegistryError::IllegalTransition { from, to }) => {
                prop_assert!(!from.can_become(to) && step.expected.contains(&from));
            }
            Err(RegistryError::Conflict { actual, .. }) => {
                prop_assert!(legal && !step.expected.contains(&before));
                prop_assert_eq!(actual, before);
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
        }
        let stored = registry.get(id).unwrap().unwrap();
        prop_assert_eq!(stored.status, model[id]);
        prop_assert_eq!(stored.finished_at.is_some(), stored.status.is_terminal());
        if let Some(at) = stored.finished_at {
            // Written once: later (refused) attempts never move it.
            prop_assert_eq!(*finished_at.entry(id).or_insert(at), at);
        }
    }
    for (id, writes) in terminal_writes {
        prop_assert_eq!(
            writes,
            1,
            "{} reached a terminal status {} times",
            id,
            writes
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn memory_store_follows_the_state_machine(steps in prop::collection::vec(step(), 1..40)) {
        check(&MemoryRegistry::new(), &steps)?;
    }
}

proptest! {
    // Each case opens a database file; fewer cases keep the run short on small machines.
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sqlite_store_follows_the_state_machine(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let registry = SqliteRegistry::open(dir.path().join("ktrdr.db")).unwrap();
        check(&registry, &steps)?;
    }
}
