//! A node's `/events` stream, read as (event type, JSON data) pairs.

use futures::StreamExt;
use serde_json::Value;

use crate::client::Client;

/// Server-sent events from one node.
pub struct Events {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    last_id: Option<u64>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl Events {
    /// Subscribes to `/events`; `None` if the node does not answer 200.
    pub async fn open(client: &Client) -> Option<Events> {
        Self::request(client, None).await
    }

    /// Subscribes again after `last_id`, as a browser's `EventSource` does when its
    /// connection dropped (`Last-Event-ID`).
    pub async fn resume(client: &Client, last_id: u64) -> Option<Events> {
        Self::request(client, Some(last_id)).await
    }

    async fn request(client: &Client, last_id: Option<u64>) -> Option<Events> {
        let mut request = client.http().get(client.url("/events"));
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.ok()?;
        (response.status() == 200).then(|| Events {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
            last_id,
        })
    }

    /// The id of the last event read that had one.
    pub fn last_id(&self) -> Option<u64> {
        self.last_id
    }

    /// The next event with both a type and data (data that is not JSON comes as a
    /// string); `None` when the stream ends.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|s| s.trim().to_owned())
                };
                if let Some(id) = field("id:").and_then(|id| id.parse().ok()) {
                    self.last_id = Some(id);
                }
                if let (Some(kind), Some(data)) = (field("event:"), field("data:")) {
                    let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                    return Some((kind, data));
                }
            }
            let chunk = self.stream.next().await?.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
