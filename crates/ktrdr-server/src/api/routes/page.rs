//! The web page at `/`: plain HTML, CSS and JavaScript modules embedded in the binary (no
//! network, no build step), which call `/api/v1` like any client. Served without a token (it
//! holds no data); the page asks for the token when the API answers 401.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The page's files, under `/assets/` (`index.html` is `/`).
const ASSETS: [Asset; 8] = [
    asset(
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../web/index.html"),
    ),
    asset(
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/app.css"),
    ),
    asset("app.js", JS, include_str!("../../../web/app.js")),
    asset("api.js", JS, include_str!("../../../web/api.js")),
    asset("format.js", JS, include_str!("../../../web/format.js")),
    asset(
        "operations.js",
        JS,
        include_str!("../../../web/operations.js"),
    ),
    asset("chart.js", JS, include_str!("../../../web/chart.js")),
    asset("training.js", JS, include_str!("../../../web/training.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

const fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        name,
        content_type,
        body,
    }
}

/// Only this origin's files and API; no inline script (the page has none), so an injected
/// `<script>` does not run.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    serve(&ASSETS[0])
}

/// `GET /assets/{name}`: one of the page's files; 404 for any other name.
pub(crate) async fn asset_route(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .map(serve)
        .ok_or_else(|| ApiError::not_found("PAGE-NotFound", format!("no asset {name}")))
}

fn serve(asset: &Asset) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The files change with the binary: revalidate rather than cache a stale page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let index = ASSETS[0].body;
        for asset in &ASSETS[1..] {
            let is_module_import = ASSETS
                .iter()
                .any(|other| other.body.contains(&format!("./{}", asset.name)));
            assert!(
                index.contains(&format!("/assets/{}", asset.name)) || is_module_import,
                "{} is embedded but nothing loads it",
                asset.name
            );
        }
        // And every file the page loads from /assets/ or imports is one of them.
        for body in ASSETS.iter().map(|a| a.body) {
            for name in body
                .split(['"', '\''])
                .filter_map(|s| s.strip_prefix("/assets/").or(s.strip_prefix("./")))
            {
                assert!(
                    ASSETS.iter().any(|asset| asset.name == name),
                    "{name} is loaded but not embedded"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_page_and_its_files_are_served_with_their_types_and_policy() {
        let page = index().await;
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let js = asset_route(Path("chart.js".into())).await.unwrap();
        assert_eq!(js.headers()[header::CONTENT_TYPE], JS);
        let missing = asset_route(Path("../Cargo.toml".into())).await.unwrap_err();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }
}
