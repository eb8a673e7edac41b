//! Properties of the canonical encoding: every value round-trips, arbitrary bytes never make
//! the decoder panic, and any bytes that do decode are the one encoding of their value.

use chaincore::primitives::{
    Amount, Block, BlockHash, BlockHeader, CompactTarget, Decode, Encode, IdentifiedTx, MerkleRoot,
    OutPoint, PubkeyHash, PublicKeyBytes, SignatureBytes, Transaction, TxIn, TxOut, Txid, Witness,
    decode, encode,
};
use proptest::prelude::*;

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u32>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(version, prev, merkle, time, bits, nonce)| BlockHeader {
            version,
            prev_blockhash: BlockHash::from_byte_array(prev),
            merkle_root: MerkleRoot::from_byte_array(merkle),
            time,
            bits: CompactTarget::from_consensus(bits),
            nonce,
        })
}

fn input() -> impl Strategy<Value = TxIn> {
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<[u8; 32]>(),
        any::<u8>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(txid, vout, key_x, prefix, r, s)| {
            let mut pubkey = [prefix; 33];
            pubkey[1..].copy_from_slice(&key_x);
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&r);
            signature[32..].copy_from_slice(&s);
            TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array(txid), vout),
                witness: Witness {
                    pubkey: PublicKeyBytes(pubkey),
                    signature: SignatureBytes(signature),
                },
            }
        })
}

fn output() -> impl Strategy<Value = TxOut> {
    (0..=Amount::MAX.units(), any::<[u8; 20]>()).prop_map(|(units, hash)| TxOut {
        value: Amount::from_units(units).unwrap(),
        pubkey_hash: PubkeyHash::from_byte_array(hash),
    })
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (
        any::<u32>(),
        prop::collection::vec(input(), 0..4),
        prop::collection::vec(output(), 0..4),
        any::<u32>(),
    )
        .prop_map(|(version, inputs, outputs, lock_time)| Transaction {
            version,
            inputs,
            outputs,
            lock_time,
        })
}

fn block() -> impl Strategy<Value = Block> {
    (header(), prop::collection::vec(transaction(), 0..4)).prop_map(|(header, transactions)| {
        Block {
            header,
            transactions,
        }
    })
}

/// Decoding `bytes` as `T` must not panic, and a success must be canonical.
fn decode_is_total_and_canonical<T: Decode + Encode>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = decode::<T>(bytes) {
        prop_assert_eq!(encode(&value), bytes.to_vec());
    }
    Ok(())
}

proptest! {
    #[test]
    fn headers_round_trip_in_80_bytes(h in header()) {
        let bytes = encode(&h);
        prop_assert_eq!(bytes.len(), 80);
        prop_assert_eq!(decode::<BlockHeader>(&bytes), Ok(h));
    }

    #[test]
    fn transactions_round_trip(tx in transaction()) {
        let bytes = encode(&tx);
        prop_assert_eq!(bytes.len(), tx.encoded_len());
        prop_assert_eq!(decode::<Transaction>(&bytes), Ok(tx));
    }

    #[test]
    fn blocks_round_trip(b in block()) {
        let bytes = encode(&b);
        prop_assert_eq!(bytes.len(), b.encoded_len());
        prop_assert_eq!(decode::<Block>(&bytes), Ok(b));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_is_total_and_canonical::<BlockHeader>(&bytes)?;
        decode_is_total_and_canonical::<Transaction>(&bytes)?;
        decode_is_total_and_canonical::<Block>(&bytes)?;
    }

    #[test]
    fn damaged_encodings_never_panic(b in block(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode(&b);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        decode_is_total_and_canonical::<Block>(&bytes)?;
    }

    #[test]
    fn truncated_encodings_are_errors(b in block(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&b);
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode::<Block>(short).is_err());
    }

    #[test]
    fn txid_ignores_witnesses_and_wtxid_does_not(tx in transaction(), sig in any::<[u8; 32]>()) {
        prop_assume!(!tx.inputs.is_empty());
        let mut changed = tx.clone();
        changed.inputs[0].witness.signature.0[..32].copy_from_slice(&sig);
        prop_assume!(changed != tx);
        prop_assert_eq!(changed.txid(), tx.txid());
        prop_assert_ne!(changed.wtxid(), tx.wtxid());
    }

    /// The one-pass hashing of a transaction where it arrives gives the ids of its bytes.
    #[test]
    fn identified_ids_are_the_transactions_own(tx in transaction()) {
        let identified = IdentifiedTx::new(tx.clone());
        prop_assert_eq!(identified.txid(), tx.txid());
        prop_assert_eq!(identified.wtxid(), tx.wtxid());
        prop_assert_eq!(identified.into_inner(), tx);
    }
}
