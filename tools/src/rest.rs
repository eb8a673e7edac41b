//! A REST client for ChainCore nodes: one [`NodeClient`] per node URL, typed answers for
//! what the tools read, and errors that say whether the node was unreachable, refused the
//! request (with its machine code), or answered something unexpected.
//!
//! It parses answers; it never decides anything about the chain.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use chaincore::api_types::mining::{SubmitResult, TemplateView};
pub use chaincore::api_types::node::StatusView;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take (a node that is down fails fast).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a call to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{0:?} is not a node URL: expected http://host:port")]
    BadUrl(String),
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the node at {url} refused {path} ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Refused {
        url: String,
        path: String,
        status: u16,
        /// The API's machine code (`code` or `reason`), when it gave one.
        code: Option<String>,
        message: String,
    },
    #[error("the node at {url} sent an unexpected answer to {path}: {reason}")]
    BadAnswer {
        url: String,
        path: String,
        reason: String,
    },
}

impl RestError {
    /// Whether trying another node (or later) might help.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RestError::Unreachable { .. })
    }

    /// The API's machine code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            RestError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// A client for one node.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: String,
    http: reqwest::Client,
}

impl NodeClient {
    /// A client for the node at `url` (`http://host:port`; a bare `host:port` gets `http://`).
    pub fn new(url: &str) -> Result<Self, RestError> {
        let url = url.trim().trim_end_matches('/');
        let base = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let valid = (base.starts_with("http://") || base.starts_with("https://"))
            && reqwest::Url::parse(&base).is_ok_and(|u| u.host().is_some());
        if !valid {
            return Err(RestError::BadUrl(url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| RestError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self { base, http })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The underlying HTTP client (for streams such as `/events`).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        self.send(path, self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, RestError> {
        self.send(
            path,
            self.http.post(format!("{}{path}", self.base)).json(body),
        )
        .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RestError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(self.refused(path, status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| RestError::BadAnswer {
            url: self.base.clone(),
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> RestError {
        // reqwest's Display stops at "error sending request"; the cause says why.
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason = format!("{reason}: {cause}");
            source = cause.source();
        }
        RestError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    fn refused(&self, path: &str, status: u16, body: &[u8]) -> RestError {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let code = json["code"]
            .as_str()
            .or(json["reason"].as_str())
            .map(str::to_owned);
        let message = json["error"].as_str().map_or_else(
            || String::from_utf8_lossy(body).chars().take(200).collect(),
            str::to_owned,
        );
        RestError::Refused {
            url: self.base.clone(),
            path: path.to_owned(),
            status,
            code,
            message,
        }
    }

    pub async fn status(&self) -> Result<StatusView, RestError> {
        self.get("/status").await
    }

    pub async fn tip_hash(&self) -> Result<String, RestError> {
        let status = self.status().await?;
        Ok(status.best_block_hash)
    }
}
