//! The UTXO view: how consensus asks "what does this outpoint hold?" without knowing where
//! the answer is stored (a map in tests, a database cache in the node, a block overlay).

use std::collections::{HashMap, HashSet};

use crate::primitives::{Height, OutPoint, TxOut};

/// An unspent output, and the facts about its creation that spending rules need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Coin {
    pub output: TxOut,
    /// Height of the block that created it.
    pub height: Height,
    pub is_coinbase: bool,
}

/// Read access to a set of unspent outputs.
pub trait UtxoView {
    /// The unspent output at `outpoint`, or `None` if it never existed or is spent.
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin>;
}

impl UtxoView for HashMap<OutPoint, Coin> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.get(outpoint).copied()
    }
}

impl<V: UtxoView + ?Sized> UtxoView for &V {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        (**self).coin(outpoint)
    }
}

/// A view over `base` plus the outputs created, minus those spent, by the transactions
/// applied so far: a block's later transactions see its earlier ones.
#[derive(Debug)]
pub struct UtxoOverlay<'a, V: ?Sized> {
    base: &'a V,
    created: HashMap<OutPoint, Coin>,
    spent: HashSet<OutPoint>,
}

impl<'a, V: UtxoView + ?Sized> UtxoOverlay<'a, V> {
    pub fn new(base: &'a V) -> Self {
        Self {
            base,
            created: HashMap::new(),
            spent: HashSet::new(),
        }
    }

    /// Records that `outpoint` is spent (whether the base or this overlay created it).
    pub fn spend(&mut self, outpoint: &OutPoint) {
        self.created.remove(outpoint);
        self.spent.insert(*outpoint);
    }

    /// Records a new unspent output.
    pub fn add(&mut self, outpoint: OutPoint, coin: Coin) {
        self.created.insert(outpoint, coin);
    }
}

impl<V: UtxoView + ?Sized> UtxoView for UtxoOverlay<'_, V> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        if let Some(coin) = self.created.get(outpoint) {
            return Some(*coin);
        }
        if self.spent.contains(outpoint) {
            return None;
        }
        self.base.coin(outpoint)
    }
}
