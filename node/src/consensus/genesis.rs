//! Genesis blocks, built deterministically from each network's `GenesisSpec`.
//!
//! A genesis block is an ordinary block with real proof of work: version 1, no parent, one
//! coinbase committing to the network's message and paying the initial subsidy to the
//! all-zero pubkey hash (no key has it). As in Bitcoin, its output never enters the UTXO set,
//! so supply is the sum of the subsidies of blocks 1 and up.

use std::sync::OnceLock;

use crate::primitives::{Block, BlockHash, BlockHeader, Height, PubkeyHash, Transaction, TxOut};

use super::coinbase::build_coinbase;
use super::params::{Network, Params};

/// The genesis block of `params`' network, with the nonce `params.genesis.nonce`.
pub fn build_genesis(params: &Params) -> Block {
    let coinbase = genesis_coinbase(params);
    let mut block = Block {
        header: BlockHeader {
            version: 1,
            prev_blockhash: BlockHash::ZERO,
            merkle_root: Default::default(),
            time: params.genesis.time,
            bits: params.pow_limit,
            nonce: params.genesis.nonce,
        },
        transactions: vec![coinbase],
    };
    block.header.merkle_root = block.compute_merkle_root();
    block
}

fn genesis_coinbase(params: &Params) -> Transaction {
    let unspendable = TxOut {
        value: params.initial_subsidy,
        pubkey_hash: PubkeyHash::default(),
    };
    build_coinbase(
        Height::GENESIS,
        0,
        params.genesis.message.as_bytes(),
        vec![unspendable],
    )
}

static GENESIS: [OnceLock<Block>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

fn slot(network: Network) -> &'static OnceLock<Block> {
    &GENESIS[Network::ALL
        .iter()
        .position(|n| *n == network)
        .expect("listed")]
}

/// The genesis block of `network`, built once.
pub fn genesis_block(network: Network) -> &'static Block {
    slot(network).get_or_init(|| build_genesis(network.params()))
}

pub fn genesis_hash(network: Network) -> BlockHash {
    genesis_block(network).block_hash()
}
