//! Running totals of the UTXO set while a plan is applied, committed as the new tip row.

use crate::chain::{BlockChanges, UtxoCommitment};
use crate::consensus::Network;
use crate::primitives::{Amount, BlockHash, Height};
use crate::storage::ChainTip;

/// The commitment, count and sum of the UTXO set, updated block by block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TipTotals {
    pub commitment: UtxoCommitment,
    pub utxo_count: u64,
    pub total_amount: Amount,
}

impl From<&ChainTip> for TipTotals {
    fn from(tip: &ChainTip) -> Self {
        Self {
            commitment: tip.utxo_commitment,
            utxo_count: tip.utxo_count,
            total_amount: tip.total_amount,
        }
    }
}

impl TipTotals {
    /// Adds the outputs `changes` creates and removes those it spends.
    ///
    /// # Panics
    /// If the totals go negative or past the supply: the changes came from valid blocks, so
    /// that would be a bug, not bad input.
    pub fn apply(&mut self, changes: &BlockChanges) {
        for (outpoint, coin) in &changes.added {
            self.commitment.add(outpoint, coin);
            self.utxo_count += 1;
            self.total_amount = self
                .total_amount
                .checked_add(coin.output.value)
                .expect("supply within limits");
        }
        for (outpoint, coin) in &changes.removed {
            self.commitment.remove(outpoint, coin);
            self.utxo_count -= 1;
            self.total_amount = self
                .total_amount
                .checked_sub(coin.output.value)
                .expect("removing an existing coin");
        }
    }

    pub fn into_tip(self, network: Network, hash: BlockHash, height: Height) -> ChainTip {
        ChainTip {
            network,
            hash,
            height,
            utxo_commitment: self.commitment,
            utxo_count: self.utxo_count,
            total_amount: self.total_amount,
        }
    }
}
