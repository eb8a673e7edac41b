//! A small REST client for tests: JSON in and out, the status code kept for assertions.
//! Every answer is held to the node's own OpenAPI document ([`crate::contract`]): an answer
//! the document does not allow fails the test that received it.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::OnceCell;

use crate::contract::Contract;

/// A response: status code and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The body, after asserting the status was 200.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {}: {}",
            self.status, self.text
        );
        self.body
    }
}

/// A client of one node.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// The node's document, fetched on the first answer to check.
    contract: Arc<OnceCell<Option<Arc<Contract>>>>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            contract: Arc::new(OnceCell::new()),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Reads an answer to `method path` and holds it to the node's document.
    async fn reply(&self, method: &str, path: &str, response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let contract = self
            .contract
            .get_or_init(|| Contract::of_node(&self.http, &self.base))
            .await;
        if let Some(contract) = contract
            && let Err(broken) =
                contract.check(method, path, status, content_type.as_deref(), &text)
        {
            panic!("the node broke its API document: {broken}");
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        self.reply("get", path, response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        let request = self.http.post(self.url(path)).json(body);
        self.reply("post", path, request.send().await.expect("POST"))
            .await
    }

    /// A POST with a raw body and content type (for malformed-input tests).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        self.reply("post", path, request.send().await.expect("POST"))
            .await
    }

    pub async fn status(&self) -> Value {
        self.get("/status").await.ok()
    }

    pub async fn height(&self) -> u64 {
        self.status().await["height"].as_u64().expect("a height")
    }

    pub async fn tip_hash(&self) -> String {
        self.status().await["best_block_hash"]
            .as_str()
            .expect("a hash")
            .to_owned()
    }

    /// The sum of a metric's series in `/metrics` whose labels contain `labels` (`""` for
    /// every series), e.g. `metric("chaincore_peer_penalties_total", "offence=\"stalling\"")`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self.get("/metrics").await.text;
        text.lines()
            .filter(|l| {
                let rest = l.strip_prefix(name).unwrap_or("");
                (rest.starts_with(' ') || rest.starts_with('{')) && rest.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
