//! `POST /data/load` with an `Idempotency-Key`, black-box against `ktrdr serve --source sim`:
//! one operation per key and request, across concurrent retries and a restart; 409 for the
//! key reused with another request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Server;

const SIM: [&str; 2] = ["--source", "sim"];

fn load_body(symbol: &str, timeframe: &str) -> Value {
    json!({"symbol": symbol, "timeframe": timeframe, "mode": "tail", "start_date": "2024-06-01"})
}

async fn load(server: &Server, key: &str, async_mode: bool, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(server.api(&format!("/data/load?async_mode={async_mode}")))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn operations_count(server: &Server) -> u64 {
    let list: Value = reqwest::get(server.api("/operations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["total_count"].as_u64().unwrap()
}

fn operation_id(answer: &Value) -> String {
    answer["data"]["operation_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_same_key_and_request_start_one_operation_even_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &SIM, &[]);

    // Eight clients retry the same request at once (spelled differently: it is one request
    // once normalised).
    let spellings = [("AAPL", "1d"), (" aapl ", "daily"), ("Aapl", "1D")];
    let answers = futures_join(&server, "k-concurrent", &spellings).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, answer)| {
            assert_eq!(*status, StatusCode::OK, "{answer}");
            operation_id(answer)
        })
        .collect();
    assert_eq!(ids.len(), 1, "one operation for one key: {ids:?}");
    assert_eq!(operations_count(&server).await, 1);

    // A synchronous replay waits for that operation and answers its real counts.
    let (status, answer) = load(&server, "k-concurrent", false, &load_body("AAPL", "1d")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ids.first(), Some(&operation_id(&answer)));
    assert_eq!(answer["data"]["status"], "success");
    assert!(
        answer["data"]["fetched_bars"].as_u64().unwrap() > 0,
        "{answer}"
    );
    assert_eq!(operations_count(&server).await, 1);

    // Without a key, the same request is a new load.
    let response = reqwest::Client::new()
        .post(server.api("/data/load?async_mode=true"))
        .json(&load_body("AAPL", "1d"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(operations_count(&server).await, 2);
}

/// Sends the load of each spelling, several times each, all at once.
async fn futures_join(
    server: &Server,
    key: &str,
    spellings: &[(&str, &str)],
) -> Vec<(StatusCode, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (symbol, timeframe) = spellings[i % spellings.len()];
        let body = load_body(symbol, timeframe);
        let url = server.api("/data/load?async_mode=true");
        let key = key.to_owned();
        tasks.spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn the_same_key_with_another_request_is_409() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &SIM, &[]);

    let (status, first) = load(&server, "k-1", true, &load_body("AAPL", "1d")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, answer) = load(&server, "k-1", true, &load_body("MSFT", "1d")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "REQUEST-IdempotencyConflict");
    assert_eq!(
        answer["error"]["details"]["operation_id"],
        operation_id(&first)
    );
    // Another mode is another request too.
    let mut full = load_body("AAPL", "1d");
    full["mode"] = json!("full");
    let (status, _) = load(&server, "k-1", false, &full).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(operations_count(&server).await, 1);

    // A key the registry cannot hold is refused, naming the header.
    let (status, answer) = load(&server, &"k".repeat(300), true, &load_body("AAPL", "1d")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["details"]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn a_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &SIM, &[]);
    let (status, first) = load(&server, "k-restart", false, &load_body("AAPL", "1d")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(server.terminate().success());

    let server = Server::start(dir.path(), &SIM, &[]);
    let (status, again) = load(&server, "k-restart", false, &load_body("aapl", "1d")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(operation_id(&again), operation_id(&first));
    assert_eq!(again["data"]["fetched_bars"], first["data"]["fetched_bars"]);
    assert_eq!(operations_count(&server).await, 1);
    let (status, _) = load(&server, "k-restart", true, &load_body("MSFT", "1d")).await;
    assert_eq!(status, StatusCode::CONFLICT);
}
