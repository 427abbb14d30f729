//! `/api/v1/operations` of a real `ktrdr serve` child process on a loopback port, with
//! operations started by `ktrdr data load` in other processes sharing its `KTRDR_HOME`: every
//! route with its status codes, list filters and paging, cancel and retry, restart recovery,
//! authentication, bodies, and many loads cancelled at random moments.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use ktrdr_data::store::BarStore;
use ktrdr_data::types::Timeframe;
use serde_json::Value;
use support::Server;

/// A quarter of AAPL daily bars from the simulated broker: one request, done at once.
const QUICK: [&str; 10] = [
    "data",
    "load",
    "AAPL",
    "1d",
    "--mode",
    "full",
    "--start",
    "2024-01-01",
    "--end",
    "2024-03-31",
];

/// Months of AAPL minute bars from the simulated broker: a request per day, seconds of work.
const SLOW: [&str; 10] = [
    "data",
    "load",
    "AAPL",
    "1m",
    "--mode",
    "full",
    "--start",
    "2024-01-01",
    "--end",
    "2024-03-31",
];

/// Runs `ktrdr ARGS --source sim --json -q` on the server's home; its JSON answer.
fn load(server: &Server, args: &[&str]) -> Value {
    let out = server
        .cli()
        .args(args)
        .args(["--source", "sim", "--json", "-q"])
        .output()
        .unwrap();
    json_of(&out)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Starts a slow CLI load and returns it once its operation shows running in the server's
/// list, with the operation's id.
async fn slow_cli_load(server: &Server) -> (Child, String) {
    let child = server
        .cli()
        .args(SLOW)
        .args(["--source", "sim", "--json", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = until_running(server, child.id()).await;
    (child, id)
}

/// Polls the server's list until an operation runs (at most a minute); its id.
async fn until_running(server: &Server, pid: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = server.get("/operations?status=running").await;
        if let Some(op) = list.body["data"].as_array().and_then(|ops| ops.first()) {
            return op["operation_id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "process {pid} never ran a load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A slow load run by the server itself: a CLI load interrupted at once, retried through the
/// API. Returns the server's operation id and the bars stored before it started.
async fn slow_server_load(server: &Server) -> (String, usize) {
    let (child, id) = slow_cli_load(server).await;
    support::signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(json_of(&out)["status"], "cancelled");
    let before = stored_minutes(server);
    let reply = server
        .call("POST", &format!("/operations/{id}/retry"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = reply.body["data"]["operation_id"].as_str().unwrap();
    (id.to_owned(), before)
}

/// How many AAPL minute bars the store holds.
fn stored_minutes(server: &Server) -> usize {
    let symbol = "AAPL".parse().unwrap();
    match BarStore::new(&server.data).load(&symbol, Timeframe::M1) {
        Ok(series) => series.len(),
        Err(e) if e.is_not_found() => 0,
        Err(e) => panic!("the series cannot be read: {e}"),
    }
}

/// Polls operation `id` until its progress passes `percent` (at most a minute).
async fn until_progress(server: &Server, id: &str, percent: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record = server.operation(id).await;
        if record["progress"]["percentage"].as_f64().unwrap() > percent {
            return;
        }
        assert_eq!(record["status"], "running", "{record}");
        assert!(Instant::now() < deadline, "{id} stuck at {record}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_an_ended_operation_with_its_status_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let done = load(&server, &QUICK);
    assert_eq!(done["status"], "completed");
    let id = done["id"].as_str().unwrap();

    let list = server.get("/operations").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["total_count"], 1);
    assert_eq!(list.body["active_count"], 0);
    let row = &list.body["data"][0];
    assert_eq!(row["operation_id"], id);
    assert_eq!(row["status"], "completed");
    assert_eq!(row["symbol"], "AAPL");
    assert_eq!(row["progress_percentage"], 100.0);

    let record = server.operation(id).await;
    assert_eq!(record["status"], "completed");
    assert_eq!(
        record["result_summary"]["bars_new"],
        done["result_summary"]["bars_new"]
    );
    let alias = server.get(&format!("/operations/{id}/status")).await;
    assert_eq!(alias.status, 200);
    assert_eq!(
        alias.body["data"], record,
        "the alias answers the same record"
    );

    for (method, path) in [
        ("DELETE", format!("/operations/{id}")),
        ("POST", format!("/operations/{id}/cancel")),
    ] {
        let reply = server.call(method, &path, None).await;
        let message = reply.refused(400, "OPERATIONS-AlreadyFinished");
        assert!(message.contains("completed"), "{message}");
    }
    let reply = server
        .call("POST", &format!("/operations/{id}/retry"), None)
        .await;
    reply.refused(400, "OPERATIONS-NotRetryable");

    for (method, path) in [
        ("GET", "/operations/op_nope"),
        ("GET", "/operations/op_nope/status"),
        ("DELETE", "/operations/op_nope"),
        ("POST", "/operations/op_nope/cancel"),
        ("POST", "/operations/op_nope/retry"),
    ] {
        let reply = server.call(method, path, None).await;
        let message = reply.refused(404, "OPERATIONS-NotFound");
        assert!(message.contains("op_nope"), "{method} {path}: {message}");
    }
    for query in [
        "status=done",
        "operation_type=cooking",
        "limit=0",
        "limit=1001",
        "limit=x",
    ] {
        let reply = server.get(&format!("/operations?{query}")).await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.text);
        assert_eq!(reply.body["success"], false, "{query}");
    }
    let reply = server.get("/operations?status=done").await;
    assert_eq!(reply.body["error"]["details"]["field"], "status");
    assert!(reply.body["error"]["details"]["allowed"]
        .as_array()
        .unwrap()
        .contains(&"cancelled".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_cancelled_through_the_api_stops_and_its_retry_runs_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let (id, _) = slow_server_load(&server).await;
    let running = server.operation(&id).await;
    assert_eq!(running["status"], "running");
    assert!(
        running["metadata"]["parameters"]["retry_of"].is_string(),
        "{running}"
    );
    until_progress(&server, &id, 10.0).await;

    let reply = server
        .call(
            "DELETE",
            &format!("/operations/{id}"),
            Some(r#"{"reason": "test over"}"#),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let data = &reply.body["data"];
    assert!(
        ["cancelling", "cancelled"].contains(&data["status"].as_str().unwrap()),
        "{data}"
    );
    assert_eq!(data["task_cancelled"], true);
    assert_eq!(data["cancellation_reason"], "cancelled remotely: test over");

    let ended = server.until_ended(&id).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["cancel_reason"], "cancelled remotely: test over");
    assert!(
        ended["result_summary"]["bars_saved"].as_u64().unwrap() > 0,
        "{ended}"
    );
    let kept = stored_minutes(&server);

    // The retry loads what the cancel left out, in the server, to the end.
    let reply = server
        .call("POST", &format!("/operations/{id}/retry"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let retry = reply.body["data"]["operation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reply.body["data"]["metadata"]["parameters"]["retry_of"],
        id.as_str()
    );
    let done = server.until_ended(&retry).await;
    assert_eq!(done["status"], "completed", "{done}");
    let summary = &done["result_summary"];
    assert_eq!(
        summary["bars_stored"], summary["bars_in_window"],
        "{summary}"
    );
    assert_eq!(
        summary["bars_new"].as_u64().unwrap() as usize,
        stored_minutes(&server) - kept,
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_the_api_reaches_a_cli_load_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (child, id) = slow_cli_load(&server).await;

    let reply = server
        .call(
            "POST",
            &format!("/operations/{id}/cancel"),
            Some(r#"{"reason": "from the API"}"#),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["data"]["status"], "cancelling");
    assert_eq!(reply.body["data"]["task_cancelled"], true);

    // The CLI process stops, saving what it fetched, and says why.
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = json_of(&out);
    assert_eq!(answer["status"], "cancelled");
    let ended = server.operation(&id).await;
    assert_eq!(ended["status"], "cancelled");
    assert_eq!(ended["cancel_reason"], "cancelled remotely: from the API");
    assert_eq!(ended["result_summary"], answer["result_summary"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_load_killed_while_the_server_runs_is_marked_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (mut child, id) = slow_cli_load(&server).await;
    support::signal(child.id(), "KILL");
    child.wait().unwrap();

    // The server's sweep notices within seconds, without a restart.
    let ended = server.until_ended(&id).await;
    assert_eq!(ended["status"], "interrupted", "{ended}");
    let error = ended["error_message"].as_str().unwrap();
    assert!(error.contains(&child.id().to_string()), "{error}");
    let list = server.get("/operations?active_only=true").await;
    assert_eq!(list.body["active_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_history_and_marks_the_killed_servers_loads_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    load(&server, &QUICK);
    let (id, _) = slow_server_load(&server).await;
    let before = server.get("/operations").await.body;
    assert_eq!(
        before["total_count"], 3,
        "quick, interrupted CLI load, retry: {before}"
    );
    assert_eq!(server.operation(&id).await["status"], "running");
    server.kill();

    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let after = server.get("/operations").await.body;
    assert_eq!(after["total_count"], 3);
    assert_eq!(after["active_count"], 0);
    for (old, new) in before["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["data"].as_array().unwrap())
    {
        assert_eq!(
            old["operation_id"], new["operation_id"],
            "same order, newest first"
        );
        if old["operation_id"] != id.as_str() {
            assert_eq!(old["status"], new["status"], "ended ones are untouched");
        }
    }
    let orphan = server.operation(&id).await;
    assert_eq!(orphan["status"], "interrupted", "{orphan}");
    assert!(orphan["completed_at"].is_string());
    // And it can be run again.
    let reply = server
        .call("POST", &format!("/operations/{id}/retry"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let retry = reply.body["data"]["operation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.until_ended(&retry).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_the_servers_loads_by_shutdown_and_keeps_what_they_saved() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let (id, before) = slow_server_load(&server).await;
    until_progress(&server, &id, 10.0).await;
    let status = server.terminate();
    assert!(status.success(), "{status}");

    let server = Server::start(dir.path(), &[], &[]);
    let ended = server.operation(&id).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["cancel_reason"], "shutting down");
    let summary = &ended["result_summary"];
    assert_eq!(summary["cancelled"]["kind"], "shutdown", "{summary}");
    let saved = summary["bars_saved"].as_u64().unwrap() as usize;
    assert!(saved > 0, "{summary}");
    assert_eq!(
        stored_minutes(&server),
        before + saved,
        "what it fetched is saved"
    );
}
