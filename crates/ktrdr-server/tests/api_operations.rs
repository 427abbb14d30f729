//! The cancel and retry routes of `/api/v1/operations` against an in-process server whose
//! operations the test controls: a cancel answers `cancelling` for as long as the work has not
//! stopped (the work here stops only when the test lets it), and a retry starts and runs a new
//! load. The black-box tests of `ktrdr serve` are in `ktrdr-cli/tests/serve_operations.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::Arc;

use ktrdr_data::manager::DataManager;
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_ops::operations::{OperationError, Operations};
use ktrdr_ops::progress::StepPlan;
use ktrdr_ops::registry::{
    MemoryRegistry, OperationRecord, OperationStatus, Registry, TransitionPatch,
};
use ktrdr_server::api::{ApiConfig, ApiServer, ApiState};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// 2025-01-01T00:00:00Z, the simulated "now".
const NOW: i64 = 1_735_689_600;

/// An API server on a loopback port, stopped when dropped.
struct Api {
    base: String,
    ops: Operations,
    registry: Arc<MemoryRegistry>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Api {
    /// A server whose loads fetch from the simulated broker (`with_source`) or from nowhere.
    async fn start(with_source: bool) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(MemoryRegistry::new());
        let ops = Operations::new(registry.clone(), None);
        let mut manager = DataManager::builder().data_dir(dir.path()).now(NOW);
        if with_source {
            let sim = SimConfig {
                now: Some(NOW),
                ..SimConfig::default()
            };
            manager = manager.provider(Arc::new(SimProvider::new(sim).unwrap()));
        }
        let state = ApiState::new(ops.clone(), manager.build().unwrap());
        let server = ApiServer::new(state, ApiConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Api {
            base,
            ops,
            registry,
            _stop: stop,
            _dir: dir,
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Records an ended operation of `kind` with `metadata`, as another process would have.
    fn ended(&self, id: &str, kind: &str, status: OperationStatus, metadata: Value) {
        let record = OperationRecord::pending(id, kind, metadata);
        self.registry.insert(&record).unwrap();
        let patch = TransitionPatch::default();
        let moves: &[OperationStatus] = match status {
            OperationStatus::Cancelled => &[OperationStatus::Cancelling, status],
            OperationStatus::Completed => &[OperationStatus::Running, status],
            _ => &[status],
        };
        let mut from = OperationStatus::Pending;
        for &to in moves {
            self.registry.transition(id, &[from], to, &patch).unwrap();
            from = to;
        }
    }
}

/// One operation whose work waits for a cancel, reports that it saw it, and stops only when
/// the test says so.
struct Stubborn {
    id: String,
    handle: ktrdr_ops::operations::OperationHandle,
    stop: oneshot::Sender<()>,
}

async fn stubborn(ops: &Operations) -> Stubborn {
    let (started_tx, started) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let plan = StepPlan::new([("wait", 100)]).unwrap();
    let handle = ops
        .run(
            "data_load",
            json!({"symbol": "AAPL"}),
            plan,
            |ctx| async move {
                let _ = started_tx.send(());
                ctx.token.cancelled().await;
                let _ = stopped.await;
                ctx.token.check()?;
                Err::<Value, _>(OperationError::failed("the token was not cancelled"))
            },
        )
        .unwrap();
    started.await.unwrap();
    Stubborn {
        id: handle.id().to_owned(),
        handle,
        stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_answers_cancelling_until_the_work_has_stopped_then_cancelled() {
    let api = Api::start(false).await;
    let op = stubborn(&api.ops).await;
    let path = format!("/operations/{}", op.id);

    let (status, body) = api
        .send(
            "DELETE",
            &path,
            Some(r#"{"reason": "disk full", "force": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let data = &body["data"];
    assert_eq!(data["success"], true);
    assert_eq!(data["operation_id"], op.id.as_str());
    assert_eq!(data["status"], "cancelling");
    assert_eq!(data["cancellation_reason"], "cancelled remotely: disk full");
    assert_eq!(data["task_cancelled"], true);
    assert!(data["cancelled_at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .is_ok());

    // The work has seen the cancel but not stopped: the record says so, never `cancelled`.
    let (_, body) = api.send("GET", &path, None).await;
    assert_eq!(body["data"]["status"], "cancelling");

    // A second cancel (the alias, no body) is accepted, keeps the first reason, and says the
    // work was already stopping.
    let (status, body) = api.send("POST", &format!("{path}/cancel"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "cancelling");
    assert_eq!(body["data"]["task_cancelled"], false);
    assert_eq!(
        body["data"]["cancellation_reason"],
        "cancelled remotely: disk full"
    );

    op.stop.send(()).unwrap();
    assert_eq!(op.handle.wait().await.status, OperationStatus::Cancelled);
    let (_, body) = api.send("GET", &format!("{path}/status"), None).await;
    assert_eq!(body["data"]["status"], "cancelled");
    assert_eq!(
        body["data"]["cancel_reason"],
        "cancelled remotely: disk full"
    );

    // Ended: refused, naming the status.
    let (status, body) = api.send("DELETE", &path, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "OPERATIONS-AlreadyFinished");
    assert_eq!(body["error"]["details"]["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_without_a_reason_is_the_users_and_bad_bodies_change_nothing() {
    let api = Api::start(false).await;
    let op = stubborn(&api.ops).await;
    let path = format!("/operations/{}", op.id);

    for (body, code) in [
        ("{", StatusCode::BAD_REQUEST),
        (r#"{"reason": "x",}"#, StatusCode::BAD_REQUEST),
        (r#"{"reason": 5}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"force": "yes"}"#, StatusCode::UNPROCESSABLE_ENTITY),
        ("\"stop\"", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, answer) = api.send("DELETE", &path, Some(body)).await;
        assert_eq!(status, code, "{body}: {answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["code"], "REQUEST-InvalidBody", "{body}");
    }
    let long = json!({ "reason": "x".repeat(501) }).to_string();
    let (status, answer) = api.send("DELETE", &path, Some(&long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["details"]["field"], "reason");
    let (_, answer) = api.send("GET", &path, None).await;
    assert_eq!(
        answer["data"]["status"], "running",
        "a refused cancel cancels nothing"
    );

    let (status, answer) = api.send("DELETE", &path, Some("{}")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"]["cancellation_reason"],
        "cancelled by the user"
    );
    op.stop.send(()).unwrap();
    assert_eq!(op.handle.wait().await.status, OperationStatus::Cancelled);

    for path in ["/operations/op_nope", "/operations/op_nope/cancel"] {
        let method = if path.ends_with("cancel") {
            "POST"
        } else {
            "DELETE"
        };
        let (status, answer) = api.send(method, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer["error"]["code"], "OPERATIONS-NotFound");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_starts_and_runs_a_new_load_with_the_same_request() {
    let api = Api::start(true).await;
    let metadata = json!({
        "symbol": "AAPL", "timeframe": "1d", "mode": "full",
        "start": "2024-01-01T00:00:00Z", "end": "2024-03-31T00:00:00Z", "provider": "sim",
    });
    api.ended(
        "op_failed",
        "data_load",
        OperationStatus::Failed,
        metadata.clone(),
    );

    let (status, body) = api.send("POST", "/operations/op_failed/retry", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = &body["data"];
    let new_id = new["operation_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, "op_failed");
    assert!(new_id.starts_with("op_data_load_"), "{new_id}");
    assert_eq!(new["operation_type"], "data_load");
    assert_eq!(new["metadata"]["parameters"]["retry_of"], "op_failed");
    for key in ["symbol", "timeframe", "mode"] {
        assert_eq!(new["metadata"][key], metadata[key], "{key}");
    }
    assert_eq!(new["metadata"]["start_date"], metadata["start"]);
    assert_eq!(new["metadata"]["end_date"], metadata["end"]);

    // It runs (the Python backend's retry left it pending forever).
    api.ops.wait_idle().await;
    let (_, body) = api
        .send("GET", &format!("/operations/{new_id}"), None)
        .await;
    assert_eq!(body["data"]["status"], "completed", "{body}");
    let summary = &body["data"]["result_summary"];
    assert!(summary["bars_new"].as_u64().unwrap() > 50, "{summary}");
    // Run as `POST /data/load` runs a load: the Python clients' fields are there too.
    assert_eq!(
        summary["fetched_bars"], summary["bars_fetched"],
        "{summary}"
    );
    assert_eq!(summary["status"], "success", "{summary}");
    // The original is untouched.
    let (_, body) = api.send("GET", "/operations/op_failed", None).await;
    assert_eq!(body["data"]["status"], "failed");

    // Cancelled and interrupted ones may be retried too.
    api.ended(
        "op_cancelled",
        "data_load",
        OperationStatus::Cancelled,
        metadata.clone(),
    );
    api.ended(
        "op_gone",
        "data_load",
        OperationStatus::Interrupted,
        metadata,
    );
    for id in ["op_cancelled", "op_gone"] {
        let (status, body) = api
            .send("POST", &format!("/operations/{id}/retry"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
        assert_eq!(body["data"]["metadata"]["parameters"]["retry_of"], id);
    }
    api.ops.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let api = Api::start(false).await;
    let (status, body) = api.send("PUT", "/operations", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["error"]["code"], "API-MethodNotAllowed", "{body}");
    assert_eq!(body["success"], false);
    let (status, body) = api.send("GET", "/nothing/here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "API-NotFound", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_refused_with_the_reason() {
    let api = Api::start(false).await;
    let load = json!({"symbol": "AAPL", "timeframe": "1h", "mode": "tail"});
    api.ended(
        "op_done",
        "data_load",
        OperationStatus::Completed,
        load.clone(),
    );
    api.ended(
        "op_training",
        "training",
        OperationStatus::Failed,
        json!({}),
    );
    api.ended("op_tail", "data_load", OperationStatus::Failed, load);
    api.ended(
        "op_broken",
        "data_load",
        OperationStatus::Failed,
        json!({"symbol": "AAPL"}),
    );
    let running = stubborn(&api.ops).await;

    let refusals = [
        (
            "op_nope",
            StatusCode::NOT_FOUND,
            "OPERATIONS-NotFound",
            "no operation op_nope",
        ),
        (
            "op_done",
            StatusCode::BAD_REQUEST,
            "OPERATIONS-NotRetryable",
            "is completed",
        ),
        (
            &running.id,
            StatusCode::BAD_REQUEST,
            "OPERATIONS-NotRetryable",
            "is running",
        ),
        (
            "op_training",
            StatusCode::BAD_REQUEST,
            "OPERATIONS-NotRetryable",
            "\"training\"",
        ),
        (
            "op_broken",
            StatusCode::BAD_REQUEST,
            "OPERATIONS-NotRetryable",
            "no timeframe",
        ),
        (
            "op_tail",
            StatusCode::SERVICE_UNAVAILABLE,
            "DATA-NoSource",
            "--source",
        ),
    ];
    for (id, status, code, words) in refusals {
        let (got, body) = api
            .send("POST", &format!("/operations/{id}/retry"), None)
            .await;
        assert_eq!(got, status, "{id}: {body}");
        assert_eq!(body["error"]["code"], code, "{id}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{id}: {message}");
    }
    let total = api.registry.list(&Default::default()).unwrap().total_count;
    assert_eq!(total, 5, "no refused retry recorded anything");
    api.ops
        .cancel(&running.id, ktrdr_ops::cancel::CancelReason::User)
        .unwrap();
    running.stop.send(()).unwrap();
    running.handle.wait().await;
}
