//! The chain state: the one writer of the chain. It takes blocks, stores them, and keeps the
//! database on the valid chain with the most work.
//!
//! # The accept path
//!
//! Every header and body, from any source (a miner over REST, a gossip message, a sync
//! response, the database at restart), passes the same rules in the same order
//! ([`accept`]; Bitcoin Core's `AcceptBlockHeader` / `AcceptBlock` / `ProcessNewBlock` are
//! the anchor, `docs/accept-path.md` the long form):
//!
//! 1. **Known?** A hash marked invalid is refused; a stored body or a waiting orphan is
//!    answered `AlreadyKnown`, and nothing else happens.
//! 2. **Context-free** (`check_proof_of_work`, then `check_block`: merkle root over wtxids,
//!    CVE-2012-2459 duplicates, size, coinbase shape, each transaction's shape) before
//!    anything is indexed, stored, cached or verified. A failure that leaves the hash
//!    innocent (a mutated body: bad merkle root, duplicated transactions) never touches the
//!    index entry, so the genuine body is still taken afterwards.
//! 3. **Parent**: an unknown parent sends the block to the bounded orphan pool, with no
//!    signature work; the header is then checked in context (difficulty, time).
//! 4. **Work**: a body is stored only when its chain has at least the tip's work, or it lies
//!    on the branch of the best header when that claims more work than the tip (sync asked
//!    for it). Anything else is answered `LowWork`: not indexed, not stored, not relayed.
//!    Headers obey the same rule as a batch: a contiguous batch is indexed only if its last
//!    header reaches the tip's work (the sync driver buffers longer low-work branches in
//!    memory, within a budget, until they do).
//! 5. **Signatures** are verified only now, started on arrival in a task owned by the
//!    arriving value ([`Arrival`]); the proof names the exact body (its hash and wtxid merkle
//!    root), so a result for one body cannot complete another. Sync may start them a few
//!    blocks ahead ([`ChainState::verify_ahead`]) for bodies that already passed rules 1 to
//!    4; only a later submit of the very same body takes such a verification.
//! 6. **Connect**: each tip change is planned by `chain::plan_reorg` and applied in one
//!    database transaction (see [`apply`]): disconnect the old branch newest-first with its
//!    undo data, connect the new one oldest-first with full validation. If a block of the
//!    new branch is invalid the transaction rolls back, so the database never left the old
//!    chain; the block and its descendants are then marked invalid and the best chain is
//!    chosen again. A block marked invalid keeps its header only.
//!
//! Transactions are committed in order by the [`writer`] task, so checking block N+1
//! overlaps committing N. A sync run instead holds its verified tip changes and commits them
//! in parts, one transaction each ([`ChainState::commit_at_flush`]). A crash at any
//! instant leaves one complete chain, and [`ChainState::open`] resumes the interrupted work.
//!
//! It holds no lock: the node serializes calls (one `&mut self`). [`ChainState::flush`] waits
//! until everything accepted so far is committed. It must not judge peers: it says what a
//! block is, the network decides what that costs the sender.
//!
//! # Memory never ahead of the database
//!
//! **The chain state anyone else sees never runs ahead of what is committed, and nothing is
//! acknowledged (a 2xx, a gossip Accept, an event, a mempool entry) before its commit.**
//! Inside, the memory does move first (the index, the active chain and the tip change as a
//! plan is handed to the writer, so block N+1 is checked while N commits), which the rule
//! allows only because of two others:
//!
//! 1. Nothing is shown between a change and its commit: every caller flushes before it
//!    releases the node's lock, publishes or answers (`node::Node`).
//! 2. Any storage error ends this value: the writer stops at its first failed transaction,
//!    and the caller [`ChainState::close`]s the chain state and opens it again from the
//!    database once the database answers (crash-only, as after a restart; `outage`). No
//!    code tries to undo memory step by step.
//!
//! `docs/storage-faults.md` is the long form, with the tests that show it.

mod accept;
mod apply;
mod open;
mod overrides;
mod replay;
mod tip;
mod writer;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::oneshot;

use crate::chain::{
    ActiveChain, BlockIndex, BlockStatus, CacheUsage, ChainDiff, ChainUpdate, ChainView, CoinCache,
    Lookup, OrphanPool, plan_reorg,
};
use crate::consensus::{BlockError, Coin, Params};
use crate::primitives::{BlockHash, OutPoint, Work};
use crate::storage::{ChainStore, ChainTip, StoreError, StoreTxn};

use accept::{Arrival, Prepared};
pub use accept::{HeadersOutcome, VERIFY_AHEAD};
pub use overrides::OverrideError;
pub use tip::TipTotals;
use writer::{WriteJob, Writer};

/// Tip changes that may be committing at once before the next one waits for the oldest.
const MAX_IN_FLIGHT: usize = 8;

/// Tip changes a run holds before it sends them to be committed as one transaction
/// ([`ChainState::commit_at_flush`]): enough for a coin created and spent a few blocks apart
/// never to be written, few enough that the writer commits one part while the next is
/// checked (rather than the whole run after it), and that the diffs held take little memory.
const HELD_PER_COMMIT: usize = 16;

/// Held parts sent and not yet committed before the next part waits for the oldest: two,
/// so that the writer commits one while the next is checked. (A part is `HELD_PER_COMMIT`
/// tip changes; [`MAX_IN_FLIGHT`] alone would make each part wait for the one before.)
const PARTS_IN_FLIGHT: usize = 2;

/// The coin cache's budget when none is configured (`--dbcache-mb`).
pub const DEFAULT_DBCACHE_MB: usize = 64;

/// How a chain state runs: what it may keep in memory, and what it may take as known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainOptions {
    /// The [`CoinCache`]'s budget in bytes (zero: no cache).
    pub coin_cache_bytes: usize,
    /// `--assume-valid`: the signatures of this block and its ancestors are taken as
    /// verified when they are connected (every other rule still applies).
    pub assume_valid: Option<BlockHash>,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            coin_cache_bytes: DEFAULT_DBCACHE_MB << 20,
            assume_valid: None,
        }
    }
}

/// Why a block was refused, or the store failed.
#[derive(Debug, Error)]
pub enum ChainError {
    #[error("invalid block {hash}: {error}")]
    Invalid { hash: BlockHash, error: BlockError },
    #[error("block {0} was already found invalid, or descends from one that was")]
    KnownInvalid(BlockHash),
    #[error("header {hash} does not extend a known header (its parent {parent} is unknown)")]
    Unconnected { hash: BlockHash, parent: BlockHash },
    #[error("headers are not a chain: {hash} does not extend the header before it")]
    NotAChain { hash: BlockHash },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("the database is inconsistent: {0}")]
    Inconsistent(String),
}

impl ChainError {
    /// The codes [`ChainError::reason`] returns besides a [`BlockError`]'s.
    pub const REASONS: [&'static str; 3] = [
        "block-known-invalid",
        "header-unconnected",
        "headers-not-a-chain",
    ];

    /// The machine code of the rule a block broke, if it broke one.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ChainError::Invalid { error, .. } => Some(error.code()),
            ChainError::KnownInvalid(_) => Some(Self::REASONS[0]),
            ChainError::Unconnected { .. } => Some(Self::REASONS[1]),
            ChainError::NotAChain { .. } => Some(Self::REASONS[2]),
            _ => None,
        }
    }

    /// Whether our database failed (not the block or whoever sent it).
    pub fn is_storage(&self) -> bool {
        matches!(self, ChainError::Store(_) | ChainError::Inconsistent(_))
    }
}

/// A write's result and the tip changes it made on the way, oldest first (`C`: the
/// chain's [`ChainUpdates`], or what the ledger adds to them).
///
/// They come together because neither implies the other: a block can be refused after its
/// failure made a second-best branch the tip, and an operator's override can move the tip
/// and still fail. The caller publishes the changes once they are committed; after a
/// storage error it drops the chain state instead (see the module doc), changes and all.
#[must_use = "the tip changes are to be published once committed"]
#[derive(Debug)]
pub struct Written<T, E, C> {
    pub result: Result<T, E>,
    pub changes: C,
}

/// The tip changes of one write, oldest first.
pub type ChainUpdates = Vec<ChainUpdate>;

/// A write of the chain state: its result and its tip changes.
pub type ChainWrite<T, E = ChainError> = Written<T, E, ChainUpdates>;

impl<T, E, C> Written<T, E, C> {
    pub fn new(result: Result<T, E>, changes: C) -> Self {
        Self { result, changes }
    }

    /// The same changes with `f` applied to the result.
    pub fn map_result<U, F>(
        self,
        f: impl FnOnce(Result<T, E>) -> Result<U, F>,
    ) -> Written<U, F, C> {
        Written::new(f(self.result), self.changes)
    }
}

/// A block found invalid during a write, with why, and the blocks marked invalid with it
/// (it and its descendants).
#[derive(Debug)]
struct Failure {
    block: BlockHash,
    error: BlockError,
    marked: Vec<BlockHash>,
}

/// What one write has done so far. It lives for one public call and is returned from it
/// as a [`Written`]: nothing of one write is left in the chain state for the next.
#[derive(Debug, Default)]
struct Progress {
    updates: ChainUpdates,
    failures: Vec<Failure>,
}

impl Progress {
    /// The failure that condemned `hash`, if this write found it invalid.
    fn failure_of(&self, hash: &BlockHash) -> Option<&Failure> {
        self.failures.iter().find(|f| f.marked.contains(hash))
    }
}

/// What became of a submitted block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Already stored (or waiting as an orphan): nothing changed.
    AlreadyKnown,
    /// Its parent is unknown; it waits in the orphan pool until `missing` arrives.
    Orphan { missing: BlockHash },
    /// Its chain has less work than the tip and sync did not ask for it: neither indexed
    /// nor stored (so never relayed). Not the sender's fault by itself: an honest peer on
    /// a losing branch sends such blocks.
    LowWork,
    /// Stored; `on_main_chain` says whether it is now part of the main chain. The tip
    /// changes it caused come with the outcome (a [`ChainWrite`]).
    Accepted { on_main_chain: bool },
}

/// A tip change whose transaction the writer is committing.
#[derive(Debug)]
struct InFlight {
    diff: Arc<ChainDiff>,
    done: oneshot::Receiver<Result<bool, StoreError>>,
}

/// The chain state over a store `S`.
#[derive(Debug)]
pub struct ChainState<S: ChainStore> {
    store: S,
    params: &'static Params,
    index: BlockIndex,
    active: ActiveChain,
    tip: ChainTip,
    orphans: OrphanPool,
    next_sequence: u64,
    writer: Writer,
    in_flight: VecDeque<InFlight>,
    /// Committed coins only: it learns of a tip change once that change has committed.
    coin_cache: CoinCache,
    options: ChainOptions,
    /// Blocks connected since opening whose signatures `--assume-valid` let go unchecked.
    signatures_assumed: u64,
    /// Bodies of a sync run whose verification started before their turn, by hash (see
    /// [`ChainState::verify_ahead`]).
    ahead: HashMap<BlockHash, Prepared>,
    /// While a run holds its commits ([`ChainState::commit_at_flush`]): the verified tip
    /// changes not yet sent to the writer, oldest first. Each is also in `in_flight`.
    held: Option<Vec<WriteJob>>,
}

impl<S: ChainStore> ChainState<S> {
    pub fn params(&self) -> &'static Params {
        self.params
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn index(&self) -> &BlockIndex {
        &self.index
    }

    pub fn active(&self) -> &ActiveChain {
        &self.active
    }

    /// The tip and UTXO-set totals, including tip changes still committing.
    pub fn tip(&self) -> &ChainTip {
        &self.tip
    }

    pub fn orphans(&self) -> &OrphanPool {
        &self.orphans
    }

    pub fn options(&self) -> ChainOptions {
        self.options
    }

    /// Blocks connected since opening without checking their signatures (`--assume-valid`).
    pub fn signatures_assumed(&self) -> u64 {
        self.signatures_assumed
    }

    pub fn coin_cache_usage(&self) -> CacheUsage {
        self.coin_cache.usage()
    }

    /// Whether `hash` is a block of the main chain.
    pub fn is_on_main_chain(&self, hash: &BlockHash) -> bool {
        self.index
            .get(hash)
            .is_some_and(|entry| self.active.contains(entry))
    }

    /// Drops the chain state once its writer has stopped: after this returns, nothing it
    /// started writes to the database, so it can be opened again from what was committed.
    pub async fn close(self) {
        let Self {
            writer, in_flight, ..
        } = self;
        drop(in_flight);
        writer.stop().await;
    }

    /// Writes the committed tip row again, as a transaction of its own: whether the
    /// database takes writes now (a reachable but full or read-only database does not).
    pub async fn probe_write(&mut self) -> Result<(), ChainError> {
        self.flush().await?;
        let mut txn = self.store.begin().await?;
        txn.set_tip(&self.tip).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Waits until every tip change made so far is committed. An error here means the
    /// database refused a write: this chain state is then ahead of the database and must be
    /// closed and opened again (see the module doc). It ends a run's holding
    /// ([`ChainState::commit_at_flush`]).
    pub async fn flush(&mut self) -> Result<(), ChainError> {
        let committed = self.commit_all().await;
        self.held = None;
        committed
    }

    /// [`ChainState::flush`] inside a write that needs the database up to date (a reorg
    /// reads undo data, a status is written on its own): a run's holding goes on after it.
    async fn commit_all(&mut self) -> Result<(), ChainError> {
        if let Some(held) = self.held.as_mut() {
            let held = std::mem::take(held);
            self.send_held(held).await;
        }
        while let Some(job) = self.in_flight.pop_front() {
            self.settle(job).await?;
        }
        Ok(())
    }

    /// Holds the tip changes made from now until the next [`ChainState::flush`] and commits
    /// them in parts of [`HELD_PER_COMMIT`] blocks, each one database transaction, the last
    /// at that flush: for a sync run, whose blocks are published only after the flush anyway.
    /// A coin created and spent inside a part is never written (Bitcoin Core's `-dbcache`
    /// flush has the same effect), and a part costs the writer about the statements of one
    /// block. Each change is held only once its block passed every rule, signatures
    /// included, so a part has no verdict to wait for; the database is on one complete chain
    /// before and after each part, as with any other transaction, and a crash before the
    /// flush loses only what nobody was told of.
    pub fn commit_at_flush(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// The unspent outputs among `outpoints` at the current tip, including changes that are
    /// still committing.
    pub async fn coins(
        &self,
        outpoints: &[OutPoint],
    ) -> Result<HashMap<OutPoint, Coin>, StoreError> {
        let layers = Layers {
            diff: &ChainDiff::new(),
            in_flight: &self.in_flight,
            cache: &self.coin_cache,
        };
        let (mut coins, read) = layers.coins(&self.store, outpoints).await?;
        coins.extend(read);
        Ok(coins)
    }

    /// The index and the active chain, for the reads they answer together.
    pub fn view(&self) -> ChainView<'_> {
        ChainView {
            index: &self.index,
            active: &self.active,
        }
    }

    /// The work of the best known header's chain.
    pub fn best_header_work(&self) -> Work {
        self.view().best_header_work()
    }

    /// See [`ChainView::header_locator`].
    pub fn header_locator(&self) -> Vec<BlockHash> {
        self.view().header_locator()
    }

    /// See [`ChainView::wanted_bodies`].
    pub fn wanted_bodies(&self, limit: usize) -> Vec<BlockHash> {
        self.view().wanted_bodies(limit)
    }

    /// The work of the tip's chain.
    pub fn tip_work(&self) -> Work {
        self.index
            .get(&self.tip.hash)
            .map_or(Work::ZERO, |e| e.chain_work)
    }

    /// Moves the tip to the best valid chain, one plan at a time, marking any block that
    /// fails validation (and its descendants) invalid; returns the tip changes made.
    pub async fn activate_best_chain(&mut self, now: u64) -> ChainWrite<()> {
        let mut progress = Progress::default();
        let result = self.activate_with(&mut None, now, &mut progress).await;
        Written::new(result, progress.updates)
    }

    /// [`ChainState::activate_best_chain`], with a block just arrived that is indexed but
    /// not stored: the first plan that connects it stores it in the same transaction;
    /// otherwise it is left in `arrival` for the caller to store.
    async fn activate_with(
        &mut self,
        arrival: &mut Option<Arrival>,
        now: u64,
        progress: &mut Progress,
    ) -> Result<(), ChainError> {
        while let Some(best) = self.index.best_tip() {
            let work = |hash: &BlockHash| self.index.get(hash).map(|e| e.chain_work);
            // A tip an operator invalidated is left even for a chain with less work.
            let tip_invalid = self
                .index
                .get(&self.tip.hash)
                .is_some_and(|e| e.status == BlockStatus::Invalid);
            if best == self.tip.hash || (!tip_invalid && work(&best) <= work(&self.tip.hash)) {
                break;
            }
            let plan = plan_reorg(&self.index, &self.active, &best).ok_or_else(|| {
                ChainError::Inconsistent(format!("no path from the active chain to {best}"))
            })?;
            match self.apply_plan(&plan, arrival, now).await? {
                Ok(update) => progress.updates.push(update),
                Err((hash, error)) => self.mark_invalid(hash, error, progress).await?,
            }
        }
        Ok(())
    }

    async fn mark_invalid(
        &mut self,
        hash: BlockHash,
        error: BlockError,
        progress: &mut Progress,
    ) -> Result<(), ChainError> {
        if !error.invalidates_hash() {
            // Unreachable for stored bodies (their merkle root and size were checked before
            // storing), but never condemn a header for a body that may be a mutated copy.
            return Err(ChainError::Invalid { hash, error });
        }
        tracing::warn!(%hash, %error, "block failed validation: marking it and its descendants invalid");
        let marked = self.index.set_invalid(&hash);
        self.commit_all().await?;
        let mut txn = self.store.begin().await?;
        txn.set_status(&marked, BlockStatus::Invalid).await?;
        txn.commit().await?;
        progress.failures.push(Failure {
            block: hash,
            error,
            marked,
        });
        Ok(())
    }

    /// Hands a committing tip change to the pipeline, waiting for the oldest when too many
    /// are outstanding (those a run holds do not count: they are the newest, and not sent;
    /// while a run holds, up to [`PARTS_IN_FLIGHT`] parts may be committing).
    async fn track(&mut self, job: InFlight) -> Result<(), ChainError> {
        self.in_flight.push_back(job);
        if let Some(held) = self
            .held
            .as_mut()
            .filter(|held| held.len() >= HELD_PER_COMMIT)
        {
            let held = std::mem::take(held);
            self.send_held(held).await;
        }
        let limit = match &self.held {
            Some(held) => held.len() + MAX_IN_FLIGHT.max(PARTS_IN_FLIGHT * HELD_PER_COMMIT),
            None => MAX_IN_FLIGHT,
        };
        while self.in_flight.len() > limit {
            let oldest = self.in_flight.pop_front().expect("non-empty");
            self.settle(oldest).await?;
        }
        Ok(())
    }

    /// Sends held tip changes to be committed as one transaction. A writer that has stopped
    /// drops them: each then reports the writer gone when settled, after the error of the
    /// job that stopped it.
    async fn send_held(&mut self, held: Vec<WriteJob>) {
        if !held.is_empty() {
            let _sent = self.writer.send_batch(held).await;
        }
    }

    /// Waits for a tip change to commit, then lets the coin cache learn of it.
    async fn settle(&mut self, job: InFlight) -> Result<(), ChainError> {
        wait_committed(job.done).await?;
        self.coin_cache.apply_committed(&job.diff);
        Ok(())
    }
}

async fn wait_committed(
    done: oneshot::Receiver<Result<bool, StoreError>>,
) -> Result<(), ChainError> {
    match done.await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(ChainError::Inconsistent(
            "a committed tip change was rolled back".into(),
        )),
        Ok(Err(error)) => Err(ChainError::Store(error)),
        Err(_) => Err(ChainError::Inconsistent(
            "the database writer stopped".into(),
        )),
    }
}

/// Where a coin is looked for, newest first: the plan being checked, the tip changes still
/// committing (newest first), the coin cache (committed coins), then the store.
struct Layers<'a> {
    diff: &'a ChainDiff,
    in_flight: &'a VecDeque<InFlight>,
    cache: &'a CoinCache,
}

impl Layers<'_> {
    /// The unspent outputs among `outpoints`: those found in memory, and those read from
    /// the store (for the cache to remember: no layer above it touched them).
    async fn coins<S: ChainStore>(
        &self,
        store: &S,
        outpoints: &[OutPoint],
    ) -> Result<(HashMap<OutPoint, Coin>, HashMap<OutPoint, Coin>), StoreError> {
        let mut coins = HashMap::with_capacity(outpoints.len());
        let mut unknown = Vec::new();
        'outpoints: for outpoint in outpoints {
            let diffs = std::iter::once(self.diff)
                .chain(self.in_flight.iter().rev().map(|f| f.diff.as_ref()));
            for layer in diffs {
                match layer.lookup(outpoint) {
                    Lookup::Known(Some(coin)) => {
                        coins.insert(*outpoint, coin);
                        continue 'outpoints;
                    }
                    Lookup::Known(None) => continue 'outpoints,
                    Lookup::Unknown => {}
                }
            }
            match self.cache.get(outpoint) {
                Some(coin) => {
                    coins.insert(*outpoint, coin);
                }
                None => unknown.push(*outpoint),
            }
        }
        let read = if unknown.is_empty() {
            HashMap::new()
        } else {
            store.coins(&unknown).await?
        };
        Ok((coins, read))
    }
}
