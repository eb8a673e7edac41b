//! Restoring the persisted mempool when the ledger opens: every record is re-accepted
//! against the current tip, parents first, keeping its arrival time; what no longer
//! validates is deleted from the store.

use std::collections::HashMap;

use crate::chainstate::ChainError;
use crate::primitives::{OutPoint, Txid};
use crate::storage::{ChainStore, MempoolRecord, StoreTxn};

use super::Ledger;

impl<S: ChainStore> Ledger<S> {
    /// Re-accepts the persisted mempool against the current tip, keeping arrival times;
    /// what no longer validates is deleted.
    pub(super) async fn restore_mempool(&mut self, now: u64) -> Result<(), ChainError> {
        let records = self.chain.store().mempool().await?;
        if records.is_empty() {
            return Ok(());
        }
        let outpoints: Vec<OutPoint> = records
            .iter()
            .flat_map(|r| r.tx.inputs.iter().map(|i| i.previous_output))
            .collect();
        let coins = self.chain.coins(&outpoints).await?;
        let tip_height = self.chain.tip().height;
        let mut dropped = Vec::new();
        for record in parents_first(records) {
            let txid = record.tx.txid();
            let added_at = record.added_at.min(now);
            if let Err(error) =
                self.mempool
                    .accept(record.tx, &coins, tip_height, added_at, self.params())
            {
                tracing::info!(%txid, %error, "persisted mempool transaction no longer valid");
                dropped.push(txid);
            }
        }
        self.expire_mempool(now).await?;
        if !dropped.is_empty() {
            let mut txn = self.chain.store().begin().await?;
            txn.mempool_remove(&dropped).await?;
            txn.commit().await?;
        }
        Ok(())
    }
}

/// `records` in an order where each comes after every record whose transaction it spends,
/// otherwise as given. The store orders them by arrival second, and a parent and its child
/// often share one: re-accepted child first, the child would be dropped as spending a
/// missing output.
fn parents_first(records: Vec<MempoolRecord>) -> Vec<MempoolRecord> {
    let position: HashMap<Txid, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.tx.txid(), i))
        .collect();
    let parents = |i: usize| -> Vec<usize> {
        let inputs = records[i].tx.inputs.iter();
        inputs
            .filter_map(|input| position.get(&input.previous_output.txid).copied())
            .collect()
    };
    let mut order = Vec::with_capacity(records.len());
    let mut placed = vec![false; records.len()];
    for root in 0..records.len() {
        // Depth first, parents before children; `placed` is set on entry, so a (corrupt)
        // cycle cannot loop.
        let mut stack = vec![(root, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                order.push(i);
                continue;
            }
            if placed[i] {
                continue;
            }
            placed[i] = true;
            stack.push((i, true));
            stack.extend(parents(i).into_iter().rev().map(|p| (p, false)));
        }
    }
    let mut slots: Vec<Option<MempoolRecord>> = records.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
