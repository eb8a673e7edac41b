//! Mempool sync: fetching the transactions gossip did not bring.
//!
//! Gossip carries each transaction past a node once. A node that missed it (it was down or
//! cut off, or it refused the transaction while a parent was still unknown to it) never
//! hears of it again: gossipsub's duplicate cache stops the copies that come round. An
//! acknowledged payment could then sit in some mempools and never in a miner's. So the
//! node asks its peers what their mempools hold (Bitcoin's BIP 35 `mempool`, pulled by the
//! node that lacks transactions instead of pushed by the one that has them): each peer
//! once when it connects, and one random peer every [`PULL_INTERVAL`]. It fetches the
//! transactions it lacks, parents first, at most [`MAX_PULLED_PER_ROUND`] a round, and
//! submits them as [`TxOrigin::Pulled`]: what it accepts it announces, since the peers
//! around it may lack them too.
//!
//! The chain comes first: no pull starts while the node is fetching blocks towards a better
//! header chain. After a partition heals, every node meets the other side's peers and
//! mempools at once; the transactions share the ledger's lock with the blocks, and the
//! fifty-node lab showed pulls at that moment delaying the reorg by a minute.
//!
//! Against a peer that lies: a listing over [`MAX_MEMPOOL_TXIDS`], a transaction that was
//! not asked for, or bytes that do not decode cost the peer as on any sync answer; a
//! transaction invalid on any chain costs what it costs on gossip. A txid the peer listed
//! but did not deliver, or whose transaction the pool refused, is not asked for again for
//! [`SKIP_FOR`] to [`SKIP_FOR`] × 2 (a parent may arrive meanwhile). One pull runs at a
//! time, so a crowd of new peers waits in a bounded queue instead of multiplying the work.
//!
//! It must not judge transactions: [`Node::submit_transaction`] does.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use crate::ledger::TxSubmitError;
use crate::network::protocol::{MAX_MEMPOOL_TXIDS, MAX_TXS_PER_REQUEST, Request, Response};
use crate::network::verdict::{self, Verdict};
use crate::network::{NetworkHandle, Offence};
use crate::node::{Node, TxOrigin};
use crate::outage::StorageStatus;
use crate::primitives::{Transaction, Txid, decode};
use crate::tasks::Tasks;
use crate::telemetry;

/// How often a random peer is asked for its mempool.
pub const PULL_INTERVAL: Duration = Duration::from_secs(30);
/// Transactions fetched from one peer in one round at most (the rest wait for the next).
pub const MAX_PULLED_PER_ROUND: usize = 1_000;
/// New peers waiting for their first pull at most; beyond, the periodic pull covers them.
const MAX_QUEUED: usize = 32;
/// How long a refused or undelivered txid is not asked for again, at least.
pub const SKIP_FOR: Duration = Duration::from_secs(60);
/// Txids skipped at most (forgotten all at once beyond).
const MAX_SKIPPED: usize = 50_000;
/// How often the connected peers are looked at.
const TICK: Duration = Duration::from_secs(1);
/// How long a peer may take to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Whom to pull from next: each new peer once, then a random one every [`PULL_INTERVAL`].
#[derive(Debug)]
pub struct PullSchedule<P> {
    connected: Vec<P>,
    queue: VecDeque<P>,
    next_periodic: Option<Instant>,
}

impl<P> Default for PullSchedule<P> {
    fn default() -> Self {
        Self {
            connected: Vec::new(),
            queue: VecDeque::new(),
            next_periodic: None,
        }
    }
}

impl<P: Copy + Eq + Hash> PullSchedule<P> {
    /// The peers connected now: newcomers queue for a pull, departed ones leave the queue.
    pub fn on_peers(&mut self, now: impl IntoIterator<Item = P>) {
        let now: Vec<P> = now.into_iter().collect();
        let before: HashSet<P> = self.connected.iter().copied().collect();
        let present: HashSet<P> = now.iter().copied().collect();
        self.queue.retain(|p| present.contains(p));
        for peer in now.iter().filter(|p| !before.contains(p)) {
            if self.queue.len() < MAX_QUEUED {
                self.queue.push_back(*peer);
            }
        }
        self.connected = now;
    }

    /// The peer to pull from at `now`, if any; `random` picks the periodic one. The first
    /// periodic pull comes one interval after the first call: newcomers are pulled from
    /// anyway.
    pub fn next(&mut self, now: Instant, random: usize) -> Option<P> {
        let next_periodic = *self.next_periodic.get_or_insert(now + PULL_INTERVAL);
        if let Some(peer) = self.queue.pop_front() {
            return Some(peer);
        }
        if now < next_periodic || self.connected.is_empty() {
            return None;
        }
        self.next_periodic = Some(now + PULL_INTERVAL);
        Some(self.connected[random % self.connected.len()])
    }
}

/// The transactions of a `Transactions` answer, if each decodes and was asked for.
pub fn take_asked(asked: &HashSet<Txid>, raw: &[Vec<u8>]) -> Result<Vec<Transaction>, Offence> {
    raw.iter()
        .map(|bytes| {
            let tx = decode::<Transaction>(bytes).map_err(|_| Offence::Undecodable)?;
            if asked.contains(&tx.txid()) {
                Ok(tx)
            } else {
                Err(Offence::ProtocolViolation)
            }
        })
        .collect()
}

/// Runs mempool sync until the node stops.
pub async fn run(node: Arc<Node>, network: NetworkHandle, tasks: Tasks) {
    let mut puller = Puller {
        node,
        network,
        tasks: tasks.clone(),
        skipped: Skipped::default(),
    };
    let mut schedule = PullSchedule::default();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            () = tasks.stopping() => return,
            _ = tick.tick() => {}
        }
        schedule.on_peers(puller.connected_peers());
        if !puller.may_pull() {
            continue;
        }
        if let Some(peer) = schedule.next(Instant::now(), fastrand::usize(..)) {
            puller.pull(peer).await;
        }
    }
}

struct Puller {
    node: Arc<Node>,
    network: NetworkHandle,
    tasks: Tasks,
    skipped: Skipped,
}

/// Txids not to ask for again for a while: two generations, the older one dropped every
/// [`SKIP_FOR`].
#[derive(Debug, Default)]
struct Skipped {
    current: HashSet<Txid>,
    previous: HashSet<Txid>,
    rotated: Option<Instant>,
}

impl Skipped {
    fn contains(&self, txid: &Txid) -> bool {
        self.current.contains(txid) || self.previous.contains(txid)
    }

    fn insert(&mut self, txid: Txid) {
        if self.current.len() >= MAX_SKIPPED {
            self.current.clear();
        }
        self.current.insert(txid);
    }

    /// Forgets the older generation once it is [`SKIP_FOR`] old.
    fn age(&mut self, now: Instant) {
        let rotated = *self.rotated.get_or_insert(now);
        if now.duration_since(rotated) >= SKIP_FOR {
            self.previous = std::mem::take(&mut self.current);
            self.rotated = Some(now);
        }
    }
}

impl Puller {
    /// Whether a pull may start: the database is up and no blocks are being fetched.
    fn may_pull(&self) -> bool {
        let chain = self.node.chain_status();
        self.node.storage_status() == StorageStatus::Up
            && chain.best_header_work <= chain.chain_work
    }

    fn connected_peers(&self) -> Vec<PeerId> {
        let view = self.network.view();
        view.peers
            .iter()
            .filter_map(|p| p.peer_id.parse().ok())
            .collect()
    }

    /// One round with `peer`: its listing, then what we lack of it, batch by batch.
    async fn pull(&mut self, peer: PeerId) {
        self.skipped.age(Instant::now());
        let Some(listed) = self.listing(peer).await else {
            return;
        };
        let pool = self.node.snapshot();
        let wanted: Vec<Txid> = listed
            .into_iter()
            .filter(|txid| pool.mempool.get(txid).is_none() && !self.skipped.contains(txid))
            .take(MAX_PULLED_PER_ROUND)
            .collect();
        drop(pool);
        if !wanted.is_empty() {
            tracing::debug!(%peer, wanted = wanted.len(), "pulling mempool transactions");
        }
        for batch in wanted.chunks(MAX_TXS_PER_REQUEST) {
            if self.tasks.is_stopping() || !self.fetch(peer, batch).await {
                return;
            }
        }
    }

    /// The txids `peer` lists, or `None` if it gave no valid listing.
    async fn listing(&mut self, peer: PeerId) -> Option<Vec<Txid>> {
        match self.ask(peer, Request::Mempool).await? {
            Response::Mempool(txids) if txids.len() <= MAX_MEMPOOL_TXIDS => {
                Some(txids.into_iter().map(Txid::from_byte_array).collect())
            }
            Response::Mempool(_) => {
                self.network
                    .penalize(peer, Offence::ProtocolViolation)
                    .await;
                None
            }
            other => {
                tracing::debug!(%peer, ?other, "mempool request not answered with a listing");
                None
            }
        }
    }

    /// Fetches and submits one batch; `false` when the round with `peer` should end.
    async fn fetch(&mut self, peer: PeerId, batch: &[Txid]) -> bool {
        let request =
            Request::Transactions(batch.iter().map(|txid| txid.to_byte_array()).collect());
        let Some(Response::Transactions(raw)) = self.ask(peer, request).await else {
            return false;
        };
        let asked: HashSet<Txid> = batch.iter().copied().collect();
        let txs = match take_asked(&asked, &raw) {
            Ok(txs) => txs,
            Err(offence) => {
                tracing::info!(%peer, ?offence, "peer answered a transactions request wrongly");
                self.network.penalize(peer, offence).await;
                return false;
            }
        };
        let delivered: HashSet<Txid> = txs.iter().map(Transaction::txid).collect();
        self.skip(asked.difference(&delivered).copied());
        for tx in txs {
            if !self.submit(peer, tx).await {
                return false;
            }
        }
        true
    }

    /// Submits one pulled transaction; `false` when the round should end (the peer sent
    /// an invalid one, or our database is down).
    async fn submit(&mut self, peer: PeerId, tx: Transaction) -> bool {
        let txid = tx.txid();
        let result = self.node.submit_transaction(tx, TxOrigin::Pulled).await;
        if matches!(result, Err(TxSubmitError::Store(_))) {
            return false;
        }
        match verdict::on_transaction(&result) {
            Verdict::Accept => {
                metrics::counter!(telemetry::SYNC_TXS).increment(1);
                true
            }
            Verdict::Ignore => {
                self.skip([txid]);
                true
            }
            Verdict::Reject(offence) => {
                tracing::info!(%peer, %txid, "peer's mempool held an invalid transaction");
                self.network.penalize(peer, offence).await;
                false
            }
        }
    }

    async fn ask(&mut self, peer: PeerId, request: Request) -> Option<Response> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.network.request(peer, request)).await {
            Ok(Ok(response)) => Some(response),
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "mempool sync request failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "mempool sync request unanswered");
                None
            }
        }
    }

    fn skip(&mut self, txids: impl IntoIterator<Item = Txid>) {
        for txid in txids {
            self.skipped.insert(txid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Amount, BlockHash, OutPoint, TxOut, encode};
    use crate::testkit::{key, spend};

    fn payment(seed: u8) -> Transaction {
        let coin = OutPoint::new(Txid::from_byte_array([seed; 32]), 0);
        let to = TxOut::to_address(Amount::coins(1), &key(seed).address());
        spend(&[coin], &key(seed), vec![to], &BlockHash::ZERO)
    }

    #[test]
    fn every_new_peer_is_pulled_from_once_then_one_random_peer_per_interval() {
        let mut schedule = PullSchedule::default();
        let start = Instant::now();
        schedule.on_peers([1, 2]);
        assert_eq!(schedule.next(start, 0), Some(1));
        assert_eq!(schedule.next(start, 0), Some(2));
        assert_eq!(schedule.next(start, 1), None, "both were just pulled from");
        schedule.on_peers([1, 2]);
        let half = start + PULL_INTERVAL / 2;
        assert_eq!(schedule.next(half, 0), None, "no newcomer, no pull due");
        schedule.on_peers([2, 3]);
        assert_eq!(schedule.next(half, 0), Some(3));
        let due = start + PULL_INTERVAL;
        assert_eq!(
            schedule.next(due, 1),
            Some(3),
            "the periodic pull, at random"
        );
        assert_eq!(schedule.next(due, 1), None, "and the next one waits");
        assert_eq!(schedule.next(due + PULL_INTERVAL, 0), Some(2));
    }

    #[test]
    fn a_crowd_of_new_peers_waits_in_a_bounded_queue_and_leavers_leave_it() {
        let mut schedule = PullSchedule::default();
        schedule.on_peers(0..1000);
        assert_eq!(schedule.queue.len(), MAX_QUEUED);
        schedule.on_peers(1..1000);
        assert_eq!(schedule.queue.front(), Some(&1), "peer 0 left");
        schedule.on_peers(std::iter::empty());
        let later = Instant::now() + PULL_INTERVAL * 2;
        assert_eq!(schedule.next(later, 7), None, "nobody to ask");
    }

    #[test]
    fn a_skipped_txid_is_asked_for_again_after_one_to_two_skip_periods() {
        let mut skipped = Skipped::default();
        let (start, txid) = (Instant::now(), Txid::from_byte_array([1; 32]));
        skipped.age(start);
        skipped.insert(txid);
        skipped.age(start + SKIP_FOR / 2);
        assert!(skipped.contains(&txid));
        skipped.age(start + SKIP_FOR);
        assert!(
            skipped.contains(&txid),
            "one period: still the previous generation"
        );
        skipped.age(start + SKIP_FOR * 2);
        assert!(!skipped.contains(&txid), "two periods: forgotten");
    }

    #[test]
    fn only_decodable_transactions_that_were_asked_for_are_taken() {
        let (asked_tx, other_tx) = (payment(1), payment(2));
        let asked: HashSet<Txid> = [asked_tx.txid()].into();
        assert_eq!(
            take_asked(&asked, &[encode(&asked_tx)]),
            Ok(vec![asked_tx.clone()])
        );
        assert_eq!(
            take_asked(&asked, &[encode(&asked_tx), encode(&other_tx)]),
            Err(Offence::ProtocolViolation),
            "a transaction nobody asked for"
        );
        assert_eq!(
            take_asked(&asked, &[vec![0xff; 3]]),
            Err(Offence::Undecodable)
        );
        assert_eq!(take_asked(&asked, &[]), Ok(vec![]), "nothing is no offence");
    }
}
