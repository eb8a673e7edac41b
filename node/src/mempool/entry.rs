//! A mempool entry (a transaction with what acceptance learned) and `PackageStats`, the
//! count, fee and size of a group of entries that eviction and block templates rank.
//!
//! Entries are read-only outside the mempool: only `pool` creates them and keeps their links
//! (parents, children, descendant totals) consistent. Nothing here validates anything.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::primitives::{Amount, Transaction, Txid};

use super::fee_rate::FeeRate;

/// The count, total fee and total size of a group of transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageStats {
    pub count: usize,
    pub fee: Amount,
    pub size: usize,
}

impl PackageStats {
    pub const EMPTY: Self = Self {
        count: 0,
        fee: Amount::ZERO,
        size: 0,
    };

    /// One transaction.
    pub fn single(fee: Amount, size: usize) -> Self {
        Self {
            count: 1,
            fee,
            size,
        }
    }

    /// Both groups together. The fees of distinct valid transactions sum to at most the
    /// supply (each fee is part of distinct coins), so saturating only guards a broken caller
    /// and can only misrank, never mint: these sums rank transactions, they pay nothing.
    pub fn plus(self, other: Self) -> Self {
        Self {
            count: self.count.saturating_add(other.count),
            fee: self.fee.checked_add(other.fee).unwrap_or(Amount::MAX),
            size: self.size.saturating_add(other.size),
        }
    }

    pub fn fee_rate(&self) -> FeeRate {
        FeeRate::new(self.fee, self.size)
    }
}

/// A transaction in the mempool, with its fee, size and place among the other entries.
#[derive(Clone, Debug)]
pub struct MempoolEntry {
    pub(super) tx: Arc<Transaction>,
    pub(super) txid: Txid,
    pub(super) fee: Amount,
    pub(super) size: usize,
    pub(super) time_added: u64,
    /// Insertion order: a parent is always inserted before its children, so sorting by
    /// sequence puts parents first.
    pub(super) sequence: u64,
    /// Mempool transactions whose outputs this one spends.
    pub(super) parents: BTreeSet<Txid>,
    /// Mempool transactions that spend this one's outputs.
    pub(super) children: BTreeSet<Txid>,
    /// This entry and all its mempool descendants.
    pub(super) descendants: PackageStats,
}

impl MempoolEntry {
    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    /// The transaction, shared.
    pub fn shared_tx(&self) -> &Arc<Transaction> {
        &self.tx
    }

    pub fn txid(&self) -> Txid {
        self.txid
    }

    /// Inputs minus outputs, as validated on acceptance.
    pub fn fee(&self) -> Amount {
        self.fee
    }

    /// Bytes of the canonical encoding (witnesses included).
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn fee_rate(&self) -> FeeRate {
        FeeRate::new(self.fee, self.size)
    }

    /// When the transaction entered the mempool (Unix seconds, as the caller said).
    pub fn time_added(&self) -> u64 {
        self.time_added
    }

    pub fn parents(&self) -> &BTreeSet<Txid> {
        &self.parents
    }

    pub fn children(&self) -> &BTreeSet<Txid> {
        &self.children
    }

    /// This entry together with all its mempool descendants.
    pub fn descendant_stats(&self) -> PackageStats {
        self.descendants
    }

    /// What eviction ranks by, as Bitcoin Core's "descendant score": the higher of the
    /// entry's own rate and the rate of it with its descendants. A cheap parent that a
    /// generous child pays for is kept as long as the pair is worth keeping; a generous parent
    /// is not dragged down by cheap children (those go first, on their own low score).
    pub fn descendant_score(&self) -> FeeRate {
        self.fee_rate().max(self.descendants.fee_rate())
    }

    pub(super) fn own_stats(&self) -> PackageStats {
        PackageStats::single(self.fee, self.size)
    }
}
