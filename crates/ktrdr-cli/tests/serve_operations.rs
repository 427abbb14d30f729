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
use support::{Reply, Server};

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
        let status = record["status"].as_str().unwrap();
        assert!(["pending", "running"].contains(&status), "{record}");
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
    until_progress(&server, &id, 5.0).await;
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

/// The ids of a listing's page, in order.
fn ids(list: &Value) -> Vec<String> {
    let rows = list["data"].as_array().expect("a page");
    rows.iter()
        .map(|row| row["operation_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_pages_and_counts_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    for symbol in ["AAPL", "MSFT", "AAPL", "SPY"] {
        let mut args = QUICK;
        args[2] = symbol;
        assert_eq!(load(&server, &args)["status"], "completed");
    }
    let mut unknown = QUICK;
    unknown[2] = "ZZTOP";
    assert_eq!(load(&server, &unknown)["status"], "failed");
    let (child, running) = slow_cli_load(&server).await;

    let all = server.get("/operations").await.body;
    assert_eq!(all["total_count"], 6);
    assert_eq!(all["active_count"], 1);
    let order = ids(&all);
    assert_eq!(order[0], running, "the newest first");
    let created: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["created_at"].as_str().unwrap())
        .collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        created.iter().map(|t| t.parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    // Pages of two tile the listing; past the end, an empty page with the same counts.
    let mut paged = Vec::new();
    for offset in [0, 2, 4] {
        let page = server
            .get(&format!("/operations?limit=2&offset={offset}"))
            .await
            .body;
        assert_eq!(page["total_count"], 6, "counts ignore the page");
        paged.extend(ids(&page));
    }
    assert_eq!(paged, order);
    let beyond = server.get("/operations?limit=2&offset=6").await.body;
    assert_eq!(ids(&beyond), Vec::<String>::new());
    assert_eq!(beyond["total_count"], 6);

    for (query, total) in [
        ("status=completed", 4),
        ("status=failed", 1),
        ("status=running", 1),
        ("status=cancelled", 0),
        ("operation_type=data_load", 6),
        ("operation_type=training", 0),
        ("active_only=true", 1),
        ("status=completed&limit=1&offset=1", 4),
    ] {
        let page = server.get(&format!("/operations?{query}")).await.body;
        assert_eq!(page["total_count"], total, "{query}");
        assert_eq!(
            page["active_count"], 1,
            "{query}: the active count ignores the filters"
        );
        let status = query
            .strip_prefix("status=")
            .map(|s| s.split('&').next().unwrap());
        for row in page["data"].as_array().unwrap() {
            if let Some(status) = status {
                assert_eq!(row["status"], status, "{query}");
            }
        }
    }
    let active = server.get("/operations?active_only=true").await.body;
    assert_eq!(ids(&active), std::slice::from_ref(&running));
    let second = server
        .get("/operations?status=completed&limit=1&offset=1")
        .await
        .body;
    let completed: Vec<String> = order
        .iter()
        .skip(2) // the running load and the failed one came last
        .cloned()
        .collect();
    assert_eq!(ids(&second), [completed[1].clone()]);

    let reply = server
        .call("DELETE", &format!("/operations/{running}"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    child.wait_with_output().unwrap();
    assert_eq!(server.until_ended(&running).await["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_route_but_health_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[("KTRDR_API_TOKEN", "s3cret-token")]);
    let done = load(&server, &QUICK);
    let id = done["id"].as_str().unwrap();
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, url: String, auth: Option<&'static str>| {
        let mut request = client.request(method, url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    use reqwest::Method;

    for url in [format!("{}/health", server.base), server.api("/health")] {
        let reply = send(Method::GET, url.clone(), None).await.unwrap();
        assert_eq!(reply.status(), 200, "{url} is open");
    }
    let routes = [
        (Method::GET, server.api("/operations")),
        (Method::GET, server.api(&format!("/operations/{id}"))),
        (Method::GET, server.api(&format!("/operations/{id}/status"))),
        (Method::DELETE, server.api(&format!("/operations/{id}"))),
        (
            Method::POST,
            server.api(&format!("/operations/{id}/cancel")),
        ),
        (Method::POST, server.api(&format!("/operations/{id}/retry"))),
        (Method::GET, server.api("/operations/op_nope")),
    ];
    for (method, url) in &routes {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer s3cret-toke"),
            Some("Basic czNjcmV0LXRva2Vu"),
            Some("s3cret-token"),
        ] {
            let reply = Reply::of(send(method.clone(), url.clone(), auth).await.unwrap()).await;
            reply.refused(401, "AUTH-Unauthorized");
            assert!(!reply.text.contains("s3cret"), "{}", reply.text);
        }
        let reply = send(method.clone(), url.clone(), Some("Bearer s3cret-token"))
            .await
            .unwrap();
        assert_ne!(reply.status(), 401, "{method} {url} with the token");
    }
    let reply = send(Method::GET, server.api("/operations"), None)
        .await
        .unwrap();
    assert_eq!(reply.headers()["www-authenticate"], "Bearer");
    // Refused requests changed nothing: the operation is still the completed one.
    let record = send(
        Method::GET,
        server.api(&format!("/operations/{id}")),
        Some("Bearer s3cret-token"),
    )
    .await
    .unwrap();
    let record: Value = record.json().await.unwrap();
    assert_eq!(record["data"]["status"], "completed");

    // Without a token the same routes answer anyone, whatever header they send.
    drop(server);
    let server = Server::start(dir.path(), &[], &[]);
    for auth in [None, Some("Bearer anything")] {
        let reply = send(Method::GET, server.api("/operations"), auth)
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
}

/// `DELETE path` declaring a 3 MiB body and sending none; the server's whole answer.
async fn oversized(server: &Server, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let authority = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "DELETE /api/v1{path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        3 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// Whether the server has begun to answer on `socket` (so that the client stops sending before
/// the server closes on unread data, which would reset the connection under the answer).
fn answered(socket: &std::net::TcpStream) -> bool {
    socket.set_nonblocking(true).unwrap();
    let ready = matches!(socket.peek(&mut [0; 1]), Ok(n) if n > 0);
    socket.set_nonblocking(false).unwrap();
    ready
}

/// `DELETE path` with a 3 MiB chunked body (no length up front), sent until the server
/// answers; the server's whole answer.
fn oversized_chunked(server: &Server, path: &str) -> String {
    use std::io::{Read, Write};
    let authority = server.base.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(authority).unwrap();
    let head = format!(
        "DELETE /api/v1{path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).unwrap();
    let chunk = [
        format!("{:x}\r\n", 64 << 10).into_bytes(),
        vec![b' '; 64 << 10],
        b"\r\n".to_vec(),
    ]
    .concat();
    let mut sent = 0;
    while sent < 3 << 20 && !answered(&socket) {
        if socket.write_all(&chunk).is_err() {
            break; // answered and closed before the end
        }
        sent += 64 << 10;
    }
    let _ = socket.write_all(b"0\r\n\r\n");
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_bodies_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (child, id) = slow_cli_load(&server).await;
    let path = format!("/operations/{id}");

    // A body declared larger than the limit is refused from its head: the server answers
    // and closes without reading it (a client still sending would see a reset, not the answer).
    let reply = oversized(&server, &path).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    let (_, body) = reply.split_once("\r\n\r\n").expect("a head and a body");
    let body: serde_json::Value = serde_json::from_str(body).expect("the error shape");
    assert_eq!(body["error"]["code"], "REQUEST-TooLarge", "{reply}");
    // The same without a length up front (chunked): refused once it passes the limit.
    let reply = oversized_chunked(&server, &path);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("REQUEST-TooLarge"), "{reply}");

    for (body, status) in [
        ("{\"reason\": ", 400),
        ("not json", 400),
        ("{\"reason\": [\"a\"]}", 422),
        ("{\"force\": 1}", 422),
        ("42", 422),
    ] {
        let reply = server.call("DELETE", &path, Some(body)).await;
        let message = reply.refused(status, "REQUEST-InvalidBody");
        assert!(message.contains("JSON"), "{body}: {message}");
    }
    let long = serde_json::json!({ "reason": "y".repeat(501) }).to_string();
    let reply = server
        .call("POST", &format!("{path}/cancel"), Some(&long))
        .await;
    reply.refused(422, "REQUEST-InvalidField");
    assert_eq!(reply.body["error"]["details"]["field"], "reason");
    assert_eq!(server.operation(&id).await["status"], "running");

    // A bare body (no content type) is read all the same.
    let reply = reqwest::Client::new()
        .delete(server.api(&path))
        .body(r#"{"reason": "bare"}"#)
        .send()
        .await
        .unwrap();
    let reply = Reply::of(reply).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body["data"]["cancellation_reason"],
        "cancelled remotely: bare"
    );
    child.wait_with_output().unwrap();
    assert_eq!(server.until_ended(&id).await["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_names_its_request_id_and_nothing_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let mut unknown = QUICK;
    unknown[2] = "ZZTOP";
    let failed = load(&server, &unknown);
    let id = failed["id"].as_str().unwrap();

    // Another process holds the registry's write lock past the server's busy timeout (5 s):
    // the retry's insert fails inside the server.
    let db = server.home.join("ktrdr.db");
    let holder = ktrdr_ops::db::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let response = reqwest::Client::new()
        .post(server.api(&format!("/operations/{id}/retry")))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let reply = Reply::of(response).await;
    holder.execute_batch("ROLLBACK").unwrap();

    let message = reply.refused(500, "INTERNAL-Error");
    assert!(message.contains(&request_id), "{message}");
    assert_eq!(
        reply.body["error"]["details"]["request_id"],
        request_id.as_str()
    );
    let home = server.home.to_str().unwrap();
    for secret in [home, "ktrdr.db", "locked", "busy", "sqlite", "database"] {
        assert!(!reply.text.contains(secret), "{secret} in {}", reply.text);
    }
    // The lock gone, the same request works.
    let reply = server
        .call("POST", &format!("/operations/{id}/retry"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// What happened to one load of the storm.
struct Fate {
    id: String,
    /// The status of the cancel's answer (200 accepted, 400 already ended).
    cancel: u16,
    /// The record once it ended.
    ended: Value,
}

/// Starts a week-long minute load of `symbol` through `POST /data/load`; its operation id.
async fn start_load(server: &Server, symbol: &str) -> String {
    let body = serde_json::json!({
        "symbol": symbol, "timeframe": "1m", "mode": "full",
        "start_date": "2024-01-01", "end_date": "2024-01-07",
    });
    let reply = server
        .call(
            "POST",
            "/data/load?async_mode=true",
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["data"]["operation_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts a load of `symbol`, cancels it after `delay`, and follows it to its end.
async fn load_then_cancel(server: &Server, symbol: String, delay: Duration) -> Fate {
    let id = start_load(server, &symbol).await;
    tokio::time::sleep(delay).await;
    let reply = server
        .call(
            "DELETE",
            &format!("/operations/{id}"),
            Some(r#"{"reason": "storm"}"#),
        )
        .await;
    match reply.status {
        200 => {
            let status = reply.body["data"]["status"].as_str().unwrap();
            assert!(
                ["cancelling", "cancelled"].contains(&status),
                "{}",
                reply.text
            );
        }
        400 => {
            reply.refused(400, "OPERATIONS-AlreadyFinished");
        }
        other => panic!("{id}: cancel answered {other}: {}", reply.text),
    }
    let ended = server.until_ended(&id).await;
    Fate {
        id,
        cancel: reply.status,
        ended,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_loads_cancelled_at_random_moments_each_end_once_and_stay_ended() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    // Cancel moments spread over a whole load (ten at once, as below) and past its end,
    // seeded so that a failure replays.
    const AT_ONCE: u64 = 10;
    let server = &server;
    let probes = (0..AT_ONCE).map(|i| async move {
        let id = start_load(server, &format!("PROBE{i}")).await;
        let ended = server.until_ended(&id).await;
        assert_eq!(ended["status"], "completed", "{ended}");
        ended["duration_seconds"].as_f64().unwrap()
    });
    let longest = futures_util::future::join_all(probes)
        .await
        .into_iter()
        .fold(0.0, f64::max);
    let span_ms = ((longest * 2.0 * 1e3) as u64).max(50);
    let mut fates = Vec::new();
    for batch in 0..50 / AT_ONCE {
        let loads = (0..AT_ONCE).map(|i| {
            let n = batch * AT_ONCE + i;
            let delay = ktrdr_ops::mix::mix(0x5EED ^ n) % span_ms;
            load_then_cancel(server, format!("STORM{n}"), Duration::from_millis(delay))
        });
        fates.extend(futures_util::future::join_all(loads).await);
    }
    // Ended records never change afterwards (no late write overwrites a cancel).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut cancelled, mut completed) = (0, 0);
    for fate in &fates {
        let (id, ended) = (&fate.id, &fate.ended);
        let later = server.operation(id).await;
        for field in [
            "status",
            "completed_at",
            "result_summary",
            "cancel_reason",
            "error_message",
        ] {
            assert_eq!(
                later[field], ended[field],
                "{id}: {field} changed after it ended"
            );
        }
        match (fate.cancel, ended["status"].as_str().unwrap()) {
            // An accepted cancel always ends cancelled, with its reason and what it kept.
            (200, "cancelled") => {
                cancelled += 1;
                assert_eq!(
                    ended["cancel_reason"], "cancelled remotely: storm",
                    "{ended}"
                );
                let kept = &ended["result_summary"];
                assert!(kept["bars_saved"].is_u64(), "{id}: {kept}");
            }
            // A refused one had already completed, with its real counts.
            (400, "completed") => {
                completed += 1;
                assert!(
                    ended["result_summary"]["bars_new"].as_u64().unwrap() > 0,
                    "{ended}"
                );
                assert!(ended["cancel_reason"].is_null(), "{ended}");
            }
            (code, status) => panic!("{id}: cancel answered {code}, ended {status}: {ended}"),
        }
    }
    eprintln!("{cancelled} cancelled, {completed} completed (cancel points over {span_ms} ms)");
    // Some moments fall after a load's end; how many depends on the machine's load (and on
    // the pacing budget earlier loads used), so only the cancels, the point here, are counted.
    assert!(
        cancelled >= 10,
        "{cancelled} cancelled, {completed} completed"
    );
    let list = server.get("/operations?limit=1000").await.body;
    assert_eq!(list["total_count"], 60);
    assert_eq!(list["active_count"], 0);
}
