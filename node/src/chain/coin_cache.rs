//! A bounded copy, in memory, of part of the committed UTXO set: block connect finds the
//! coins it spends here before it asks the database (Bitcoin Core's `-dbcache`, its read
//! side; `--dbcache-mb` sets the budget).
//!
//! It follows the database and never leads it. A coin enters when it was read from the
//! store, or when the tip change that created it has committed; it leaves when a committed
//! change spends it, or when the budget pushes it out. The database takes every write in the
//! block's own transaction as before, so a crash or a storage error costs only speed (the
//! chain state is reopened, with an empty cache) and the storage-fault rules are unchanged.
//!
//! It must not be asked before the diffs still committing (they are newer than the
//! database), and it must not learn of a change before that change has committed.
//!
//! The budget is kept with two generations: when the young one holds half of it, the old
//! one is dropped and the young one becomes old. What was read or created recently stays;
//! nothing is scanned or sorted to evict.

use std::collections::HashMap;

use crate::consensus::Coin;
use crate::primitives::OutPoint;

use super::ChainDiff;

/// Bytes an entry costs: the key and value, and the hash table's overhead around them.
pub const ENTRY_BYTES: usize = size_of::<(OutPoint, Coin)>() + 24;

/// Committed unspent coins, within a budget.
#[derive(Debug, Default)]
pub struct CoinCache {
    young: HashMap<OutPoint, Coin>,
    old: HashMap<OutPoint, Coin>,
    /// Entries a generation may hold; zero disables the cache.
    generation: usize,
}

/// What the cache holds, for `/status` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUsage {
    pub entries: usize,
    pub budget_bytes: usize,
}

impl CoinCache {
    /// A cache within `budget_bytes` (zero: it holds nothing).
    pub fn with_budget(budget_bytes: usize) -> Self {
        Self {
            generation: budget_bytes / ENTRY_BYTES / 2,
            ..Self::default()
        }
    }

    /// The committed coin at `outpoint`, if the cache holds it. `None` says nothing about
    /// whether the coin exists: ask the store.
    pub fn get(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.young
            .get(outpoint)
            .or_else(|| self.old.get(outpoint))
            .copied()
    }

    /// Remembers coins read from the store (so committed, and untouched by any change
    /// still committing).
    pub fn insert_read(&mut self, coins: impl IntoIterator<Item = (OutPoint, Coin)>) {
        for (outpoint, coin) in coins {
            self.insert(outpoint, coin);
        }
    }

    /// Applies a tip change once it has committed: what it spent leaves, what it created
    /// enters.
    pub fn apply_committed(&mut self, diff: &ChainDiff) {
        for (outpoint, coin) in diff.net_utxos() {
            match coin {
                Some(coin) => self.insert(*outpoint, coin),
                None => self.remove(outpoint),
            }
        }
    }

    pub fn usage(&self) -> CacheUsage {
        CacheUsage {
            entries: self.young.len() + self.old.len(),
            budget_bytes: self.generation * 2 * ENTRY_BYTES,
        }
    }

    fn insert(&mut self, outpoint: OutPoint, coin: Coin) {
        if self.generation == 0 {
            return;
        }
        self.old.remove(&outpoint);
        self.young.insert(outpoint, coin);
        if self.young.len() >= self.generation {
            self.old = std::mem::take(&mut self.young);
        }
    }

    fn remove(&mut self, outpoint: &OutPoint) {
        self.young.remove(outpoint);
        self.old.remove(outpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{BlockChanges, UndoData};
    use crate::primitives::{Amount, BlockHash, Height, PubkeyHash, TxOut, Txid};

    fn outpoint(n: u32) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([7; 32]),
            vout: n,
        }
    }

    fn coin(units: u64) -> Coin {
        Coin {
            output: TxOut {
                value: Amount::from_units(units).expect("in range"),
                pubkey_hash: PubkeyHash::from_byte_array([1; 20]),
            },
            height: Height::new(1),
            is_coinbase: false,
        }
    }

    fn changes(added: &[(u32, u64)], removed: &[(u32, u64)]) -> BlockChanges {
        BlockChanges {
            hash: BlockHash::from_byte_array([0; 32]),
            height: Height::new(1),
            added: added.iter().map(|&(n, u)| (outpoint(n), coin(u))).collect(),
            removed: removed
                .iter()
                .map(|&(n, u)| (outpoint(n), coin(u)))
                .collect(),
            undo: UndoData::default(),
        }
    }

    #[test]
    fn a_committed_change_adds_what_it_created_and_drops_what_it_spent() {
        let mut cache = CoinCache::with_budget(1 << 20);
        cache.insert_read([(outpoint(1), coin(10))]);
        let mut diff = ChainDiff::new();
        diff.connect(changes(&[(2, 20)], &[(1, 10)]));
        cache.apply_committed(&diff);
        assert_eq!(cache.get(&outpoint(1)), None);
        assert_eq!(cache.get(&outpoint(2)), Some(coin(20)));
    }

    #[test]
    fn a_coin_created_and_spent_within_one_change_never_enters() {
        let mut cache = CoinCache::with_budget(1 << 20);
        let mut diff = ChainDiff::new();
        diff.connect(changes(&[(3, 30)], &[]));
        diff.connect(changes(&[], &[(3, 30)]));
        cache.apply_committed(&diff);
        assert_eq!(cache.usage().entries, 0);
    }

    #[test]
    fn the_budget_holds_however_many_coins_pass_through() {
        let budget = 100 * ENTRY_BYTES;
        let mut cache = CoinCache::with_budget(budget);
        cache.insert_read((0..10_000).map(|n| (outpoint(n), coin(1))));
        let usage = cache.usage();
        assert!(usage.entries * ENTRY_BYTES <= budget, "{usage:?}");
        assert!(usage.entries >= 50, "the newest half stays: {usage:?}");
        assert_eq!(cache.get(&outpoint(9_999)), Some(coin(1)));
        assert_eq!(cache.get(&outpoint(0)), None);
    }

    #[test]
    fn a_cache_without_budget_holds_nothing() {
        let mut cache = CoinCache::with_budget(0);
        cache.insert_read([(outpoint(1), coin(10))]);
        assert_eq!(cache.get(&outpoint(1)), None);
    }
}
