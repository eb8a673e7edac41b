//! The sync task: runs the [`SyncManager`] against the node and the network. It hears
//! from the network event loop ([`SyncEvent`]), sends requests through the
//! [`NetworkHandle`], hands what comes back to the node, and charges peers whose answers
//! break the rules. One task, one request at a time per purpose: no locks of its own.
//!
//! Low-work headers (a branch whose last header does not reach our tip's work) are not
//! stored by the node. When such a batch is full, more may follow: the driver keeps the
//! branch in memory ([`Presync`], Bitcoin Core's headers presync simplified) and asks for
//! the rest, within a budget of `2 × (tip height − fork height) + MAX_HEADERS` headers,
//! enough for a branch at half our difficulty to catch up. Once the branch reaches our tip's
//! work it is handed to the node whole; past the budget the peer is charged and the branch
//! dropped. Only one headers request is out at a time, so one branch is held at most.
//!
//! Bodies are connected by a stage of their own ([`connect_stage`]), so downloading goes on
//! while the node connects: the driver hands it each answer and asks for more at once, and
//! it waits only when [`CONNECT_QUEUE`] answers are already queued. The stage takes all the
//! answers waiting as one run. Blocks received are not asked for again until the stage
//! reports them done (connected, or refused).
//!
//! Answers to requests out at once arrive in any order. One whose first body's parent has
//! not arrived is held back (at most [`REORDER_ANSWERS`] of them) until the answer before
//! it comes: handed over early, its bodies would be stored aside and read back from the
//! database one by one when the gap fills.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::{PeerChain, SyncManager};
use crate::chainstate::HeadersOutcome;
use crate::network::protocol::{MAX_HEADERS, Request, Response};
use crate::network::{NetworkError, NetworkHandle, Offence, SyncEvent, local_status, verdict};
use crate::node::Node;
use crate::outage::StorageStatus;
use crate::primitives::{Block, BlockHash, BlockHeader, Work, decode};
use crate::tasks::Tasks;
use crate::telemetry;

/// How often every peer is asked for its status again (a safety net: gossip and the
/// exchange on connect normally keep us informed).
const STATUS_INTERVAL: Duration = Duration::from_secs(15);
/// Missing bodies looked at per round (enough for every peer's requests).
const WANT_WINDOW: usize = 2048;
/// How long a headers or blocks request may go unanswered before the peer is stalling
/// (doubled after each stall, up to [`MAX_STALL_TIMEOUT`]; back to this after an answer).
const STALL_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_STALL_TIMEOUT: Duration = Duration::from_secs(64);
/// Answers queued for the connect stage besides the one it is connecting.
const CONNECT_QUEUE: usize = 2;
/// Answers held back, at most, because the bodies before theirs are still on the way.
const REORDER_ANSWERS: usize = 4;

/// Why a request brought no answer.
#[derive(Debug)]
enum RequestError {
    /// No answer within the stall timeout.
    Stalled,
    /// The network said why (refused stream, disconnected, its own timeout).
    Failed(NetworkError),
}

type Answer = Result<Response, RequestError>;

enum Reply {
    Status,
    Headers(PeerId, Answer),
    Blocks(PeerId, Vec<BlockHash>, Answer),
}

/// A low-work header branch from one peer, held in memory until it reaches our tip's work.
struct Presync {
    peer: PeerId,
    headers: Vec<BlockHeader>,
}

/// Headers a low-work branch forking at `fork_height` may hold while it catches up.
fn presync_budget(tip_height: u32, fork_height: u32) -> usize {
    let depth = usize::try_from(tip_height.saturating_sub(fork_height)).unwrap_or(usize::MAX);
    depth.saturating_mul(2).saturating_add(MAX_HEADERS)
}

/// Bodies from one peer for the connect stage, with their hashes (computed once, on arrival).
struct Downloaded {
    peer: PeerId,
    blocks: Vec<Block>,
    hashes: Vec<BlockHash>,
}

/// Runs sync until the network stops.
pub async fn run(
    node: Arc<Node>,
    network: NetworkHandle,
    events: mpsc::Receiver<SyncEvent>,
    tasks: Tasks,
) {
    let (to_connect, batches) = mpsc::channel(CONNECT_QUEUE);
    let (done, connected) = mpsc::unbounded_channel();
    tasks.spawn(connect_stage(
        Arc::clone(&node),
        network.clone(),
        batches,
        done,
        tasks.clone(),
    ));
    Driver {
        node,
        network,
        manager: SyncManager::default(),
        replies: FuturesUnordered::new(),
        presync: None,
        stall_timeout: STALL_TIMEOUT,
        to_connect,
        connected,
        queued: HashSet::new(),
        reordering: Vec::new(),
    }
    .run(events, tasks)
    .await;
}

/// The connect stage: hands the node every batch waiting, in arrival order, as one run
/// (one commit to wait for, and signatures verified ahead across batches), charges the
/// sender of an invalid block, and reports the run's hashes done. Leaves when the node
/// stops, or between two runs.
async fn connect_stage(
    node: Arc<Node>,
    network: NetworkHandle,
    mut batches: mpsc::Receiver<Downloaded>,
    done: mpsc::UnboundedSender<Vec<BlockHash>>,
    tasks: Tasks,
) {
    loop {
        let idle = std::time::Instant::now();
        let first = tokio::select! {
            biased;
            () = tasks.stopping() => return,
            batch = batches.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
        };
        let mut senders = Vec::new();
        let mut blocks = Vec::new();
        let mut hashes = Vec::new();
        let mut next = Some(first);
        while let Some(batch) = next {
            senders.extend(std::iter::repeat_n(batch.peer, batch.blocks.len()));
            blocks.extend(batch.blocks);
            hashes.extend(batch.hashes);
            next = batches.try_recv().ok();
        }
        let waited = idle.elapsed();
        let connecting = std::time::Instant::now();
        let results = node.submit_blocks(blocks).await;
        let took = connecting.elapsed();
        let mut charged = HashSet::new();
        for (peer, result) in senders.iter().zip(&results) {
            let offence = result.as_ref().err().and_then(verdict::block_offence);
            if let Some(offence) = offence
                && charged.insert(*peer)
            {
                tracing::info!(%peer, "peer sent an invalid block");
                network.penalize(*peer, offence).await;
            }
        }
        let height = node.snapshot().tip.height;
        tracing::debug!(
            count = hashes.len(),
            %height,
            waited_ms = waited.as_millis(),
            took_ms = took.as_millis(),
            "blocks connected"
        );
        if done.send(hashes).is_err() {
            return;
        }
    }
}

struct Driver {
    node: Arc<Node>,
    network: NetworkHandle,
    manager: SyncManager<PeerId>,
    replies: FuturesUnordered<BoxFuture<'static, Reply>>,
    presync: Option<Presync>,
    stall_timeout: Duration,
    to_connect: mpsc::Sender<Downloaded>,
    connected: mpsc::UnboundedReceiver<Vec<BlockHash>>,
    /// Bodies received and not yet reported done by the connect stage (held back in
    /// `reordering` or handed to the stage).
    queued: HashSet<BlockHash>,
    /// Answers whose first body's parent has neither arrived nor been stored, oldest first.
    reordering: Vec<Downloaded>,
}

impl Driver {
    /// Leaves when the node stops, between two steps: never in the middle of handing a
    /// batch to the node.
    async fn run(mut self, mut events: mpsc::Receiver<SyncEvent>, tasks: Tasks) {
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        loop {
            let force = tokio::select! {
                () = tasks.stopping() => return,
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => return,
                },
                Some(reply) = self.replies.next(), if !self.replies.is_empty() => self.on_reply(reply).await,
                Some(hashes) = self.connected.recv() => {
                    for hash in &hashes {
                        self.queued.remove(hash);
                    }
                    None
                }
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
            SyncEvent::Disconnected(peer) => {
                self.manager.on_disconnected(peer);
                self.presync.take_if(|p| p.peer == peer);
            }
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
        self.hand_over().await;
        if self.manager.peer_count() == 0 {
            return;
        }
        if self.node.storage_status() != StorageStatus::Up {
            // Nothing fetched now could be stored; the bodies are asked for again once
            // the database is back.
            return;
        }
        let status = self.node.chain_status();
        if let Some(peer) = self
            .manager
            .next_headers_request(status.best_header_work, force)
        {
            // A branch held in presync continues from its last header.
            let continues = self
                .presync
                .as_ref()
                .filter(|p| p.peer == peer)
                .and_then(|p| p.headers.last())
                .map(BlockHeader::block_hash);
            let mut locator: Vec<[u8; 32]> = continues.iter().map(|h| h.to_byte_array()).collect();
            locator.extend(
                self.node
                    .header_locator()
                    .iter()
                    .take(crate::network::protocol::MAX_LOCATOR - 1)
                    .map(|h| h.to_byte_array()),
            );
            self.ask(peer, Request::Headers { locator }, move |r| {
                Reply::Headers(peer, r)
            });
        }
        if status.best_header_work <= status.chain_work {
            return;
        }
        if self.node.awaits_assume_valid_header()
            && self.manager.headers_pending(status.best_header_work)
        {
            // Bitcoin Core's headers-first order: with the assume-valid block still
            // unknown, any body connected now would be checked in full.
            return;
        }
        if !self.manager.has_block_slots(status.best_header_work) {
            return;
        }
        let mut wanted = self.node.wanted_bodies(WANT_WINDOW);
        wanted.retain(|hash| !self.queued.contains(hash));
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

    /// Sends `request`; its answer (or [`RequestError::Stalled`] after the stall timeout)
    /// comes back through `reply`.
    fn ask(
        &mut self,
        peer: PeerId,
        request: Request,
        reply: impl FnOnce(Answer) -> Reply + Send + 'static,
    ) {
        let network = self.network.clone();
        let timeout = self.stall_timeout;
        self.replies.push(
            async move {
                let answer =
                    match tokio::time::timeout(timeout, network.request(peer, request)).await {
                        Ok(answer) => answer.map_err(RequestError::Failed),
                        Err(_) => Err(RequestError::Stalled),
                    };
                reply(answer)
            }
            .boxed(),
        );
    }

    /// A peer left a request unanswered: charge it, and give the next one longer (a slow
    /// link is not an attack; Bitcoin Core doubles its stall timeout the same way).
    async fn stalled(&mut self, peer: PeerId) {
        tracing::info!(%peer, timeout = ?self.stall_timeout, "peer stalled a sync request");
        self.network.penalize(peer, Offence::Stalling).await;
        self.stall_timeout = (self.stall_timeout * 2).min(MAX_STALL_TIMEOUT);
    }

    /// Headers from `peer`: checked and indexed by the node, or held in presync while their
    /// branch is low-work. Returns the peer to ask again when there may be more.
    async fn on_headers(&mut self, peer: PeerId, answer: Answer) -> Option<PeerId> {
        let headers = match self.decode_headers(peer, answer).await {
            Ok(headers) => headers,
            Err(offence) => return self.headers_failed(peer, offence).await,
        };
        let received = headers.len();
        let held = self
            .presync
            .take()
            .filter(|p| p.peer == peer)
            .filter(|p| {
                let last = p.headers.last().map(BlockHeader::block_hash);
                headers.first().map(|h| h.prev_blockhash) == last
            })
            .map_or_else(Vec::new, |p| p.headers);
        let branch = [held, headers].concat();
        match self.node.submit_headers(&branch).await {
            Ok(HeadersOutcome::Indexed { new, last_work }) => {
                if new > 0 {
                    metrics::counter!(telemetry::SYNC_HEADERS).increment(new as u64);
                    tracing::info!(%peer, new, "headers received");
                }
                let best = self.node.chain_status().best_header_work;
                let more = self
                    .manager
                    .on_headers(peer, received, new, MAX_HEADERS, best);
                if !more {
                    self.check_claim(peer, last_work.max(best)).await;
                }
                more.then_some(peer)
            }
            Ok(HeadersOutcome::LowWork {
                fork_height, work, ..
            }) => {
                self.on_low_work(peer, branch, received, fork_height, work)
                    .await
            }
            Err(error) if error.is_storage() => {
                // Our database failed, not the peer: its headers are asked for again
                // once the ledger is back (`progress` waits for that).
                tracing::info!(%peer, %error, "could not store headers");
                self.manager.on_headers_unstored(peer);
                None
            }
            Err(error) => {
                tracing::info!(%peer, %error, "peer sent bad headers");
                self.headers_failed(peer, verdict::block_offence(&error))
                    .await
            }
        }
    }

    /// The headers of an answer, or the offence (if any) of an answer that is not one.
    async fn decode_headers(
        &mut self,
        peer: PeerId,
        answer: Answer,
    ) -> Result<Vec<BlockHeader>, Option<Offence>> {
        let raw = match answer {
            Ok(Response::Headers(raw)) if raw.len() <= MAX_HEADERS => raw,
            Ok(Response::Headers(_)) => return Err(Some(Offence::ProtocolViolation)),
            Ok(other) => {
                tracing::debug!(%peer, ?other, "headers request not answered with headers");
                return Err(None);
            }
            Err(RequestError::Stalled) => {
                self.stalled(peer).await;
                return Err(None);
            }
            Err(RequestError::Failed(error)) => {
                tracing::debug!(%peer, %error, "headers request failed");
                return Err(None);
            }
        };
        self.stall_timeout = STALL_TIMEOUT;
        raw.iter()
            .map(|h| decode::<BlockHeader>(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Some(Offence::Undecodable))
    }

    /// A batch whose branch stays below our tip's work: held for more if the batch was full
    /// and the branch is within budget; otherwise the peer's chain ends below our tip.
    async fn on_low_work(
        &mut self,
        peer: PeerId,
        branch: Vec<BlockHeader>,
        received: usize,
        fork_height: crate::primitives::Height,
        work: Work,
    ) -> Option<PeerId> {
        let tip_height = self.node.snapshot().tip.height.get();
        if received < MAX_HEADERS {
            // All it has, and it does not reach our tip: honest if it never claimed more.
            self.check_claim(peer, work).await;
            self.manager.on_headers_failed(peer);
            return None;
        }
        if branch.len() > presync_budget(tip_height, fork_height.get()) {
            tracing::info!(%peer, held = branch.len(), "low-work header branch over its budget");
            self.network.penalize(peer, Offence::LowWorkHeaders).await;
            self.manager.on_claim_unmet(peer, work);
            return None;
        }
        tracing::debug!(%peer, held = branch.len(), "holding a low-work header branch");
        self.presync = Some(Presync {
            peer,
            headers: branch,
        });
        self.manager.on_presync_batch(peer);
        Some(peer)
    }

    /// `peer` has sent all its headers, whose chain ends at `delivered`: if it claimed more,
    /// it lied about its chain.
    async fn check_claim(&mut self, peer: PeerId, delivered: Work) {
        let Some(claimed) = self.manager.claimed_work(&peer) else {
            return;
        };
        if delivered < claimed {
            tracing::info!(%peer, "peer's headers do not reach the work it claimed");
            self.network.penalize(peer, Offence::FalseWorkClaim).await;
            self.manager.on_claim_unmet(peer, delivered);
        }
    }

    async fn headers_failed(&mut self, peer: PeerId, offence: Option<Offence>) -> Option<PeerId> {
        if let Some(offence) = offence {
            self.network.penalize(peer, offence).await;
        }
        self.manager.on_headers_failed(peer);
        None
    }

    /// Bodies from `peer`: only the ones asked for, handed to the connect stage in one run.
    async fn on_blocks(&mut self, peer: PeerId, asked: Vec<BlockHash>, answer: Answer) {
        let raw = match answer {
            Ok(Response::Blocks(raw)) => {
                self.stall_timeout = STALL_TIMEOUT;
                raw
            }
            Err(RequestError::Stalled) => {
                self.stalled(peer).await;
                self.manager.on_blocks_stalled(peer, &asked);
                return;
            }
            Ok(other) => {
                tracing::debug!(%peer, ?other, "blocks request not answered with blocks");
                Vec::new()
            }
            Err(RequestError::Failed(error)) => {
                tracing::info!(%peer, %error, "blocks request failed");
                Vec::new()
            }
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
        let hashes: Vec<BlockHash> = blocks.iter().map(Block::block_hash).collect();
        let received: HashSet<BlockHash> = hashes.iter().copied().collect();
        self.manager.on_blocks(peer, &asked, &received);
        if blocks.is_empty() {
            return;
        }
        metrics::counter!(telemetry::SYNC_BLOCKS).increment(blocks.len() as u64);
        self.queued.extend(received);
        // Handed over by the `progress` step that follows every reply.
        self.reordering.push(Downloaded {
            peer,
            blocks,
            hashes,
        });
    }

    /// Hands the connect stage the answers held back whose bodies now follow ones it has
    /// (so that it connects them at once, rather than storing them aside and reading them
    /// back), oldest first. When more than [`REORDER_ANSWERS`] wait, or no blocks request is
    /// out that could fill the gap, the oldest goes anyway: the node stores it aside.
    async fn hand_over(&mut self) {
        while let Some(next) = self.next_in_order() {
            let answer = self.reordering.remove(next);
            if self.to_connect.send(answer).await.is_err() {
                tracing::debug!("the connect stage has stopped");
                return;
            }
        }
    }

    fn next_in_order(&self) -> Option<usize> {
        let parents: Vec<BlockHash> = self
            .reordering
            .iter()
            .map(|answer| answer.blocks[0].header.prev_blockhash)
            .collect();
        let held_back = |hash: &BlockHash| self.reordering.iter().any(|a| a.hashes.contains(hash));
        let arrived = |parent: &BlockHash| {
            (self.queued.contains(parent) && !held_back(parent)) || self.node.has_body(parent)
        };
        let stuck = self.reordering.len() > REORDER_ANSWERS || self.manager.blocks_in_flight() == 0;
        next_answer(&parents, arrived, stuck)
    }
}

/// Which answer held back (oldest first, each given by its first body's parent) goes to the
/// connect stage next: the first whose parent has `arrived`, or else, when the driver is
/// `stuck` (too many held, or nothing asked that could fill the gap), the oldest.
fn next_answer(
    parents: &[BlockHash],
    arrived: impl Fn(&BlockHash) -> bool,
    stuck: bool,
) -> Option<usize> {
    parents
        .iter()
        .position(arrived)
        .or_else(|| (stuck && !parents.is_empty()).then_some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> BlockHash {
        BlockHash::from_byte_array([byte; 32])
    }

    #[test]
    fn an_answer_that_overtook_the_one_before_it_waits_for_it() {
        // Answers for heights 129..=192 (parent 128) and 65..=128 (parent 64), in the
        // order they came; only 64 has arrived.
        let parents = [hash(128), hash(64)];
        let arrived = |h: &BlockHash| *h == hash(64);
        assert_eq!(next_answer(&parents, arrived, false), Some(1));
        // Once 65..=128 is handed over, 128 has arrived too.
        let arrived = |h: &BlockHash| *h == hash(64) || *h == hash(128);
        assert_eq!(next_answer(&parents[..1], arrived, false), Some(0));
    }

    #[test]
    fn a_gap_nothing_will_fill_lets_the_oldest_answer_go_to_be_stored_aside() {
        let parents = [hash(128), hash(192)];
        let nothing = |_: &BlockHash| false;
        assert_eq!(next_answer(&parents, nothing, false), None);
        assert_eq!(next_answer(&parents, nothing, true), Some(0));
        assert_eq!(next_answer(&[], nothing, true), None);
    }
}
