//! The OpenAPI document of `/api/v1`, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types, served at `/api/v1/openapi.json`.
//!
//! Every route is listed in [`ApiDoc`]'s `paths`; a black-box test compares the served document
//! with the checked-in `docs/openapi.json`, so a change of the API shows in review. After a
//! deliberate change, regenerate the copy with
//! `KTRDR_UPDATE_OPENAPI=1 cargo test -p ktrdr-cli --test serve_openapi`.

use axum::Json;
use utoipa::OpenApi;

use super::metrics::scrape;
use super::routes::data::{bars, candles, catalog, gaps, load};
use super::routes::{cancel, events, feed, gap_filler, health, operations, retry, trainings, wait};

/// The document: every path and the schemas they use.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "ktrdr API",
        description = "Operations and market data of ktrdr, compatible with the Python ktrdr \
                       backend's /api/v1. Failures answer {success: false, error: {code, \
                       message, details}} with a real HTTP status."
    ),
    paths(
        health::health,
        scrape::serve_metrics,
        operations::list,
        operations::get,
        operations::status,
        cancel::cancel,
        cancel::cancel_alias,
        retry::retry,
        events::events,
        feed::feed,
        wait::wait,
        catalog::symbols,
        catalog::timeframes,
        catalog::info,
        bars::bars,
        bars::range,
        gaps::gaps,
        candles::candles_route,
        load::load,
        gap_filler::status,
        gap_filler::start,
        gap_filler::stop,
        trainings::start,
        trainings::performance,
        trainings::history,
        trainings::models,
        serve_document
    ),
    tags(
        (name = "operations", description = "Long jobs of every process sharing the registry"),
        (name = "data", description = "The local bar store and loads into it"),
        (name = "gap-filler", description = "The service that fills recent missing bars"),
        (name = "training", description = "Trainings from strategy files, and the stored models"),
        (name = "service", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The document as the server serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "service",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub(crate) async fn serve_document() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
