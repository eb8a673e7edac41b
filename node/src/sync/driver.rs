//! The sync task: runs the [`SyncManager`] against the node and the network. It hears
//! from the network event loop ([`SyncEvent`]), sends requests through the
//! [`NetworkHandle`], hands what comes back to the node, and charges peers whose answers
//! break the rules. One task, one request at a time per purpose: no locks of its own.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::{PeerChain, SyncManager};
use crate::network::protocol::{MAX_HEADERS, Request, Response};
use crate::network::{NetworkHandle, Offence, SyncEvent, local_status, verdict};
use crate::node::Node;
use crate::primitives::{Block, BlockHash, BlockHeader, Work, decode};
use crate::telemetry;

/// How often every peer is asked for its status again (a safety net: gossip and the
/// exchange on connect normally keep us informed).
const STATUS_INTERVAL: Duration = Duration::from_secs(15);
/// Missing bodies looked at per round (enough for every peer's requests).
const WANT_WINDOW: usize = 2048;

enum Reply {
    Status,
    Headers(PeerId, Result<Response, String>),
    Blocks(PeerId, Vec<BlockHash>, Result<Response, String>),
}

/// Runs sync until the network stops.
pub async fn run(node: Arc<Node>, network: NetworkHandle, events: mpsc::Receiver<SyncEvent>) {
    Driver {
        node,
        network,
        manager: SyncManager::default(),
        replies: FuturesUnordered::new(),
    }
    .run(events)
    .await;
}

struct Driver {
    node: Arc<Node>,
    network: NetworkHandle,
    manager: SyncManager<PeerId>,
    replies: FuturesUnordered<BoxFuture<'static, Reply>>,
}

impl Driver {
    async fn run(mut self, mut events: mpsc::Receiver<SyncEvent>) {
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        loop {
            let force = tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => return,
                },
                Some(reply) = self.replies.next(), if !self.replies.is_empty() => self.on_reply(reply).await,
                _ = status_tick.tick() => {
                    let peers: Vec<PeerId> = self.manager.peers().collect();
                    for peer in peers {
                        self.ask_status(peer);
                    }
                    None
                }
            };
            self.progress(force).await;
        }
    }

    /// Handles a network event; returns a peer to ask for headers whatever it claimed.
    fn on_event(&mut self, event: SyncEvent) -> Option<PeerId> {
        match event {
            SyncEvent::Connected(peer) => self.ask_status(peer),
            SyncEvent::Status(peer, status) => {
                let chain = PeerChain {
                    work: Work::from_be_bytes(status.chain_work),
                    height: status.height,
                    tip: BlockHash::from_byte_array(status.tip),
                };
                self.manager.on_status(peer, chain);
            }
            SyncEvent::Disconnected(peer) => self.manager.on_disconnected(peer),
            SyncEvent::Orphan { peer, missing } => {
                tracing::debug!(%peer, %missing, "gossip block with an unknown ancestor: asking for headers");
                self.manager.on_orphan_from(peer);
                return Some(peer);
            }
        }
        None
    }

    async fn on_reply(&mut self, reply: Reply) -> Option<PeerId> {
        match reply {
            Reply::Status => None,
            Reply::Headers(peer, result) => self.on_headers(peer, result).await,
            Reply::Blocks(peer, asked, result) => {
                self.on_blocks(peer, asked, result).await;
                None
            }
        }
    }

    /// Asks for headers and bodies where the manager says to.
    async fn progress(&mut self, force: Option<PeerId>) {
        if self.manager.peer_count() == 0 {
            return;
        }
        let status = self.node.chain_status().await;
        if let Some(peer) = self
            .manager
            .next_headers_request(status.best_header_work, force)
        {
            let locator = self
                .node
                .header_locator()
                .await
                .iter()
                .map(|h| h.to_byte_array())
                .collect();
            self.ask(peer, Request::Headers { locator }, move |r| {
                Reply::Headers(peer, r)
            });
        }
        if status.best_header_work <= status.chain_work {
            return;
        }
        let wanted = self.node.wanted_bodies(WANT_WINDOW).await;
        for (peer, batch) in self.manager.assign_blocks(&wanted, status.best_header_work) {
            let request = Request::Blocks(batch.iter().map(|h| h.to_byte_array()).collect());
            self.ask(peer, request, move |r| Reply::Blocks(peer, batch, r));
        }
    }

    fn ask_status(&mut self, peer: PeerId) {
        self.ask(peer, Request::Status(local_status(&self.node)), |_| {
            Reply::Status
        });
    }

    fn ask(
        &mut self,
        peer: PeerId,
        request: Request,
        reply: impl FnOnce(Result<Response, String>) -> Reply + Send + 'static,
    ) {
        let network = self.network.clone();
        self.replies
            .push(async move { reply(network.request(peer, request).await) }.boxed());
    }

    /// Headers from `peer`: checked and indexed by the node. Returns the peer to ask again
    /// when it sent a full batch.
    async fn on_headers(
        &mut self,
        peer: PeerId,
        result: Result<Response, String>,
    ) -> Option<PeerId> {
        let raw = match result {
            Ok(Response::Headers(raw)) if raw.len() <= MAX_HEADERS => raw,
            Ok(Response::Headers(_)) => {
                return self
                    .headers_failed(peer, Some(Offence::ProtocolViolation))
                    .await;
            }
            Ok(other) => {
                tracing::debug!(%peer, ?other, "headers request not answered with headers");
                return self.headers_failed(peer, None).await;
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "headers request failed");
                return self.headers_failed(peer, None).await;
            }
        };
        let Ok(headers) = raw
            .iter()
            .map(|h| decode::<BlockHeader>(h))
            .collect::<Result<Vec<_>, _>>()
        else {
            return self.headers_failed(peer, Some(Offence::Undecodable)).await;
        };
        match self.node.submit_headers(&headers).await {
            Ok(new) => {
                if new > 0 {
                    metrics::counter!(telemetry::SYNC_HEADERS).increment(new as u64);
                    tracing::info!(%peer, new, "headers received");
                }
                let best = self.node.chain_status().await.best_header_work;
                self.manager
                    .on_headers(peer, headers.len(), new, MAX_HEADERS, best)
                    .then_some(peer)
            }
            Err(error) => {
                tracing::info!(%peer, %error, "peer sent bad headers");
                self.headers_failed(peer, verdict::block_offence(&error))
                    .await
            }
        }
    }

    async fn headers_failed(&mut self, peer: PeerId, offence: Option<Offence>) -> Option<PeerId> {
        if let Some(offence) = offence {
            self.network.penalize(peer, offence).await;
        }
        self.manager.on_headers_failed(peer);
        None
    }

    /// Bodies from `peer`: only the ones asked for, handed to the node in one run.
    async fn on_blocks(
        &mut self,
        peer: PeerId,
        asked: Vec<BlockHash>,
        result: Result<Response, String>,
    ) {
        let raw = match result {
            Ok(Response::Blocks(raw)) => raw,
            Ok(_) | Err(_) => Vec::new(),
        };
        let decoded: Result<Vec<Block>, _> = raw.iter().map(|b| decode::<Block>(b)).collect();
        let Ok(blocks) = decoded else {
            self.network.penalize(peer, Offence::Undecodable).await;
            self.manager.on_blocks(peer, &asked, &HashSet::new());
            return;
        };
        let asked_set: HashSet<BlockHash> = asked.iter().copied().collect();
        let (blocks, unasked): (Vec<Block>, Vec<Block>) = blocks
            .into_iter()
            .partition(|b| asked_set.contains(&b.block_hash()));
        if !unasked.is_empty() {
            self.network
                .penalize(peer, Offence::ProtocolViolation)
                .await;
        }
        let received: HashSet<BlockHash> = blocks.iter().map(Block::block_hash).collect();
        self.manager.on_blocks(peer, &asked, &received);
        if blocks.is_empty() {
            return;
        }
        let count = blocks.len();
        metrics::counter!(telemetry::SYNC_BLOCKS).increment(count as u64);
        // More bodies on the way: let this batch commit while the next is checked.
        let last = self.manager.blocks_in_flight() == 0;
        let results = self.node.submit_blocks(blocks, last).await;
        if let Some(offence) = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .find_map(verdict::block_offence)
        {
            tracing::info!(%peer, "peer sent an invalid block");
            self.network.penalize(peer, offence).await;
        }
        let height = self.node.snapshot().tip.height;
        tracing::debug!(%peer, count, %height, "blocks received");
    }
}
