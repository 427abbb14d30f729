//! `ktrdr models …` black-box: every shared strategy file trains on simulated bars, models are
//! listed, shown and predict with, and bad input is refused with the problem named.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::cli;

const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

fn strategy(name: &str) -> PathBuf {
    Path::new(STRATEGIES).join(format!("{name}.yaml"))
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `ktrdr models ARGS` on `root`'s home, data and models directories.
fn models(root: &Path, args: &[&str]) -> Output {
    cli(&root.join("home"), &root.join("data"))
        .env("KTRDR_MODELS_DIR", root.join("models"))
        .arg("models")
        .args(args)
        .output()
        .expect("ktrdr runs")
}

/// Trains `name` for one epoch on simulated bars of `start..end` (its own symbols and
/// timeframes, loaded first) and returns the model's name. Each part of the split is labelled
/// from its own bars, so the window must hold a few of the strategy's zigzag swings (3 %) per
/// part: months of bars, more for the calm simulated currencies.
fn train_one_epoch(root: &Path, name: &str, start: &str, end: &str) -> String {
    let file = strategy(name);
    let out = models(
        root,
        &[
            "train",
            file.to_str().unwrap(),
            "--source",
            "sim",
            "--start-date",
            start,
            "--end-date",
            end,
            "--epochs",
            "1",
            "--json",
            "-q",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{name}: {stdout}\n{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome["status"], "completed", "{outcome}");
    outcome["result_summary"]["model_name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn bollinger_squeeze_trains_on_simulated_data() {
    let dir = tempfile::tempdir().unwrap();
    let name = train_one_epoch(dir.path(), "bollinger_squeeze", "2023-06-01", "2024-09-30");
    assert_eq!(name, "bollinger_squeeze/EURUSD_GBPUSD_BTCUSD_ETHUSD_1h_v1");
}

#[test]
fn crypto_scalping_trains_on_simulated_data() {
    let dir = tempfile::tempdir().unwrap();
    let name = train_one_epoch(dir.path(), "crypto_scalping", "2024-05-01", "2024-06-30");
    assert_eq!(
        name,
        "crypto_scalping/BTCUSDT_ETHUSDT_SOLUSDT_BNBUSDT_1m_v1"
    );
}

#[test]
fn neuro_mean_reversion_trains_on_simulated_data() {
    let dir = tempfile::tempdir().unwrap();
    let name = train_one_epoch(
        dir.path(),
        "neuro_mean_reversion",
        "2024-03-01",
        "2024-09-30",
    );
    assert_eq!(name, "neuro_mean_reversion/AAPL_MSFT_GOOGL_1h_v1");
}

#[test]
fn rsi_mean_reversion_trains_on_simulated_data() {
    let dir = tempfile::tempdir().unwrap();
    let name = train_one_epoch(dir.path(), "rsi_mean_reversion", "2023-06-01", "2024-09-30");
    assert_eq!(name, "rsi_mean_reversion/SPY_QQQ_EURUSD_GBPUSD_15m_v1");
}

#[test]
fn universal_generalization_model_trains_and_is_listed_shown_and_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = train_one_epoch(
        root,
        "universal_generalization_model",
        "2024-01-01",
        "2024-06-30",
    );
    assert_eq!(name, "universal_generalization_model/EURUSD_GBPUSD_1h_v1");

    let (listed, _) = text(&models(root, &["list"]));
    assert!(listed.contains(&name), "{listed}");
    let latest = "universal_generalization_model/EURUSD_GBPUSD_1h_latest";
    let shown = models(root, &["show", latest]);
    let (shown, stderr) = text(&shown);
    assert!(
        shown.contains("Features") && shown.contains("is_trained"),
        "{shown}{stderr}"
    );

    let predicted = models(root, &["predict", latest, "EURUSD", "1h", "--bars", "3"]);
    let (predicted, stderr) = text(&predicted);
    let signals: Vec<&str> = predicted
        .lines()
        .filter(|l| ["BUY", "HOLD", "SELL"].iter().any(|s| l.contains(s)))
        .collect();
    assert_eq!(signals.len(), 3, "{predicted}{stderr}");
}

#[test]
fn a_dry_run_shows_the_plan_and_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = strategy("neuro_mean_reversion");
    let out = models(
        dir.path(),
        &["train", file.to_str().unwrap(), "AAPL", "1h", "--dry-run"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("AAPL 1h: not stored"), "{stdout}");
    assert!(!dir.path().join("models").exists());
}

#[test]
fn an_invalid_strategy_is_refused_with_every_problem_by_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let text_in = std::fs::read_to_string(strategy("rsi_mean_reversion"))
        .unwrap()
        .replace("period: 14", "period: fourteen")
        .replace("type: \"triangular\"", "type: \"triangle\"");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text_in).unwrap();
    let out = models(
        dir.path(),
        &["train", broken.to_str().unwrap(), "--dry-run"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("indicators[0].period"), "{stderr}");
    assert!(stderr.contains("fuzzy_sets.rsi."), "{stderr}");
}

#[test]
fn resume_without_a_checkpoint_names_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let file = strategy("rsi_mean_reversion");
    let out = models(
        dir.path(),
        &["train", file.to_str().unwrap(), "AAPL", "1h", "--resume"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("nothing to resume"), "{stderr}");
}
