//! Request extractors whose failures are [`ApiError`]s (JSON, with a code) instead of axum's
//! plain-text rejections, and parsers for path parameters.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::primitives::{Address, Amount, BlockHash, Height, Txid};

/// A JSON body (Content-Type must be JSON; the body is size-limited by the router).
#[derive(Debug)]
pub(super) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::BytesRejection(rejection)) if rejection.status() == 413 => {
                Err(ApiError::PayloadTooLarge)
            }
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad("invalid-json", e.body_text()))
            }
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad("invalid-field", e.body_text()))
            }
            Err(other) => Err(ApiError::bad("invalid-body", other.body_text())),
        }
    }
}

/// Query parameters.
#[derive(Debug)]
pub(super) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad("invalid-parameter", e.body_text()))
    }
}

pub(super) fn parse_address(text: &str) -> Result<Address, ApiError> {
    text.parse().map_err(|e| {
        ApiError::bad(
            "invalid-address",
            format!("{text:?} is not an address: {e}"),
        )
    })
}

pub(super) fn parse_block_hash(text: &str) -> Result<BlockHash, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad(
            "invalid-hash",
            format!("{text:?} is not a block hash (64 hex digits)"),
        )
    })
}

pub(super) fn parse_txid(text: &str) -> Result<Txid, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad(
            "invalid-hash",
            format!("{text:?} is not a txid (64 hex digits)"),
        )
    })
}

pub(super) fn parse_height(text: &str) -> Result<Height, ApiError> {
    text.parse::<u32>()
        .map(Height::new)
        .map_err(|_| ApiError::bad("invalid-height", format!("{text:?} is not a block height")))
}

pub(super) fn parse_coins(text: &str) -> Result<Amount, ApiError> {
    text.parse()
        .map_err(|e| ApiError::bad("invalid-amount", format!("{text:?}: {e}")))
}

/// Caps a page size: `None` gives `default`, more than `max` is an error.
pub(super) fn page_size(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(0) => Err(ApiError::bad(
            "invalid-parameter",
            "limit must be at least 1",
        )),
        Some(n) if n > max => Err(ApiError::bad(
            "invalid-parameter",
            format!("limit must be at most {max}"),
        )),
        Some(n) => Ok(n),
    }
}
