//! Builds valid chains in memory, for tests, benchmarks and demos.
//!
//! [`TestChain`] keeps a main chain and its UTXO set in plain maps, mines blocks at the
//! network's difficulty with the portable solver, and validates every block it accepts with
//! the real consensus rules. It is deliberately simple (no forks, no storage): the `chain`
//! module is what a node runs. [`BusyChain`] makes long chains of full blocks quickly, for
//! benchmarks and sync tests.

use std::collections::HashMap;

use crate::consensus::coinbase::build_coinbase;
use crate::consensus::pow::solve_header;
use crate::consensus::sighash::sign_all_inputs;
use crate::consensus::{
    BlockError, Coin, HeaderContext, Params, SignaturesChecked, UtxoOverlay, UtxoView,
    ValidatedBlock, block_subsidy, check_block_contextually, median_time_past, next_bits,
    validate_block,
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

    /// A chain on which `owner`'s coinbase (50 coins, from block 1) has just matured: the
    /// next block may spend the returned outpoint.
    pub fn with_mature_coin(params: &Params, owner: &Address) -> (Self, OutPoint) {
        let mut chain = Self::new(params);
        let first = chain.mine(owner, Vec::new());
        chain.mine_empty(params.coinbase_maturity as usize, &key(255).address());
        let coin = OutPoint::new(first.block().transactions[0].txid(), 0);
        (chain, coin)
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

    /// Makes `block` the new tip after every check but its signatures, as a node does under
    /// `--assume-valid`: for building a chain that only such a node accepts.
    pub fn push_assuming_signatures(&mut self, block: Block) -> Result<(), BlockError> {
        let now = u64::from(block.header.time);
        let proof = SignaturesChecked::assumed(&block);
        let checked = check_block_contextually(
            std::sync::Arc::new(block),
            &self.next_context(),
            &self.utxos,
            now,
            &self.params,
        )?;
        self.apply(&checked.with_signatures(proof));
        Ok(())
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

/// The UTXO set of a main chain, rebuilt from scratch by replaying its blocks in order
/// (genesis first; its output is unspendable and skipped). The reference the chain state's
/// incremental UTXO set is checked against.
pub fn replay_utxo_set(main_chain: &[Block]) -> HashMap<OutPoint, Coin> {
    let mut utxos = HashMap::new();
    for (height, block) in main_chain.iter().enumerate().skip(1) {
        let height = Height::new(u32::try_from(height).expect("test chains are short"));
        for (index, tx) in block.transactions.iter().enumerate() {
            for input in tx.inputs.iter().filter(|_| index > 0) {
                utxos.remove(&input.previous_output);
            }
            let txid = tx.txid();
            for (output, vout) in tx.outputs.iter().zip(0u32..) {
                utxos.insert(
                    OutPoint::new(txid, vout),
                    Coin {
                        output: *output,
                        height,
                        is_coinbase: index == 0,
                    },
                );
            }
        }
    }
    utxos
}

/// A generator of long chains of busy blocks: every block carries one signed transaction per
/// *lane*, each spending its lane's output from the block before. Blocks keep to the
/// schedule (one spacing apart), so they stay at the pow limit and mine instantly; they are
/// built without validation (the chain state under test does that). Clone it to fork.
#[derive(Debug, Clone)]
pub struct BusyChain {
    params: Params,
    key: PrivateKey,
    lanes: Vec<(OutPoint, Amount)>,
    fee: Amount,
    prev: BlockHash,
    height: Height,
    time: u32,
}

impl BusyChain {
    /// The setup blocks (a coinbase to spend, maturity, then a fan-out transaction into
    /// `lanes` outputs) and a generator positioned after them.
    ///
    /// # Panics
    /// If one coinbase cannot fund `lanes` lanes (more than 10,000).
    pub fn new(params: &Params, lanes: usize) -> (Self, Vec<Block>) {
        let key = key(200);
        let mut chain = TestChain::new(params);
        let funding = chain.mine(&key.address(), vec![]);
        chain.mine_empty(params.coinbase_maturity as usize, &key.address());
        let coin = OutPoint::new(funding.block().transactions[0].txid(), 0);
        let per_lane = Amount::from_units(params.initial_subsidy.units() / (lanes as u64 + 1))
            .expect("in range");
        assert!(
            per_lane.units() > 100_000,
            "too many lanes for one coinbase"
        );
        let outputs = vec![TxOut::to_address(per_lane, &key.address()); lanes];
        let fan_out = spend(&[coin], &key, outputs, &params.genesis_hash());
        let txid = fan_out.txid();
        chain.mine(&key.address(), vec![fan_out]);
        let lanes = (0..lanes)
            .map(|i| {
                (
                    OutPoint::new(txid, u32::try_from(i).expect("few lanes")),
                    per_lane,
                )
            })
            .collect();
        let tip = chain.tip().clone();
        let generator = Self {
            params: *params,
            key,
            lanes,
            fee: Amount::from_units(1_000).expect("in range"),
            prev: tip.block_hash(),
            height: chain.height(),
            time: tip.header.time,
        };
        (generator, chain.blocks()[1..].to_vec())
    }

    /// Changes the fee every later transaction pays, so that a fork's transactions differ
    /// from the original branch's.
    pub fn set_fee(&mut self, fee: Amount) {
        self.fee = fee;
    }

    /// The next block: one transaction per lane, signed in parallel.
    pub fn next_block(&mut self) -> Block {
        use rayon::prelude::*;
        let genesis = self.params.genesis_hash();
        let (key, fee) = (&self.key, self.fee);
        let txs: Vec<Transaction> = self
            .lanes
            .par_iter()
            .map(|(outpoint, value)| {
                let change = value.checked_sub(fee).expect("lanes outlast any benchmark");
                spend(
                    &[*outpoint],
                    key,
                    vec![TxOut::to_address(change, &key.address())],
                    &genesis,
                )
            })
            .collect();
        for (lane, tx) in self.lanes.iter_mut().zip(&txs) {
            *lane = (OutPoint::new(tx.txid(), 0), tx.outputs[0].value);
        }
        self.height = self.height.next();
        self.time += self.params.target_spacing;
        let fees = fee.checked_mul(txs.len() as u64).expect("in range");
        let reward = block_subsidy(self.height, &self.params)
            .checked_add(fees)
            .expect("in range");
        let coinbase = build_coinbase(
            self.height,
            0,
            b"busy",
            vec![TxOut::to_address(reward, &self.key.address())],
        );
        let mut block = Block {
            header: BlockHeader {
                version: 1,
                prev_blockhash: self.prev,
                merkle_root: Default::default(),
                time: self.time,
                bits: self.params.pow_limit,
                nonce: 0,
            },
            transactions: [vec![coinbase], txs].concat(),
        };
        TestChain::solve(&mut block);
        self.prev = block.block_hash();
        block
    }
}

/// Pads `block`'s coinbase with `outputs` zero-value outputs (28 bytes each: 36,000 make
/// ~1 MB) and solves it again: a large block, valid wherever the original was.
pub fn pad_coinbase(block: &mut Block, outputs: usize) {
    let payout = block.transactions[0].outputs[0];
    let zero = TxOut {
        value: Amount::ZERO,
        ..payout
    };
    block.transactions[0]
        .outputs
        .extend(std::iter::repeat_n(zero, outputs));
    TestChain::solve(block);
}

/// `n` headers on genesis, `gap` seconds apart, each at the bits the schedule requires and
/// with valid proof of work, but no bodies: for header-sync tests and benchmarks. With the
/// network's spacing they stay at the pow limit; a longer gap only makes them cheaper.
pub fn header_chain(params: &Params, n: usize, gap: u32) -> Vec<BlockHeader> {
    use crate::chain::{BlockIndex, BlockStatus, IndexEntry};
    let work = |h: &BlockHeader| h.bits.to_target().expect("valid bits").work();
    let genesis = params.genesis_block();
    let mut index = BlockIndex::new();
    index.insert(IndexEntry {
        hash: genesis.block_hash(),
        header: genesis.header,
        height: Height::GENESIS,
        chain_work: work(&genesis.header),
        status: BlockStatus::Valid,
        sequence: 0,
    });
    let mut parent = genesis.header;
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        let ctx = index
            .header_context(&parent.block_hash(), params)
            .expect("the parent is indexed");
        let mut header = BlockHeader {
            version: 1,
            prev_blockhash: parent.block_hash(),
            merkle_root: Default::default(),
            time: parent.time + gap,
            bits: ctx.expected_bits,
            nonce: 0,
        };
        assert!(solve_header(&mut header, 1 << 32), "no nonce found");
        index.insert(index.entry_for(&header, work(&header)).expect("parent"));
        headers.push(header);
        parent = header;
    }
    headers
}

/// Connects `blocks` (a chain extending the tip) the way sync does: their headers first, in
/// protocol-sized batches, then the bodies in runs of one blocks request each, every body's
/// signatures verified ahead of its turn ([`crate::chainstate::ChainState::verify_ahead`]),
/// each run committed (in parts, as sync commits it) before the next. Benchmarks measure the
/// sync connect path with it.
///
/// # Panics
/// If a header or a block is refused: the caller built a valid chain.
pub async fn connect_as_sync<S: crate::storage::ChainStore>(
    state: &mut crate::chainstate::ChainState<S>,
    blocks: &[Block],
    now: u64,
) {
    let headers: Vec<BlockHeader> = blocks.iter().map(|b| b.header).collect();
    for batch in headers.chunks(crate::network::protocol::MAX_HEADERS) {
        state
            .submit_headers(batch, now)
            .await
            .expect("headers of a valid chain");
    }
    let blocks: Vec<std::sync::Arc<Block>> =
        blocks.iter().cloned().map(std::sync::Arc::new).collect();
    for run in blocks.chunks(crate::sync::BLOCKS_PER_REQUEST) {
        state.commit_at_flush();
        for (i, block) in run.iter().enumerate() {
            state.verify_ahead(run, i);
            state
                .submit_block(std::sync::Arc::clone(block), now)
                .await
                .result
                .expect("a block of a valid chain");
        }
        state.forget_ahead();
        // Sync publishes what a run changed, so it waits for the run's commit first.
        state.flush().await.expect("the store commits");
    }
}
