//! The mempool as its readers see it: each transaction with its fee, size and arrival, and
//! the fee-rate order, in persistent collections (`imbl`) that the pool keeps in step with
//! its entries. A clone costs O(1), so the node hands the REST API a copy after every change
//! instead of its lock.
//!
//! Read-only outside the pool: only `Mempool::insert` and `Mempool::unlink` change it.

use std::sync::Arc;

use imbl::{HashMap, OrdMap, OrdSet};

use crate::primitives::{Amount, OutPoint, Transaction, Txid};

use super::entry::MempoolEntry;
use super::fee_rate::FeeRate;

/// A transaction in the mempool, as readers see it.
#[derive(Clone, Debug)]
pub struct PooledTx {
    pub tx: Arc<Transaction>,
    pub txid: Txid,
    pub fee: Amount,
    /// Bytes of the canonical encoding.
    pub size: usize,
    /// Unix seconds.
    pub time_added: u64,
    /// The pool's arrival order, which puts parents before children.
    pub sequence: u64,
}

impl PooledTx {
    pub fn fee_rate(&self) -> FeeRate {
        FeeRate::new(self.fee, self.size)
    }
}

/// The mempool's transactions at one moment.
#[derive(Clone, Debug, Default)]
pub struct MempoolSnapshot {
    entries: HashMap<Txid, PooledTx>,
    by_fee_rate: OrdSet<(FeeRate, Txid)>,
    by_sequence: OrdMap<u64, Txid>,
    total_bytes: usize,
}

impl MempoolSnapshot {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of all transactions' canonical encodings.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    pub fn get(&self, txid: &Txid) -> Option<&PooledTx> {
        self.entries.get(txid)
    }

    /// The outpoints `tx` spends that no transaction here creates: the coins to read from
    /// the chain.
    pub fn missing_inputs(&self, tx: &Transaction) -> Vec<OutPoint> {
        tx.inputs
            .iter()
            .map(|input| input.previous_output)
            .filter(|outpoint| !outpoint.is_null() && !self.entries.contains_key(&outpoint.txid))
            .collect()
    }

    /// Every transaction, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &PooledTx> {
        self.entries.values()
    }

    /// Every transaction, highest own fee rate first (ties by txid).
    pub fn by_fee_rate(&self) -> impl Iterator<Item = &PooledTx> {
        self.by_fee_rate
            .iter()
            .rev()
            .filter_map(|(_, txid)| self.entries.get(txid))
    }

    /// Every transaction, parents before children (in the order they arrived).
    pub fn parent_first(&self) -> impl Iterator<Item = &PooledTx> {
        self.by_sequence
            .values()
            .filter_map(|txid| self.entries.get(txid))
    }

    pub(super) fn insert(&mut self, entry: &MempoolEntry) {
        let pooled = PooledTx {
            tx: Arc::clone(&entry.tx),
            txid: entry.txid,
            fee: entry.fee,
            size: entry.size,
            time_added: entry.time_added,
            sequence: entry.sequence,
        };
        self.by_fee_rate.insert((pooled.fee_rate(), pooled.txid));
        self.by_sequence.insert(pooled.sequence, pooled.txid);
        self.total_bytes = self.total_bytes.saturating_add(pooled.size);
        self.entries.insert(pooled.txid, pooled);
    }

    pub(super) fn remove(&mut self, txid: &Txid) {
        if let Some(pooled) = self.entries.remove(txid) {
            self.by_fee_rate.remove(&(pooled.fee_rate(), pooled.txid));
            self.by_sequence.remove(&pooled.sequence);
            self.total_bytes = self.total_bytes.saturating_sub(pooled.size);
        }
    }
}
