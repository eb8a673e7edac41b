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
//!
//! Its parts: `writes` the write path (blocks, transactions, overrides), `templates`
//! the templates handed to miners; this file holds the node itself, the snapshot readers
//! read, and publishing. The network's own state is the network's (`network::view`).

mod templates;
mod writes;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, Notify, broadcast, watch};

use crate::chain::{ActiveChain, BlockIndex, BlockStatus, ChainUpdate, ChainView, IndexEntry};
use crate::chainstate::ChainError;
use crate::consensus::Network;
use crate::events::{Backlog, EventLog, NodeEvent, Sequenced};
use crate::indexer::IndexerHandle;
use crate::ledger::{Ledger, LedgerChanges, Readded};
use crate::mempool::MempoolSnapshot;
use crate::outage::{self, LedgerSlot, StorageStatus};
use crate::primitives::{Block, BlockHash, CompactTarget, Height, Transaction, Work};
use crate::storage::{ChainTip, SqlStore, StoreError};
use crate::tasks::Tasks;
use crate::telemetry;

use templates::TemplateBook;
use writes::storage_failure;

/// Events kept for clients that reconnect, and buffered per subscriber before a slow one
/// starts missing some.
const EVENT_BUFFER: usize = 1024;
/// Reorgs remembered for `/stats`.
const REORGS_KEPT: usize = 50;
/// How often the explorer index is asked to catch up while sync fetches bodies.
const INDEX_WHILE_SYNCING: Duration = Duration::from_secs(10);

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
/// clients sent or it pulled from a peer's mempool. (What arrives by gossip is forwarded by
/// gossip itself.)
#[derive(Clone, Debug)]
pub enum Announcement {
    Block(Arc<Block>),
    Transaction(Arc<Transaction>),
}

/// Where a transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOrigin {
    /// A REST client.
    Client,
    /// Gossip, which forwards it once we accept it.
    Network,
    /// A peer's mempool, asked for because gossip did not bring it: peers around us may
    /// lack it too.
    Pulled,
}

impl TxOrigin {
    /// Whether this node announces the transaction once accepted.
    pub fn announced(self) -> bool {
        match self {
            TxOrigin::Client | TxOrigin::Pulled => true,
            TxOrigin::Network => false,
        }
    }
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

/// The committed chain and mempool as the REST API reads them, without the ledger's lock:
/// published after every change, once it is committed. The index, the active chain and the
/// mempool are persistent collections, so a snapshot costs O(1) and shares what did not
/// change with the one before. What only the database holds (bodies, coins, history) is
/// read from the store.
#[derive(Clone, Debug)]
pub struct ChainSnapshot {
    pub tip: ChainTip,
    pub bits: CompactTarget,
    pub chain_work: Work,
    /// The work of the best header known, bodies or not (where a sync is heading).
    pub best_header_work: Work,
    pub tip_time: u32,
    pub median_time_past: u32,
    pub index: BlockIndex,
    pub active: ActiveChain,
    pub mempool: MempoolSnapshot,
    /// `--assume-valid`'s block and how many blocks it let connect unchecked since the
    /// chain state opened; `None` without the flag.
    pub assume_valid: Option<(BlockHash, u64)>,
}

impl ChainSnapshot {
    /// The index and the active chain, for the reads they answer together.
    pub fn view(&self) -> ChainView<'_> {
        ChainView {
            index: &self.index,
            active: &self.active,
        }
    }

    /// The entry of `hash` and whether it is on the main chain.
    pub fn entry(&self, hash: &BlockHash) -> Option<(IndexEntry, bool)> {
        let entry = *self.index.get(hash)?;
        Some((entry, self.active.contains(&entry)))
    }
}

pub use crate::api_types::node::ReorgRecord;

/// Static facts about this node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node_id: String,
    pub network: Network,
    pub version: &'static str,
    /// This node's REST URL as peers should reach it, once the API listens.
    pub rest_url: String,
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
    templates: StdMutex<TemplateBook>,
    reorgs: StdMutex<VecDeque<ReorgRecord>>,
    /// When the explorer index was last asked to catch up (see [`Node::poke_indexer`]).
    indexer_poked: StdMutex<Option<Instant>>,
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
            templates: StdMutex::new(TemplateBook::default()),
            reorgs: StdMutex::new(VecDeque::new()),
            indexer_poked: StdMutex::new(None),
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
    async fn install(&self, ledger: Ledger<SqlStore>) {
        let published = self.snapshot().tip.hash;
        let catch_up = match ledger.chain().update_since(&published).await {
            Ok(update) => update,
            Err(error) => {
                tracing::warn!(%error, "could not replay the tip change made during the outage");
                None
            }
        };
        let mut slot = self.ledger.lock().await;
        let changes = LedgerChanges {
            updates: catch_up.into_iter().collect(),
            ..LedgerChanges::default()
        };
        self.publish(&ledger, changes);
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

    /// The chain as peers need to know it: the committed tip, and the best header known.
    pub fn chain_status(&self) -> ChainStatus {
        let snapshot = self.snapshot();
        ChainStatus {
            genesis: self.info.network.params().genesis_hash(),
            tip: snapshot.tip.hash,
            height: snapshot.tip.height,
            chain_work: snapshot.chain_work,
            best_header_work: snapshot.best_header_work,
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
        } else {
            // What it indexed, it committed before returning (a refused header may follow
            // some indexed ones).
            self.refresh_snapshot(ledger);
        }
        result
    }

    /// Bodies to fetch for the best header chain, oldest first (none while the database
    /// is lost: sync waits for it).
    pub fn wanted_bodies(&self, limit: usize) -> Vec<BlockHash> {
        self.sync_read(|view| view.wanted_bodies(limit))
    }

    /// Whether the body of `hash` is stored (connected or not).
    pub fn has_body(&self, hash: &BlockHash) -> bool {
        self.snapshot()
            .index
            .get(hash)
            .is_some_and(|entry| entry.status != BlockStatus::HeaderOnly)
    }

    /// Whether `--assume-valid` names a block whose header has not arrived yet: until it
    /// does, no body can be known to lie below it, so bodies fetched now would all have
    /// their signatures checked (sync then lets the headers finish first).
    pub fn awaits_assume_valid_header(&self) -> bool {
        let snapshot = self.snapshot();
        snapshot
            .assume_valid
            .is_some_and(|(hash, _)| snapshot.index.get(&hash).is_none())
    }

    /// A locator of the best header chain (empty while the database is lost).
    pub fn header_locator(&self) -> Vec<BlockHash> {
        self.sync_read(|view| view.header_locator())
    }

    /// What sync asks of the snapshot, or nothing while the database is lost.
    fn sync_read(&self, read: impl FnOnce(ChainView<'_>) -> Vec<BlockHash>) -> Vec<BlockHash> {
        match self.storage_status() {
            StorageStatus::Up => read(self.snapshot().view()),
            StorageStatus::Down { .. } => Vec::new(),
        }
    }

    /// Main-chain headers after `locator` (at most `limit`), for a peer.
    pub fn headers_after(
        &self,
        locator: &[BlockHash],
        limit: usize,
    ) -> Vec<crate::primitives::BlockHeader> {
        self.snapshot().view().headers_after(locator, limit)
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

    /// Publishes what a committed write changed: events and the reorg log for tip changes,
    /// then the transactions reorgs returned (see [`Node::announce_readded`]), then the
    /// snapshot (the index or the mempool may have changed without the tip), the metrics
    /// and the indexer.
    fn publish(&self, ledger: &Ledger<SqlStore>, changes: LedgerChanges) {
        for update in &changes.updates {
            for event in update.events() {
                self.events.push(NodeEvent::from(event));
            }
            if update.is_reorg() {
                self.log_reorg(update);
            }
        }
        self.announce_readded(changes.readded);
        self.refresh_snapshot(ledger);
        if !changes.updates.is_empty() {
            self.poke_indexer();
        }
    }

    /// Lets the explorer index catch up with new blocks. While sync is still fetching
    /// bodies (the best header has more work than the tip) it is poked at most every
    /// [`INDEX_WHILE_SYNCING`]: its passes read every block back and take SQLite's write
    /// lock, so that sync would wait for them; it catches up in large batches instead.
    fn poke_indexer(&self) {
        let snapshot = self.snapshot();
        let syncing = snapshot.best_header_work > snapshot.chain_work;
        let mut last = self.indexer_poked.lock().expect("not poisoned");
        if !syncing || last.is_none_or(|at| at.elapsed() >= INDEX_WHILE_SYNCING) {
            *last = Some(Instant::now());
            self.indexer.poke();
        }
    }

    fn log_reorg(&self, update: &ChainUpdate) {
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

    /// Gossips again the transactions a reorg returned to the mempool: peers that were on
    /// the winning branch (across a partition) may never have seen them.
    /// Each also gets a `tx_readded` event, after the chain events of its reorg.
    fn announce_readded(&self, readded: Vec<Readded>) {
        for readded in readded {
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

    fn refresh_snapshot(&self, ledger: &Ledger<SqlStore>) {
        let snapshot = snapshot_of(ledger);
        set_gauges(&snapshot);
        self.snapshot.send_replace(Arc::new(snapshot));
    }
}

fn set_gauges(snapshot: &ChainSnapshot) {
    metrics::gauge!(telemetry::HEIGHT).set(f64::from(snapshot.tip.height.get()));
    metrics::gauge!(telemetry::TIP_TIME).set(f64::from(snapshot.tip_time));
    metrics::gauge!(telemetry::MEMPOOL_TXS).set(snapshot.mempool.len() as f64);
    metrics::gauge!(telemetry::MEMPOOL_BYTES).set(snapshot.mempool.total_bytes() as f64);
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
        best_header_work: chain.best_header_work(),
        tip_time: entry.header.time,
        median_time_past: info.median_time_past,
        index: chain.index().clone(),
        active: chain.active().clone(),
        mempool: ledger.mempool().snapshot(),
        assume_valid: chain
            .options()
            .assume_valid
            .map(|hash| (hash, chain.signatures_assumed())),
    }
}
