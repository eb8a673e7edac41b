//! Block rules, and the typestate that proves a block passed them.
//!
//! [`check_block`] needs only the block: the merkle root and transaction list must match the
//! header (else the block is *mutated*), size, coinbase placement, per-transaction shape, and
//! no outpoint spent twice. [`validate_block`] adds the context the caller supplies (the
//! parent, the median time past, the required bits, the clock and a UTXO view) and returns a
//! [`ValidatedBlock`], the only type a chain will connect.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;

use crate::primitives::{
    Amount, Block, BlockHash, BlockHeader, CompactTarget, Height, OutPoint, Transaction,
};

use super::coinbase::committed_height;
use super::error::{BlockError, TxError};
use super::params::Params;
use super::pow::check_proof_of_work;
use super::sighash::{input_index, sighash};
use super::subsidy::block_subsidy;
use super::time::check_block_time;
use super::tx::{SignatureCheck, check_inputs, check_transaction};
use super::utxo::{Coin, UtxoOverlay, UtxoView};

/// What the chain knows about the place a new block goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderContext {
    /// The new block's height.
    pub height: Height,
    /// The hash of the block it must build on.
    pub prev_blockhash: BlockHash,
    /// Median time past of the chain ending at the parent.
    pub median_time_past: u32,
    /// The bits the difficulty schedule requires at this height.
    pub expected_bits: CompactTarget,
}

/// Checks a header against its context: parent, required bits, proof of work, time rules.
/// `now` is the node's clock in Unix seconds.
pub fn check_header(
    header: &BlockHeader,
    ctx: &HeaderContext,
    now: u64,
    params: &Params,
) -> Result<(), BlockError> {
    if header.prev_blockhash != ctx.prev_blockhash {
        return Err(BlockError::WrongParent {
            expected: ctx.prev_blockhash,
            found: header.prev_blockhash,
        });
    }
    if header.bits != ctx.expected_bits {
        return Err(BlockError::BadDifficultyBits {
            expected: ctx.expected_bits,
            found: header.bits,
        });
    }
    check_proof_of_work(header, params)?;
    check_block_time(header.time, ctx.median_time_past, now, params)
}

/// Context-free block rules. Order matters: a body that does not match the header is
/// reported as such before anything else, so a mutated copy never condemns a valid header.
pub fn check_block(block: &Block, params: &Params) -> Result<(), BlockError> {
    check_no_duplicate_txids(&block.transactions)?;
    if block.compute_merkle_root() != block.header.merkle_root {
        return Err(BlockError::BadMerkleRoot);
    }
    let size = block.size();
    if size > params.max_block_size {
        return Err(BlockError::Oversized {
            size,
            max: params.max_block_size,
        });
    }
    check_coinbase_placement(&block.transactions)?;
    for (index, tx) in block.transactions.iter().enumerate() {
        check_transaction(tx, params).map_err(|source| BlockError::Transaction {
            index,
            txid: tx.txid(),
            source,
        })?;
    }
    check_no_double_spend(&block.transactions)
}

/// CVE-2012-2459: `[a, b, c]` and `[a, b, c, c]` share a merkle root; refuse the copy.
fn check_no_duplicate_txids(txs: &[Transaction]) -> Result<(), BlockError> {
    let mut seen = HashSet::with_capacity(txs.len());
    for tx in txs {
        let txid = tx.txid();
        if !seen.insert(txid) {
            return Err(BlockError::DuplicateTransaction(txid));
        }
    }
    Ok(())
}

fn check_coinbase_placement(txs: &[Transaction]) -> Result<(), BlockError> {
    let first = txs.first().ok_or(BlockError::NoTransactions)?;
    if !first.is_coinbase() {
        return Err(BlockError::FirstNotCoinbase);
    }
    match txs.iter().skip(1).position(Transaction::is_coinbase) {
        Some(i) => Err(BlockError::ExtraCoinbase(i + 1)),
        None => Ok(()),
    }
}

fn check_no_double_spend(txs: &[Transaction]) -> Result<(), BlockError> {
    let mut spent = HashSet::new();
    for input in txs.iter().skip(1).flat_map(|tx| &tx.inputs) {
        if !spent.insert(input.previous_output) {
            return Err(BlockError::DoubleSpendInBlock(input.previous_output));
        }
    }
    Ok(())
}

/// A block that passed every consensus rule in its context except the signatures:
/// [`check_block_contextually`] makes one. Half of the typestate: with a [`SignaturesChecked`]
/// for the same block it becomes a [`ValidatedBlock`].
///
/// The split lets a node verify signatures (the costly, parallel part, which needs no UTXO
/// set) while it does everything else, and commit only when both are done.
#[derive(Clone, Debug)]
pub struct CheckedBlock {
    block: Arc<Block>,
    hash: BlockHash,
    height: Height,
    fees: Amount,
    spent: Vec<(OutPoint, Coin)>,
}

/// Proof that every input signature of one exact body verified, or that the node's
/// operator took them as verified. Only [`verify_block_signatures`] and
/// [`SignaturesChecked::assumed`] make one.
///
/// It names the body by its header hash *and* by the merkle root computed over the body's
/// wtxids (which cover every signature): a proof made for a mutated copy that shares the
/// header hash cannot complete the genuine block, nor the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignaturesChecked {
    hash: BlockHash,
    body_root: crate::primitives::MerkleRoot,
    assumed: bool,
}

impl SignaturesChecked {
    /// Signatures taken as verified without checking them (`--assume-valid`): the caller
    /// has seen that `block` is an ancestor of the block the operator named, on the chain
    /// of the best header. It still names this exact body, so it completes no other.
    pub fn assumed(block: &Block) -> Self {
        Self {
            hash: block.block_hash(),
            body_root: block.compute_merkle_root(),
            assumed: true,
        }
    }

    /// Whether the signatures were assumed rather than verified.
    pub fn is_assumed(&self) -> bool {
        self.assumed
    }
}

/// A block that passed every consensus rule in its context. Only [`validate_block`] and
/// [`CheckedBlock::with_signatures`] make one, so holding one is proof of validation.
#[derive(Clone, Debug)]
pub struct ValidatedBlock(CheckedBlock);

impl CheckedBlock {
    pub fn block(&self) -> &Block {
        &self.block
    }

    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    pub fn height(&self) -> Height {
        self.height
    }

    /// The fees its transactions pay (the coinbase may claim them).
    pub fn fees(&self) -> Amount {
        self.fees
    }

    /// The coins the block spends, in block order: the undo data that disconnects it.
    pub fn spent_coins(&self) -> &[(OutPoint, Coin)] {
        &self.spent
    }

    /// Completes validation with the signatures' proof.
    ///
    /// # Panics
    /// If the proof is for another block or another body of it: that is a bug in the
    /// caller, never bad input (a checked block's body matches its header's merkle root).
    pub fn with_signatures(self, proof: SignaturesChecked) -> ValidatedBlock {
        assert_eq!(proof.hash, self.hash, "signature proof for another block");
        assert_eq!(
            proof.body_root, self.block.header.merkle_root,
            "signature proof for another body of this block"
        );
        ValidatedBlock(self)
    }
}

impl ValidatedBlock {
    pub fn block(&self) -> &Block {
        &self.0.block
    }

    pub fn hash(&self) -> BlockHash {
        self.0.hash
    }

    pub fn height(&self) -> Height {
        self.0.height
    }

    pub fn fees(&self) -> Amount {
        self.0.fees
    }

    pub fn spent_coins(&self) -> &[(OutPoint, Coin)] {
        &self.0.spent
    }

    /// The contextually checked block (validation forgets nothing).
    pub fn checked(&self) -> &CheckedBlock {
        &self.0
    }

    /// The block itself, shared: validation copies no body.
    pub fn into_block(self) -> Arc<Block> {
        self.0.block
    }
}

/// All consensus rules for `block` at the place `ctx` describes, spending from `view`.
/// Signatures are verified in parallel after everything else; the error reported is the
/// first in block order.
pub fn validate_block(
    block: Block,
    ctx: &HeaderContext,
    view: &(impl UtxoView + Sync + ?Sized),
    now: u64,
    params: &Params,
) -> Result<ValidatedBlock, BlockError> {
    let checked = check_block_contextually(block, ctx, view, now, params)?;
    let proof = verify_block_signatures(checked.block(), params)?;
    Ok(checked.with_signatures(proof))
}

/// Every rule but the signatures: header in context, block structure, coinbase height and
/// value, and each input against `view` (existence, maturity, owner, amounts).
pub fn check_block_contextually(
    block: impl Into<Arc<Block>>,
    ctx: &HeaderContext,
    view: &(impl UtxoView + ?Sized),
    now: u64,
    params: &Params,
) -> Result<CheckedBlock, BlockError> {
    let block = block.into();
    check_header(&block.header, ctx, now, params)?;
    check_block(&block, params)?;
    let coinbase = &block.transactions[0];
    let found = committed_height(coinbase);
    if found != ctx.height {
        return Err(BlockError::BadCoinbaseHeight {
            expected: ctx.height,
            found,
        });
    }
    let spends = check_block_inputs(&block, view, ctx.height, params)?;
    let allowed = block_subsidy(ctx.height, params)
        .checked_add(spends.fees)
        .ok_or(BlockError::FeesTooLarge)?;
    let paid = coinbase
        .total_output()
        .expect("checked by check_transaction");
    if paid > allowed {
        return Err(BlockError::CoinbaseTooLarge { paid, allowed });
    }
    Ok(CheckedBlock {
        hash: block.block_hash(),
        height: ctx.height,
        fees: spends.fees,
        spent: spends.spent,
        block,
    })
}

/// Verifies every input signature of `block` (all threads); the error is the first failure
/// in block order. Needs no UTXO set: the key and signature are in each input's witness and
/// the digest depends only on the transaction and the network (see `sighash`); that the key
/// owns the coin is checked by [`check_block_contextually`].
pub fn verify_block_signatures(
    block: &Block,
    params: &Params,
) -> Result<SignaturesChecked, BlockError> {
    let genesis = params.genesis_hash();
    let checks: Vec<(usize, SignatureCheck)> = block
        .transactions
        .iter()
        .enumerate()
        .skip(1)
        .flat_map(|(index, tx)| {
            let txid = tx.txid();
            tx.inputs.iter().enumerate().map(move |(input, i)| {
                let digest = sighash(&genesis, &txid, input_index(input));
                (
                    index,
                    SignatureCheck {
                        index: input,
                        pubkey: i.witness.pubkey,
                        signature: i.witness.signature,
                        digest,
                    },
                )
            })
        })
        .collect();
    verify_signatures(block, &checks)?;
    Ok(SignaturesChecked {
        hash: block.block_hash(),
        body_root: block.compute_merkle_root(),
        assumed: false,
    })
}

struct BlockSpends {
    fees: Amount,
    spent: Vec<(OutPoint, Coin)>,
}

/// Runs the contextual input rules of every transaction in order, each seeing the outputs
/// of those before it. (The signature checks `check_inputs` returns are left to
/// [`verify_block_signatures`].)
fn check_block_inputs(
    block: &Block,
    view: &(impl UtxoView + ?Sized),
    height: Height,
    params: &Params,
) -> Result<BlockSpends, BlockError> {
    let genesis = params.genesis_hash();
    let mut overlay = UtxoOverlay::new(view);
    let mut spends = BlockSpends {
        fees: Amount::ZERO,
        spent: Vec::new(),
    };
    for (index, tx) in block.transactions.iter().enumerate() {
        let txid = tx.txid();
        if index > 0 {
            let tx_error = |source| BlockError::Transaction {
                index,
                txid,
                source,
            };
            let checked = check_inputs(tx, &overlay, height, params, &genesis).map_err(tx_error)?;
            spends.fees = spends
                .fees
                .checked_add(checked.fee)
                .ok_or(BlockError::FeesTooLarge)?;
            for (outpoint, _) in &checked.spent {
                overlay.spend(outpoint);
            }
            spends.spent.extend(checked.spent);
        }
        for (vout, output) in tx.outputs.iter().enumerate() {
            let vout = u32::try_from(vout).expect("fewer than 2^32 outputs fit in a block");
            let coin = Coin {
                output: *output,
                height,
                is_coinbase: index == 0,
            };
            overlay.add(OutPoint::new(txid, vout), coin);
        }
    }
    Ok(spends)
}

fn verify_signatures(block: &Block, checks: &[(usize, SignatureCheck)]) -> Result<(), BlockError> {
    let failure = checks
        .par_iter()
        .find_first(|(_, check)| check.run().is_err());
    match failure {
        None => Ok(()),
        Some((index, check)) => {
            let source: TxError = check.run().expect_err("it failed a moment ago");
            Err(BlockError::Transaction {
                index: *index,
                txid: block.transactions[*index].txid(),
                source,
            })
        }
    }
}
