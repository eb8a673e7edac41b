//! The coinbase: the first transaction of every block, which creates the block's new coins.
//!
//! Shape (see `primitives::transaction`): one input spending `OutPoint::NULL`, and
//! `lock_time` equal to the block's height. The height commitment sits in the txid, so two
//! coinbases never share a txid (the duplicate-txid trouble BIP 30/34 patched in Bitcoin;
//! BIP 54 proposes this very lock_time rule). The input's 97 witness bytes are free coinbase
//! data: bytes 0..8 hold the extra-nonce (little-endian) that miners roll when the header
//! nonces run out, the rest a tag. The witness is covered by the wtxid, hence the merkle root.

use crate::primitives::{
    Height, OutPoint, PublicKeyBytes, SignatureBytes, Transaction, TxIn, TxOut, Witness,
};

/// Bytes of coinbase data after the extra-nonce.
pub const COINBASE_TAG_LEN: usize = Witness::SIZE - 8;

/// The coinbase for a block at `height`: it commits to the height, carries `extra_nonce` and
/// the first [`COINBASE_TAG_LEN`] bytes of `tag`, and pays `outputs`.
pub fn build_coinbase(
    height: Height,
    extra_nonce: u64,
    tag: &[u8],
    outputs: Vec<TxOut>,
) -> Transaction {
    let mut data = [0u8; Witness::SIZE];
    data[..8].copy_from_slice(&extra_nonce.to_le_bytes());
    let tag = &tag[..tag.len().min(COINBASE_TAG_LEN)];
    data[8..8 + tag.len()].copy_from_slice(tag);
    Transaction {
        version: Transaction::CURRENT_VERSION,
        inputs: vec![TxIn {
            previous_output: OutPoint::NULL,
            witness: witness_from_data(&data),
        }],
        outputs,
        lock_time: height.get(),
    }
}

fn witness_from_data(data: &[u8; Witness::SIZE]) -> Witness {
    let mut pubkey = [0u8; PublicKeyBytes::LEN];
    let mut signature = [0u8; SignatureBytes::LEN];
    pubkey.copy_from_slice(&data[..PublicKeyBytes::LEN]);
    signature.copy_from_slice(&data[PublicKeyBytes::LEN..]);
    Witness {
        pubkey: PublicKeyBytes(pubkey),
        signature: SignatureBytes(signature),
    }
}

/// The 97 bytes of coinbase data of a coinbase transaction.
pub fn coinbase_data(tx: &Transaction) -> Option<[u8; Witness::SIZE]> {
    if !tx.is_coinbase() {
        return None;
    }
    let witness = &tx.inputs[0].witness;
    let mut data = [0u8; Witness::SIZE];
    data[..PublicKeyBytes::LEN].copy_from_slice(&witness.pubkey.0);
    data[PublicKeyBytes::LEN..].copy_from_slice(&witness.signature.0);
    Some(data)
}

/// The extra-nonce a coinbase carries.
pub fn extra_nonce(tx: &Transaction) -> Option<u64> {
    let data = coinbase_data(tx)?;
    Some(u64::from_le_bytes(data[..8].try_into().expect("8 bytes")))
}

/// Replaces the extra-nonce of a coinbase in place (the miner's roll); `false` if `tx` is
/// not a coinbase.
pub fn set_extra_nonce(tx: &mut Transaction, extra_nonce: u64) -> bool {
    let Some(mut data) = coinbase_data(tx) else {
        return false;
    };
    data[..8].copy_from_slice(&extra_nonce.to_le_bytes());
    tx.inputs[0].witness = witness_from_data(&data);
    true
}

/// The block height a coinbase commits to.
pub fn committed_height(tx: &Transaction) -> Height {
    Height::new(tx.lock_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Amount, PubkeyHash};

    fn pay(units: u64) -> TxOut {
        TxOut {
            value: Amount::from_units(units).unwrap(),
            pubkey_hash: PubkeyHash::default(),
        }
    }

    #[test]
    fn the_height_is_in_the_txid_and_the_extra_nonce_only_in_the_wtxid() {
        let a = build_coinbase(Height::new(5), 1, b"tag", vec![pay(1)]);
        let b = build_coinbase(Height::new(6), 1, b"tag", vec![pay(1)]);
        let c = build_coinbase(Height::new(5), 2, b"tag", vec![pay(1)]);
        assert!(a.is_coinbase());
        assert_ne!(a.txid(), b.txid());
        assert_eq!(a.txid(), c.txid());
        assert_ne!(a.wtxid(), c.wtxid());
        assert_eq!(committed_height(&b), Height::new(6));
    }

    #[test]
    fn the_extra_nonce_can_be_read_and_rolled() {
        let mut tx = build_coinbase(Height::new(1), 7, b"a long tag", vec![pay(1)]);
        assert_eq!(extra_nonce(&tx), Some(7));
        assert!(set_extra_nonce(&mut tx, u64::MAX));
        assert_eq!(extra_nonce(&tx), Some(u64::MAX));
        assert_eq!(&coinbase_data(&tx).unwrap()[8..18], b"a long tag");
    }
}
