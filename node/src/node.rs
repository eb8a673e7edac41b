//! The node service: the ledger behind one lock, and what everyone else needs from it.
//!
//! The REST API and the peer-to-peer network both go through [`Node`]: they submit blocks and
//! transactions, read a cheap snapshot of the tip, and subscribe to [`NodeEvent`]s. After each
//! change the node publishes events, refreshes the snapshot and metrics, and pokes the
//! explorer indexer. It knows nothing of HTTP or libp2p.
//!
//! What it publishes (events, the snapshot, gossip announcements, a 2xx) is only ever what
//! the database has committed: each write flushes before anything is published. After a
//! storage error the ledger is dropped and reopened from the database by [`Node::recover`]
//! (see [`crate::outage`]); meanwhile writes fail at once with `StoreError::Down`, reads
//! that need the ledger too, and what the snapshot answers keeps working.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, Notify, broadcast, watch};

use crate::chain::ChainUpdate;
use crate::chainstate::{ChainError, OverrideError, SubmitOutcome};
use crate::consensus::Network;
use crate::events::{Backlog, EventLog, NodeEvent, Sequenced};
use crate::indexer::IndexerHandle;
use crate::ledger::{Ledger, Override, TxSubmitError};
use crate::mempool::{Accepted, BlockTemplate};
use crate::outage::{self, LedgerSlot, StorageStatus};
use crate::primitives::{
    Address, Block, BlockHash, CompactTarget, Height, IdentifiedTx, Transaction, Work,
};
use crate::storage::{ChainTip, MiningRecord, SqlStore, StoreError};
use crate::tasks::Tasks;
use crate::telemetry;

/// Events kept for clients that reconnect, and buffered per subscriber before a slow one
/// starts missing some.
const EVENT_BUFFER: usize = 1024;
/// Templates remembered for `submit_block` by id.
const TEMPLATES_KEPT: usize = 128;
/// Reorgs remembered for `/stats`.
const REORGS_KEPT: usize = 50;
/// How long a client's `submit_block` waits for the explorer index to include the block.
const INDEX_WAIT: Duration = Duration::from_secs(2);

/// The node's clock: Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What this node should tell its peers about: blocks its miners found, transactions its
/// clients sent. (What arrives by gossip is forwarded by gossip itself.)
#[derive(Clone, Debug)]
pub enum Announcement {
    Block(Arc<Block>),
    Transaction(Arc<Transaction>),
}

/// Where a transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOrigin {
    Client,
    Network,
}

/// The chain as a peer needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    pub genesis: BlockHash,
    pub tip: BlockHash,
    pub height: Height,
    pub chain_work: Work,
    /// The work of the best header known, bodies or not (where a sync is heading).
    pub best_header_work: Work,
}

/// Where a block came from (metrics, mining statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOrigin {
    /// A miner through `/submit_block`, possibly for a template we issued.
    Miner { template_id: Option<u64> },
    /// A peer.
    Network,
}

impl BlockOrigin {
    /// The sources' names in metrics, every one.
    pub const LABELS: [&'static str; 2] = ["miner", "network"];

    fn label(self) -> &'static str {
        match self {
            BlockOrigin::Miner { .. } => Self::LABELS[0],
            BlockOrigin::Network => Self::LABELS[1],
        }
    }
}

/// What `/status` and friends read without touching the ledger's lock.
#[derive(Clone, Debug)]
pub struct ChainSnapshot {
    pub tip: ChainTip,
    pub bits: CompactTarget,
    pub chain_work: Work,
    pub tip_time: u32,
    pub median_time_past: u32,
    pub mempool_count: usize,
    pub mempool_bytes: usize,
}

/// A reorganisation, as remembered for `/stats`.
#[derive(Clone, Debug, Serialize)]
pub struct ReorgRecord {
    pub depth: usize,
    pub old_tip: BlockHash,
    pub new_tip: BlockHash,
    pub fork_height: Height,
    pub time: u64,
}

/// A peer as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    /// The connection's remote address.
    pub address: String,
    /// Where the peer listens (what others should dial).
    pub listen_addrs: Vec<String>,
    pub direction: &'static str,
    pub rest_url: Option<String>,
    pub node_id: Option<String>,
    pub height: Option<u32>,
    pub score: f64,
    pub ping_ms: Option<u64>,
}

/// A peer kept out for misbehaving.
#[derive(Clone, Debug, Serialize)]
pub struct BannedPeer {
    pub peer_id: String,
    pub seconds_left: u64,
}

/// A peer to connect to, as an operator names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerTarget {
    /// A node's REST URL, whose `/getpeers` gives its peer id and addresses.
    RestUrl(String),
    /// A libp2p multiaddr (ending in `/p2p/<peer id>` or not).
    Multiaddr(String),
}

/// What the node asks of its peer-to-peer network (implemented by `network`).
pub trait PeerControl: Send + Sync + std::fmt::Debug {
    /// Connects to `target`.
    fn add_peer(
        &self,
        target: PeerTarget,
    ) -> futures::future::BoxFuture<'_, Result<(), crate::network::NetworkError>>;
    /// Looks for more peers (a Kademlia walk); returns the peer ids found.
    fn discover(&self) -> futures::future::BoxFuture<'_, Vec<String>>;
}

/// Static facts about this node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node_id: String,
    pub network: Network,
    pub version: &'static str,
    /// This node's REST URL as peers should reach it, once the API listens.
    pub rest_url: String,
}

/// A template handed to a miner, kept to rebuild compact submissions.
#[derive(Clone, Debug)]
struct IssuedTemplate {
    template: BlockTemplate,
    issued: Instant,
}

/// The node.
#[derive(Debug)]
pub struct Node {
    info: NodeInfo,
    started: Instant,
    store: SqlStore,
    ledger: Mutex<LedgerSlot>,
    /// Whether the database is there, readable without the ledger's lock.
    storage: watch::Sender<StorageStatus>,
    /// Woken when the ledger is lost, to open it again.
    lost: Notify,
    indexer: IndexerHandle,
    events: EventLog,
    snapshot: watch::Sender<Arc<ChainSnapshot>>,
    templates: StdMutex<(u64, VecDeque<u64>, HashMap<u64, IssuedTemplate>)>,
    reorgs: StdMutex<VecDeque<ReorgRecord>>,
    peers: watch::Sender<Vec<PeerInfo>>,
    banned: watch::Sender<Vec<BannedPeer>>,
    local_peer: watch::Sender<(String, Vec<String>)>,
    network: StdMutex<Option<Arc<dyn PeerControl>>>,
    announcements: broadcast::Sender<Announcement>,
}

impl Node {
    pub fn new(
        info: NodeInfo,
        store: SqlStore,
        ledger: Ledger<SqlStore>,
        indexer: IndexerHandle,
    ) -> Arc<Self> {
        let snapshot = snapshot_of(&ledger);
        set_gauges(&snapshot);
        let snapshot = watch::Sender::new(Arc::new(snapshot));
        let first_event = EventLog::first_id_at(unix_millis());
        let events = EventLog::new(EVENT_BUFFER, first_event);
        Arc::new(Self {
            info,
            started: Instant::now(),
            store,
            ledger: Mutex::new(LedgerSlot::Ready(ledger)),
            storage: watch::Sender::new(StorageStatus::Up),
            lost: Notify::new(),
            indexer,
            events,
            snapshot,
            templates: StdMutex::new((0, VecDeque::new(), HashMap::new())),
            reorgs: StdMutex::new(VecDeque::new()),
            peers: watch::Sender::new(Vec::new()),
            banned: watch::Sender::new(Vec::new()),
            local_peer: watch::Sender::new((String::new(), Vec::new())),
            network: StdMutex::new(None),
            announcements: broadcast::channel(EVENT_BUFFER).0,
        })
    }

    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    pub fn indexer(&self) -> &IndexerHandle {
        &self.indexer
    }

    /// The ledger, for reads that need the chain or the mempool (hold it briefly); an
    /// error while the database is lost.
    pub async fn ledger(&self) -> Result<MappedMutexGuard<'_, Ledger<SqlStore>>, StoreError> {
        MutexGuard::try_map(self.ledger.lock().await, |slot| slot.ready().ok())
            .map_err(|mut slot| slot.ready().expect_err("the ledger is gone"))
    }

    /// Whether the database is there.
    pub fn storage_status(&self) -> StorageStatus {
        self.storage.borrow().clone()
    }

    /// Drops the ledger after a storage error (its memory may be ahead of the database)
    /// and wakes [`Node::recover`]. Nothing it held was published.
    async fn lose_ledger(&self, slot: &mut LedgerSlot, cause: String) {
        tracing::error!(%cause, "lost the database: dropping the in-memory chain state until it can be reloaded");
        if let Some(ledger) = slot.lose(cause.clone(), unix_now()) {
            ledger.close().await;
            metrics::counter!(telemetry::STORAGE_OUTAGES).increment(1);
        }
        if let LedgerSlot::Down(outage) = slot {
            self.set_storage(StorageStatus::Down {
                since: outage.since,
                cause,
            });
        }
        self.lost.notify_one();
    }

    fn set_storage(&self, status: StorageStatus) {
        status.record();
        self.storage.send_replace(status);
    }

    /// Runs for the node's life: whenever the ledger is lost, opens it again from the
    /// database (with backoff), then publishes what the database holds beyond what was
    /// published before (blocks committed whose acknowledgement was lost with the ledger).
    pub async fn recover(self: Arc<Self>, tasks: Tasks) {
        loop {
            tokio::select! {
                () = self.lost.notified() => {}
                () = tasks.stopping() => return,
            }
            let outage = match &*self.ledger.lock().await {
                LedgerSlot::Down(outage) => outage.clone(),
                LedgerSlot::Ready(_) => continue,
            };
            let reopened = outage::reopen(&self.store, &outage, unix_now, |cause| {
                self.set_storage(StorageStatus::Down {
                    since: outage.since,
                    cause,
                });
            });
            // A reopen only reads and rewrites the tip row: it may be dropped at shutdown.
            tokio::select! {
                ledger = reopened => self.install(ledger).await,
                () = tasks.stopping() => return,
            }
        }
    }

    /// Puts a reopened ledger in place and publishes the tip change since the last
    /// published tip.
    async fn install(&self, mut ledger: Ledger<SqlStore>) {
        let published = self.snapshot().tip.hash;
        let catch_up = match ledger.chain().update_since(&published).await {
            Ok(update) => update,
            Err(error) => {
                tracing::warn!(%error, "could not replay the tip change made during the outage");
                None
            }
        };
        let mut slot = self.ledger.lock().await;
        self.publish(&ledger, catch_up.into_iter().collect());
        self.refresh_snapshot(&ledger);
        let _ = ledger.take_updates();
        *slot = LedgerSlot::Ready(ledger);
        self.set_storage(StorageStatus::Up);
        tracing::info!(tip = %self.snapshot().tip.hash, "the database is back: chain state reloaded");
    }

    pub fn snapshot(&self) -> Arc<ChainSnapshot> {
        self.snapshot.borrow().clone()
    }

    /// The live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Sequenced> {
        self.events.subscribe()
    }

    /// For a client whose last event was `last_id`: the kept events it missed, then the
    /// live ones.
    pub fn resume_events(&self, last_id: u64) -> (Backlog, broadcast::Receiver<Sequenced>) {
        self.events.resume(last_id)
    }

    /// Blocks and transactions to announce to peers.
    pub fn announcements(&self) -> broadcast::Receiver<Announcement> {
        self.announcements.subscribe()
    }

    /// The chain as peers need to know it.
    pub async fn chain_status(&self) -> ChainStatus {
        let Ok(ledger) = self.ledger().await else {
            // The committed tip, and no claim of a better header chain.
            let snapshot = self.snapshot();
            return ChainStatus {
                genesis: self.info.network.params().genesis_hash(),
                tip: snapshot.tip.hash,
                height: snapshot.tip.height,
                chain_work: snapshot.chain_work,
                best_header_work: snapshot.chain_work,
            };
        };
        let chain = ledger.chain();
        let tip = chain.tip();
        ChainStatus {
            genesis: chain.params().genesis_hash(),
            tip: tip.hash,
            height: tip.height,
            chain_work: chain
                .index()
                .get(&tip.hash)
                .map_or(Work::ZERO, |e| e.chain_work),
            best_header_work: chain.best_header_work(),
        }
    }

    /// Headers from a peer (see `ChainState::submit_headers`).
    pub async fn submit_headers(
        &self,
        headers: &[crate::primitives::BlockHeader],
    ) -> Result<crate::chainstate::HeadersOutcome, ChainError> {
        let mut slot = self.ledger.lock().await;
        let ledger = slot.ready()?;
        let result = ledger.chain_mut().submit_headers(headers, unix_now()).await;
        if let Some(error) = storage_failure(&result) {
            self.lose_ledger(&mut slot, error.to_string()).await;
        }
        result
    }

    /// Bodies to fetch for the best header chain, oldest first (none while the database
    /// is lost).
    pub async fn wanted_bodies(&self, limit: usize) -> Vec<BlockHash> {
        self.ledger()
            .await
            .map_or_else(|_| Vec::new(), |l| l.chain().wanted_bodies(limit))
    }

    /// A locator of the best header chain (empty while the database is lost).
    pub async fn header_locator(&self) -> Vec<BlockHash> {
        self.ledger()
            .await
            .map_or_else(|_| Vec::new(), |l| l.chain().header_locator())
    }

    /// Main-chain headers after `locator` (at most `limit`), for a peer.
    pub async fn headers_after(
        &self,
        locator: &[BlockHash],
        limit: usize,
    ) -> Vec<crate::primitives::BlockHeader> {
        self.ledger()
            .await
            .map_or_else(|_| Vec::new(), |l| l.chain().headers_after(locator, limit))
    }

    /// Stored bodies of `hashes`, in order, canonically encoded (the unknown ones are
    /// skipped), read one at a time until they hold `max_bytes` (always at least one): a
    /// request for many large blocks costs at most that much memory, plus one block.
    pub async fn encoded_blocks(
        &self,
        hashes: &[BlockHash],
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, crate::storage::StoreError> {
        use crate::storage::ChainStore;
        let mut total = 0;
        let mut out = Vec::new();
        for hash in hashes {
            let Some(block) = self.store.block(hash).await? else {
                continue;
            };
            let encoded = crate::primitives::encode(&block);
            drop(block);
            if !out.is_empty() && total + encoded.len() > max_bytes {
                break;
            }
            total += encoded.len();
            out.push(encoded);
        }
        Ok(out)
    }

    pub fn reorgs(&self) -> Vec<ReorgRecord> {
        self.reorgs
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Connected peers, as the network last reported them.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers.borrow().clone()
    }

    /// Peers banned for misbehaving, as the network last reported them.
    pub fn banned(&self) -> Vec<BannedPeer> {
        self.banned.borrow().clone()
    }

    pub fn set_banned(&self, banned: Vec<BannedPeer>) {
        metrics::gauge!(telemetry::BANNED_PEERS).set(banned.len() as f64);
        self.banned.send_replace(banned);
    }

    /// This node's peer id and listen addresses (empty until the network starts).
    pub fn local_peer(&self) -> (String, Vec<String>) {
        self.local_peer.borrow().clone()
    }

    /// Called by the network whenever its peer set changes.
    pub fn set_peers(&self, peers: Vec<PeerInfo>) {
        metrics::gauge!(telemetry::PEERS).set(peers.len() as f64);
        self.peers.send_replace(peers);
    }

    pub fn set_local_peer(&self, peer_id: String, listen_addrs: Vec<String>) {
        self.local_peer.send_replace((peer_id, listen_addrs));
    }

    /// Connects the peer-to-peer network's controls.
    pub fn set_network(&self, network: Arc<dyn PeerControl>) {
        *self.network.lock().expect("not poisoned") = Some(network);
    }

    /// The network's controls, once it runs.
    pub fn network(&self) -> Option<Arc<dyn PeerControl>> {
        self.network.lock().expect("not poisoned").clone()
    }

    /// Submits a block and waits until its effects are committed (and, for a miner's
    /// block, indexed).
    pub async fn submit_block(
        &self,
        block: Block,
        origin: BlockOrigin,
    ) -> Result<SubmitOutcome, ChainError> {
        let arrived = Instant::now();
        let hash = block.block_hash();
        let time = block.header.time;
        let miner = block
            .coinbase()
            .and_then(|cb| cb.outputs.first())
            .map(|o| o.address());
        let announced =
            matches!(origin, BlockOrigin::Miner { .. }).then(|| Arc::new(block.clone()));
        let (result, height) = {
            let mut slot = self.ledger.lock().await;
            let ledger = slot.ready()?;
            // `submit_block` flushes: what is published below is committed.
            let result = ledger.submit_block(block, unix_now()).await;
            if let Some(error) = storage_failure(&result) {
                self.lose_ledger(&mut slot, error.to_string()).await;
                return result;
            }
            let updates = ledger.take_updates();
            self.publish(ledger, updates);
            self.announce_readded(ledger);
            let height = ledger.chain().index().get(&hash).map(|e| e.height);
            (result, height)
        };
        self.count_block(&result, origin);
        if let Ok(SubmitOutcome::Accepted { on_main_chain }) = &result {
            time_block(
                arrived,
                time,
                *on_main_chain && origin == BlockOrigin::Network,
            );
        }
        if let (Ok(SubmitOutcome::Accepted { .. }), Some(block)) = (&result, announced) {
            let _ = self.announcements.send(Announcement::Block(block));
        }
        if let (
            Ok(SubmitOutcome::Accepted { on_main_chain }),
            BlockOrigin::Miner { template_id },
            Some(height),
        ) = (&result, origin, height)
        {
            self.record_mined(hash, height, time, miner, template_id)
                .await;
            if *on_main_chain {
                let _ = tokio::time::timeout(INDEX_WAIT, self.indexer.wait_for(hash, height)).await;
            }
        }
        result
    }

    /// Submits a run of blocks from a peer (a sync): checking each overlaps committing the
    /// one before, and the run is flushed before anything of it is published. Returns each
    /// block's outcome; when the database fails, every block not refused by a rule is
    /// reported as that storage error (not acknowledged, so fetched again later).
    pub async fn submit_blocks(
        &self,
        blocks: Vec<Block>,
    ) -> Vec<Result<SubmitOutcome, ChainError>> {
        let mut slot = self.ledger.lock().await;
        let ledger = match slot.ready() {
            Ok(ledger) => ledger,
            Err(_) => {
                return blocks
                    .iter()
                    .map(|_| {
                        Err(ChainError::Store(
                            slot.ready().expect_err("the ledger is gone"),
                        ))
                    })
                    .collect();
            }
        };
        let mut results = Vec::with_capacity(blocks.len());
        let mut updates = Vec::new();
        let mut failure = None;
        for block in blocks {
            if failure.is_some() {
                results.push(Ok(SubmitOutcome::AlreadyKnown));
                continue;
            }
            let result = ledger.submit_block_pipelined(block, unix_now()).await;
            updates.extend(ledger.take_updates());
            if let Some(error) = storage_failure(&result) {
                failure = Some(error.to_string());
            }
            results.push(result);
        }
        if failure.is_none()
            && let Err(error) = ledger.flush().await
        {
            failure = Some(error.to_string());
        }
        if let Some(cause) = failure {
            self.lose_ledger(&mut slot, cause.clone()).await;
            let lost = StoreError::Down {
                since: unix_now(),
                cause,
            };
            return results
                .into_iter()
                .map(|r| match r {
                    Err(e) if e.reason().is_some() => Err(e),
                    _ => Err(ChainError::Store(lost.clone())),
                })
                .collect();
        }
        for result in &results {
            self.count_block(result, BlockOrigin::Network);
        }
        self.publish(ledger, updates);
        self.announce_readded(ledger);
        results
    }

    /// Validates a transaction and adds it to the mempool; a client's is then announced.
    pub async fn submit_transaction(
        &self,
        tx: Transaction,
        origin: TxOrigin,
    ) -> Result<Accepted, TxSubmitError> {
        // Hashed before the lock: a refused copy then costs the lock a filter look-up.
        let tx = IdentifiedTx::new(tx);
        let mut slot = self.ledger.lock().await;
        let ledger = slot.ready()?;
        let result = ledger.submit_transaction(&tx, unix_now()).await;
        match &result {
            Ok(accepted) => {
                let shared = Arc::new(tx.tx().clone());
                metrics::counter!(telemetry::TXS_ACCEPTED).increment(1);
                if origin == TxOrigin::Client {
                    let _ = self
                        .announcements
                        .send(Announcement::Transaction(Arc::clone(&shared)));
                }
                let event = NodeEvent::TxAccepted {
                    txid: accepted.txid,
                    fee_units: accepted.fee.units(),
                    size: accepted.size,
                    tx: shared,
                };
                self.events.push(event);
                self.refresh_snapshot(ledger);
            }
            Err(TxSubmitError::Rejected(error)) => {
                metrics::counter!(telemetry::TXS_REJECTED, "reason" => error.code()).increment(1);
            }
            Err(TxSubmitError::Store(error)) => {
                self.lose_ledger(&mut slot, error.to_string()).await
            }
        }
        result
    }

    /// Whether `tx` would be accepted now (Bitcoin Core's `testmempoolaccept`): nothing is
    /// stored, announced or remembered.
    pub async fn test_transaction(&self, tx: IdentifiedTx) -> Result<Accepted, TxSubmitError> {
        let ledger = self.ledger().await?;
        ledger.test_transaction(&tx).await
    }

    /// An operator's override of a block's validity; returns once the tip changes it made
    /// are committed and published.
    pub async fn override_block(
        &self,
        hash: &BlockHash,
        action: Override,
    ) -> Result<(), OverrideError> {
        let mut slot = self.ledger.lock().await;
        let ledger = slot.ready().map_err(OverrideError::from)?;
        let result = ledger.override_block(hash, action, unix_now()).await;
        if let Err(OverrideError::Chain(error)) = &result
            && error.is_storage()
        {
            self.lose_ledger(&mut slot, error.to_string()).await;
            return result;
        }
        let updates = ledger.take_updates();
        self.publish(ledger, updates);
        self.announce_readded(ledger);
        result
    }

    /// A block template paying `payout`, remembered under the returned id.
    pub async fn issue_template(
        &self,
        payout: &Address,
    ) -> Result<(u64, BlockTemplate), TxSubmitError> {
        self.issue_template_at(payout, unix_now()).await
    }

    /// [`Node::issue_template`] for a block stamped no earlier than `time` (Unix seconds).
    pub async fn issue_template_at(
        &self,
        payout: &Address,
        time: u64,
    ) -> Result<(u64, BlockTemplate), TxSubmitError> {
        let id = {
            let (counter, _, _) = &mut *self.templates.lock().expect("not poisoned");
            *counter += 1;
            *counter
        };
        let template = {
            let ledger = self.ledger().await?;
            ledger.template(
                payout,
                time,
                id,
                format!("chaincore/{}", self.info.node_id).as_bytes(),
            )?
        };
        let mut guard = self.templates.lock().expect("not poisoned");
        let (_, order, issued) = &mut *guard;
        order.push_back(id);
        issued.insert(
            id,
            IssuedTemplate {
                template: template.clone(),
                issued: Instant::now(),
            },
        );
        while order.len() > TEMPLATES_KEPT {
            if let Some(old) = order.pop_front() {
                issued.remove(&old);
            }
        }
        Ok((id, template))
    }

    /// A template issued earlier, if still remembered.
    pub fn template(&self, id: u64) -> Option<BlockTemplate> {
        self.templates
            .lock()
            .expect("not poisoned")
            .2
            .get(&id)
            .map(|t| t.template.clone())
    }

    /// Drops mempool entries past their expiry.
    pub async fn expire_mempool(&self) {
        let mut slot = self.ledger.lock().await;
        let Ok(ledger) = slot.ready() else {
            return;
        };
        match ledger.expire_mempool(unix_now()).await {
            Ok(expired) if !expired.is_empty() => {
                tracing::info!(count = expired.len(), "expired mempool transactions");
                self.refresh_snapshot(ledger);
            }
            Ok(_) => {}
            Err(error) => self.lose_ledger(&mut slot, error.to_string()).await,
        }
    }

    /// Commits whatever is pending (for shutdown); nothing to do while the database is lost.
    pub async fn flush(&self) -> Result<(), ChainError> {
        let mut slot = self.ledger.lock().await;
        match slot.ready() {
            Ok(ledger) => ledger.flush().await,
            Err(_) => Ok(()),
        }
    }

    fn count_block(&self, result: &Result<SubmitOutcome, ChainError>, origin: BlockOrigin) {
        let source = origin.label();
        match result {
            Ok(SubmitOutcome::Accepted { .. }) => {
                metrics::counter!(telemetry::BLOCKS_ACCEPTED, "source" => source).increment(1);
            }
            Ok(_) => {}
            Err(error) => {
                let reason = error.reason().unwrap_or("storage");
                metrics::counter!(telemetry::BLOCKS_REJECTED, "reason" => reason).increment(1);
            }
        }
    }

    async fn record_mined(
        &self,
        hash: BlockHash,
        height: Height,
        time: u32,
        miner: Option<Address>,
        template_id: Option<u64>,
    ) {
        let Some(miner_address) = miner else { return };
        let elapsed = template_id.and_then(|id| {
            let guard = self.templates.lock().expect("not poisoned");
            guard
                .2
                .get(&id)
                .map(|t| u64::try_from(t.issued.elapsed().as_millis()).unwrap_or(u64::MAX))
        });
        let record = MiningRecord {
            block_hash: hash,
            height,
            miner_address,
            block_time: time,
            accepted_at: unix_now(),
            template_to_submit_ms: elapsed,
        };
        if let Err(error) = self.store.record_mined_block(&record).await {
            tracing::warn!(%error, "could not record mining statistics");
        }
    }

    /// Gossips again the transactions a reorg returned to the mempool: peers that were on
    /// the winning branch (across a partition) may never have seen them.
    /// Each also gets a `tx_readded` event, after the chain events of its reorg.
    fn announce_readded(&self, ledger: &mut Ledger<SqlStore>) {
        for readded in ledger.take_readded() {
            self.events.push(NodeEvent::TxReadded {
                txid: readded.txid,
                fee_units: readded.fee.units(),
                size: readded.size,
            });
            let _ = self
                .announcements
                .send(Announcement::Transaction(readded.tx));
        }
    }

    /// Publishes tip changes: events, reorg log, snapshot, metrics, indexer.
    fn publish(&self, ledger: &Ledger<SqlStore>, updates: Vec<ChainUpdate>) {
        if updates.is_empty() {
            return;
        }
        for update in &updates {
            for event in update.events() {
                self.events.push(NodeEvent::from(event));
            }
            if update.is_reorg() {
                let depth = update.disconnected.len();
                metrics::counter!(telemetry::REORGS).increment(1);
                metrics::histogram!(telemetry::REORG_DEPTH).record(depth as f64);
                tracing::info!(depth, old_tip = %update.old_tip, new_tip = %update.new_tip, "reorganised");
                let mut reorgs = self.reorgs.lock().expect("not poisoned");
                reorgs.push_back(ReorgRecord {
                    depth,
                    old_tip: update.old_tip,
                    new_tip: update.new_tip,
                    fork_height: update.fork_height,
                    time: unix_now(),
                });
                while reorgs.len() > REORGS_KEPT {
                    reorgs.pop_front();
                }
            }
        }
        self.refresh_snapshot(ledger);
        self.indexer.poke();
    }

    fn refresh_snapshot(&self, ledger: &Ledger<SqlStore>) {
        let snapshot = snapshot_of(ledger);
        set_gauges(&snapshot);
        self.snapshot.send_replace(Arc::new(snapshot));
    }
}

fn set_gauges(snapshot: &ChainSnapshot) {
    metrics::gauge!(telemetry::HEIGHT).set(f64::from(snapshot.tip.height.get()));
    metrics::gauge!(telemetry::TIP_TIME).set(f64::from(snapshot.tip_time));
    metrics::gauge!(telemetry::MEMPOOL_TXS).set(snapshot.mempool_count as f64);
    metrics::gauge!(telemetry::MEMPOOL_BYTES).set(snapshot.mempool_bytes as f64);
}

/// Records how long an accepted block took from arrival to commit and, for a new tip from
/// the network, how far behind its header time it arrived.
fn time_block(arrived: Instant, header_time: u32, new_tip_from_network: bool) {
    metrics::histogram!(telemetry::BLOCK_CONNECT).record(arrived.elapsed().as_secs_f64());
    if new_tip_from_network {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let delay = (now - f64::from(header_time)).max(0.0);
        metrics::histogram!(telemetry::BLOCK_ARRIVAL_DELAY).record(delay);
    }
}

fn snapshot_of(ledger: &Ledger<SqlStore>) -> ChainSnapshot {
    let chain = ledger.chain();
    let tip = *chain.tip();
    let entry = chain.index().get(&tip.hash).expect("the tip is indexed");
    let info = ledger.tip_info();
    ChainSnapshot {
        tip,
        bits: entry.header.bits,
        chain_work: entry.chain_work,
        tip_time: entry.header.time,
        median_time_past: info.median_time_past,
        mempool_count: ledger.mempool().len(),
        mempool_bytes: ledger.mempool().total_bytes(),
    }
}

/// The error of `result` if it is the database's, not a rule's: such an error loses the
/// ledger.
fn storage_failure<T>(result: &Result<T, ChainError>) -> Option<&ChainError> {
    result.as_ref().err().filter(|error| error.is_storage())
}
