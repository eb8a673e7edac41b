//! Why the mempool refuses a transaction (or cannot build a template), with stable codes.
//!
//! Consensus failures keep their own `TxError` and its code, so the API and metrics report
//! `tx-missing-or-spent-input` whether a block or the mempool found it. Policy refusals
//! (full, too cheap, conflicting) get `mempool-*` codes: they say nothing bad about the
//! sender, while a consensus failure may. This file only names failures; it decides nothing.

use thiserror::Error;

use crate::consensus::TxError;
use crate::primitives::{CompactTarget, CompactTargetError, OutPoint, Txid, Wtxid};

use super::fee_rate::FeeRate;
use super::rejects::Lasting;

/// Why a transaction was not accepted into the mempool, or a template not built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MempoolError {
    #[error("transaction {0} is already in the mempool")]
    AlreadyInPool(Txid),
    #[error("transaction {0} (wtxid) was refused since the tip last changed")]
    RecentlyRejected(Wtxid),
    #[error("input {outpoint:?} is already spent by mempool transaction {with}")]
    Conflict { outpoint: OutPoint, with: Txid },
    #[error("invalid transaction: {0}")]
    Invalid(#[from] TxError),
    #[error("fee rate {fee_rate} is below the minimum of {minimum}")]
    FeeRateTooLow { fee_rate: FeeRate, minimum: FeeRate },
    #[error("transaction would have {count} mempool ancestors (itself included), above {max}")]
    TooManyAncestors { count: usize, max: usize },
    #[error("mempool transaction {ancestor} would have more than {max} descendants")]
    TooManyDescendants { ancestor: Txid, max: usize },
    #[error("transaction of {size} bytes cannot fit in a mempool of {max} bytes")]
    TooLargeForPool { size: usize, max: usize },
    #[error(
        "mempool is full: fee rate {fee_rate} is not above the {evicted} of what room for it would evict"
    )]
    PoolFull { fee_rate: FeeRate, evicted: FeeRate },
    #[error("mempool is full: room for the transaction would evict its own ancestor {ancestor}")]
    PoolFullAncestorEvicted { ancestor: Txid },
    #[error("the tip's next bits {bits} are not a target: {source}")]
    BadNextBits {
        bits: CompactTarget,
        source: CompactTargetError,
    },
    #[error("subsidy plus fees pass the maximum supply")]
    RewardTooLarge,
}

impl MempoolError {
    /// Every policy code [`MempoolError::code`] returns for a transaction (consensus
    /// failures keep the [`TxError::CODES`]), for metrics that must exist before the first
    /// refusal. The `template-*` codes are a template's, never a transaction's.
    pub const POLICY_CODES: [&'static str; 8] = [
        "mempool-already-in-pool",
        "mempool-recently-rejected",
        "mempool-conflict",
        "mempool-fee-rate-too-low",
        "mempool-too-many-ancestors",
        "mempool-too-many-descendants",
        "mempool-tx-too-large",
        "mempool-full",
    ];

    /// A stable, machine-readable name of the refusal; consensus failures keep their code.
    pub fn code(&self) -> &'static str {
        match self {
            MempoolError::AlreadyInPool(_) => "mempool-already-in-pool",
            MempoolError::RecentlyRejected(_) => "mempool-recently-rejected",
            MempoolError::Conflict { .. } => "mempool-conflict",
            MempoolError::Invalid(source) => source.code(),
            MempoolError::FeeRateTooLow { .. } => "mempool-fee-rate-too-low",
            MempoolError::TooManyAncestors { .. } => "mempool-too-many-ancestors",
            MempoolError::TooManyDescendants { .. } => "mempool-too-many-descendants",
            MempoolError::TooLargeForPool { .. } => "mempool-tx-too-large",
            MempoolError::PoolFull { .. } | MempoolError::PoolFullAncestorEvicted { .. } => {
                "mempool-full"
            }
            MempoolError::BadNextBits { .. } => "template-bad-next-bits",
            MempoolError::RewardTooLarge => "template-reward-too-large",
        }
    }

    /// How long the refusal holds, so that a copy sent again can be refused from the
    /// recent-rejects filter; `None` for what may pass at any moment: a duplicate, a
    /// conflict (the pool may change), an input not found yet (its parent may arrive).
    /// Refusals fixed by the transaction's own bytes hold forever (see `mempool::rejects`).
    pub fn remembered_for(&self) -> Option<Lasting> {
        match self {
            MempoolError::AlreadyInPool(_)
            | MempoolError::RecentlyRejected(_)
            | MempoolError::Conflict { .. }
            | MempoolError::Invalid(TxError::MissingInput(_)) => None,
            MempoolError::Invalid(TxError::ImmatureCoinbase { .. })
            | MempoolError::TooManyAncestors { .. }
            | MempoolError::TooManyDescendants { .. }
            | MempoolError::PoolFull { .. }
            | MempoolError::PoolFullAncestorEvicted { .. }
            | MempoolError::BadNextBits { .. }
            | MempoolError::RewardTooLarge => Some(Lasting::UntilTipChange),
            MempoolError::Invalid(_)
            | MempoolError::FeeRateTooLow { .. }
            | MempoolError::TooLargeForPool { .. } => Some(Lasting::Forever),
        }
    }

    /// Whether the transaction broke a consensus rule (so its sender may be at fault), as
    /// opposed to a local policy refusal that a peer could not have foreseen.
    pub fn is_consensus_failure(&self) -> bool {
        matches!(self, MempoolError::Invalid(_))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_policy_code_list_names_every_policy_code_once() {
        let rate = FeeRate::ZERO;
        let outpoint = OutPoint::new(Txid::ZERO, 0);
        let every_policy_refusal = [
            MempoolError::AlreadyInPool(Txid::ZERO),
            MempoolError::RecentlyRejected(Wtxid::ZERO),
            MempoolError::Conflict {
                outpoint,
                with: Txid::ZERO,
            },
            MempoolError::FeeRateTooLow {
                fee_rate: rate,
                minimum: rate,
            },
            MempoolError::TooManyAncestors { count: 2, max: 1 },
            MempoolError::TooManyDescendants {
                ancestor: Txid::ZERO,
                max: 1,
            },
            MempoolError::TooLargeForPool { size: 2, max: 1 },
            MempoolError::PoolFull {
                fee_rate: rate,
                evicted: rate,
            },
            MempoolError::PoolFullAncestorEvicted {
                ancestor: Txid::ZERO,
            },
        ];
        let codes: BTreeSet<_> = every_policy_refusal
            .iter()
            .map(MempoolError::code)
            .collect();
        assert_eq!(codes, BTreeSet::from(MempoolError::POLICY_CODES));
        assert_eq!(
            codes.len(),
            MempoolError::POLICY_CODES.len(),
            "a code listed twice"
        );
    }
}
