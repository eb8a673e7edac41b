//! Answering peers' sync requests: status, headers by locator, blocks by hash.
//!
//! Each peer gets a quota: at most [`MAX_INBOUND_PER_PEER`] requests being answered at once
//! and a token bucket of [`REQUESTS_PER_SECOND`]. A peer past its quota is refused and
//! charged. Answers are computed in a task of their own (they read the chain) and handed back
//! to the event loop as a [`Command::Respond`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;

use super::handle::{Command, NetworkHandle};
use super::peers::Offence;
use super::protocol::{
    self, MAX_BLOCKS_PER_REQUEST, MAX_HEADERS, MAX_LOCATOR, Request, Response, Status,
};
use crate::node::Node;
use crate::primitives::BlockHash;
use crate::tasks::Tasks;

/// Blocks responses being built at once, across all peers (each holds up to
/// [`protocol::SOFT_RESPONSE_BYTES`] plus one block until it is sent).
const MAX_BLOCK_RESPONSES_BUILDING: usize = 2;
static BLOCK_SERVING: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_BLOCK_RESPONSES_BUILDING);

/// Requests of one peer being answered at once (a syncing peer keeps a status, a headers and
/// two blocks requests out).
pub(super) const MAX_INBOUND_PER_PEER: usize = 8;
/// Sustained requests a second per peer; a burst may reach twice as many.
pub(super) const REQUESTS_PER_SECOND: f64 = 50.0;

#[derive(Debug)]
struct Quota {
    in_flight: usize,
    tokens: f64,
    refilled: Instant,
}

/// Per-peer request quotas.
#[derive(Debug, Default)]
pub(super) struct Quotas {
    peers: HashMap<PeerId, Quota>,
}

impl Quotas {
    /// Takes a slot for a request from `peer`; `false` when the peer is over its quota.
    pub(super) fn admit(&mut self, peer: PeerId, now: Instant) -> bool {
        let burst = 2.0 * REQUESTS_PER_SECOND;
        let quota = self.peers.entry(peer).or_insert(Quota {
            in_flight: 0,
            tokens: burst,
            refilled: now,
        });
        quota.tokens = (quota.tokens
            + now.duration_since(quota.refilled).as_secs_f64() * REQUESTS_PER_SECOND)
            .min(burst);
        quota.refilled = now;
        if quota.in_flight >= MAX_INBOUND_PER_PEER || quota.tokens < 1.0 {
            return false;
        }
        quota.tokens -= 1.0;
        quota.in_flight += 1;
        true
    }

    /// A request of `peer` was answered.
    pub(super) fn finished(&mut self, peer: &PeerId) {
        if let Some(quota) = self.peers.get_mut(peer) {
            quota.in_flight = quota.in_flight.saturating_sub(1);
        }
    }

    /// Forgets a disconnected peer.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }
}

/// This node's status, as peers see it (read from the snapshot: no lock).
pub fn local_status(node: &Node) -> Status {
    let snapshot = node.snapshot();
    let info = node.info();
    Status {
        genesis: *info.network.params().genesis_hash().as_bytes(),
        tip: *snapshot.tip.hash.as_bytes(),
        height: snapshot.tip.height.get(),
        chain_work: snapshot.chain_work.to_be_bytes(),
        rest_url: Some(info.rest_url.clone()),
        node_id: info.node_id.clone(),
    }
}

/// Why a request is refused, and whether it is the peer's fault.
fn check(request: &Request) -> Result<(), &'static str> {
    match request {
        Request::Headers { locator } if locator.len() > MAX_LOCATOR => Err("locator too long"),
        Request::Blocks(hashes) if hashes.len() > MAX_BLOCKS_PER_REQUEST => {
            Err("too many blocks asked")
        }
        _ => Ok(()),
    }
}

/// Answers `request` in a task of its own and hands the answer to the event loop.
pub(super) fn answer(
    node: &Arc<Node>,
    handle: &NetworkHandle,
    tasks: &Tasks,
    peer: PeerId,
    request: Request,
    channel: libp2p::request_response::ResponseChannel<Response>,
) {
    let (node, handle) = (Arc::clone(node), handle.clone());
    tasks.spawn(async move {
        let response = match check(&request) {
            Ok(()) => respond(&node, request).await,
            Err(why) => {
                handle.penalize(peer, Offence::ProtocolViolation).await;
                Response::Refused(why.into())
            }
        };
        handle
            .send(Command::Respond {
                peer,
                channel,
                response,
            })
            .await;
    });
}

async fn respond(node: &Node, request: Request) -> Response {
    match request {
        Request::Status(_) => Response::Status(local_status(node)),
        Request::Headers { locator } => {
            let locator: Vec<BlockHash> = locator
                .into_iter()
                .map(BlockHash::from_byte_array)
                .collect();
            let headers = node.headers_after(&locator, MAX_HEADERS);
            Response::Headers(headers.iter().map(|h| h.to_bytes().to_vec()).collect())
        }
        Request::Blocks(hashes) => {
            let hashes: Vec<BlockHash> =
                hashes.into_iter().map(BlockHash::from_byte_array).collect();
            // One blocks response is built at a time across all peers: each holds up to the
            // soft limit in memory, and new peer ids cost an attacker nothing.
            let _slot = BLOCK_SERVING.acquire().await.expect("never closed");
            match node
                .encoded_blocks(&hashes, protocol::SOFT_RESPONSE_BYTES)
                .await
            {
                Ok(blocks) => Response::Blocks(blocks),
                Err(error) => {
                    tracing::warn!(%error, "could not read blocks for a peer");
                    Response::Refused("storage unavailable".into())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_past_its_quota_is_refused_until_it_slows_down() {
        let mut quotas = Quotas::default();
        let peer = PeerId::random();
        let now = Instant::now();
        let admitted = (0..MAX_INBOUND_PER_PEER + 3)
            .filter(|_| quotas.admit(peer, now))
            .count();
        assert_eq!(
            admitted, MAX_INBOUND_PER_PEER,
            "no more than the in-flight limit at once"
        );
        quotas.finished(&peer);
        assert!(quotas.admit(peer, now));
        for _ in 0..MAX_INBOUND_PER_PEER {
            quotas.finished(&peer);
        }
        let burst = (0..1000)
            .filter(|_| {
                quotas.admit(peer, now) && {
                    quotas.finished(&peer);
                    true
                }
            })
            .count();
        assert!(
            (burst as f64) < 2.0 * REQUESTS_PER_SECOND,
            "the bucket runs dry: {burst}"
        );
        let later = now + std::time::Duration::from_secs(1);
        assert!(quotas.admit(peer, later), "and refills with time");
    }

    #[test]
    fn oversized_requests_are_refused() {
        assert!(
            check(&Request::Headers {
                locator: vec![[0; 32]; MAX_LOCATOR + 1]
            })
            .is_err()
        );
        assert!(check(&Request::Blocks(vec![[0; 32]; MAX_BLOCKS_PER_REQUEST + 1])).is_err());
        assert!(check(&Request::Blocks(vec![[0; 32]; MAX_BLOCKS_PER_REQUEST])).is_ok());
    }
}
