//! Keeping the mempool in step with the chain: blocks connected, reorgs, expiry.
//!
//! The caller turns each chain event into one of these calls: a connected block into
//! [`Mempool::remove_for_block`]; a reorg into [`Mempool::take_for_reorg`] then
//! [`Mempool::readd_after_reorg`] against the new chain; a timer into [`Mempool::expire`].
//! Removal always takes descendants along, so no entry is left spending a missing output.
//! Nothing here validates blocks (they arrive connected, hence valid) or reads a clock.

use std::collections::HashSet;

use crate::consensus::coinbase::committed_height;
use crate::consensus::{Params, UtxoView};
use crate::primitives::{Block, Height, Transaction, Txid};

use super::error::MempoolError;
use super::pool::Mempool;

/// What a connected block took out of the mempool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Mempool transactions the block contains, in block order.
    pub confirmed: Vec<Txid>,
    /// Mempool transactions that spend an outpoint the block spends, with their
    /// descendants, parents first: they can never be mined now.
    pub conflicts: Vec<Txid>,
}

/// What re-adding transactions after a reorg did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReaddReport {
    /// Back in the mempool, in the order they were offered.
    pub readded: Vec<Txid>,
    /// Refused by the new chain or by policy, with the reason: spent or missing inputs,
    /// a coinbase no longer mature, or (for a transaction the new branch also confirmed)
    /// its own inputs already spent.
    pub dropped: Vec<(Txid, MempoolError)>,
    /// Re-added, then evicted to make room for a later (better-paying) one.
    pub evicted: Vec<Txid>,
}

impl Mempool {
    /// Takes out what a newly connected `block` settles: its own transactions (their
    /// mempool children stay, now spending confirmed outputs) and every transaction that
    /// spends an outpoint the block spends, with its descendants.
    pub fn remove_for_block(&mut self, block: &Block) -> Removed {
        let txs: Vec<&Transaction> = block
            .transactions
            .iter()
            .filter(|tx| !tx.is_coinbase())
            .collect();
        let confirmed: Vec<Txid> = txs
            .iter()
            .map(|tx| tx.txid())
            .filter(|txid| self.contains(txid))
            .collect();
        self.remove_set(&confirmed);
        let double_spends: Vec<Txid> = txs
            .iter()
            .flat_map(|tx| &tx.inputs)
            .filter_map(|input| self.spender_of(&input.previous_output))
            .collect();
        let conflicts = self.with_descendants(double_spends);
        self.remove_set(&conflicts);
        Removed {
            confirmed,
            conflicts,
        }
    }

    /// Empties the mempool for a reorg and returns what may come back: the non-coinbase
    /// transactions of the `disconnected` blocks, oldest block first and in block order, then
    /// every mempool transaction, parents first. In that order each transaction comes after
    /// any it spends from, so re-`accept`ing them one by one (see
    /// [`Mempool::readd_after_reorg`]) rebuilds the chains of unconfirmed transactions.
    ///
    /// The blocks may come in either order (the chain disconnects newest first): they are
    /// sorted by the height their coinbase commits to.
    pub fn take_for_reorg<'a>(
        &mut self,
        disconnected: impl IntoIterator<Item = &'a Block>,
    ) -> Vec<Transaction> {
        let order: Vec<Txid> = self.by_sequence.values().copied().collect();
        let mut entries = std::mem::take(&mut self.entries);
        self.clear();
        let mut blocks: Vec<&Block> = disconnected.into_iter().collect();
        blocks.sort_by_key(|block| block.coinbase().map(committed_height));
        let from_blocks = blocks
            .into_iter()
            .flat_map(|block| &block.transactions)
            .filter(|tx| !tx.is_coinbase())
            .cloned();
        let from_pool = order
            .iter()
            .filter_map(|txid| entries.remove(txid))
            .map(|entry| std::sync::Arc::unwrap_or_clone(entry.tx));
        let mut seen = HashSet::new();
        from_blocks
            .chain(from_pool)
            .filter(|tx| seen.insert(tx.txid()))
            .collect()
    }

    /// Offers each of `candidates` (from [`Mempool::take_for_reorg`]) to
    /// [`Mempool::accept`] against the new chain, in order, and reports what came back.
    /// Every re-added transaction arrives at `now`: its expiry clock restarts.
    pub fn readd_after_reorg(
        &mut self,
        candidates: Vec<Transaction>,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        now: u64,
        params: &Params,
    ) -> ReaddReport {
        let mut report = ReaddReport::default();
        for tx in candidates {
            let txid = tx.txid();
            match self.accept(tx, chain, tip_height, now, params) {
                Ok(accepted) => {
                    report.readded.push(txid);
                    report.evicted.extend(accepted.evicted);
                }
                Err(error) => report.dropped.push((txid, error)),
            }
        }
        report.readded.retain(|txid| self.contains(txid));
        report
    }

    /// Drops entries that arrived more than `config.expiry_secs` before `now`, with their
    /// descendants (however young); returns them parents first.
    pub fn expire(&mut self, now: u64) -> Vec<Txid> {
        let expiry = self.config.expiry_secs;
        let old: Vec<Txid> = self
            .by_time
            .iter()
            .take_while(|(time_added, _)| now.saturating_sub(*time_added) > expiry)
            .map(|(_, txid)| *txid)
            .collect();
        let expired = self.with_descendants(old);
        self.remove_set(&expired);
        expired
    }
}
