//! The ledger: the chain state and the mempool, kept in step. The node's single writer.
//!
//! Blocks go to the chain state; each tip change it reports is then applied to the mempool
//! (confirmed and conflicting transactions leave; after a reorg, the disconnected blocks'
//! transactions are offered back, and only those still valid on the new chain return). The
//! mempool is persisted write-through, so a restarted node gets it back, revalidated.
//!
//! Every write returns what it changed as a value beside its result ([`LedgerWrite`]): the
//! tip changes, the transactions a reorg returned, the mempool's delta. Nothing of one write
//! waits in the ledger for someone to collect it; the only state carried between writes is
//! the mempool delta not yet written (below).
//!
//! Callers serialize access (`&mut self`): the node keeps one `Ledger` behind a mutex.
//!
//! Its memory may run ahead of the database between a change and [`Ledger::flush`] (the
//! chain's commits are pipelined; the mempool's changes from a tip change are written only
//! after the blocks that caused them are committed, so the stored mempool never loses a
//! transaction a lost block confirmed). Callers must not show anything before `flush`
//! returns, and after any storage error the ledger must be dropped and opened again from
//! the database: its memory may hold what the database refused (crash-only; the node does
//! this, see `node::Node`).
//!
//! - [`follow`]: the mempool following each write's tip changes, and its delta written.
//! - [`restore`]: the persisted mempool re-accepted when the ledger opens.

mod follow;
mod restore;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use thiserror::Error;

use crate::chainstate::{
    ChainError, ChainOptions, ChainState, ChainUpdates, OverrideError, SubmitOutcome, Written,
};
use crate::consensus::{Coin, Params};
use crate::mempool::{
    Accepted, BlockTemplate, Mempool, MempoolConfig, MempoolDelta, MempoolEntry, MempoolError,
    TipInfo, build_template,
};
use crate::primitives::{
    Address, Amount, Block, BlockHash, IdentifiedTx, OutPoint, Transaction, Txid,
};
use crate::storage::{ChainStore, MempoolRecord, StoreError, StoreTxn};

/// What an operator does to a block's validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Override {
    /// Bitcoin Core's `invalidateblock`.
    Invalidate,
    /// Bitcoin Core's `reconsiderblock`.
    Reconsider,
}

/// A transaction a reorg returned to the mempool.
#[derive(Clone, Debug)]
pub struct Readded {
    pub txid: Txid,
    pub fee: Amount,
    pub size: usize,
    pub tx: Arc<Transaction>,
}

impl Readded {
    fn of(entry: &MempoolEntry) -> Self {
        Self {
            txid: entry.txid(),
            fee: entry.fee(),
            size: entry.size(),
            tx: Arc::clone(entry.shared_tx()),
        }
    }
}

/// What a write of the ledger changed, returned beside its result: the caller publishes it
/// once committed (events, announcements, the snapshot).
#[derive(Debug, Default)]
pub struct LedgerChanges {
    /// The chain's tip changes, oldest first.
    pub updates: ChainUpdates,
    /// Transactions reorgs returned to the mempool and still there, to announce again:
    /// the peers on the winning branch may never have seen them.
    pub readded: Vec<Readded>,
    /// How the mempool's membership changed.
    pub mempool: MempoolDelta,
}

impl LedgerChanges {
    /// `self`, then `later` (the next block of a run): a re-added transaction that left
    /// the mempool again is no longer announced, nor announced twice.
    pub fn then(&mut self, later: LedgerChanges) {
        self.updates.extend(later.updates);
        let superseded: HashSet<Txid> = (later.mempool.left.iter())
            .chain(later.readded.iter().map(|r| &r.txid))
            .copied()
            .collect();
        self.readded.retain(|r| !superseded.contains(&r.txid));
        self.readded.extend(later.readded);
        self.mempool.then(later.mempool);
    }
}

/// A write of the ledger: its result and what it changed.
pub type LedgerWrite<T, E = ChainError> = Written<T, E, LedgerChanges>;

/// Why a transaction was not accepted.
#[derive(Debug, Error)]
pub enum TxSubmitError {
    #[error(transparent)]
    Rejected(#[from] MempoolError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl TxSubmitError {
    /// A failed [`Ledger::flush`] before the transaction was looked at: a storage failure
    /// (flush refuses no block, so no rule is involved).
    fn from_flush(error: ChainError) -> Self {
        match error {
            ChainError::Store(error) => TxSubmitError::Store(error),
            other => TxSubmitError::Store(StoreError::Inconsistent(other.to_string())),
        }
    }
}

/// The chain and the mempool over one store.
#[derive(Debug)]
pub struct Ledger<S: ChainStore> {
    chain: ChainState<S>,
    mempool: Mempool,
    /// The mempool's changes caused by tip changes, until [`Ledger::flush`] writes them
    /// after the blocks that caused them are committed.
    unwritten: MempoolDelta,
    config: MempoolConfig,
}

impl<S: ChainStore> Ledger<S> {
    /// Opens the chain (finishing any interrupted tip change) and restores the persisted
    /// mempool, dropping what is no longer valid. The tip changes made while opening are
    /// not returned: nobody saw the state before them, and the ledger's first snapshot
    /// shows their result.
    pub async fn open(
        store: S,
        params: &'static Params,
        chain: ChainOptions,
        config: MempoolConfig,
        now: u64,
    ) -> Result<Self, ChainError> {
        let (chain, _) = ChainState::open_with(store, params, chain, now).await?;
        let mut ledger = Self {
            chain,
            mempool: Mempool::new(config),
            unwritten: MempoolDelta::default(),
            config,
        };
        ledger.restore_mempool(now).await?;
        Ok(ledger)
    }

    /// Drops the ledger once nothing it started still writes (see [`ChainState::close`]).
    pub async fn close(self) {
        self.chain.close().await;
    }

    pub fn chain(&self) -> &ChainState<S> {
        &self.chain
    }

    /// The chain state, for headers-first sync (headers change neither tip nor mempool)
    /// and for verifying a run's bodies ahead of their turn.
    pub fn chain_mut(&mut self) -> &mut ChainState<S> {
        &mut self.chain
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn params(&self) -> &'static Params {
        self.chain.params()
    }

    /// The mempool settings it was opened with (to open it again).
    pub fn mempool_config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Submits a block (see [`ChainState::submit_block`]), brings the mempool in step with
    /// whatever tip changes it caused, and returns once they are committed.
    pub async fn submit_block(
        &mut self,
        block: impl Into<Arc<Block>>,
        now: u64,
    ) -> LedgerWrite<SubmitOutcome> {
        let mut written = self.submit_block_pipelined(block, now).await;
        if let Err(error) = self.flush().await {
            written.result = Err(error);
        }
        written
    }

    /// Like [`Ledger::submit_block`], but returns while the tip change may still be
    /// committing, so that a run of blocks (a sync) overlaps checking one with committing
    /// the last. Call [`Ledger::flush`] after the run.
    pub async fn submit_block_pipelined(
        &mut self,
        block: impl Into<Arc<Block>>,
        now: u64,
    ) -> LedgerWrite<SubmitOutcome> {
        let written = self.chain.submit_block(block, now).await;
        self.follow(written, now).await
    }

    /// Waits until every accepted block is committed, then writes the mempool's changes
    /// that those blocks caused.
    pub async fn flush(&mut self) -> Result<(), ChainError> {
        self.chain.flush().await?;
        let unwritten = std::mem::take(&mut self.unwritten);
        self.persist(&unwritten).await?;
        Ok(())
    }

    /// Validates `tx` against the tip and the mempool and adds it. Takes the transaction
    /// by reference so that a refused copy is neither hashed nor freed here, under the
    /// caller's lock: only an accepted one is copied.
    pub async fn submit_transaction(
        &mut self,
        tx: &IdentifiedTx,
        now: u64,
    ) -> Result<Accepted, TxSubmitError> {
        self.flush().await.map_err(TxSubmitError::from_flush)?;
        self.mempool.precheck(tx)?;
        let coins = self
            .chain
            .coins(&self.mempool.missing_inputs(tx.tx()))
            .await?;
        let accepted = self.mempool.accept_identified(
            tx.clone(),
            &coins,
            self.chain.tip().height,
            now,
            self.params(),
        )?;
        let record = MempoolRecord {
            tx: tx.tx().clone(),
            fee: accepted.fee,
            added_at: now,
        };
        let mut txn = self.chain.store().begin().await?;
        txn.mempool_insert(&[record]).await?;
        txn.mempool_remove(&accepted.evicted).await?;
        txn.commit().await?;
        Ok(accepted)
    }

    /// Whether `tx` would be accepted now, judged by every rule without adding it, storing
    /// anything or remembering a refusal.
    pub async fn test_transaction(&self, tx: &IdentifiedTx) -> Result<Accepted, TxSubmitError> {
        let coins = self
            .chain
            .coins(&self.mempool.missing_inputs(tx.tx()))
            .await?;
        Ok(self.judge_transaction(tx, &coins)?)
    }

    /// [`Ledger::test_transaction`] with the chain coins `tx` spends already read (those at
    /// the current tip): no database read, so the caller's lock is held only for the rules.
    pub fn judge_transaction(
        &self,
        tx: &IdentifiedTx,
        coins: &HashMap<OutPoint, Coin>,
    ) -> Result<Accepted, MempoolError> {
        let tip = self.chain.tip().height;
        self.mempool.test_accept(tx, coins, tip, self.params())
    }

    /// An operator's override of a block's validity (see `chainstate::overrides`); the
    /// mempool follows the tip changes, and all is committed when it returns.
    pub async fn override_block(
        &mut self,
        hash: &BlockHash,
        action: Override,
        now: u64,
    ) -> LedgerWrite<(), OverrideError> {
        let written = match action {
            Override::Invalidate => self.chain.invalidate_block(hash, now).await,
            Override::Reconsider => self.chain.reconsider_block(hash, now).await,
        };
        let mut written = self.follow(written, now).await;
        if let Err(error) = self.flush().await {
            written.result = Err(error.into());
        }
        written
    }

    /// Drops mempool entries older than the configured expiry; returns them.
    pub async fn expire_mempool(&mut self, now: u64) -> Result<Vec<Txid>, StoreError> {
        let expired = self.mempool.expire(now);
        if !expired.is_empty() {
            let mut txn = self.chain.store().begin().await?;
            txn.mempool_remove(&expired).await?;
            txn.commit().await?;
        }
        Ok(expired)
    }

    /// A block template on the current tip paying `payout`.
    pub fn template(
        &self,
        payout: &Address,
        now: u64,
        extra_nonce: u64,
        tag: &[u8],
    ) -> Result<BlockTemplate, MempoolError> {
        let tip = self.tip_info();
        build_template(
            self.params(),
            &tip,
            &self.mempool,
            payout,
            now,
            extra_nonce,
            tag,
        )
    }

    /// What a template needs to know about the tip.
    pub fn tip_info(&self) -> TipInfo {
        let chain = &self.chain;
        let hash = chain.tip().hash;
        let entry = chain.index().get(&hash).expect("the tip is indexed");
        let ctx = chain
            .index()
            .header_context(&hash, self.params())
            .expect("the tip is indexed");
        TipInfo {
            hash,
            height: entry.height,
            time: entry.header.time,
            median_time_past: ctx.median_time_past,
            next_bits: ctx.expected_bits,
        }
    }
}
