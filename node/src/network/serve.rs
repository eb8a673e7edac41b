//! Answering peers' sync requests: status, headers by locator, blocks by hash, and the
//! mempool (its txids, and transactions by txid).
//!
//! Each peer gets a quota: at most [`MAX_INBOUND_PER_PEER`] requests being answered at once
//! and a token bucket of [`REQUESTS_PER_SECOND`]. A peer past its quota is refused and
//! charged. A mempool listing is refused, without charge, to a peer that had one less than
//! [`MEMPOOL_LISTING_INTERVAL`] ago: it is the one answer whose cost grows with our pool.
//! Answers are computed in a task of their own (they read the chain) and handed back to the
//! event loop as a [`Command::Respond`]. Mempool answers read the readers' snapshot, never
//! the ledger's lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::handle::{Command, NetworkHandle};
use super::peers::Offence;
use super::protocol::{
    self, MAX_BLOCKS_PER_REQUEST, MAX_HEADERS, MAX_LOCATOR, MAX_MEMPOOL_TXIDS, MAX_TXS_PER_REQUEST,
    Request, Response, Status,
};
use crate::mempool::MempoolSnapshot;
use crate::node::Node;
use crate::primitives::{BlockHash, Txid, encode};
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
/// How often one peer may have our mempool's txids (our own pulls ask each peer at most
/// every [`crate::sync::mempool::PULL_INTERVAL`], or once more when it connects).
pub(super) const MEMPOOL_LISTING_INTERVAL: Duration = Duration::from_secs(5);

/// What the quotas say about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    Serve,
    /// Over the request quota: refused, and the peer is charged.
    OverQuota,
    /// A mempool listing asked again too soon: refused, without charge.
    TooSoon,
}

#[derive(Debug)]
struct Quota {
    in_flight: usize,
    tokens: f64,
    refilled: Instant,
    mempool_listed: Option<Instant>,
}

/// Per-peer request quotas.
#[derive(Debug, Default)]
pub(super) struct Quotas {
    peers: HashMap<PeerId, Quota>,
}

impl Quotas {
    /// Takes a slot for `request` from `peer`, unless the quotas refuse it.
    pub(super) fn admit(&mut self, peer: PeerId, request: &Request, now: Instant) -> Admission {
        let burst = 2.0 * REQUESTS_PER_SECOND;
        let quota = self.peers.entry(peer).or_insert(Quota {
            in_flight: 0,
            tokens: burst,
            refilled: now,
            mempool_listed: None,
        });
        quota.tokens = (quota.tokens
            + now.duration_since(quota.refilled).as_secs_f64() * REQUESTS_PER_SECOND)
            .min(burst);
        quota.refilled = now;
        if quota.in_flight >= MAX_INBOUND_PER_PEER || quota.tokens < 1.0 {
            return Admission::OverQuota;
        }
        // A refusal costs a token too: asking again and again runs into the quota.
        quota.tokens -= 1.0;
        if matches!(request, Request::Mempool) {
            let listed_recently = quota
                .mempool_listed
                .is_some_and(|at| now.duration_since(at) < MEMPOOL_LISTING_INTERVAL);
            if listed_recently {
                return Admission::TooSoon;
            }
            quota.mempool_listed = Some(now);
        }
        quota.in_flight += 1;
        Admission::Serve
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
        Request::Transactions(txids) if txids.len() > MAX_TXS_PER_REQUEST => {
            Err("too many transactions asked")
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
        Request::Mempool => Response::Mempool(mempool_txids(&node.snapshot().mempool)),
        Request::Transactions(txids) => {
            let txids = txids.into_iter().map(Txid::from_byte_array);
            Response::Transactions(encoded_transactions(&node.snapshot().mempool, txids))
        }
    }
}

/// The pool's txids, parents first: the oldest [`MAX_MEMPOOL_TXIDS`] of a larger pool.
fn mempool_txids(pool: &MempoolSnapshot) -> Vec<[u8; 32]> {
    pool.parent_first()
        .take(MAX_MEMPOOL_TXIDS)
        .map(|pooled| pooled.txid.to_byte_array())
        .collect()
}

/// The pool's transactions among `txids`, in that order, up to the soft response size.
fn encoded_transactions(pool: &MempoolSnapshot, txids: impl Iterator<Item = Txid>) -> Vec<Vec<u8>> {
    let mut bytes = 0;
    txids
        .filter_map(|txid| pool.get(&txid))
        .map(|pooled| encode(pooled.tx.as_ref()))
        .take_while(|tx| {
            let first = bytes == 0;
            bytes += tx.len();
            first || bytes <= protocol::SOFT_RESPONSE_BYTES
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_past_its_quota_is_refused_until_it_slows_down() {
        let mut quotas = Quotas::default();
        let peer = PeerId::random();
        let now = Instant::now();
        let status = Request::Status(local_status_for_tests());
        let admit = |quotas: &mut Quotas, at| quotas.admit(peer, &status, at) == Admission::Serve;
        let admitted = (0..MAX_INBOUND_PER_PEER + 3)
            .filter(|_| admit(&mut quotas, now))
            .count();
        assert_eq!(
            admitted, MAX_INBOUND_PER_PEER,
            "no more than the in-flight limit at once"
        );
        quotas.finished(&peer);
        assert!(admit(&mut quotas, now));
        for _ in 0..MAX_INBOUND_PER_PEER {
            quotas.finished(&peer);
        }
        let burst = (0..1000)
            .filter(|_| {
                admit(&mut quotas, now) && {
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
        assert!(admit(&mut quotas, later), "and refills with time");
    }

    fn local_status_for_tests() -> Status {
        Status {
            genesis: [0; 32],
            tip: [0; 32],
            height: 0,
            chain_work: [0; 32],
            rest_url: None,
            node_id: "test".into(),
        }
    }

    #[test]
    fn a_peer_gets_the_mempool_listing_once_per_interval_without_being_charged_for_asking_again() {
        let mut quotas = Quotas::default();
        let (peer, other) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert_eq!(quotas.admit(peer, &Request::Mempool, now), Admission::Serve);
        quotas.finished(&peer);
        assert_eq!(
            quotas.admit(peer, &Request::Mempool, now + Duration::from_secs(1)),
            Admission::TooSoon
        );
        assert_eq!(
            quotas.admit(other, &Request::Mempool, now),
            Admission::Serve,
            "each peer has its own interval"
        );
        assert_eq!(
            quotas.admit(peer, &Request::Transactions(vec![]), now),
            Admission::Serve,
            "fetching transactions is not a listing"
        );
        quotas.finished(&peer);
        assert_eq!(
            quotas.admit(peer, &Request::Mempool, now + MEMPOOL_LISTING_INTERVAL),
            Admission::Serve
        );
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
        assert!(
            check(&Request::Transactions(vec![
                [0; 32];
                MAX_TXS_PER_REQUEST + 1
            ]))
            .is_err()
        );
        assert!(check(&Request::Transactions(vec![[0; 32]; MAX_TXS_PER_REQUEST])).is_ok());
    }
}
