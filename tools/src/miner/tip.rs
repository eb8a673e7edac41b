//! Watching a node's tip, so that a template is dropped the moment it goes stale: the node's
//! `/events` stream says when a block connects, and a poll of `/blocks/tip/hash` covers the
//! times the stream is down. Both feed one watch channel with the latest tip hash.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::rest::NodeClient;

/// How long to wait before reconnecting a broken event stream.
const RECONNECT: Duration = Duration::from_millis(500);
/// The event stream is long-lived: it must outlast the client's per-request timeout.
const STREAM_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A running watch of one node's tip; stops when dropped.
#[derive(Debug)]
pub struct TipWatch {
    pub tip: watch::Receiver<Option<String>>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for TipWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl TipWatch {
    /// Watches `node`, polling every `poll` besides listening to its events.
    pub fn start(node: NodeClient, poll: Duration) -> Self {
        let (sender, tip) = watch::channel(None);
        let stream = tokio::spawn(follow_events(node.clone(), sender.clone()));
        let poller = tokio::spawn(poll_tip(node, sender, poll));
        Self {
            tip,
            tasks: [stream, poller],
        }
    }
}

fn publish(sender: &watch::Sender<Option<String>>, hash: String) {
    sender.send_if_modified(|tip| {
        let changed = tip.as_deref() != Some(hash.as_str());
        *tip = Some(hash);
        changed
    });
}

async fn poll_tip(node: NodeClient, sender: watch::Sender<Option<String>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Ok(status) = node.status().await {
            // Always wake the miner: a poll is fresh, so the miner compares it with its
            // template even when the value did not change since it last looked.
            sender.send_replace(Some(status.best_block_hash));
        }
    }
}

async fn follow_events(node: NodeClient, sender: watch::Sender<Option<String>>) {
    loop {
        if let Ok(response) = node
            .http()
            .get(format!("{}/events", node.url()))
            .timeout(STREAM_TIMEOUT)
            .send()
            .await
        {
            let mut stream = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    if let Some(hash) = connected_block(&event) {
                        publish(&sender, hash);
                    }
                }
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// The hash of a `block_connected` event (the newest is the tip, even through a reorg).
fn connected_block(event: &str) -> Option<String> {
    if !event
        .lines()
        .any(|l| l.trim_end() == "event: block_connected")
    {
        return None;
    }
    let data = event.lines().find_map(|l| l.strip_prefix("data:"))?;
    let value: serde_json::Value = serde_json::from_str(data.trim()).ok()?;
    value["hash"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_block_connected_events_name_a_tip() {
        let event = "event: block_connected\ndata: {\"hash\":\"ab\",\"height\":3}\n\n";
        assert_eq!(connected_block(event), Some("ab".into()));
        assert_eq!(
            connected_block("event: tx_accepted\ndata: {\"hash\":\"ab\"}\n\n"),
            None
        );
        assert_eq!(connected_block(": keep-alive\n\n"), None);
        assert_eq!(
            connected_block("event: block_connected\ndata: not json\n\n"),
            None
        );
    }
}
