//! Chain sync: getting the blocks of the peers' best chain, headers first.
//!
//! Peers tell us their chain in the status exchange. When one claims more work than the best
//! header we know, we ask it for headers after our locator (at most one headers request at a
//! time, [`MAX_HEADERS`](crate::network::protocol::MAX_HEADERS) each); the node checks and
//! indexes them. Then the missing bodies of the best header chain are fetched in batches
//! from every peer that claims that much work, at most [`MAX_BLOCK_REQUESTS_PER_PEER`]
//! requests per peer at once. A failed or empty answer frees its blocks for other peers.
//!
//! A peer's claim is checked against what it delivers: when its headers run out below the
//! work it claimed, the claim is replaced by what the headers prove ([`SyncManager::
//! on_claim_unmet`]) and the peer is charged; a peer that leaves a request unanswered past
//! the stall timeout loses its share of the bodies until its chain changes.
//!
//! [`SyncManager`] is the pure state machine (generic over the peer id, tested below);
//! [`driver`] runs it against the node and the network. Neither judges blocks: the node does.

pub mod driver;
pub mod mempool;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::primitives::{BlockHash, Work};

/// Block requests one peer has outstanding at once.
pub const MAX_BLOCK_REQUESTS_PER_PEER: usize = 4;
/// Bodies asked for in one request.
pub const BLOCKS_PER_REQUEST: usize = 64;

/// What a peer last said about its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerChain {
    pub work: Work,
    pub height: u32,
    pub tip: BlockHash,
}

#[derive(Debug)]
struct PeerState {
    chain: PeerChain,
    block_requests: usize,
    /// The peer answered a headers request with nothing new while claiming more work than
    /// us: do not ask again until it reports a new chain.
    headers_exhausted: bool,
    /// The peer answered a blocks request without the blocks: not a source of bodies until
    /// it reports a new chain.
    lacks_bodies: bool,
}

/// The sync state machine.
#[derive(Debug)]
pub struct SyncManager<P> {
    peers: HashMap<P, PeerState>,
    headers_from: Option<P>,
    in_flight: HashMap<BlockHash, P>,
}

impl<P> Default for SyncManager<P> {
    fn default() -> Self {
        Self {
            peers: HashMap::new(),
            headers_from: None,
            in_flight: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash + Ord> SyncManager<P> {
    /// A peer reported its chain.
    pub fn on_status(&mut self, peer: P, chain: PeerChain) {
        let state = self.peers.entry(peer).or_insert(PeerState {
            chain,
            block_requests: 0,
            headers_exhausted: false,
            lacks_bodies: false,
        });
        if state.chain != chain {
            state.headers_exhausted = false;
            state.lacks_bodies = false;
        }
        state.chain = chain;
    }

    /// A peer has a chain we lack part of (it gossiped an orphan): ask it for headers even if
    /// its last status did not claim more work.
    pub fn on_orphan_from(&mut self, peer: P) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.headers_exhausted = false;
            state.lacks_bodies = false;
        }
    }

    /// A peer disconnected: its requests will not be answered.
    pub fn on_disconnected(&mut self, peer: P) {
        self.peers.remove(&peer);
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
        self.in_flight.retain(|_, from| *from != peer);
    }

    /// The chain work `peer` last claimed (or its headers proved).
    pub fn claimed_work(&self, peer: &P) -> Option<Work> {
        self.peers.get(peer).map(|s| s.chain.work)
    }

    /// `peer` delivered all the headers it has and they end at `delivered`, below what it
    /// claimed: believe the headers, not the claim. It is asked for headers again, and is a
    /// source of bodies, only once it reports a new chain.
    pub fn on_claim_unmet(&mut self, peer: P, delivered: Work) {
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.chain.work = state.chain.work.min(delivered);
            state.headers_exhausted = true;
            state.lacks_bodies = true;
        }
    }

    /// `peer` sent a full batch of a low-work branch that sync keeps in memory: ask it for
    /// the rest at once.
    pub fn on_presync_batch(&mut self, peer: P) {
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.headers_exhausted = false;
        }
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    pub fn peers(&self) -> impl Iterator<Item = P> + '_ {
        self.peers.keys().copied()
    }

    /// The peer to ask for headers now, if any: the one claiming the most work, above
    /// `best_header_work`, unless a headers request is already out. `force` asks `peer`
    /// whatever it claimed (it gossiped an orphan).
    pub fn next_headers_request(&mut self, best_header_work: Work, force: Option<P>) -> Option<P> {
        if self.headers_from.is_some() {
            return None;
        }
        let chosen = force.filter(|p| self.peers.contains_key(p)).or_else(|| {
            self.peers
                .iter()
                .filter(|(_, s)| s.chain.work > best_header_work && !s.headers_exhausted)
                .max_by_key(|(p, s)| (s.chain.work, std::cmp::Reverse(**p)))
                .map(|(p, _)| *p)
        })?;
        self.headers_from = Some(chosen);
        Some(chosen)
    }

    /// Whether more headers may be coming: a headers request is out, or a peer not yet
    /// exhausted claims more work than `best_header_work`.
    pub fn headers_pending(&self, best_header_work: Work) -> bool {
        self.headers_from.is_some()
            || self
                .peers
                .values()
                .any(|s| s.chain.work > best_header_work && !s.headers_exhausted)
    }

    /// The headers request to `peer` came back with `received` headers, `new` of them new
    /// to us, after which our best header has `best_header_work`. Returns whether to ask the
    /// same peer for more right away.
    pub fn on_headers(
        &mut self,
        peer: P,
        received: usize,
        new: usize,
        full_batch: usize,
        best_header_work: Work,
    ) -> bool {
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
        let more = received == full_batch && new > 0;
        if let Some(state) = self.peers.get_mut(&peer) {
            if new > 0 {
                // Its status may be older than the headers it just sent: it has at least
                // the chain they lead to, so it is a source for those bodies.
                state.chain.work = state.chain.work.max(best_header_work);
                state.lacks_bodies = false;
            }
            // Once it gave what it has, do not ask again until it reports a new chain.
            state.headers_exhausted = !more;
        }
        more
    }

    /// The headers from `peer` could not be stored (our database, not the peer): the
    /// request is over, and the same peer is asked again once we can store them.
    pub fn on_headers_unstored(&mut self, peer: P) {
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
    }

    /// The headers request failed (timeout, refusal, bad headers).
    pub fn on_headers_failed(&mut self, peer: P) {
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.headers_exhausted = true;
        }
    }

    /// Whether some peer with at least `best_header_work` of chain has room for a blocks
    /// request (looking for the bodies to fetch is not free: skip it when none has).
    pub fn has_block_slots(&self, best_header_work: Work) -> bool {
        self.peers.values().any(|s| {
            s.chain.work >= best_header_work
                && !s.lacks_bodies
                && s.block_requests < MAX_BLOCK_REQUESTS_PER_PEER
        })
    }

    /// Assigns bodies from `wanted` (oldest first, the best header chain's missing ones) to
    /// peers with room for a request and at least `best_header_work` of chain. Returns the
    /// requests to send.
    pub fn assign_blocks(
        &mut self,
        wanted: &[BlockHash],
        best_header_work: Work,
    ) -> Vec<(P, Vec<BlockHash>)> {
        let free: Vec<BlockHash> = wanted
            .iter()
            .filter(|h| !self.in_flight.contains_key(h))
            .copied()
            .collect();
        let mut free = free.into_iter();
        let mut sources: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, s)| s.chain.work >= best_header_work && !s.lacks_bodies)
            .map(|(p, _)| *p)
            .collect();
        sources.sort_unstable();
        let mut requests = Vec::new();
        'rounds: for _ in 0..MAX_BLOCK_REQUESTS_PER_PEER {
            for peer in &sources {
                let state = self.peers.get_mut(peer).expect("a source is a peer");
                if state.block_requests >= MAX_BLOCK_REQUESTS_PER_PEER {
                    continue;
                }
                let batch: Vec<BlockHash> = free.by_ref().take(BLOCKS_PER_REQUEST).collect();
                if batch.is_empty() {
                    break 'rounds;
                }
                state.block_requests += 1;
                for hash in &batch {
                    self.in_flight.insert(*hash, *peer);
                }
                requests.push((*peer, batch));
            }
        }
        requests
    }

    /// A blocks request came back (answered or not): `asked` are free again. If the peer
    /// sent none of them, it is no source of bodies until its chain changes.
    pub fn on_blocks(&mut self, peer: P, asked: &[BlockHash], received: &HashSet<BlockHash>) {
        for hash in asked {
            if self.in_flight.get(hash) == Some(&peer) {
                self.in_flight.remove(hash);
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.block_requests = state.block_requests.saturating_sub(1);
            if received.is_empty() {
                state.lacks_bodies = true;
            }
        }
    }

    /// `peer` stalled a blocks request: its blocks are free again and it is no source of
    /// bodies until it reports a new chain.
    pub fn on_blocks_stalled(&mut self, peer: P, asked: &[BlockHash]) {
        self.on_blocks(peer, asked, &HashSet::new());
    }

    /// Blocks asked for and not yet answered.
    pub fn blocks_in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(work: u8) -> PeerChain {
        let mut bytes = [0; 32];
        bytes[31] = work;
        PeerChain {
            work: Work::from_be_bytes(bytes),
            height: u32::from(work),
            tip: BlockHash::ZERO,
        }
    }

    fn work(w: u8) -> Work {
        chain(w).work
    }

    fn hashes(n: usize) -> Vec<BlockHash> {
        (0..n).map(|i| BlockHash::hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn headers_come_from_the_peer_with_the_most_work_one_request_at_a_time() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(5));
        sync.on_status(2, chain(9));
        sync.on_status(3, chain(3));
        assert_eq!(sync.next_headers_request(work(4), None), Some(2));
        assert_eq!(
            sync.next_headers_request(work(4), None),
            None,
            "one at a time"
        );
        assert!(
            sync.on_headers(2, 2000, 2000, 2000, work(6)),
            "a full batch: ask again"
        );
        assert_eq!(sync.next_headers_request(work(4), None), Some(2));
        assert!(!sync.on_headers(2, 10, 10, 2000, work(9)));
        assert_eq!(
            sync.next_headers_request(work(9), None),
            None,
            "nobody has more than we know"
        );
    }

    #[test]
    fn a_peer_that_has_nothing_more_is_not_asked_again_until_its_chain_changes() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(9));
        assert_eq!(sync.next_headers_request(work(4), None), Some(1));
        assert!(!sync.on_headers(1, 0, 0, 2000, work(4)));
        assert_eq!(sync.next_headers_request(work(4), None), None);
        sync.on_status(1, chain(10));
        assert_eq!(sync.next_headers_request(work(4), None), Some(1));
    }

    #[test]
    fn headers_we_could_not_store_are_asked_for_again() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(9));
        assert_eq!(sync.next_headers_request(work(4), None), Some(1));
        sync.on_headers_unstored(1);
        assert_eq!(
            sync.next_headers_request(work(4), None),
            Some(1),
            "our database failed, not the peer: it still has what we lack"
        );
    }

    #[test]
    fn an_orphan_makes_its_sender_a_headers_source_whatever_it_claimed() {
        let mut sync = SyncManager::default();
        sync.on_status(7, chain(1));
        assert_eq!(sync.next_headers_request(work(4), None), None);
        sync.on_orphan_from(7);
        assert_eq!(sync.next_headers_request(work(4), Some(7)), Some(7));
        assert_eq!(sync.next_headers_request(work(4), Some(8)), None, "busy");
    }

    #[test]
    fn headers_are_pending_while_asked_for_or_claimed_and_never_after_a_failure() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(5));
        assert!(sync.headers_pending(work(3)), "a peer claims more");
        assert_eq!(sync.next_headers_request(work(3), None), Some(1));
        assert!(sync.headers_pending(work(5)), "a request is out");
        assert!(!sync.on_headers(1, 2, 2, 2000, work(5)));
        assert!(!sync.headers_pending(work(5)));

        sync.on_status(2, chain(9));
        assert_eq!(sync.next_headers_request(work(5), None), Some(2));
        sync.on_headers_failed(2);
        assert!(
            !sync.headers_pending(work(5)),
            "a peer that did not deliver holds up nothing"
        );
    }

    #[test]
    fn a_peer_whose_headers_outrun_its_status_is_a_source_for_their_bodies() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(3));
        sync.on_orphan_from(1);
        assert_eq!(sync.next_headers_request(work(3), Some(1)), Some(1));
        assert!(!sync.on_headers(1, 2, 2, 2000, work(5)));
        assert_eq!(sync.assign_blocks(&hashes(2), work(5)).len(), 1);
    }

    #[test]
    fn bodies_are_spread_over_peers_with_bounded_requests_each() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(9));
        sync.on_status(2, chain(9));
        sync.on_status(3, chain(2));
        let busy = 2 * MAX_BLOCK_REQUESTS_PER_PEER;
        let wanted = hashes(BLOCKS_PER_REQUEST * (busy + 1));
        let requests = sync.assign_blocks(&wanted, work(9));
        assert_eq!(
            requests.len(),
            busy,
            "two sources, each with its full share of requests"
        );
        assert!(
            requests
                .iter()
                .all(|(p, batch)| *p != 3 && batch.len() == BLOCKS_PER_REQUEST)
        );
        assert_eq!(requests[0].1[0], wanted[0], "oldest first");
        assert!(
            sync.assign_blocks(&wanted, work(9)).is_empty(),
            "everyone is busy"
        );
        let (peer, batch) = requests[0].clone();
        let got: HashSet<BlockHash> = batch.iter().copied().collect();
        sync.on_blocks(peer, &batch, &got);
        // The node stored the batch, so it is no longer wanted.
        let next = sync.assign_blocks(&wanted[BLOCKS_PER_REQUEST..], work(9));
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].0, peer);
        assert_eq!(
            next[0].1[0],
            wanted[BLOCKS_PER_REQUEST * busy],
            "never asks twice for a block in flight"
        );
    }

    #[test]
    fn a_peer_whose_headers_fall_short_of_its_claim_is_believed_no_more() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(90));
        sync.on_status(2, chain(7));
        assert_eq!(sync.next_headers_request(work(5), None), Some(1));
        sync.on_claim_unmet(1, work(6));
        assert_eq!(sync.claimed_work(&1), Some(work(6)));
        assert_eq!(
            sync.next_headers_request(work(5), None),
            Some(2),
            "the slot goes to the next peer"
        );
        let requests = sync.assign_blocks(&hashes(3), work(6));
        assert!(
            requests.iter().all(|(peer, _)| *peer == 2),
            "the peer that fell short is no source of bodies: {requests:?}"
        );
    }

    #[test]
    fn block_slots_are_free_until_every_source_has_its_requests_out() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(5));
        sync.on_status(2, chain(3));
        assert!(sync.has_block_slots(work(5)));
        let requests = sync.assign_blocks(&hashes(BLOCKS_PER_REQUEST * 8), work(5));
        assert_eq!(requests.len(), MAX_BLOCK_REQUESTS_PER_PEER);
        assert!(
            !sync.has_block_slots(work(5)),
            "peer 2 is behind: no source has room"
        );
        let (peer, asked) = &requests[0];
        sync.on_blocks(*peer, asked, &asked.iter().copied().collect());
        assert!(sync.has_block_slots(work(5)));
    }

    #[test]
    fn a_stalling_peer_loses_its_blocks_to_another() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(9));
        let wanted = hashes(10);
        assert_eq!(sync.assign_blocks(&wanted, work(9)).len(), 1);
        sync.on_status(2, chain(9));
        sync.on_blocks_stalled(1, &wanted);
        assert_eq!(
            sync.assign_blocks(&wanted, work(9)),
            vec![(2, wanted.clone())]
        );
    }

    #[test]
    fn a_disconnected_or_empty_handed_peer_frees_its_blocks_for_others() {
        let mut sync = SyncManager::default();
        sync.on_status(1, chain(9));
        let wanted = hashes(10);
        let first = sync.assign_blocks(&wanted, work(9));
        assert_eq!(first.len(), 1);
        sync.on_status(2, chain(9));
        assert!(
            sync.assign_blocks(&wanted, work(9)).is_empty(),
            "all ten are in flight with peer 1"
        );
        sync.on_disconnected(1);
        assert_eq!(sync.blocks_in_flight(), 0);
        let second = sync.assign_blocks(&wanted, work(9));
        assert_eq!(second, vec![(2, wanted.clone())]);
        sync.on_blocks(2, &wanted, &HashSet::new());
        assert!(
            sync.assign_blocks(&wanted, work(9)).is_empty(),
            "peer 2 does not have them"
        );
    }
}
