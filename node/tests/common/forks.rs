//! Builds blocks on any parent, by name, so tests can draw forks:
//!
//! ```text
//!   G ── a1 ── a2
//!         └─── b2 ── b3
//! ```
//! `forks.mine("b2", "a1", 10)` mines b2 on a1, ten seconds after it. Each block has valid
//! proof of work, the difficulty the schedule requires for its branch, and a coinbase paying
//! subsidy plus fees to a key chosen by the first letter of its name.

use std::collections::HashMap;

use chaincore::chain::{BlockIndex, BlockStatus, IndexEntry};
use chaincore::consensus::coinbase::build_coinbase;
use chaincore::consensus::pow::solve_header;
use chaincore::consensus::{Params, block_subsidy};
use chaincore::primitives::{
    Address, Amount, Block, BlockHash, BlockHeader, Height, OutPoint, Transaction, TxOut,
};
use chaincore::testkit::key;

#[derive(Debug)]
pub struct Forks {
    pub params: &'static Params,
    index: BlockIndex,
    blocks: HashMap<String, Block>,
    /// Every output any built block created, to price the fees of later transactions.
    outputs: HashMap<OutPoint, TxOut>,
}

impl Forks {
    /// A builder whose only block is genesis, named "G".
    pub fn new(params: &'static Params) -> Self {
        let genesis = params.genesis_block().clone();
        let mut index = BlockIndex::new();
        index.insert(IndexEntry {
            hash: genesis.block_hash(),
            header: genesis.header,
            height: Height::GENESIS,
            chain_work: genesis.header.bits.to_target().unwrap().work(),
            status: BlockStatus::Valid,
            sequence: 0,
        });
        let blocks = HashMap::from([("G".to_owned(), genesis)]);
        Self {
            params,
            index,
            blocks,
            outputs: HashMap::new(),
        }
    }

    pub fn block(&self, name: &str) -> Block {
        self.blocks
            .get(name)
            .unwrap_or_else(|| panic!("no block named {name}"))
            .clone()
    }

    pub fn hash(&self, name: &str) -> BlockHash {
        self.block(name).block_hash()
    }

    pub fn height(&self, name: &str) -> Height {
        self.index.get(&self.hash(name)).unwrap().height
    }

    /// The cumulative work of the chain ending at `name`.
    pub fn work(&self, name: &str) -> chaincore::primitives::Work {
        self.index.get(&self.hash(name)).unwrap().chain_work
    }

    /// Who block `name`'s coinbase pays: one key per branch letter.
    pub fn payout(name: &str) -> Address {
        key(name.as_bytes()[0]).address()
    }

    /// Mines `name` on `parent`, `gap` seconds after it, with no transactions.
    pub fn mine(&mut self, name: &str, parent: &str, gap: u32) -> Block {
        self.mine_with(name, parent, gap, vec![], |_| {})
    }

    /// Mines a chain of blocks named `{prefix}{first}..={prefix}{last}` on `parent`.
    pub fn mine_run(
        &mut self,
        prefix: &str,
        first: u32,
        last: u32,
        parent: &str,
        gap: u32,
    ) -> Vec<Block> {
        let mut parent = parent.to_owned();
        let mut blocks = Vec::new();
        for i in first..=last {
            let name = format!("{prefix}{i}");
            blocks.push(self.mine(&name, &parent, gap));
            parent = name;
        }
        blocks
    }

    /// Mines `name` on `parent` with `txs`; `tweak` may change the block before it is solved.
    pub fn mine_with(
        &mut self,
        name: &str,
        parent: &str,
        gap: u32,
        txs: Vec<Transaction>,
        tweak: impl FnOnce(&mut Block),
    ) -> Block {
        let parent_hash = self.hash(parent);
        let ctx = self
            .index
            .header_context(&parent_hash, self.params)
            .unwrap();
        let fees = self.fees(&txs);
        let value = block_subsidy(ctx.height, self.params)
            .checked_add(fees)
            .unwrap();
        let coinbase = build_coinbase(
            ctx.height,
            0,
            name.as_bytes(),
            vec![TxOut::to_address(value, &Self::payout(name))],
        );
        let parent_time = self.block(parent).header.time;
        let mut block = Block {
            header: BlockHeader {
                version: 1,
                prev_blockhash: parent_hash,
                merkle_root: Default::default(),
                time: parent_time + gap,
                bits: ctx.expected_bits,
                nonce: 0,
            },
            transactions: [vec![coinbase], txs].concat(),
        };
        tweak(&mut block);
        block.header.merkle_root = block.compute_merkle_root();
        assert!(solve_header(&mut block.header, 1 << 32));
        self.record(name, &block);
        block
    }

    fn fees(&self, txs: &[Transaction]) -> Amount {
        let mut known = self.outputs.clone();
        let mut fees = Amount::ZERO;
        for tx in txs {
            let inputs =
                Amount::checked_sum(tx.inputs.iter().map(|i| known[&i.previous_output].value))
                    .unwrap();
            fees = fees
                .checked_add(inputs.checked_sub(tx.total_output().unwrap()).unwrap())
                .unwrap();
            for (output, vout) in tx.outputs.iter().zip(0u32..) {
                known.insert(OutPoint::new(tx.txid(), vout), *output);
            }
        }
        fees
    }

    fn record(&mut self, name: &str, block: &Block) {
        let work = block.header.bits.to_target().unwrap().work();
        let mut entry = self.index.entry_for(&block.header, work).unwrap();
        entry.status = BlockStatus::Valid;
        entry.sequence = self.index.len() as u64;
        self.index.insert(entry);
        for tx in &block.transactions {
            for (output, vout) in tx.outputs.iter().zip(0u32..) {
                self.outputs.insert(OutPoint::new(tx.txid(), vout), *output);
            }
        }
        assert!(
            self.blocks.insert(name.to_owned(), block.clone()).is_none(),
            "block {name} built twice"
        );
    }
}
