//! A commitment to the whole UTXO set, maintained incrementally.
//!
//! The commitment is the sum, modulo 2^256, of `sha256("chaincore/utxo/v1" ‖ outpoint ‖ coin)`
//! over every unspent output. Adding or spending an output adds or subtracts its term, so
//! each block updates it in time proportional to the block, and two nodes with the same UTXO
//! set have the same commitment whatever order they built it in.
//!
//! It is a consistency check between honest nodes (partition and crash tests compare it),
//! not a cryptographic accumulator: additive hashes admit generalized-birthday collisions
//! (Wagner's k-sum), which is why Bitcoin Core's `gettxoutsetinfo` uses MuHash3072 instead.

use ruint::aliases::U256;
use sha2::{Digest, Sha256};

use crate::consensus::Coin;
use crate::primitives::{Encode, OutPoint};

const TAG: &[u8] = b"chaincore/utxo/v1";

/// The additive hash of a UTXO set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UtxoCommitment(U256);

impl UtxoCommitment {
    pub const EMPTY: Self = Self(U256::ZERO);

    fn term(outpoint: &OutPoint, coin: &Coin) -> U256 {
        let mut hasher = Sha256::new();
        hasher.update(TAG);
        let mut bytes = Vec::with_capacity(69);
        outpoint.encode_to(&mut bytes);
        coin.output.encode_to(&mut bytes);
        coin.height.get().encode_to(&mut bytes);
        bytes.push(u8::from(coin.is_coinbase));
        hasher.update(&bytes);
        U256::from_be_bytes::<32>(hasher.finalize().into())
    }

    pub fn add(&mut self, outpoint: &OutPoint, coin: &Coin) {
        self.0 = self.0.wrapping_add(Self::term(outpoint, coin));
    }

    pub fn remove(&mut self, outpoint: &OutPoint, coin: &Coin) {
        self.0 = self.0.wrapping_sub(Self::term(outpoint, coin));
    }

    pub fn to_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(U256::from_be_bytes(bytes))
    }

    /// The commitment of a whole set, computed from scratch.
    pub fn of<'a>(coins: impl IntoIterator<Item = (&'a OutPoint, &'a Coin)>) -> Self {
        let mut commitment = Self::EMPTY;
        for (outpoint, coin) in coins {
            commitment.add(outpoint, coin);
        }
        commitment
    }
}

impl std::fmt::Display for UtxoCommitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Amount, Height, PubkeyHash, TxOut, Txid};

    fn coin(units: u64) -> Coin {
        let output = TxOut {
            value: Amount::from_units(units).unwrap(),
            pubkey_hash: PubkeyHash::default(),
        };
        Coin {
            output,
            height: Height::new(1),
            is_coinbase: false,
        }
    }

    fn outpoint(n: u8) -> OutPoint {
        OutPoint::new(Txid::from_byte_array([n; 32]), 0)
    }

    #[test]
    fn the_order_of_updates_does_not_matter_and_removal_undoes_addition() {
        let mut a = UtxoCommitment::EMPTY;
        a.add(&outpoint(1), &coin(5));
        a.add(&outpoint(2), &coin(6));
        let mut b = UtxoCommitment::EMPTY;
        b.add(&outpoint(2), &coin(6));
        b.add(&outpoint(3), &coin(7));
        b.add(&outpoint(1), &coin(5));
        b.remove(&outpoint(3), &coin(7));
        assert_eq!(a, b);
        assert_ne!(a, UtxoCommitment::EMPTY);
        assert_eq!(UtxoCommitment::from_bytes(a.to_bytes()), a);
    }

    #[test]
    fn every_field_of_a_coin_changes_the_commitment() {
        let base = UtxoCommitment::of([(&outpoint(1), &coin(5))]);
        assert_ne!(base, UtxoCommitment::of([(&outpoint(2), &coin(5))]));
        assert_ne!(base, UtxoCommitment::of([(&outpoint(1), &coin(6))]));
        let mut coinbase = coin(5);
        coinbase.is_coinbase = true;
        assert_ne!(base, UtxoCommitment::of([(&outpoint(1), &coinbase)]));
    }
}
