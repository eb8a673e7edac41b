//! The mempool following the chain: each tip change a write made is applied to the
//! mempool (confirmed and conflicting transactions leave; after a reorg every pending and
//! disconnected transaction is offered back against the new tip), and the net change is
//! returned with the write and kept until [`Ledger::flush`] writes it, after the blocks
//! that caused it are committed. It never writes the mempool ahead of those blocks.

use std::collections::{HashMap, HashSet};

use crate::chain::ChainUpdate;
use crate::chainstate::{ChainWrite, Written};
use crate::consensus::Coin;
use crate::mempool::MempoolDelta;
use crate::primitives::{OutPoint, Txid};
use crate::storage::{ChainStore, MempoolRecord, StoreError, StoreTxn};

use super::{Ledger, LedgerChanges, LedgerWrite, Readded};

impl<S: ChainStore> Ledger<S> {
    /// Brings the mempool in step with a chain write's tip changes, adding what that did
    /// to the changes; a storage error reading the coins to re-add replaces the result.
    pub(super) async fn follow<T, E: From<StoreError>>(
        &mut self,
        written: ChainWrite<T, E>,
        now: u64,
    ) -> LedgerWrite<T, E> {
        let Written { result, changes } = written;
        match self.follow_chain(&changes, now).await {
            Ok((readded, mempool)) => {
                self.unwritten.then(mempool.clone());
                Written::new(
                    result,
                    LedgerChanges {
                        updates: changes,
                        readded,
                        mempool,
                    },
                )
            }
            Err(error) => Written::new(Err(error.into()), LedgerChanges::default()),
        }
    }

    /// Applies tip changes to the mempool; returns the transactions reorgs brought back
    /// and the mempool's delta ([`Ledger::flush`] writes it once the blocks are committed).
    async fn follow_chain(
        &mut self,
        updates: &[ChainUpdate],
        now: u64,
    ) -> Result<(Vec<Readded>, MempoolDelta), StoreError> {
        let mut delta = MempoolDelta::default();
        let mut readded = Vec::new();
        if updates.is_empty() {
            return Ok((Vec::new(), delta));
        }
        // A new tip may make a refused transaction valid: its inputs, its fee rate.
        self.mempool.clear_recent_rejects();
        for update in updates {
            if update.is_reorg() {
                let (back, change) = self.follow_reorg(update, now).await?;
                readded.extend(back);
                delta.then(change);
            } else {
                for (_, block) in &update.connected {
                    let removed = self.mempool.remove_for_block(block);
                    delta.then(MempoolDelta::left(
                        removed.confirmed.into_iter().chain(removed.conflicts),
                    ));
                }
            }
        }
        // Only those still there at the end, once each (a later block may confirm one).
        let mut seen = HashSet::new();
        let readded = readded
            .into_iter()
            .filter(|txid| seen.insert(*txid))
            .filter_map(|txid| self.mempool.get(&txid).map(Readded::of))
            .collect();
        Ok((readded, delta))
    }

    /// After a reorg: everything that was pending or disconnected is offered back to the
    /// mempool against the new tip. Returns what came back, and the mempool's delta.
    async fn follow_reorg(
        &mut self,
        update: &ChainUpdate,
        now: u64,
    ) -> Result<(Vec<Txid>, MempoolDelta), StoreError> {
        let before = self.pending();
        let disconnected = update.disconnected.iter().map(|(_, block)| block.as_ref());
        let candidates = self.mempool.take_for_reorg(disconnected);
        let outpoints: Vec<OutPoint> = candidates
            .iter()
            .flat_map(|tx| tx.inputs.iter().map(|i| i.previous_output))
            .collect();
        let coins: HashMap<OutPoint, Coin> = self.chain.coins(&outpoints).await?;
        let report = self.mempool.readd_after_reorg(
            candidates,
            &coins,
            self.chain.tip().height,
            now,
            self.params(),
        );
        tracing::info!(
            readded = report.readded.len(),
            dropped = report.dropped.len(),
            depth = update.disconnected.len(),
            "mempool followed a reorg"
        );
        Ok((
            report.readded,
            MempoolDelta::between(&before, &self.pending()),
        ))
    }

    /// The transactions in the mempool now.
    fn pending(&self) -> HashSet<Txid> {
        self.mempool
            .entries_parent_first()
            .map(|e| e.txid())
            .collect()
    }

    /// Writes a mempool delta to the store: the entries that entered (parents first, as
    /// the pool orders them) and the removal of those that left.
    pub(super) async fn persist(&mut self, delta: &MempoolDelta) -> Result<(), StoreError> {
        if delta.is_empty() {
            return Ok(());
        }
        let entered: HashSet<&Txid> = delta.entered.iter().collect();
        let added: Vec<MempoolRecord> = self
            .mempool
            .entries_parent_first()
            .filter(|e| entered.contains(&e.txid()))
            .map(|e| MempoolRecord {
                tx: e.tx().clone(),
                fee: e.fee(),
                added_at: e.time_added(),
            })
            .collect();
        let mut txn = self.chain.store().begin().await?;
        txn.mempool_remove(&delta.left).await?;
        txn.mempool_insert(&added).await?;
        txn.commit().await
    }
}
