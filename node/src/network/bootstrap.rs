//! Bootstrap by REST URL, as the Python nodes did: `GET <url>/getpeers` names the node's
//! peer id and the multiaddrs it listens on, which we then dial. `--bootstrap-nodes` also
//! takes multiaddrs, dialed directly.
//!
//! A bootstrap node may start after us, so each entry is retried with backoff for a while;
//! once connected, the peer is remembered and redialed like any other.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;

use super::error::{NetworkError, RestProblem};
use super::handle::NetworkHandle;
use super::target::PeerTarget;
use crate::tasks::Tasks;

/// How long one `/getpeers` call may take.
const REST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to keep trying a bootstrap entry at start.
const BOOTSTRAP_PATIENCE: Duration = Duration::from_secs(60);
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(4);
/// The largest `/getpeers` answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What a node's `/getpeers` says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestPeer {
    pub peer_id: PeerId,
    pub addrs: Vec<Multiaddr>,
}

#[derive(Deserialize)]
struct GetPeers {
    peer_id: String,
    listen_addrs: Vec<String>,
}

/// Asks the node at `url` who it is and where it listens.
pub async fn ask_rest(url: &str) -> Result<RestPeer, NetworkError> {
    let endpoint = format!("{}/getpeers", url.trim_end_matches('/'));
    let failed = |source| NetworkError::Rest {
        endpoint: endpoint.clone(),
        source,
    };
    let refused = |problem: RestProblem| NetworkError::BadRestAnswer {
        endpoint: endpoint.clone(),
        problem,
    };
    let client = reqwest::Client::builder()
        .timeout(REST_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(failed)?;
    let mut response = client.get(&endpoint).send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(refused(RestProblem::Status(response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(refused(RestProblem::TooLarge(MAX_ANSWER_BYTES)));
        }
    }
    parse_getpeers(&body).map_err(refused)
}

/// A `/getpeers` answer, or what is wrong with it.
fn parse_getpeers(body: &[u8]) -> Result<RestPeer, RestProblem> {
    let answer: GetPeers = serde_json::from_slice(body).map_err(RestProblem::NotGetpeers)?;
    let peer_id = answer
        .peer_id
        .parse()
        .map_err(|_| RestProblem::BadPeerId(answer.peer_id.clone()))?;
    let addrs: Vec<Multiaddr> = answer
        .listen_addrs
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    if addrs.is_empty() {
        return Err(RestProblem::NoAddress);
    }
    Ok(RestPeer { peer_id, addrs })
}

/// Connects to every bootstrap entry, each in its own task, retrying each for a while.
pub fn connect_all(handle: &NetworkHandle, entries: Vec<String>, tasks: &Tasks) {
    for entry in entries {
        let handle = handle.clone();
        tasks.spawn_cancellable(async move {
            match entry.parse::<PeerTarget>() {
                Ok(target) => connect_with_retries(&handle, target, &entry).await,
                Err(error) => tracing::error!(%error, "skipping a bootstrap entry"),
            }
        });
    }
}

async fn connect_with_retries(handle: &NetworkHandle, target: PeerTarget, entry: &str) {
    let deadline = tokio::time::Instant::now() + BOOTSTRAP_PATIENCE;
    let mut wait = FIRST_RETRY;
    loop {
        match handle.add_peer(target.clone()).await {
            Ok(peer) => {
                tracing::info!(%entry, %peer, "connected to bootstrap node");
                return;
            }
            Err(error) if tokio::time::Instant::now() + wait < deadline => {
                tracing::debug!(%entry, %error, "bootstrap node not reachable yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
            }
            Err(error) => {
                tracing::warn!(%entry, %error, "giving up on bootstrap node");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_getpeers_answer_names_a_peer_and_its_addresses() {
        let peer = PeerId::random();
        let body = format!(
            r#"{{"peer_id":"{peer}","listen_addrs":["/ip4/127.0.0.1/tcp/9","junk"],"rest_url":"x","peers":[]}}"#
        );
        let found = parse_getpeers(body.as_bytes()).unwrap();
        assert_eq!(found.peer_id, peer);
        assert_eq!(
            found.addrs,
            vec!["/ip4/127.0.0.1/tcp/9".parse::<Multiaddr>().unwrap()]
        );
        assert!(parse_getpeers(br#"{"peer_id":"nope","listen_addrs":[]}"#).is_err());
        let empty = format!(r#"{{"peer_id":"{peer}","listen_addrs":[]}}"#);
        assert!(matches!(
            parse_getpeers(empty.as_bytes()),
            Err(RestProblem::NoAddress)
        ));
        assert!(parse_getpeers(b"<html>").is_err());
    }
}
