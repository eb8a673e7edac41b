//! What an input's signature signs, and the helpers that sign.
//!
//! `sighash = sha256d("chaincore/sighash/v1" ‖ genesis hash ‖ txid ‖ input index (u32 LE))`.
//! The txid covers every outpoint and every output (it excludes only the witnesses, which
//! are what is being made), so changing any input or output after signing breaks every
//! signature; the index binds a signature to its input; the genesis hash binds it to one
//! network, so it cannot be replayed on another.

use crate::primitives::{BlockHash, PrivateKey, Transaction, Txid, Witness, sha256d};

/// The domain tag that keeps these digests apart from every other sha256d in the system.
pub const SIGHASH_TAG: &[u8; 20] = b"chaincore/sighash/v1";

/// The digest that input `index` of the transaction `txid` signs on the network `genesis`.
pub fn sighash(genesis: &BlockHash, txid: &Txid, index: u32) -> [u8; 32] {
    let mut data = [0u8; 20 + 32 + 32 + 4];
    data[..20].copy_from_slice(SIGHASH_TAG);
    data[20..52].copy_from_slice(genesis.as_bytes());
    data[52..84].copy_from_slice(txid.as_bytes());
    data[84..].copy_from_slice(&index.to_le_bytes());
    sha256d(&data)
}

/// Signs input `index` of `tx` with `key`, writing its witness.
///
/// # Panics
/// If `index` is not an input of `tx`.
pub fn sign_input(tx: &mut Transaction, index: usize, key: &PrivateKey, genesis: &BlockHash) {
    let digest = sighash(genesis, &tx.txid(), input_index(index));
    tx.inputs[index].witness = Witness {
        pubkey: key.public_key(),
        signature: key.sign_digest(&digest),
    };
}

/// Signs every input of `tx`, input `i` with `keys[i]`.
///
/// # Panics
/// If there is not exactly one key per input.
pub fn sign_all_inputs(tx: &mut Transaction, keys: &[&PrivateKey], genesis: &BlockHash) {
    assert_eq!(keys.len(), tx.inputs.len(), "one key per input");
    let txid = tx.txid();
    for (index, (input, key)) in tx.inputs.iter_mut().zip(keys).enumerate() {
        let digest = sighash(genesis, &txid, input_index(index));
        input.witness = Witness {
            pubkey: key.public_key(),
            signature: key.sign_digest(&digest),
        };
    }
}

/// An input position as the u32 the sighash commits to. A transaction has far fewer than
/// 2^32 inputs: the block size limit allows about ten thousand.
pub(crate) fn input_index(index: usize) -> u32 {
    u32::try_from(index).expect("input index fits in u32")
}
