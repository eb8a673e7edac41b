//! Accepting a transaction, cheapest checks first so that a refusal costs the sender more
//! than it costs us:
//!
//! 1. the recent-rejects filter (a copy of something refused since the last tip change is
//!    answered at once), already in the pool, conflicts;
//! 2. consensus rules but the signatures (`check_transaction`, then `check_inputs`:
//!    existence, maturity, ownership, amounts), which give the fee;
//! 3. policy: fee rate against the minimum, package limits, room in the pool;
//! 4. only then the signatures, the costly part.
//!
//! `accept` is atomic: it either adds the transaction (evicting cheaper entries if the pool
//! is full) or returns an error and leaves the pool exactly as it was (except that a refusal
//! is remembered). There is no replace-by-fee: the first spend of an outpoint wins until a
//! block decides otherwise. Consensus rules come from `consensus`; nothing here
//! re-implements them, reads a clock or touches storage.

use std::collections::BTreeSet;

use crate::consensus::tx::{CheckedInputs, SignatureCheck, check_inputs};
use crate::consensus::{Params, TxError, UtxoView, check_transaction};
use crate::primitives::{Amount, Encode, Height, IdentifiedTx, Transaction, Txid};

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

/// A transaction that passed every rule, with where it would sit in the pool.
struct Judged {
    tx: Transaction,
    parents: BTreeSet<Txid>,
    ancestors: BTreeSet<Txid>,
    accepted: Accepted,
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
        self.accept_identified(IdentifiedTx::new(tx), chain, tip_height, now, params)
    }

    /// [`Mempool::accept`] for a transaction hashed where it arrived.
    pub fn accept_identified(
        &mut self,
        tx: IdentifiedTx,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        now: u64,
        params: &Params,
    ) -> Result<Accepted, MempoolError> {
        self.precheck(&tx)?;
        let wtxid = tx.wtxid();
        let result = self.try_accept(tx, chain, tip_height, now, params);
        if let Some(lasting) = result.as_ref().err().and_then(MempoolError::remembered_for) {
            self.recent_rejects.insert(wtxid, lasting);
        }
        result
    }

    /// What can be refused before any coin is looked up: a copy of a recent refusal, or a
    /// transaction already in the pool. The caller runs it before fetching the coins
    /// [`Mempool::accept`] needs, so a resent refusal costs no database read and, with the
    /// ids computed on arrival, no hashing.
    pub fn precheck(&self, tx: &IdentifiedTx) -> Result<(), MempoolError> {
        if self.recent_rejects.contains(&tx.wtxid()) {
            return Err(MempoolError::RecentlyRejected(tx.wtxid()));
        }
        if self.contains(&tx.txid()) {
            return Err(MempoolError::AlreadyInPool(tx.txid()));
        }
        Ok(())
    }

    /// The tip changed: forgets the refusals a new block may reverse.
    pub fn clear_recent_rejects(&mut self) {
        self.recent_rejects.on_tip_change();
    }

    /// Judges `tx` as [`Mempool::accept`] would, every rule and the signatures included,
    /// without changing the pool or remembering a refusal (Bitcoin Core's
    /// `testmempoolaccept`). `evicted` says what accepting it would evict.
    pub fn test_accept(
        &self,
        tx: &IdentifiedTx,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        params: &Params,
    ) -> Result<Accepted, MempoolError> {
        let judged = self.judge(tx.clone(), chain, tip_height, params)?;
        Ok(judged.accepted)
    }

    fn try_accept(
        &mut self,
        tx: IdentifiedTx,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        now: u64,
        params: &Params,
    ) -> Result<Accepted, MempoolError> {
        let Judged {
            tx,
            parents,
            ancestors,
            accepted,
        } = self.judge(tx, chain, tip_height, params)?;
        // Nothing can fail from here on: the pool changes only now.
        self.remove_set(&accepted.evicted);
        let entry = MempoolEntry {
            tx: std::sync::Arc::new(tx),
            txid: accepted.txid,
            fee: accepted.fee,
            size: accepted.size,
            time_added: now,
            sequence: 0, // set by insert
            parents,
            children: BTreeSet::new(),
            descendants: PackageStats::EMPTY, // set by insert
        };
        self.insert(entry, &ancestors);
        Ok(accepted)
    }

    /// Every rule, cheapest first and the signatures last, and what accepting `tx` would
    /// change; the pool is left as it is.
    fn judge(
        &self,
        tx: IdentifiedTx,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        params: &Params,
    ) -> Result<Judged, MempoolError> {
        let txid = tx.txid();
        let tx = tx.into_inner();
        let checked = self.check_without_signatures(&tx, txid, chain, tip_height, params)?;
        let fee = checked.fee;
        let size = tx.encoded_len();
        let fee_rate = FeeRate::new(fee, size);
        self.check_min_fee_rate(fee_rate)?;
        let parents = self.pool_parents(&tx);
        let ancestors = self.check_package_limits(&parents)?;
        let evicted = self.plan_eviction(size, fee_rate, &ancestors)?;
        // Policy is satisfied: only now pay for the signatures.
        checked
            .signature_checks
            .iter()
            .try_for_each(SignatureCheck::run)?;
        Ok(Judged {
            tx,
            parents,
            ancestors,
            accepted: Accepted {
                txid,
                fee,
                size,
                fee_rate,
                evicted,
            },
        })
    }

    /// Not already here, no conflict, then every consensus rule but the signatures, whose
    /// checks are returned to run last.
    fn check_without_signatures(
        &self,
        tx: &Transaction,
        txid: Txid,
        chain: &(impl UtxoView + ?Sized),
        tip_height: Height,
        params: &Params,
    ) -> Result<CheckedInputs, MempoolError> {
        if self.contains(&txid) {
            return Err(MempoolError::AlreadyInPool(txid));
        }
        self.check_conflicts(tx)?;
        check_transaction(tx, params)?;
        if tx.is_coinbase() {
            return Err(TxError::UnexpectedCoinbase.into());
        }
        let next_height = tip_height.next();
        let view = PoolView::new(chain, self, next_height);
        Ok(check_inputs(
            tx,
            &view,
            next_height,
            params,
            &params.genesis_hash(),
        )?)
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
        let room = max.saturating_sub(self.total_bytes());
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
