//! The API's views built from domain types: the shapes themselves are in
//! [`crate::api_types`], shared with the tools.

use crate::api_types::{BlockSummary, Coins, InputView, OutputView, TxStatus, TxView};
use crate::chain::{BlockStatus, IndexEntry};
use crate::consensus::Params;
use crate::primitives::{Address, Amount, Height, Transaction};
use crate::storage::BodyFacts;

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

impl BlockSummary {
    /// `facts`, when known, fill the body fields.
    pub(crate) fn new(
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
            status: status.into(),
            header_hex: hex::encode(entry.header.to_bytes()),
        }
    }
}

impl TxView {
    /// `spent` gives the output each input spends, where known, in input order.
    pub(crate) fn new(
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
