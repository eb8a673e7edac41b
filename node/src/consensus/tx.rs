//! Transaction rules: what makes a (non-coinbase) transaction valid against a UTXO view.
//!
//! Two stages, as in Bitcoin Core: [`check_transaction`] needs nothing but the transaction
//! (shape, amounts, duplicate inputs); [`check_inputs`] looks each spent output up, checks
//! maturity, ownership and value, and returns the signature checks to run, which are the
//! expensive part and can run in any order, on any thread. [`validate_transaction`] does it all.

use std::collections::HashSet;

use crate::primitives::{
    Amount, BlockHash, Encode, Height, OutPoint, PublicKeyBytes, SignatureBytes, Transaction,
};

use super::error::TxError;
use super::params::Params;
use super::sighash::{input_index, sighash};
use super::utxo::{Coin, UtxoView};

/// Context-free rules: inputs and outputs present, sizes and amounts in range, and for a
/// non-coinbase no null input and no input twice (CVE-2018-17144).
pub fn check_transaction(tx: &Transaction, params: &Params) -> Result<(), TxError> {
    if tx.inputs.is_empty() {
        return Err(TxError::NoInputs);
    }
    if tx.outputs.is_empty() {
        return Err(TxError::NoOutputs);
    }
    let size = tx.encoded_len();
    if size > params.max_block_size {
        return Err(TxError::Oversized {
            size,
            max: params.max_block_size,
        });
    }
    tx.total_output().ok_or(TxError::OutputsTooLarge)?;
    if tx.is_coinbase() {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    for input in &tx.inputs {
        if input.previous_output.is_null() {
            return Err(TxError::NullInput);
        }
        if !seen.insert(input.previous_output) {
            return Err(TxError::DuplicateInput(input.previous_output));
        }
    }
    Ok(())
}

/// One signature to verify: cheap to build, costly to run.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck {
    /// The input's position in its transaction.
    pub index: usize,
    pub pubkey: PublicKeyBytes,
    pub signature: SignatureBytes,
    pub digest: [u8; 32],
}

impl SignatureCheck {
    pub fn run(&self) -> Result<(), TxError> {
        self.signature
            .verify(&self.pubkey, &self.digest)
            .map_err(|source| TxError::BadSignature {
                index: self.index,
                source,
            })
    }
}

/// What [`check_inputs`] learned: the fee, the coins spent (in input order) and the
/// signature checks still to run.
#[derive(Clone, Debug)]
pub struct CheckedInputs {
    pub fee: Amount,
    pub spent: Vec<(OutPoint, Coin)>,
    pub signature_checks: Vec<SignatureCheck>,
}

/// Contextual rules for a transaction mined at `spend_height`: every input spends an existing
/// unspent output, coinbase outputs only after maturity, with a key whose hash160 is the
/// output's, and the inputs are worth at least the outputs. Signatures are returned, not run.
pub fn check_inputs(
    tx: &Transaction,
    view: &(impl UtxoView + ?Sized),
    spend_height: Height,
    params: &Params,
    genesis: &BlockHash,
) -> Result<CheckedInputs, TxError> {
    let txid = tx.txid();
    let mut spent = Vec::with_capacity(tx.inputs.len());
    let mut signature_checks = Vec::with_capacity(tx.inputs.len());
    let mut value_in = Amount::ZERO;
    for (index, input) in tx.inputs.iter().enumerate() {
        let outpoint = input.previous_output;
        let coin = view
            .coin(&outpoint)
            .ok_or(TxError::MissingInput(outpoint))?;
        check_maturity(&outpoint, &coin, spend_height, params)?;
        if input.witness.pubkey.pubkey_hash() != coin.output.pubkey_hash {
            return Err(TxError::WrongKey { index });
        }
        // Each coin is at most the supply, but a sum of coins may not be.
        value_in = value_in
            .checked_add(coin.output.value)
            .ok_or(TxError::OutputsTooLarge)?;
        signature_checks.push(SignatureCheck {
            index,
            pubkey: input.witness.pubkey,
            signature: input.witness.signature,
            digest: sighash(genesis, &txid, input_index(index)),
        });
        spent.push((outpoint, coin));
    }
    let value_out = tx.total_output().ok_or(TxError::OutputsTooLarge)?;
    let fee = value_in
        .checked_sub(value_out)
        .ok_or(TxError::OutputsExceedInputs {
            inputs: value_in,
            outputs: value_out,
        })?;
    Ok(CheckedInputs {
        fee,
        spent,
        signature_checks,
    })
}

fn check_maturity(
    outpoint: &OutPoint,
    coin: &Coin,
    spend_height: Height,
    params: &Params,
) -> Result<(), TxError> {
    if !coin.is_coinbase {
        return Ok(());
    }
    let spendable_at = Height::new(coin.height.get().saturating_add(params.coinbase_maturity));
    if spend_height < spendable_at {
        return Err(TxError::ImmatureCoinbase {
            outpoint: *outpoint,
            coin_height: coin.height,
            spendable_at,
        });
    }
    Ok(())
}

/// A transaction that passed every rule, with what validation learned.
#[derive(Clone, Debug)]
pub struct ValidTransaction {
    pub fee: Amount,
    /// The coins its inputs spend, in input order.
    pub spent: Vec<(OutPoint, Coin)>,
}

/// All the rules for a non-coinbase transaction to be mined at `spend_height` on top of `view`
/// (the mempool's question): shape, inputs, and every signature.
pub fn validate_transaction(
    tx: &Transaction,
    view: &(impl UtxoView + ?Sized),
    spend_height: Height,
    params: &Params,
) -> Result<ValidTransaction, TxError> {
    check_transaction(tx, params)?;
    if tx.is_coinbase() {
        return Err(TxError::UnexpectedCoinbase);
    }
    let checked = check_inputs(tx, view, spend_height, params, &params.genesis_hash())?;
    checked
        .signature_checks
        .iter()
        .try_for_each(SignatureCheck::run)?;
    Ok(ValidTransaction {
        fee: checked.fee,
        spent: checked.spent,
    })
}
