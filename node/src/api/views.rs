//! The JSON shapes of the API (see docs/api.md), built from domain types. Amounts appear both
//! as exact decimal coins ([`Coins`]) and as integer base units.

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::chain::{BlockStatus, IndexEntry};
use crate::consensus::Params;
use crate::primitives::{Address, Amount, BlockHash, Height, Transaction, Work};
use crate::storage::BodyFacts;

/// An exact decimal number of coins in JSON: `12.50000000`, never a rounded float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Coins(pub Amount);

impl Serialize for Coins {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// A signed exact decimal number of coins (a net change): `-1.25000000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SignedCoins(pub i64);

impl Serialize for SignedCoins {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (units, coin) = (self.0.unsigned_abs(), Amount::COIN_UNITS);
        let sign = if self.0 < 0 { "-" } else { "" };
        let text = format!("{sign}{}.{:08}", units / coin, units % coin);
        let raw = RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// `how hard`: the pow limit's target divided by this target (1.0 at the easiest).
pub(super) fn difficulty(bits: crate::primitives::CompactTarget, params: &Params) -> f64 {
    let work = |b: crate::primitives::CompactTarget| {
        b.to_target().map_or(0.0, |t| t.work().to_f64_lossy())
    };
    let easiest = work(params.pow_limit);
    if easiest == 0.0 {
        0.0
    } else {
        work(bits) / easiest
    }
}

/// A block as listed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(super) struct BlockSummary {
    #[schema(value_type = String)]
    pub(super) hash: BlockHash,
    #[schema(value_type = u32)]
    pub(super) height: Height,
    #[schema(value_type = String)]
    pub(super) previous_hash: BlockHash,
    pub(super) merkle_root: String,
    pub(super) time: u32,
    pub(super) bits: String,
    pub(super) nonce: u32,
    pub(super) version: u32,
    pub(super) tx_count: Option<usize>,
    pub(super) size: Option<usize>,
    #[schema(value_type = Option<String>)]
    pub(super) miner_address: Option<Address>,
    #[schema(value_type = String)]
    pub(super) chain_work: Work,
    pub(super) difficulty: f64,
    pub(super) confirmations: u32,
    /// `main`, `side` or `invalid`.
    pub(super) status: &'static str,
    /// The 80-byte header, for clients that check proof of work and merkle proofs.
    pub(super) header_hex: String,
}

impl BlockSummary {
    /// `facts`, when known, fill the body fields.
    pub(super) fn new(
        entry: &IndexEntry,
        facts: Option<&BodyFacts>,
        on_main: bool,
        tip: Height,
        params: &Params,
    ) -> Self {
        let status = match (on_main, entry.status) {
            (_, BlockStatus::Invalid) => "invalid",
            (true, _) => "main",
            (false, _) => "side",
        };
        let confirmations = if on_main {
            tip.get().saturating_sub(entry.height.get()) + 1
        } else {
            0
        };
        Self {
            hash: entry.hash,
            height: entry.height,
            previous_hash: entry.header.prev_blockhash,
            merkle_root: entry.header.merkle_root.to_string(),
            time: entry.header.time,
            bits: entry.header.bits.to_string(),
            nonce: entry.header.nonce,
            version: entry.header.version,
            tx_count: facts.and_then(|f| f.tx_count),
            size: facts.and_then(|f| f.size),
            miner_address: facts.and_then(|f| f.miner_address),
            chain_work: entry.chain_work,
            difficulty: difficulty(entry.header.bits, params),
            confirmations,
            status,
            header_hex: hex::encode(entry.header.to_bytes()),
        }
    }
}

/// Where a transaction stands.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub(super) struct TxStatus {
    pub(super) confirmed: bool,
    pub(super) block_height: Option<u32>,
    pub(super) block_hash: Option<String>,
    pub(super) block_time: Option<u32>,
    pub(super) confirmations: u32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub(super) struct InputView {
    pub(super) txid: String,
    pub(super) vout: u32,
    pub(super) pubkey: String,
    pub(super) signature: String,
    pub(super) address: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub(super) amount: Option<Coins>,
    pub(super) amount_units: Option<u64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub(super) struct OutputView {
    pub(super) vout: u32,
    pub(super) address: String,
    #[schema(value_type = f64)]
    pub(super) amount: Coins,
    pub(super) amount_units: u64,
}

/// A transaction with what the node knows about it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(super) struct TxView {
    pub(super) txid: String,
    pub(super) wtxid: String,
    pub(super) version: u32,
    pub(super) lock_time: u32,
    pub(super) size: usize,
    pub(super) is_coinbase: bool,
    #[schema(value_type = Option<f64>)]
    pub(super) fee: Option<Coins>,
    pub(super) fee_units: Option<u64>,
    pub(super) inputs: Vec<InputView>,
    pub(super) outputs: Vec<OutputView>,
    pub(super) status: TxStatus,
    /// The canonical encoding, for clients that check what they are told.
    pub(super) hex: String,
}

impl TxView {
    /// `spent` gives the output each input spends, where known, in input order.
    pub(super) fn new(
        tx: &Transaction,
        spent: &[Option<(Address, Amount)>],
        status: TxStatus,
    ) -> Self {
        let is_coinbase = tx.is_coinbase();
        let inputs: Vec<InputView> = tx
            .inputs
            .iter()
            .filter(|_| !is_coinbase)
            .zip(spent.iter().chain(std::iter::repeat(&None)))
            .map(|(input, known)| InputView {
                txid: input.previous_output.txid.to_string(),
                vout: input.previous_output.vout,
                pubkey: input.witness.pubkey.to_string(),
                signature: input.witness.signature.to_string(),
                address: known.map(|(a, _)| a.to_string()),
                amount: known.map(|(_, v)| Coins(v)),
                amount_units: known.map(|(_, v)| v.units()),
            })
            .collect();
        let value_in = (!is_coinbase && inputs.iter().all(|i| i.amount_units.is_some()))
            .then(|| Amount::checked_sum(spent.iter().flatten().map(|(_, v)| *v)))
            .flatten();
        let fee = value_in
            .zip(tx.total_output())
            .and_then(|(i, o)| i.checked_sub(o));
        Self {
            txid: tx.txid().to_string(),
            wtxid: tx.wtxid().to_string(),
            version: tx.version,
            lock_time: tx.lock_time,
            size: crate::primitives::Encode::encoded_len(tx),
            is_coinbase,
            fee: fee.map(Coins),
            fee_units: fee.map(Amount::units),
            inputs,
            outputs: tx
                .outputs
                .iter()
                .zip(0u32..)
                .map(|(o, vout)| OutputView {
                    vout,
                    address: o.address().to_string(),
                    amount: Coins(o.value),
                    amount_units: o.value.units(),
                })
                .collect(),
            status,
            hex: hex::encode(crate::primitives::encode(tx)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: impl Serialize) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn coin_amounts_serialize_as_exact_decimals() {
        assert_eq!(
            json(Coins(Amount::from_units(1_250_000_001).unwrap())),
            "12.50000001"
        );
        assert_eq!(json(SignedCoins(-125_000_000)), "-1.25000000");
        assert_eq!(json(SignedCoins(0)), "0.00000000");
        assert_eq!(json(SignedCoins(i64::MIN)), "-92233720368.54775808");
    }
}
