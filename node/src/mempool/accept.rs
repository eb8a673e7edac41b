//! Accepting a transaction: consensus validation against the chain plus the mempool, then
//! policy (no double spend, a minimum fee rate, bounded packages, a bounded pool).
//!
//! `accept` is atomic: it either adds the transaction (evicting cheaper entries if the pool
//! is full) or returns an error and leaves the pool exactly as it was. There is no
//! replace-by-fee: the first spend of an outpoint wins until a block decides otherwise.
//! Consensus rules come from `consensus::validate_transaction`; nothing here re-implements
//! them, reads a clock or touches storage.

use std::collections::BTreeSet;

use crate::consensus::{Params, UtxoView, validate_transaction};
use crate::primitives::{Amount, Encode, Height, Transaction, Txid};

use super::entry::{MempoolEntry, PackageStats};
use super::error::MempoolError;
use super::fee_rate::FeeRate;
use super::pool::Mempool;
use super::view::PoolView;

/// What `accept` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub txid: Txid,
    pub fee: Amount,
    /// Bytes of the canonical encoding.
    pub size: usize,
    pub fee_rate: FeeRate,
    /// Entries evicted to make room for it (each with its descendants), parents first.
    pub evicted: Vec<Txid>,
}

impl Mempool {
    /// Validates `tx` for the block after `tip_height`, against `chain` (the coins of the
    /// active chain; fetch those [`Mempool::missing_inputs`] names) overlaid with the
    /// mempool's outputs, and adds it.
    ///
    /// `now` (Unix seconds) is recorded as the entry's arrival time, from which it expires;
    /// to restore a persisted pool, pass each entry's stored time.
    pub fn accept(
        &mut self,
        tx: Transaction,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        now: u64,
        params: &Params,
    ) -> Result<Accepted, MempoolError> {
        let txid = tx.txid();
        let fee = self.validate(&tx, txid, chain, tip_height, params)?;
        let size = tx.encoded_len();
        let fee_rate = FeeRate::new(fee, size);
        self.check_min_fee_rate(fee_rate)?;
        let parents = self.pool_parents(&tx);
        let ancestors = self.check_package_limits(&parents)?;
        let evicted = self.plan_eviction(size, fee_rate, &ancestors)?;
        // Nothing can fail from here on: the pool changes only now.
        self.remove_set(&evicted);
        let entry = MempoolEntry {
            tx,
            txid,
            fee,
            size,
            time_added: now,
            sequence: 0, // set by insert
            parents,
            children: BTreeSet::new(),
            descendants: PackageStats::EMPTY, // set by insert
        };
        self.insert(entry, &ancestors);
        Ok(Accepted {
            txid,
            fee,
            size,
            fee_rate,
            evicted,
        })
    }

    /// Not already here, no conflict, then every consensus rule; returns the fee.
    fn validate(
        &self,
        tx: &Transaction,
        txid: Txid,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        params: &Params,
    ) -> Result<Amount, MempoolError> {
        if self.contains(&txid) {
            return Err(MempoolError::AlreadyInPool(txid));
        }
        self.check_conflicts(tx)?;
        let next_height = tip_height.next();
        let view = PoolView::new(chain, self, next_height);
        Ok(validate_transaction(tx, &view, next_height, params)?.fee)
    }

    /// No replace-by-fee: an outpoint a mempool transaction spends is taken.
    fn check_conflicts(&self, tx: &Transaction) -> Result<(), MempoolError> {
        for input in &tx.inputs {
            let outpoint = input.previous_output;
            if let Some(with) = self.spender_of(&outpoint) {
                return Err(MempoolError::Conflict { outpoint, with });
            }
        }
        Ok(())
    }

    fn check_min_fee_rate(&self, fee_rate: FeeRate) -> Result<(), MempoolError> {
        let minimum = self.config.min_fee_rate;
        if fee_rate < minimum {
            return Err(MempoolError::FeeRateTooLow { fee_rate, minimum });
        }
        Ok(())
    }

    /// The mempool transactions whose outputs `tx` spends.
    fn pool_parents(&self, tx: &Transaction) -> BTreeSet<Txid> {
        tx.inputs
            .iter()
            .map(|input| input.previous_output.txid)
            .filter(|txid| self.contains(txid))
            .collect()
    }

    /// Bitcoin Core's package limits: they bound the work every later accept, removal and
    /// template pays per transaction. Returns the new transaction's mempool ancestors.
    fn check_package_limits(
        &self,
        parents: &BTreeSet<Txid>,
    ) -> Result<BTreeSet<Txid>, MempoolError> {
        let ancestors = self.ancestors_of_parents(parents);
        let count = ancestors.len().saturating_add(1);
        let max = self.config.max_ancestors;
        if count > max {
            return Err(MempoolError::TooManyAncestors { count, max });
        }
        let max = self.config.max_descendants;
        let crowded = ancestors
            .iter()
            .find(|ancestor| self.entry(ancestor).descendants.count >= max);
        if let Some(&ancestor) = crowded {
            return Err(MempoolError::TooManyDescendants { ancestor, max });
        }
        Ok(ancestors)
    }

    /// The entries to evict (parents first) so that `size` more bytes fit: lowest descendant
    /// score first, each with its descendants, scored as they stand now. Refused if that
    /// would evict anything scoring at least `fee_rate`, or one of the newcomer's `ancestors`
    /// (which would take the newcomer with it).
    fn plan_eviction(
        &self,
        size: usize,
        fee_rate: FeeRate,
        ancestors: &BTreeSet<Txid>,
    ) -> Result<Vec<Txid>, MempoolError> {
        let max = self.config.max_bytes;
        if size > max {
            return Err(MempoolError::TooLargeForPool { size, max });
        }
        let room = max.saturating_sub(self.total_bytes);
        let mut needed = size.saturating_sub(room);
        let mut planned = BTreeSet::new();
        for &(score, txid) in &self.by_descendant_score {
            if needed == 0 {
                break;
            }
            if planned.contains(&txid) {
                continue;
            }
            if score >= fee_rate {
                return Err(MempoolError::PoolFull {
                    fee_rate,
                    evicted: score,
                });
            }
            if ancestors.contains(&txid) {
                return Err(MempoolError::PoolFullAncestorEvicted { ancestor: txid });
            }
            for victim in self.with_descendants([txid]) {
                if planned.insert(victim) {
                    needed = needed.saturating_sub(self.entry(&victim).size);
                }
            }
        }
        Ok(self.parent_first(planned))
    }
}
