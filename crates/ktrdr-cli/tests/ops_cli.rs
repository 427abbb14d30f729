//! `ktrdr ops` against this machine's registry and against a `ktrdr serve` child, and `ktrdr
//! data load --server`: list, show, wait and their exit statuses; a cancel from `ktrdr ops
//! cancel` reaching a CLI load in another process; `watch` reattaching to a running load; a
//! load run in the server, followed here, and cancelled there by Ctrl-C.
//!
//! A load that must still be running when the test acts fetches from a simulated host service
//! that the test has frozen (SIGSTOP): it cannot end until the test lets it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{cli, signal, Running, Server, SimHost};

/// Six months of AAPL 1h: six requests to the host service.
const LOAD: [&str; 10] = load_of("AAPL");

/// `data load SYMBOL 1h`, six months of it.
const fn load_of(symbol: &str) -> [&str; 10] {
    [
        "data",
        "load",
        symbol,
        "1h",
        "--mode",
        "full",
        "--start",
        "2024-01-01",
        "--end",
        "2024-06-30",
    ]
}

/// `ktrdr` on the registry and store under `root`, not pointed at any server.
fn ktrdr(root: &Path) -> Command {
    let mut command = cli(&root.join("home"), &root.join("data"));
    command.env_remove("KTRDR_API_URL");
    command
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A load fetching from `host`, started on `root`'s registry; runs once `host` is paused.
fn running_load(root: &Path, host: &SimHost) -> Running {
    let mut command = ktrdr(root);
    command.args(LOAD).args(host.source()).arg("--json");
    Running::spawn(command)
}

#[tokio::test]
async fn list_show_and_wait_here_and_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let host = SimHost::start(&[]);
    let done = ktrdr(root)
        .args(LOAD)
        .args(host.source())
        .args(["--json", "-q"])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done.stderr));
    let completed = json_of(&done)["id"].as_str().unwrap().to_owned();
    let broken = [
        "--source",
        "host",
        "--host-url",
        "http://127.0.0.1:9",
        "--json",
        "-q",
    ];
    let failed_load = ktrdr(root).args(LOAD).args(broken).output().unwrap();
    assert_eq!(failed_load.status.code(), Some(1));
    let failed = json_of(&failed_load)["id"].as_str().unwrap().to_owned();

    // Here: the registry in $KTRDR_HOME.
    let list = json_of(
        &ktrdr(root)
            .args(["ops", "list", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(list["total_count"], 2);
    assert_eq!(
        list["data"][0]["operation_id"],
        failed.as_str(),
        "newest first"
    );
    assert_eq!(list["data"][1]["status"], "completed");
    let table = ktrdr(root).args(["ops", "list"]).output().unwrap();
    let table = text(&table.stdout);
    assert!(
        table.contains(&format!("{completed}  completed  100.0%")),
        "{table}"
    );
    assert!(table.contains(&format!("{failed}  failed ")), "{table}");
    assert!(
        !table.contains('\u{1b}'),
        "no colour off a terminal: {table:?}"
    );
    let only_failed = ktrdr(root)
        .args(["ops", "list", "--status", "failed", "--json"])
        .output()
        .unwrap();
    let only_failed = json_of(&only_failed);
    assert_eq!(only_failed["total_count"], 1);
    let shown = ktrdr(root)
        .args(["ops", "show", &completed])
        .output()
        .unwrap();
    let shown = text(&shown.stdout);
    assert!(shown.contains("status       completed\n"), "{shown}");
    assert!(shown.contains("request      AAPL 1h full\n"), "{shown}");
    let code = |args: &[&str]| ktrdr(root).args(args).output().unwrap().status.code();
    assert_eq!(code(&["ops", "wait", &completed]), Some(0));
    assert_eq!(code(&["ops", "wait", &failed]), Some(1));
    let unknown = ktrdr(root)
        .args(["ops", "show", "op_nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no operation op_nope"));
    assert_eq!(
        code(&["ops", "retry", &failed]),
        Some(2),
        "retry needs a server"
    );

    // Through a server on the same registry: the same answers.
    let server = Server::start(root, &[], &[]);
    let remote = |args: &[&str]| {
        let mut command = ktrdr(root);
        command.args(["ops", "--server", &server.base]).args(args);
        command.output().unwrap()
    };
    let remote_list = json_of(&remote(&["list", "--json"]));
    assert_eq!(remote_list["data"], list["data"]);
    let remote_failed = json_of(&remote(&["show", &failed, "--json"]));
    assert_eq!(remote_failed["status"], "failed");
    assert_eq!(remote(&["wait", &completed]).status.code(), Some(0));
    let by_env = ktrdr(root)
        .env("KTRDR_API_URL", &server.base)
        .args(["ops", "wait", &failed])
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(1));
    let unknown = remote(&["show", "op_nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    let error = text(&unknown.stderr);
    assert!(
        error.contains("no operation op_nope (HTTP 404, OPERATIONS-NotFound)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_cancel_from_ops_cancel_reaches_a_cli_load_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let host = SimHost::start(&[]);
    host.pause();
    let load = running_load(root, &host);
    let cancel = ktrdr(root)
        .args(["ops", "cancel", &load.id])
        .output()
        .unwrap();
    assert!(cancel.status.success(), "{}", text(&cancel.stderr));
    assert_eq!(
        text(&cancel.stdout),
        format!("{}: cancelling (cancelled by the user)\n", load.id)
    );
    // The load stops although the host it waits for is still frozen.
    let id = load.id.clone();
    let (status, stdout, stderr) = load.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome["status"], "cancelled");
    let waited = ktrdr(root)
        .args(["ops", "wait", &id, "--json"])
        .output()
        .unwrap();
    assert_eq!(waited.status.code(), Some(130));
    assert_eq!(json_of(&waited)["cancel_reason"], "cancelled by the user");
    let again = ktrdr(root).args(["ops", "cancel", &id]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already ended"),
        "{}",
        text(&again.stderr)
    );
}

#[tokio::test]
async fn watch_reattaches_to_a_running_load_here_and_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let server = Server::start(root, &[], &[]);
    let host = SimHost::start(&[]);
    host.pause();
    let load = running_load(root, &host);
    let watch = |server: Option<&str>| {
        let mut command = ktrdr(root);
        command.arg("ops");
        if let Some(url) = server {
            command.args(["--server", url]);
        }
        command.args(["watch", &load.id]);
        // Attached (it printed the running operation) before the load may go on.
        Running::spawn_until(command, "Watching ")
    };
    // The host is frozen, so neither wait can see the end: both give up (124).
    for server in [None, Some(server.base.as_str())] {
        let mut wait = ktrdr(root);
        wait.arg("ops");
        if let Some(url) = server {
            wait.args(["--server", url]);
        }
        let out = wait
            .args(["wait", &load.id, "--timeout", "0.3"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("still running"),
            "{}",
            text(&out.stderr)
        );
    }
    let watchers = [watch(None), watch(Some(&server.base))];
    host.resume();
    for watcher in watchers {
        let (status, stdout, stderr) = watcher.finish();
        assert!(status.success(), "{stderr}");
        assert!(
            stdout.starts_with(&format!("{}: completed\n", load.id)),
            "{stdout}"
        );
        let first = format!("Watching {} (data_load AAPL 1h full)", load.id);
        assert!(stderr.starts_with(&first), "{stderr}");
    }
    let (status, _, _) = load.finish();
    assert!(status.success());
}

#[tokio::test]
async fn a_load_runs_in_the_server_ctrl_c_cancels_it_there_and_ops_cancels_and_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let host = SimHost::start(&[]);
    let server = Server::start(root, &host.source(), &[]);
    let remote_load = |symbol: &str, extra: &[&str]| {
        let mut command = ktrdr(&dir.path().join("client"));
        command
            .args(load_of(symbol))
            .args(["--server", &server.base, "--json"])
            .args(extra);
        command
    };
    let out = remote_load("AAPL", &["-q"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let done = json_of(&out);
    assert_eq!(done["status"], "completed");
    assert!(
        done["result_summary"]["bars_saved"].as_u64().unwrap() > 0,
        "{done}"
    );
    assert!(
        server.data.join("AAPL_1h.csv").is_file(),
        "stored by the server"
    );
    assert!(
        !dir.path().join("client/data").exists(),
        "not by the client"
    );

    host.pause();
    let load = Running::spawn(remote_load("MSFT", &[]));
    signal(load.child.id(), "INT");
    let id = load.id.clone();
    let (status, stdout, stderr) = load.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let ended: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ended["status"], "cancelled", "{stderr}");
    assert!(stderr.contains("cancelling in the server"), "{stderr}");
    let record = server.operation(&id).await;
    assert_eq!(record["status"], "cancelled");
    assert_eq!(record["cancel_reason"], "cancelled by the user");

    // `ktrdr ops cancel --wait` through the server: back once the load has stopped.
    let load = Running::spawn(remote_load("IBM", &[]));
    let cancel = ktrdr(root)
        .args([
            "ops",
            "--server",
            &server.base,
            "cancel",
            &load.id,
            "--wait",
        ])
        .args(["--reason", "enough"])
        .output()
        .unwrap();
    assert_eq!(cancel.status.code(), Some(130), "{}", text(&cancel.stderr));
    let said = text(&cancel.stdout);
    let expected = format!("{}: cancelled (cancelled remotely: enough)\n", load.id);
    assert!(said.starts_with(&expected), "{said}");
    let load_id = load.id.clone();
    let (status, stdout, _) = load.finish();
    assert_eq!(status.code(), Some(130));
    let ended: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ended["cancel_reason"], "cancelled remotely: enough");

    // And `ktrdr ops retry` runs it again in the server, as a new operation.
    let remote = |args: &[&str]| {
        let mut command = ktrdr(root);
        command.args(["ops", "--server", &server.base]).args(args);
        command.output().unwrap()
    };
    let retried = json_of(&remote(&["retry", &load_id, "--json"]));
    let again = retried["operation_id"].as_str().unwrap();
    assert_ne!(again, load_id);
    assert_eq!(retried["metadata"]["symbol"], "IBM");
    host.resume();
    assert_eq!(remote(&["wait", again]).status.code(), Some(0));
}
