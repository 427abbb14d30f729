//! Extractors whose rejections answer in the API's error shape (axum's own answer in plain
//! text), naming the parameter or field serde could not read.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::error::ApiError;

/// A JSON body; a malformed one is answered 400 (syntax) or 422 (a field), in the error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "REQUEST-InvalidBody",
                rejection.body_text(),
            )),
        }
    }
}

/// Query parameters; one that cannot be read is answered 422 in the error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "REQUEST-InvalidQuery",
                rejection.body_text(),
            )),
        }
    }
}

/// A JSON body that may be left out: an empty body reads as `T::default()` (the Python
/// clients send `DELETE` with or without one); otherwise as [`ApiJson`], except that the
/// content type is not required, since an optional body is often sent bare. Malformed JSON is
/// answered 400, a field of the wrong type or value 422, both in the error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    rejection.status(),
                    "REQUEST-InvalidBody",
                    rejection.body_text(),
                )
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|error| {
                let status = match error.classify() {
                    Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                    Category::Io | Category::Syntax | Category::Eof => StatusCode::BAD_REQUEST,
                };
                ApiError::new(
                    status,
                    "REQUEST-InvalidBody",
                    format!("the JSON body cannot be read: {error}"),
                )
            })
    }
}
