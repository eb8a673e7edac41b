//! Transactions: outpoints, inputs, outputs, and their txid and wtxid.
//!
//! An input names the output it spends (an [`OutPoint`]) and carries a *witness*: the
//! spender's public key and signature. A coinbase has exactly one input, spending the null
//! outpoint; its witness bytes are free "coinbase data" (the extra-nonce lives there) and its
//! `lock_time` is the block height, so that no two coinbases share a txid (see
//! `consensus::coinbase`).

use super::address::{Address, PubkeyHash};
use super::amount::Amount;
use super::encode::{self, Decode, DecodeError, Encode, Reader};
use super::hash::{Txid, Wtxid, sha256d, sha256d_prefix_and_whole};
use super::keys::{PublicKeyBytes, SignatureBytes};

/// A reference to one output of an earlier transaction.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct OutPoint {
    pub txid: Txid,
    pub vout: u32,
}

impl OutPoint {
    /// What a coinbase input "spends": no output at all.
    pub const NULL: Self = Self {
        txid: Txid::ZERO,
        vout: u32::MAX,
    };

    pub const fn new(txid: Txid, vout: u32) -> Self {
        Self { txid, vout }
    }

    pub fn is_null(&self) -> bool {
        *self == Self::NULL
    }
}

/// Layout (36 bytes): txid [32] | vout u32.
impl Encode for OutPoint {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.txid.encode_to(out);
        self.vout.encode_to(out);
    }
    fn encoded_len(&self) -> usize {
        36
    }
}

impl Decode for OutPoint {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            txid: Txid::decode_from(reader)?,
            vout: reader.u32()?,
        })
    }
}

/// The proof that an input may spend its output: a key whose hash160 the output names, and
/// that key's signature of the input's sighash. In a coinbase these 97 bytes are free data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Witness {
    pub pubkey: PublicKeyBytes,
    pub signature: SignatureBytes,
}

impl Witness {
    /// The encoded size: 33 + 64 bytes.
    pub const SIZE: usize = PublicKeyBytes::LEN + SignatureBytes::LEN;

    /// An all-zero witness: a placeholder before signing.
    pub const EMPTY: Self = Self {
        pubkey: PublicKeyBytes([0; 33]),
        signature: SignatureBytes([0; 64]),
    };
}

/// Layout (97 bytes): pubkey [33] | signature [64].
impl Encode for Witness {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.pubkey.encode_to(out);
        self.signature.encode_to(out);
    }
    fn encoded_len(&self) -> usize {
        Self::SIZE
    }
}

impl Decode for Witness {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            pubkey: PublicKeyBytes::decode_from(reader)?,
            signature: SignatureBytes::decode_from(reader)?,
        })
    }
}

/// An input: the output it spends, and the witness that unlocks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TxIn {
    pub previous_output: OutPoint,
    pub witness: Witness,
}

/// An output: an amount, payable to whoever holds the key with this hash160.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxOut {
    pub value: Amount,
    pub pubkey_hash: PubkeyHash,
}

impl TxOut {
    pub fn to_address(value: Amount, address: &Address) -> Self {
        Self {
            value,
            pubkey_hash: address.pubkey_hash(),
        }
    }

    pub fn address(&self) -> Address {
        Address::from_pubkey_hash(self.pubkey_hash)
    }
}

/// Layout (28 bytes): value u64 | pubkey_hash [20].
impl Encode for TxOut {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.value.encode_to(out);
        self.pubkey_hash.encode_to(out);
    }
    fn encoded_len(&self) -> usize {
        28
    }
}

impl Decode for TxOut {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            value: Amount::decode_from(reader)?,
            pubkey_hash: PubkeyHash::decode_from(reader)?,
        })
    }
}

/// In JSON an output shows its address, not the raw hash.
impl serde::Serialize for TxOut {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("TxOut", 2)?;
        st.serialize_field("value", &self.value)?;
        st.serialize_field("address", &self.address())?;
        st.end()
    }
}

impl<'de> serde::Deserialize<'de> for TxOut {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Json {
            value: Amount,
            address: Address,
        }
        let Json { value, address } = Json::deserialize(d)?;
        Ok(Self::to_address(value, &address))
    }
}

/// A transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    pub version: u32,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
    pub lock_time: u32,
}

/// Smallest possible encodings, used to bound list counts while decoding.
const MIN_OUTPOINT_LEN: usize = 36;
const MIN_TXOUT_LEN: usize = 28;

impl Transaction {
    /// The version every transaction has today.
    pub const CURRENT_VERSION: u32 = 1;

    /// A coinbase has exactly one input, and it spends the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        matches!(self.inputs.as_slice(), [only] if only.previous_output.is_null())
    }

    /// The bytes the txid hashes: everything except the witnesses.
    pub fn base_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.base_len());
        self.encode_base(&mut out);
        out
    }

    pub fn txid(&self) -> Txid {
        Txid::from_byte_array(sha256d(&self.base_bytes()))
    }

    pub fn wtxid(&self) -> Wtxid {
        Wtxid::from_byte_array(sha256d(&encode::encode(self)))
    }

    /// The sum of the outputs, or `None` if it passes the maximum supply.
    pub fn total_output(&self) -> Option<Amount> {
        Amount::checked_sum(self.outputs.iter().map(|o| o.value))
    }

    fn encode_base(&self, out: &mut Vec<u8>) {
        self.version.encode_to(out);
        encode::write_compact_size(out, self.inputs.len() as u64);
        for input in &self.inputs {
            input.previous_output.encode_to(out);
        }
        encode::write_list(out, &self.outputs);
        self.lock_time.encode_to(out);
    }

    fn base_len(&self) -> usize {
        4 + encode::compact_size_len(self.inputs.len() as u64)
            + self.inputs.len() * MIN_OUTPOINT_LEN
            + encode::list_len(&self.outputs)
            + 4
    }
}

/// A transaction with its txid and wtxid, hashed once, where it arrives, before any lock
/// is taken: a copy resent in a loop is then refused by a filter look-up and costs whoever
/// holds the ledger no hashing of its megabyte. The fields are private and the transaction
/// cannot be changed inside, so the ids always name these bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifiedTx {
    tx: Transaction,
    txid: Txid,
    wtxid: Wtxid,
}

impl IdentifiedTx {
    /// One encoding and one pass of hashing: the base the txid hashes is a prefix of the
    /// encoding the wtxid hashes.
    pub fn new(tx: Transaction) -> Self {
        let bytes = encode::encode(&tx);
        let (txid, wtxid) = sha256d_prefix_and_whole(&bytes, tx.base_len());
        Self {
            tx,
            txid: Txid::from_byte_array(txid),
            wtxid: Wtxid::from_byte_array(wtxid),
        }
    }

    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    pub fn txid(&self) -> Txid {
        self.txid
    }

    pub fn wtxid(&self) -> Wtxid {
        self.wtxid
    }

    pub fn into_inner(self) -> Transaction {
        self.tx
    }
}

impl From<Transaction> for IdentifiedTx {
    fn from(tx: Transaction) -> Self {
        Self::new(tx)
    }
}

/// Layout, in two parts:
/// - base (hashed by the txid): version u32 | CompactSize n_in | n_in × outpoint [36] |
///   CompactSize n_out | n_out × (value u64 | pubkey_hash [20]) | lock_time u32;
/// - witnesses (the wtxid hashes base and witnesses): n_in × (pubkey [33] | signature [64]),
///   one per input, in input order, with no count (the base already gave it).
impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.encode_base(out);
        for input in &self.inputs {
            input.witness.encode_to(out);
        }
    }
    fn encoded_len(&self) -> usize {
        self.base_len() + self.inputs.len() * Witness::SIZE
    }
}

impl Decode for Transaction {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u32()?;
        // Each input costs its outpoint here and its witness later.
        let outpoints: Vec<OutPoint> = reader.list(MIN_OUTPOINT_LEN + Witness::SIZE)?;
        let outputs = reader.list(MIN_TXOUT_LEN)?;
        let lock_time = reader.u32()?;
        let inputs = outpoints
            .into_iter()
            .map(|previous_output| {
                Ok(TxIn {
                    previous_output,
                    witness: Witness::decode_from(reader)?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            version,
            inputs,
            outputs,
            lock_time,
        })
    }
}
