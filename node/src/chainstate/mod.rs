//! The chain state: the one writer of the chain. It takes blocks, stores them, and keeps the
//! database on the valid chain with the most work.
//!
//! Each tip change is planned by `chain::plan_reorg` and applied in one database transaction
//! (see [`apply`]): disconnect the old branch newest-first with its undo data, connect the
//! new one oldest-first with full validation. If a block of the new branch is invalid the
//! transaction rolls back, so the database never left the old chain; the block and its
//! descendants are then marked invalid and the best chain is chosen again. Transactions are
//! committed in order by the [`writer`] task, so checking block N+1 overlaps committing N.
//! A crash at any instant leaves one complete chain, and [`ChainState::open`] resumes the
//! interrupted work.
//!
//! It holds no lock: the node serializes calls (one `&mut self`). [`ChainState::flush`] waits
//! until everything accepted so far is committed; the node calls it before it answers a
//! client.

mod apply;
mod open;
mod tip;
mod writer;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::oneshot;

use crate::chain::{
    ActiveChain, BlockIndex, BlockStatus, ChainDiff, ChainUpdate, IndexEntry, Lookup, OrphanPool,
    plan_reorg,
};
use crate::consensus::pow::check_proof_of_work;
use crate::consensus::{
    BlockError, Coin, Params, SignaturesChecked, check_block, check_header, verify_block_signatures,
};
use crate::primitives::{Block, BlockHash, BlockHeader, OutPoint};
use crate::storage::{ChainStore, ChainTip, StoreError, StoreTxn};

pub use tip::TipTotals;
use writer::Writer;

/// Tip changes that may be committing at once before the next one waits for the oldest.
const MAX_IN_FLIGHT: usize = 8;

/// Why a block was refused, or the store failed.
#[derive(Debug, Error)]
pub enum ChainError {
    #[error("invalid block {hash}: {error}")]
    Invalid { hash: BlockHash, error: BlockError },
    #[error("block {0} was already found invalid, or descends from one that was")]
    KnownInvalid(BlockHash),
    #[error("header {hash} does not extend a known header (its parent {parent} is unknown)")]
    Unconnected { hash: BlockHash, parent: BlockHash },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("the database is inconsistent: {0}")]
    Inconsistent(String),
}

impl ChainError {
    /// The machine code of the rule a block broke, if it broke one.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ChainError::Invalid { error, .. } => Some(error.code()),
            ChainError::KnownInvalid(_) => Some("block-known-invalid"),
            ChainError::Unconnected { .. } => Some("header-unconnected"),
            _ => None,
        }
    }
}

/// What became of a submitted block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Already stored (or waiting as an orphan): nothing changed.
    AlreadyKnown,
    /// Its parent is unknown; it waits in the orphan pool until `missing` arrives.
    Orphan { missing: BlockHash },
    /// Stored; `on_main_chain` says whether it is now part of the main chain. The tip
    /// changes it caused wait in [`ChainState::take_updates`].
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
    /// Tip changes not yet handed to [`ChainState::take_updates`].
    updates: Vec<ChainUpdate>,
    /// Blocks found invalid by the last activation, with the block that failed.
    failures: Vec<(BlockHash, BlockError, Vec<BlockHash>)>,
    /// The block just submitted, indexed but not yet in the database: the tip change that
    /// connects it stores it in the same transaction; otherwise it is stored on its own.
    unpersisted: Option<(IndexEntry, Block)>,
    writer: Writer,
    in_flight: VecDeque<InFlight>,
    /// Signature verification of the block just submitted, started on arrival.
    early_signatures: Option<EarlySignatures>,
}

/// A block's signatures being verified on the blocking pool.
#[derive(Debug)]
struct EarlySignatures {
    hash: BlockHash,
    task: tokio::task::JoinHandle<Result<SignaturesChecked, BlockError>>,
}

impl EarlySignatures {
    fn spawn(block: &Block, params: &'static Params) -> Self {
        let block = block.clone();
        let hash = block.block_hash();
        Self {
            hash,
            task: tokio::task::spawn_blocking(move || verify_block_signatures(&block, params)),
        }
    }
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

    /// The tip changes made since the last call, oldest first: the caller publishes them
    /// (mempool maintenance, events, metrics).
    pub fn take_updates(&mut self) -> Vec<ChainUpdate> {
        std::mem::take(&mut self.updates)
    }

    /// Whether `hash` is a block of the main chain.
    pub fn is_on_main_chain(&self, hash: &BlockHash) -> bool {
        self.index
            .get(hash)
            .is_some_and(|entry| self.active.contains(entry))
    }

    /// Waits until every tip change made so far is committed. An error here means the
    /// database refused a write: the node cannot go on.
    pub async fn flush(&mut self) -> Result<(), ChainError> {
        while let Some(job) = self.in_flight.pop_front() {
            wait_committed(job).await?;
        }
        Ok(())
    }

    /// The unspent outputs among `outpoints` at the current tip, including changes that are
    /// still committing.
    pub async fn coins(
        &self,
        outpoints: &[OutPoint],
    ) -> Result<HashMap<OutPoint, Coin>, StoreError> {
        coins_through(&self.store, &self.in_flight, &ChainDiff::new(), outpoints).await
    }

    /// Takes a block from anywhere (a miner, a peer), stores it if it may belong to a chain,
    /// and moves to the best chain; orphans waiting for it follow. `now` is the node's clock
    /// (Unix seconds). A block that descends from one found invalid on the way is refused
    /// with that block's error.
    pub async fn submit_block(
        &mut self,
        block: Block,
        now: u64,
    ) -> Result<SubmitOutcome, ChainError> {
        let hash = block.block_hash();
        let outcome = self.accept_one(block, now).await?;
        if let SubmitOutcome::Accepted { .. } = outcome {
            self.connect_waiting_orphans(hash, now).await?;
        }
        if let Some((failed, error, _)) = self
            .failures
            .iter()
            .find(|(_, _, marked)| marked.contains(&hash))
        {
            return Err(ChainError::Invalid {
                hash: *failed,
                error: error.clone(),
            });
        }
        Ok(match outcome {
            SubmitOutcome::Accepted { .. } => SubmitOutcome::Accepted {
                on_main_chain: self.is_on_main_chain(&hash),
            },
            other => other,
        })
    }

    /// Submits the orphans that were waiting for `parent`, and theirs, breadth first.
    async fn connect_waiting_orphans(
        &mut self,
        parent: BlockHash,
        now: u64,
    ) -> Result<(), ChainError> {
        let mut queue: VecDeque<Block> = self.orphans.take_children(&parent).into();
        while let Some(block) = queue.pop_front() {
            let hash = block.block_hash();
            match self.accept_one(block, now).await {
                Ok(SubmitOutcome::Accepted { .. }) => {
                    queue.extend(self.orphans.take_children(&hash))
                }
                Ok(_) => {}
                Err(error @ (ChainError::Store(_) | ChainError::Inconsistent(_))) => {
                    return Err(error);
                }
                Err(error) => {
                    tracing::info!(%hash, %error, "orphan refused once its parent arrived")
                }
            }
        }
        Ok(())
    }

    async fn accept_one(&mut self, block: Block, now: u64) -> Result<SubmitOutcome, ChainError> {
        self.failures.clear();
        let hash = block.block_hash();
        if let Some(entry) = self.index.get(&hash) {
            return match entry.status {
                BlockStatus::Invalid => Err(ChainError::KnownInvalid(hash)),
                BlockStatus::HeaderOnly => self.store_body(hash, block, now).await,
                BlockStatus::DataStored | BlockStatus::Valid => Ok(SubmitOutcome::AlreadyKnown),
            };
        }
        if self.orphans.contains(&hash) {
            return Ok(SubmitOutcome::AlreadyKnown);
        }
        let invalid = |error| ChainError::Invalid { hash, error };
        check_proof_of_work(&block.header, self.params).map_err(invalid)?;
        // Proof of work is in: start on the signatures (the costly part) while the rest of
        // the checks and the planning run.
        self.early_signatures = Some(EarlySignatures::spawn(&block, self.params));
        check_block(&block, self.params).map_err(invalid)?;
        let parent = block.header.prev_blockhash;
        let Some(parent_entry) = self.index.get(&parent).copied() else {
            for dropped in self.orphans.insert(block) {
                tracing::debug!(%dropped, "orphan pool full: dropped the oldest orphan");
            }
            let missing = self.orphans.missing_root(&hash).unwrap_or(parent);
            return Ok(SubmitOutcome::Orphan { missing });
        };
        let mut entry = self.index_entry(&block.header, &parent_entry, now)?;
        entry.status = BlockStatus::DataStored;
        entry.sequence = self.next_sequence;
        self.next_sequence += 1;
        self.index.insert(entry);
        self.store_and_activate(entry, block, now).await
    }

    /// Stores `block`, whose index entry was just marked as having its data, with the tip
    /// change that may connect it (one database transaction).
    async fn store_and_activate(
        &mut self,
        entry: IndexEntry,
        block: Block,
        now: u64,
    ) -> Result<SubmitOutcome, ChainError> {
        self.unpersisted = Some((entry, block));
        let activated = self.activate_best_chain(now).await;
        self.persist_unpersisted().await?;
        activated?;
        Ok(SubmitOutcome::Accepted {
            on_main_chain: false,
        })
    }

    /// The index entry of a header whose parent is indexed, after the header's contextual
    /// checks (parent validity, difficulty, proof of work, time).
    fn index_entry(
        &self,
        header: &BlockHeader,
        parent: &IndexEntry,
        now: u64,
    ) -> Result<IndexEntry, ChainError> {
        let hash = header.block_hash();
        if parent.status == BlockStatus::Invalid {
            return Err(ChainError::KnownInvalid(hash));
        }
        let ctx = self
            .index
            .header_context(&parent.hash, self.params)
            .expect("the parent is indexed");
        check_header(header, &ctx, now, self.params)
            .map_err(|error| ChainError::Invalid { hash, error })?;
        let work = header
            .bits
            .to_target()
            .expect("checked by check_header")
            .work();
        Ok(self
            .index
            .entry_for(header, work)
            .expect("the parent is indexed"))
    }

    /// The body of a block whose header was indexed earlier (headers-first sync): stored
    /// with the tip change that connects it, like a new block.
    async fn store_body(
        &mut self,
        hash: BlockHash,
        block: Block,
        now: u64,
    ) -> Result<SubmitOutcome, ChainError> {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.index.set_data_stored(&hash, sequence);
        let entry = *self.index.get(&hash).expect("indexed");
        self.store_and_activate(entry, block, now).await
    }

    /// Headers from a peer, oldest first (headers-first sync). Each must extend a known
    /// header; each is checked in context (difficulty, proof of work, time) and indexed
    /// without a body. Returns how many were new; stops at the first bad one.
    pub async fn submit_headers(
        &mut self,
        headers: &[BlockHeader],
        now: u64,
    ) -> Result<usize, ChainError> {
        let mut new = Vec::new();
        for header in headers {
            let hash = header.block_hash();
            if let Some(entry) = self.index.get(&hash) {
                if entry.status == BlockStatus::Invalid {
                    return Err(ChainError::KnownInvalid(hash));
                }
                continue;
            }
            let parent = self.index.get(&header.prev_blockhash).copied();
            let parent = parent.ok_or(ChainError::Unconnected {
                hash,
                parent: header.prev_blockhash,
            })?;
            let entry = self.index_entry(header, &parent, now)?;
            self.index.insert(entry);
            new.push(entry);
        }
        if !new.is_empty() {
            self.flush().await?;
            let mut txn = self.store.begin().await?;
            for entry in &new {
                txn.insert_block(entry, None).await?;
            }
            txn.commit().await?;
        }
        Ok(new.len())
    }

    /// A locator of the best known header's chain, to ask a peer for what follows it.
    pub fn header_locator(&self) -> Vec<BlockHash> {
        let best = self.index.best_header().unwrap_or(self.tip.hash);
        self.index.locator(&best)
    }

    /// The work of the best known header's chain.
    pub fn best_header_work(&self) -> crate::primitives::Work {
        let best = self.index.best_header().unwrap_or(self.tip.hash);
        self.index
            .get(&best)
            .map_or(crate::primitives::Work::ZERO, |e| e.chain_work)
    }

    /// Up to `limit` main-chain headers after the first `locator` hash on the main chain
    /// (after genesis when none is): what a peer asking with that locator lacks.
    pub fn headers_after(&self, locator: &[BlockHash], limit: usize) -> Vec<BlockHeader> {
        let start = locator
            .iter()
            .filter_map(|h| self.index.get(h))
            .find(|e| self.active.contains(e))
            .map_or(0, |e| e.height.get() + 1);
        (start..=self.tip.height.get())
            .take(limit)
            .filter_map(|h| self.active.hash_at(crate::primitives::Height::new(h)))
            .filter_map(|h| self.index.get(&h).map(|e| e.header))
            .collect()
    }

    /// Blocks whose bodies to fetch: on the branch of the best known header, the oldest
    /// whose body is missing, at most `limit`.
    pub fn wanted_bodies(&self, limit: usize) -> Vec<BlockHash> {
        let Some(best) = self.index.best_header() else {
            return Vec::new();
        };
        let mut missing = Vec::new();
        let mut cursor = self.index.get(&best);
        while let Some(entry) = cursor {
            // Walk back to the main chain: bodies may arrive out of order, so a stored one
            // does not mean its ancestors are.
            if self.active.contains(entry) {
                break;
            }
            if entry.status == BlockStatus::HeaderOnly {
                missing.push(entry.hash);
            }
            cursor = self.index.get(&entry.header.prev_blockhash);
        }
        missing.reverse();
        missing.truncate(limit);
        missing
    }

    /// Stores the block just submitted if no tip change stored it (a side branch, or a block
    /// found invalid), with the status the index gives it now.
    async fn persist_unpersisted(&mut self) -> Result<(), ChainError> {
        let Some((mut entry, block)) = self.unpersisted.take() else {
            return Ok(());
        };
        entry.status = self
            .index
            .get(&entry.hash)
            .map_or(entry.status, |e| e.status);
        self.flush().await?;
        let mut txn = self.store.begin().await?;
        txn.insert_block(&entry, Some(&block)).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Moves the tip to the best valid chain, one plan at a time, marking any block that
    /// fails validation (and its descendants) invalid. The tip changes made are queued for
    /// [`ChainState::take_updates`].
    pub async fn activate_best_chain(&mut self, now: u64) -> Result<(), ChainError> {
        while let Some(best) = self.index.best_tip() {
            let work = |hash: &BlockHash| self.index.get(hash).map(|e| e.chain_work);
            if best == self.tip.hash || work(&best) <= work(&self.tip.hash) {
                break;
            }
            let plan = plan_reorg(&self.index, &self.active, &best).ok_or_else(|| {
                ChainError::Inconsistent(format!("no path from the active chain to {best}"))
            })?;
            match self.apply_plan(&plan, now).await? {
                Ok(update) => self.updates.push(update),
                Err((hash, error)) => self.mark_invalid(hash, error).await?,
            }
        }
        Ok(())
    }

    async fn mark_invalid(&mut self, hash: BlockHash, error: BlockError) -> Result<(), ChainError> {
        if !error.invalidates_hash() {
            // Unreachable for stored bodies (their merkle root and size were checked before
            // storing), but never condemn a header for a body that may be a mutated copy.
            return Err(ChainError::Invalid { hash, error });
        }
        tracing::warn!(%hash, %error, "block failed validation: marking it and its descendants invalid");
        let marked = self.index.set_invalid(&hash);
        self.flush().await?;
        let mut txn = self.store.begin().await?;
        txn.set_status(&marked, BlockStatus::Invalid).await?;
        txn.commit().await?;
        self.failures.push((hash, error, marked));
        Ok(())
    }

    /// Hands a committing tip change to the pipeline, waiting for the oldest when too many
    /// are outstanding.
    async fn track(&mut self, job: InFlight) -> Result<(), ChainError> {
        self.in_flight.push_back(job);
        while self.in_flight.len() > MAX_IN_FLIGHT {
            let oldest = self.in_flight.pop_front().expect("non-empty");
            wait_committed(oldest).await?;
        }
        Ok(())
    }
}

async fn wait_committed(job: InFlight) -> Result<(), ChainError> {
    match job.done.await {
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

/// The unspent outputs among `outpoints` as `diff`, then the in-flight tip changes (newest
/// first), then the store say.
async fn coins_through<S: ChainStore>(
    store: &S,
    in_flight: &VecDeque<InFlight>,
    diff: &ChainDiff,
    outpoints: &[OutPoint],
) -> Result<HashMap<OutPoint, Coin>, StoreError> {
    let mut coins = HashMap::with_capacity(outpoints.len());
    let mut unknown = Vec::new();
    'outpoints: for outpoint in outpoints {
        for layer in std::iter::once(diff).chain(in_flight.iter().rev().map(|f| f.diff.as_ref())) {
            match layer.lookup(outpoint) {
                Lookup::Known(Some(coin)) => {
                    coins.insert(*outpoint, coin);
                    continue 'outpoints;
                }
                Lookup::Known(None) => continue 'outpoints,
                Lookup::Unknown => {}
            }
        }
        unknown.push(*outpoint);
    }
    coins.extend(store.coins(&unknown).await?);
    Ok(coins)
}
