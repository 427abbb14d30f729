//! The API under load: a `ktrdr serve --source sim` child process running 200 simulated loads
//! while 20 clients poll it and 50 clients watch event streams, then a cancel of 50 of them,
//! then the same reads on an idle server with the 200 stored. Prints a Markdown table for
//! docs/PERFORMANCE.md (the peers' figures are the Python backend's, in ../shared/PEERS.md).
//!
//! ```text
//! cargo build --release -p ktrdr-cli
//! cargo run --release -p ktrdr-server --example api_load -- target/release/ktrdr
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: a panic is the failure report"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ktrdr_server::api::wire::OperationQuery;
use ktrdr_server::client::ApiClient;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

const LOADS: usize = 200;
const POLLERS: usize = 20;
const WATCHERS: usize = 50;
const CANCELS: usize = 50;
const UNDER_LOAD: Duration = Duration::from_secs(20);
const IDLE_REQUESTS: usize = 2000;

/// Latencies of one kind of request.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn row(&mut self, what: &str, wall: Option<Duration>) -> String {
        self.0.sort_unstable();
        let at = |q: f64| {
            let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
            self.0.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        let rate = wall.map_or_else(String::new, |w| {
            format!("{:.0}/s", self.0.len() as f64 / w.as_secs_f64())
        });
        format!(
            "| {what} | {} | {:.2} | {:.2} | {:.2} | {rate} |",
            self.0.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(ktrdr: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(ktrdr)
            .args(["serve", "--bind", "127.0.0.1:0", "--source", "sim"])
            .env("KTRDR_HOME", dir.path().join("home"))
            .env("KTRDR_DATA_DIR", dir.path().join("data"))
            .env_remove("KTRDR_API_TOKEN")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the ktrdr binary runs (build it with cargo build --release -p ktrdr-cli)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("the first line names the URL")
            .to_owned();
        Server {
            child,
            url,
            _dir: dir,
        }
    }

    /// Peak and current resident memory of the server, in MiB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        (kib("VmHWM:") / 1024.0, kib("VmRSS:") / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() {
    let ktrdr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/ktrdr".to_owned());
    let server = Server::start(&ktrdr);
    let client = ApiClient::new(&server.url, None).unwrap();
    let http = reqwest::Client::new();
    let mut rows = Vec::new();

    // 200 loads started in a row (the Python backend's figure is for local loads; ours fetch
    // from the simulated broker, which is more work per load).
    let mut posts = Samples::default();
    let mut ids = Vec::new();
    for i in 0..LOADS {
        let body = json!({
            "symbol": format!("L{i:03}"), "timeframe": "1d", "mode": "full",
            "start_date": "2023-01-01",
        });
        let started = Instant::now();
        let answer: serde_json::Value = http
            .post(format!("{}/data/load?async_mode=true", client.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        posts.0.push(started.elapsed());
        ids.push(answer["data"]["operation_id"].as_str().unwrap().to_owned());
    }
    rows.push(posts.row("`POST /data/load?async_mode=true`, 200 in a row", None));
    let ids = Arc::new(ids);

    // While they run: 50 watchers throughout; 20 clients reading one operation each, then 20
    // listing (separately, so that each figure is of its own request).
    let list = Arc::new(Mutex::new(Samples::default()));
    let get = Arc::new(Mutex::new(Samples::default()));
    let lag = Arc::new(Mutex::new(Samples::default()));
    let half = Instant::now() + UNDER_LOAD / 2;
    let deadline = Instant::now() + UNDER_LOAD;
    let mut tasks = Vec::new();
    for p in 0..POLLERS {
        let (client, ids, list, get) = (client.clone(), ids.clone(), list.clone(), get.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = p;
            while Instant::now() < half {
                let t = Instant::now();
                client.operation(&ids[n % ids.len()]).await.unwrap();
                get.lock().await.0.push(t.elapsed());
                n += 7;
            }
            let query = OperationQuery {
                limit: Some(100),
                ..OperationQuery::default()
            };
            while Instant::now() < deadline {
                let t = Instant::now();
                client.operations(&query).await.unwrap();
                list.lock().await.0.push(t.elapsed());
            }
        }));
    }
    for w in 0..WATCHERS {
        let (client, ids, lag) = (client.clone(), ids.clone(), lag.clone());
        tasks.push(tokio::spawn(async move {
            let mut events = client.events(&ids[(w * 3) % ids.len()]).await.unwrap();
            let mut first = true;
            while Instant::now() < deadline {
                let Ok(Some(Ok(event))) = tokio::time::timeout_at(deadline, events.next()).await
                else {
                    break;
                };
                // The first event is the state as it was: its age says nothing of the stream.
                if !std::mem::take(&mut first) {
                    if let Some(as_of) = event.operation.progress.as_of {
                        let age = chrono::Utc::now() - as_of;
                        lag.lock()
                            .await
                            .0
                            .push(age.to_std().unwrap_or(Duration::ZERO));
                    }
                }
                if event.kind.is_terminal() {
                    break;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (peak_loaded, _) = server.memory();
    rows.push(list.lock().await.row(
        "`GET /operations?limit=100`, 20 clients, while the 200 loads run",
        Some(UNDER_LOAD / 2),
    ));
    rows.push(get.lock().await.row(
        "`GET /operations/{id}`, 20 clients, while the 200 loads run",
        Some(UNDER_LOAD / 2),
    ));
    rows.push(
        lag.lock()
            .await
            .row("progress change → SSE event received, 50 watchers", None),
    );

    // Cancel 50 that still run; the latency is from sending DELETE to seeing `cancelled`.
    let mut running = Vec::new();
    for id in ids.iter() {
        if client.operation(id).await.unwrap().status.is_active() {
            running.push(id.clone());
        }
    }
    let mut cancels = Samples::default();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut joins = Vec::new();
    for id in running.into_iter().take(CANCELS) {
        let (client, http) = (client.clone(), http.clone());
        joins.push(tokio::spawn(async move {
            let started = Instant::now();
            http.delete(format!("{}/operations/{id}", client.base_url()))
                .json(&json!({"reason": "bench"}))
                .send()
                .await
                .unwrap();
            let answer = client.wait(&id, Duration::from_secs(30)).await.unwrap();
            (started.elapsed(), answer.data.status.to_string())
        }));
    }
    for join in joins {
        let (took, status) = join.await.unwrap();
        cancels.0.push(took);
        *outcomes.entry(status).or_default() += 1;
    }
    rows.push(cancels.row(
        &format!("`DELETE /operations/{{id}}` → `cancelled` seen ({outcomes:?})"),
        None,
    ));

    // The rest finish (or are cancelled), then the same reads on an idle server.
    for id in ids.iter() {
        let _ = http
            .delete(format!("{}/operations/{id}", client.base_url()))
            .send()
            .await;
        client.wait(id, Duration::from_secs(60)).await.unwrap();
    }
    for clients in [1, POLLERS] {
        for (what, by_id) in [
            ("`GET /operations?limit=100`", false),
            ("`GET /operations/{id}`", true),
        ] {
            let samples = Arc::new(Mutex::new(Samples::default()));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..clients {
                let (client, ids, samples) = (client.clone(), ids.clone(), samples.clone());
                tasks.push(tokio::spawn(async move {
                    let query = OperationQuery {
                        limit: Some(100),
                        ..OperationQuery::default()
                    };
                    for n in (c..IDLE_REQUESTS).step_by(clients) {
                        let t = Instant::now();
                        if by_id {
                            client.operation(&ids[n % ids.len()]).await.unwrap();
                        } else {
                            client.operations(&query).await.unwrap();
                        }
                        samples.lock().await.0.push(t.elapsed());
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let wall = started.elapsed();
            rows.push(samples.lock().await.row(
                &format!("{what}, {clients} client(s), 200 stored, idle"),
                Some(wall),
            ));
        }
    }
    // How long the registry's writes took, from the server's own histogram: a slow write is
    // the first suspect for a slow cancel.
    let metrics = http
        .get(format!(
            "{}/metrics",
            server.url.trim_end_matches("/api/v1")
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let slow_writes: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("ktrdr_registry_write_duration_seconds_"))
        .filter(|l| {
            l.contains("_count")
                || ["0.01024", "0.08192", "0.32768", "+Inf"]
                    .iter()
                    .any(|le| l.contains(&format!("le=\"{le}\"")))
        })
        .collect();
    let (peak, now) = server.memory();
    println!("| what | n | p50 ms | p99 ms | max ms | rate |\n|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!(
        "\nRegistry writes by this server:\n{}",
        slow_writes.join("\n")
    );
    println!(
        "\nServer peak RSS {peak:.1} MiB (while loaded: {peak_loaded:.1} MiB), {now:.1} MiB at the end."
    );
}
