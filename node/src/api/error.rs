//! API errors: every failure maps, in this one place, to a status code and a JSON body.
//!
//! Malformed input is 400 `{"status":"error","error":..., "code":...}`; a transaction or
//! block that breaks a rule is 422 `{"status":"rejected","reason":<rule code>,"error":...}`.
//! Client input never produces a 5xx; only the node's own storage failing, or a peer route
//! on a node without its network, does (503).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::chainstate::ChainError;
use crate::ledger::TxSubmitError;
use crate::storage::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Rejected {
        reason: &'static str,
        message: String,
    },
    #[error("this route is for the node's administrators")]
    Forbidden,
    #[error("dev-chain controls are refused on the main network")]
    MainNetwork,
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("request body over the 2 MiB limit")]
    PayloadTooLarge,
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("too many requests: slow down")]
    RateLimited,
    #[error("the node's storage failed: {0}")]
    Unavailable(String),
    #[error("the peer-to-peer network is not running")]
    NetworkUnavailable,
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::Rejected { reason, .. } => (StatusCode::UNPROCESSABLE_ENTITY, reason),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::MainNetwork => (StatusCode::FORBIDDEN, "main-network"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
            }
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage-unavailable"),
            ApiError::NetworkUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "network-unavailable")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = match &self {
            ApiError::Rejected { .. } => {
                json!({"status": "rejected", "reason": code, "error": self.to_string()})
            }
            _ => json!({"status": "error", "error": self.to_string(), "code": code}),
        };
        if let ApiError::Unavailable(detail) = &self {
            tracing::error!(%detail, "request failed on storage");
        }
        let mut response = (status, Json(body)).into_response();
        if let ApiError::PayloadTooLarge = self {
            // The rest of an oversized body is not read, so the connection cannot carry
            // another request; say so (RFC 9112 §9.6) rather than let a pooled client find out.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}

impl From<ChainError> for ApiError {
    fn from(error: ChainError) -> Self {
        match error.reason() {
            Some(reason) => ApiError::Rejected {
                reason,
                message: error.to_string(),
            },
            None => ApiError::Unavailable(error.to_string()),
        }
    }
}

impl From<TxSubmitError> for ApiError {
    fn from(error: TxSubmitError) -> Self {
        match error {
            TxSubmitError::Rejected(e) => ApiError::Rejected {
                reason: e.code(),
                message: e.to_string(),
            },
            TxSubmitError::Store(e) => e.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
