//! Trainings through the API of a `ktrdr serve` child: `POST /trainings/start` runs a
//! `training` operation (visible to `ktrdr ops` and the event stream), its performance once it
//! has completed, its epoch history, and `GET /models`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use support::Server;

const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

fn server(root: &std::path::Path) -> Server {
    let models = root.join("models");
    Server::start(
        root,
        &[
            "--source",
            "sim",
            "--strategies-dir",
            STRATEGIES,
            "--models-dir",
            models.to_str().unwrap(),
        ],
        &[],
    )
}

const START: &str = r#"{"symbols": ["AAPL"], "timeframes": ["1h"],
    "strategy_name": "rsi_mean_reversion", "start_date": "2024-03-01",
    "end_date": "2024-10-31", "epochs": 2}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_started_through_the_api_completes_and_reports_its_performance() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let started = server.call("POST", "/trainings/start", Some(START)).await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.body["status"], "training_started");
    assert_eq!(started.body["symbols"], serde_json::json!(["AAPL"]));
    let id = started.body["task_id"].as_str().unwrap().to_owned();

    let record = server.until_ended(&id).await;
    assert_eq!(record["status"], "completed", "{record}");
    assert_eq!(record["operation_type"], "training");

    let performance = server.get(&format!("/trainings/{id}/performance")).await;
    assert_eq!(performance.status, 200, "{}", performance.text);
    let p = &performance.body;
    assert_eq!(p["training_metrics"]["epochs_completed"], 2);
    assert!(p["test_metrics"]["test_accuracy"].as_f64().unwrap() >= 0.0);
    assert!(p["model_info"]["parameters_count"].as_u64().unwrap() > 0);
    assert_eq!(p["history"]["val_accuracy"].as_array().unwrap().len(), 2);

    let history = server.get(&format!("/trainings/{id}/history")).await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert_eq!(history.body["epoch"], 2);

    let models = server.get("/models").await;
    assert_eq!(models.status, 200, "{}", models.text);
    assert_eq!(
        models.body["models"][0]["name"],
        "rsi_mean_reversion/AAPL_1h_v1"
    );
    assert!(dir
        .path()
        .join("models/rsi_mean_reversion/AAPL_1h_latest")
        .exists());

    // The CLI sees it in the shared registry.
    let shown = server
        .cli()
        .args(["ops", "show", &id, "--json"])
        .output()
        .unwrap();
    let op: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(op["operation_type"], "training", "{op}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_trainings_are_refused_with_the_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let unknown = server
        .call(
            "POST",
            "/trainings/start",
            Some(r#"{"strategy_name": "no_such_strategy"}"#),
        )
        .await;
    unknown.refused(404, "TRAINING-StrategyNotFound");
    let escape = server
        .call(
            "POST",
            "/trainings/start",
            Some(r#"{"strategy_name": "../etc/passwd"}"#),
        )
        .await;
    assert_eq!(escape.status, 422, "{}", escape.text);
    let bad_date = START.replace("2024-03-01", "March");
    let bad_date = server
        .call("POST", "/trainings/start", Some(&bad_date))
        .await;
    assert!(bad_date
        .refused(400, "TRAINING-InvalidRequest")
        .contains("start_date"));
    let performance = server.get("/trainings/op_nope/performance").await;
    performance.refused(404, "TRAINING-NotFound");
}
