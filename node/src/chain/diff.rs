//! The net effect of a run of block disconnects and connects, accumulated in memory and then
//! written to storage in one batch.
//!
//! A reorg of a hundred blocks touches the same tables a hundred times over; written block by
//! block that is hundreds of statements. A [`ChainDiff`] folds the blocks' changes into one
//! net change per UTXO (relative to what storage held before the first block), so storage
//! writes each table once, whatever the length of the run. It also answers "what does this
//! outpoint hold now?" for the UTXOs it touched, so later blocks of the run validate against
//! the earlier ones without a database round trip.
//!
//! Balances are not tracked here: they are the sums of the UTXO set, so their net change is
//! derived from the net UTXO change ([`ChainDiff::balance_deltas`]).

use std::collections::{BTreeMap, HashMap};

use crate::consensus::Coin;
use crate::primitives::{Address, BlockHash, Height, OutPoint};

use super::changes::{BalanceDelta, BlockChanges};

/// How one outpoint differs from the stored UTXO set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UtxoDelta {
    /// Storage lacks it; it is unspent now.
    Added(Coin),
    /// Storage has it; it is spent now.
    Removed(Coin),
    /// Storage has `old`; it is unspent as `new` now (the same transaction confirmed again at
    /// another height, on the other side of a reorg).
    Replaced { old: Coin, new: Coin },
}

/// What the diff knows about an outpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The diff touched it: this is its state now.
    Known(Option<Coin>),
    /// The diff did not touch it: ask storage.
    Unknown,
}

/// A block the diff takes off the main chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisconnectedBlock {
    pub hash: BlockHash,
    pub height: Height,
}

/// The net changes of a run of disconnects then connects.
#[derive(Clone, Debug, Default)]
pub struct ChainDiff {
    utxos: HashMap<OutPoint, UtxoDelta>,
    disconnected: Vec<DisconnectedBlock>,
    connected: Vec<BlockChanges>,
}

impl ChainDiff {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.disconnected.is_empty() && self.connected.is_empty()
    }

    /// Folds in disconnecting a block (its changes from `BlockChanges::disconnect`).
    pub fn disconnect(&mut self, changes: &BlockChanges) {
        self.apply_utxos(changes);
        self.disconnected.push(DisconnectedBlock {
            hash: changes.hash,
            height: changes.height,
        });
    }

    /// Folds in connecting a block. Connects come after every disconnect of the run.
    pub fn connect(&mut self, changes: BlockChanges) {
        self.apply_utxos(&changes);
        self.connected.push(changes);
    }

    fn apply_utxos(&mut self, changes: &BlockChanges) {
        for (outpoint, coin) in &changes.removed {
            self.remove(outpoint, coin);
        }
        for (outpoint, coin) in &changes.added {
            self.add(outpoint, coin);
        }
    }

    /// # Panics
    /// If the coin is already unspent: consensus never creates an existing outpoint.
    fn add(&mut self, outpoint: &OutPoint, coin: &Coin) {
        let next = match self.utxos.remove(outpoint) {
            None => Some(UtxoDelta::Added(*coin)),
            Some(UtxoDelta::Removed(old)) if old == *coin => None,
            Some(UtxoDelta::Removed(old)) => Some(UtxoDelta::Replaced { old, new: *coin }),
            Some(other) => panic!("adding {outpoint:?}, already unspent: {other:?}"),
        };
        if let Some(delta) = next {
            self.utxos.insert(*outpoint, delta);
        }
    }

    /// # Panics
    /// If the coin is already spent: consensus never spends a coin twice.
    fn remove(&mut self, outpoint: &OutPoint, coin: &Coin) {
        let next = match self.utxos.remove(outpoint) {
            None => Some(UtxoDelta::Removed(*coin)),
            Some(UtxoDelta::Added(_)) => None,
            Some(UtxoDelta::Replaced { old, .. }) => Some(UtxoDelta::Removed(old)),
            Some(UtxoDelta::Removed(_)) => panic!("spending {outpoint:?} twice"),
        };
        if let Some(delta) = next {
            self.utxos.insert(*outpoint, delta);
        }
    }

    /// Folds in a diff that comes after this one (the next tip change, committed together
    /// with this one).
    pub fn append(&mut self, later: &ChainDiff) {
        for (outpoint, delta) in &later.utxos {
            match delta {
                UtxoDelta::Added(coin) => self.add(outpoint, coin),
                UtxoDelta::Removed(coin) => self.remove(outpoint, coin),
                UtxoDelta::Replaced { old, new } => {
                    self.remove(outpoint, old);
                    self.add(outpoint, new);
                }
            }
        }
        self.disconnected.extend(later.disconnected.iter().copied());
        self.connected.extend(later.connected.iter().cloned());
    }

    /// The state of `outpoint` as far as this diff knows.
    pub fn lookup(&self, outpoint: &OutPoint) -> Lookup {
        match self.utxos.get(outpoint) {
            None => Lookup::Unknown,
            Some(UtxoDelta::Added(coin) | UtxoDelta::Replaced { new: coin, .. }) => {
                Lookup::Known(Some(*coin))
            }
            Some(UtxoDelta::Removed(_)) => Lookup::Known(None),
        }
    }

    /// Each touched outpoint and what it holds after the run (`None`: spent).
    pub fn net_utxos(&self) -> impl Iterator<Item = (&OutPoint, Option<Coin>)> {
        self.utxos.iter().map(|(outpoint, delta)| match delta {
            UtxoDelta::Added(coin) | UtxoDelta::Replaced { new: coin, .. } => {
                (outpoint, Some(*coin))
            }
            UtxoDelta::Removed(_) => (outpoint, None),
        })
    }

    /// Stored UTXO rows to delete.
    pub fn utxos_to_delete(&self) -> Vec<(OutPoint, Coin)> {
        self.utxos
            .iter()
            .filter_map(|(o, d)| match d {
                UtxoDelta::Removed(old) | UtxoDelta::Replaced { old, .. } => Some((*o, *old)),
                UtxoDelta::Added(_) => None,
            })
            .collect()
    }

    /// UTXO rows to insert (after the deletions).
    pub fn utxos_to_insert(&self) -> Vec<(OutPoint, Coin)> {
        self.utxos
            .iter()
            .filter_map(|(o, d)| match d {
                UtxoDelta::Added(new) | UtxoDelta::Replaced { new, .. } => Some((*o, *new)),
                UtxoDelta::Removed(_) => None,
            })
            .collect()
    }

    /// The net change of each touched address's balance row.
    pub fn balance_deltas(&self) -> BTreeMap<Address, BalanceDelta> {
        let mut deltas: BTreeMap<Address, BalanceDelta> = BTreeMap::new();
        let mut apply = |coin: &Coin, sign: i64| {
            let delta = deltas.entry(coin.output.address()).or_default();
            delta.units +=
                sign * i64::try_from(coin.output.value.units()).expect("amounts fit in i64");
            delta.utxos += sign;
        };
        for delta in self.utxos.values() {
            match delta {
                UtxoDelta::Added(new) => apply(new, 1),
                UtxoDelta::Removed(old) => apply(old, -1),
                UtxoDelta::Replaced { old, new } => {
                    apply(old, -1);
                    apply(new, 1);
                }
            }
        }
        deltas.retain(|_, d| *d != BalanceDelta::default());
        deltas
    }

    /// The blocks taken off the main chain, in the order they were disconnected.
    pub fn disconnected(&self) -> &[DisconnectedBlock] {
        &self.disconnected
    }

    /// The blocks put on it, oldest first.
    pub fn connected(&self) -> &[BlockChanges] {
        &self.connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Amount, PubkeyHash, TxOut, Txid};

    fn coin(units: u64, height: u32) -> Coin {
        let output = TxOut {
            value: Amount::from_units(units).unwrap(),
            pubkey_hash: PubkeyHash::default(),
        };
        Coin {
            output,
            height: Height::new(height),
            is_coinbase: false,
        }
    }

    fn op(n: u8) -> OutPoint {
        OutPoint::new(Txid::from_byte_array([n; 32]), 0)
    }

    fn changes(added: Vec<(OutPoint, Coin)>, removed: Vec<(OutPoint, Coin)>) -> BlockChanges {
        BlockChanges {
            hash: BlockHash::ZERO,
            height: Height::new(1),
            added,
            removed,
            undo: Default::default(),
        }
    }

    #[test]
    fn a_coin_created_then_spent_within_the_run_never_reaches_storage() {
        let mut diff = ChainDiff::new();
        diff.connect(changes(vec![(op(1), coin(5, 1))], vec![]));
        diff.connect(changes(vec![], vec![(op(1), coin(5, 1))]));
        assert!(diff.utxos_to_insert().is_empty() && diff.utxos_to_delete().is_empty());
        assert_eq!(diff.lookup(&op(1)), Lookup::Unknown);
        assert!(diff.balance_deltas().is_empty());
    }

    #[test]
    fn a_stored_coin_spent_then_restored_is_untouched() {
        let mut diff = ChainDiff::new();
        diff.disconnect(&changes(vec![], vec![(op(2), coin(7, 1))]));
        assert_eq!(diff.lookup(&op(2)), Lookup::Known(None));
        diff.connect(changes(vec![(op(2), coin(7, 1))], vec![]));
        assert_eq!(diff.utxos_to_delete(), vec![]);
        assert_eq!(diff.utxos_to_insert(), vec![]);
    }

    #[test]
    fn a_transaction_confirmed_again_at_another_height_replaces_its_coin() {
        let mut diff = ChainDiff::new();
        diff.disconnect(&changes(vec![], vec![(op(3), coin(9, 5))]));
        diff.connect(changes(vec![(op(3), coin(9, 6))], vec![]));
        assert_eq!(diff.utxos_to_delete(), vec![(op(3), coin(9, 5))]);
        assert_eq!(diff.utxos_to_insert(), vec![(op(3), coin(9, 6))]);
        assert!(diff.balance_deltas().is_empty(), "same owner, same amount");
        assert_eq!(diff.lookup(&op(3)), Lookup::Known(Some(coin(9, 6))));
    }

    #[test]
    fn appending_diffs_equals_folding_their_blocks_into_one() {
        let blocks = [
            changes(
                vec![(op(1), coin(5, 1)), (op(2), coin(6, 1))],
                vec![(op(9), coin(1, 0))],
            ),
            changes(vec![(op(3), coin(7, 2))], vec![(op(1), coin(5, 1))]),
            changes(vec![], vec![(op(3), coin(7, 2)), (op(8), coin(2, 0))]),
        ];
        let mut folded = ChainDiff::new();
        for block in &blocks {
            folded.connect(block.clone());
        }
        let mut appended = ChainDiff::new();
        appended.connect(blocks[0].clone());
        let mut later = ChainDiff::new();
        later.connect(blocks[1].clone());
        later.connect(blocks[2].clone());
        appended.append(&later);
        let sorted = |mut v: Vec<(OutPoint, Coin)>| {
            v.sort_by_key(|(o, _)| *o);
            v
        };
        assert_eq!(
            sorted(appended.utxos_to_insert()),
            sorted(folded.utxos_to_insert())
        );
        assert_eq!(
            sorted(appended.utxos_to_delete()),
            sorted(folded.utxos_to_delete())
        );
        assert_eq!(appended.connected().len(), 3);
    }

    #[test]
    fn balance_deltas_sum_the_net_changes() {
        let mut diff = ChainDiff::new();
        diff.connect(changes(
            vec![(op(4), coin(10, 1)), (op(5), coin(20, 1))],
            vec![(op(6), coin(4, 0))],
        ));
        let deltas = diff.balance_deltas();
        assert_eq!(
            deltas.values().next(),
            Some(&BalanceDelta {
                units: 26,
                utxos: 1
            })
        );
    }
}
