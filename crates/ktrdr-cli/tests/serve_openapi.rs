//! The OpenAPI document `ktrdr serve` serves is the checked-in `docs/openapi.json`: a change of
//! the API's routes or shapes shows in review. Regenerate after a deliberate change with
//! `KTRDR_UPDATE_OPENAPI=1 cargo test -p ktrdr-cli --test serve_openapi`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use support::Server;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[tokio::test]
async fn the_served_document_is_the_checked_in_copy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let served: serde_json::Value = reqwest::get(server.api("/openapi.json"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let served_text = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("KTRDR_UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, &served_text).unwrap();
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN)
        .expect("docs/openapi.json exists (KTRDR_UPDATE_OPENAPI=1 writes it)");
    assert!(
        served_text == checked_in,
        "the served OpenAPI document differs from docs/openapi.json; if the API change is \
         deliberate, run KTRDR_UPDATE_OPENAPI=1 cargo test -p ktrdr-cli --test serve_openapi \
         and commit the file"
    );
    for path in [
        "/api/v1/operations",
        "/api/v1/operations/{id}",
        "/api/v1/operations/{id}/status",
        "/api/v1/operations/{id}/cancel",
        "/api/v1/operations/{id}/retry",
        "/health",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }
}
