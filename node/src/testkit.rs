//! Builds valid chains in memory, for tests, benchmarks and demos.
//!
//! [`TestChain`] keeps a main chain and its UTXO set in plain maps, mines blocks at the
//! network's difficulty with the portable solver, and validates every block it accepts with
//! the real consensus rules. It is deliberately simple (no forks, no storage): the `chain`
//! module is what a node runs.

use std::collections::HashMap;

use crate::consensus::coinbase::build_coinbase;
use crate::consensus::pow::solve_header;
use crate::consensus::sighash::sign_all_inputs;
use crate::consensus::{
    BlockError, Coin, HeaderContext, Params, UtxoOverlay, UtxoView, ValidatedBlock, block_subsidy,
    median_time_past, next_bits, validate_block,
};
use crate::primitives::{
    Address, Amount, Block, BlockHash, BlockHeader, Height, OutPoint, PrivateKey, Transaction,
    TxIn, TxOut, Witness,
};

/// A deterministic private key, distinct for each `seed` (seed 0 is allowed).
pub fn key(seed: u8) -> PrivateKey {
    let mut bytes = [0x11u8; 32];
    bytes[31] = seed;
    PrivateKey::from_bytes(&bytes).expect("a small scalar is a valid key")
}

/// A transaction spending `inputs` (all owned by `key`) to `outputs`, signed for `genesis`.
pub fn spend(
    inputs: &[OutPoint],
    key: &PrivateKey,
    outputs: Vec<TxOut>,
    genesis: &BlockHash,
) -> Transaction {
    let mut tx = Transaction {
        version: Transaction::CURRENT_VERSION,
        inputs: inputs
            .iter()
            .map(|&previous_output| TxIn {
                previous_output,
                witness: Witness::EMPTY,
            })
            .collect(),
        outputs,
        lock_time: 0,
    };
    let keys = vec![key; inputs.len()];
    sign_all_inputs(&mut tx, &keys, genesis);
    tx
}

/// A single main chain, its UTXO set, and a miner.
#[derive(Debug, Clone)]
pub struct TestChain {
    params: Params,
    blocks: Vec<Block>,
    utxos: HashMap<OutPoint, Coin>,
}

impl TestChain {
    /// A chain holding only `params`' genesis block (whose output is unspendable).
    pub fn new(params: &Params) -> Self {
        Self {
            params: *params,
            blocks: vec![params.genesis_block().clone()],
            utxos: HashMap::new(),
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("genesis is always there")
    }

    pub fn height(&self) -> Height {
        Height::new(u32::try_from(self.blocks.len() - 1).expect("test chains are short"))
    }

    pub fn utxos(&self) -> &HashMap<OutPoint, Coin> {
        &self.utxos
    }

    fn times(&self) -> Vec<u32> {
        self.blocks.iter().map(|b| b.header.time).collect()
    }

    /// Where the next block goes.
    pub fn next_context(&self) -> HeaderContext {
        let height = self.height().next();
        let anchor_time = self.blocks.get(1).map_or(0, |b| b.header.time);
        HeaderContext {
            height,
            prev_blockhash: self.tip().block_hash(),
            median_time_past: median_time_past(&self.times()),
            expected_bits: next_bits(&self.params, height, self.tip().header.time, anchor_time),
        }
    }

    /// The next block's time if it keeps to the schedule: one spacing after the tip.
    pub fn next_time(&self) -> u32 {
        self.tip().header.time + self.params.target_spacing
    }

    /// A block on the tip with `txs`, whose coinbase pays subsidy plus fees to `payout`,
    /// unsolved: change it, then call [`TestChain::solve`].
    pub fn draft_block(&self, payout: &Address, txs: Vec<Transaction>) -> Block {
        let ctx = self.next_context();
        let fees = self.fees_of(&txs);
        let value = block_subsidy(ctx.height, &self.params)
            .checked_add(fees)
            .expect("fees in range");
        let coinbase = build_coinbase(
            ctx.height,
            0,
            b"testkit",
            vec![TxOut::to_address(value, payout)],
        );
        let header = BlockHeader {
            version: 1,
            prev_blockhash: ctx.prev_blockhash,
            merkle_root: Default::default(),
            time: self.next_time(),
            bits: ctx.expected_bits,
            nonce: 0,
        };
        let mut transactions = vec![coinbase];
        transactions.extend(txs);
        Block {
            header,
            transactions,
        }
    }

    /// Sets the merkle root from the transactions and finds a nonce.
    ///
    /// # Panics
    /// If no nonce meets the target (test networks are easy enough that this does not happen).
    pub fn solve(block: &mut Block) {
        block.header.merkle_root = block.compute_merkle_root();
        assert!(
            solve_header(&mut block.header, 1 << 32),
            "no nonce meets the target"
        );
    }

    /// A solved block on the tip: [`TestChain::draft_block`] then [`TestChain::solve`].
    pub fn build_block(&self, payout: &Address, txs: Vec<Transaction>) -> Block {
        let mut block = self.draft_block(payout, txs);
        Self::solve(&mut block);
        block
    }

    /// Validates `block` as the next block, with the clock at the block's own time.
    pub fn validate(&self, block: Block) -> Result<ValidatedBlock, BlockError> {
        let now = u64::from(block.header.time);
        validate_block(block, &self.next_context(), &self.utxos, now, &self.params)
    }

    /// Validates `block` and, if valid, makes it the new tip.
    pub fn push(&mut self, block: Block) -> Result<ValidatedBlock, BlockError> {
        let validated = self.validate(block)?;
        self.apply(&validated);
        Ok(validated)
    }

    /// Mines a block with `txs` paying `payout` and adds it.
    ///
    /// # Panics
    /// If the block is invalid (a transaction breaks a rule).
    pub fn mine(&mut self, payout: &Address, txs: Vec<Transaction>) -> ValidatedBlock {
        let block = self.build_block(payout, txs);
        self.push(block)
            .unwrap_or_else(|e| panic!("testkit mined an invalid block: {e}"))
    }

    /// Mines `n` empty blocks paying `payout`.
    pub fn mine_empty(&mut self, n: usize, payout: &Address) {
        for _ in 0..n {
            self.mine(payout, Vec::new());
        }
    }

    /// The coins `address` could spend in the next block (mature, unspent), oldest first.
    pub fn spendable(&self, address: &Address) -> Vec<(OutPoint, Coin)> {
        let next = self.height().next();
        let mut coins: Vec<_> = self
            .utxos
            .iter()
            .filter(|(_, c)| c.output.pubkey_hash == address.pubkey_hash())
            .filter(|(_, c)| {
                !c.is_coinbase || c.height.get() + self.params.coinbase_maturity <= next.get()
            })
            .map(|(o, c)| (*o, *c))
            .collect();
        coins.sort_by_key(|(o, c)| (c.height, *o));
        coins
    }

    fn fees_of(&self, txs: &[Transaction]) -> Amount {
        let mut overlay = UtxoOverlay::new(&self.utxos);
        let mut fees = Amount::ZERO;
        for tx in txs {
            let inputs: Option<Vec<Amount>> = tx
                .inputs
                .iter()
                .map(|i| overlay.coin(&i.previous_output).map(|c| c.output.value))
                .collect();
            let value_in = inputs.and_then(Amount::checked_sum);
            if let (Some(value_in), Some(value_out)) = (value_in, tx.total_output()) {
                fees = fees
                    .checked_add(value_in.checked_sub(value_out).unwrap_or(Amount::ZERO))
                    .unwrap_or(fees);
            }
            let txid = tx.txid();
            for input in &tx.inputs {
                overlay.spend(&input.previous_output);
            }
            for (vout, output) in tx.outputs.iter().enumerate() {
                let coin = Coin {
                    output: *output,
                    height: self.height().next(),
                    is_coinbase: false,
                };
                overlay.add(
                    OutPoint::new(txid, u32::try_from(vout).expect("few outputs")),
                    coin,
                );
            }
        }
        fees
    }

    fn apply(&mut self, validated: &ValidatedBlock) {
        for (outpoint, _) in validated.spent_coins() {
            self.utxos.remove(outpoint);
        }
        for (index, tx) in validated.block().transactions.iter().enumerate() {
            let txid = tx.txid();
            for (vout, output) in tx.outputs.iter().enumerate() {
                let coin = Coin {
                    output: *output,
                    height: validated.height(),
                    is_coinbase: index == 0,
                };
                self.utxos.insert(
                    OutPoint::new(txid, u32::try_from(vout).expect("few outputs")),
                    coin,
                );
            }
        }
        self.blocks.push(validated.block().clone());
    }
}
