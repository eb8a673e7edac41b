//! The UTXO view a new transaction is validated against: the chain's coins, plus the outputs
//! of the transactions already in the mempool, so that chains of unconfirmed transactions
//! are valid.
//!
//! Mempool outputs look like coins of the next block (`tip + 1`) that are not coinbases.
//! Outputs that another mempool transaction spends still show here: conflicts are refused by
//! the pool's spender index before validation runs, with a better error than "missing".
//! This view reads; it never changes the pool or the chain.

use crate::consensus::{Coin, UtxoView};
use crate::primitives::{Height, OutPoint};

use super::pool::Mempool;

/// The chain's UTXOs overlaid with the mempool's outputs.
#[derive(Debug)]
pub struct PoolView<'a, V: ?Sized> {
    chain: &'a V,
    pool: &'a Mempool,
    /// The height the next block will have: what mempool outputs count as created at.
    next_height: Height,
}

impl<'a, V: UtxoView + ?Sized> PoolView<'a, V> {
    pub fn new(chain: &'a V, pool: &'a Mempool, next_height: Height) -> Self {
        Self {
            chain,
            pool,
            next_height,
        }
    }
}

impl<V: UtxoView + ?Sized> UtxoView for PoolView<'_, V> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        let Some(entry) = self.pool.get(&outpoint.txid) else {
            return self.chain.coin(outpoint);
        };
        let vout = usize::try_from(outpoint.vout).ok()?;
        entry.tx().outputs.get(vout).map(|output| Coin {
            output: *output,
            height: self.next_height,
            is_coinbase: false,
        })
    }
}
