#![cfg(feature = "full")]
//! `--assume-valid`: which signatures a node may leave unchecked, and which it must check.
//!
//! The chain below carries one payment whose signature is forged (made for another
//! network's genesis), at height `F`, under blocks up to `A`:
//!
//! ```text
//!   G ── 1 ── 2 ── F ── 4 ── … ── A        A = the tip, F = the forged payment
//! ```
//!
//! Only a node told to assume `A` valid, with `A`'s header on its best header chain, takes
//! it: the forged signature is under `A`'s proof of work. Everything above the assumed block,
//! and everything when its header is not known, is verified as always.

mod common;

use std::sync::Arc;

use chaincore::chainstate::{ChainOptions, ChainState};
use chaincore::primitives::{Amount, Block, BlockHash, TxOut};
use chaincore::storage::SqlStore;
use chaincore::testkit::{TestChain, key, spend};
use common::db::{Backend, TestDb};
use common::{NOW, quick_params};

/// Blocks on top of the forged one.
const ABOVE: usize = 5;

/// The chain's blocks after genesis, and the position of the forged one among them.
fn chain_with_a_forged_signature() -> (Vec<Block>, usize) {
    let params = quick_params();
    let owner = key(1);
    let (mut chain, coin) = TestChain::with_mature_coin(params, &owner.address());
    let forged = spend(
        &[coin],
        &owner,
        vec![TxOut::to_address(
            Amount::from_units(10).expect("in range"),
            &key(2).address(),
        )],
        &BlockHash::ZERO, // not this network's genesis: the signature does not verify
    );
    let block = chain.build_block(&key(3).address(), vec![forged]);
    chain
        .push_assuming_signatures(block)
        .expect("every other rule holds");
    let forged_at = chain.blocks().len() - 2;
    for _ in 0..ABOVE {
        chain.mine(&key(3).address(), Vec::new());
    }
    (chain.blocks()[1..].to_vec(), forged_at)
}

struct Node {
    _db: TestDb,
    state: ChainState<SqlStore>,
}

async fn node(assume_valid: Option<BlockHash>) -> Node {
    let db = TestDb::new(Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let params = quick_params();
    let store = SqlStore::open(&db.url, params.network).await.expect("open");
    let options = ChainOptions {
        assume_valid,
        ..ChainOptions::default()
    };
    let (state, _) = ChainState::open_with(store, params, options, NOW)
        .await
        .expect("open");
    Node { _db: db, state }
}

impl Node {
    /// Headers first, then the bodies in order, as sync brings them; the reason of the
    /// first body refused, if any.
    async fn sync(&mut self, blocks: &[Block]) -> Option<&'static str> {
        let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
        self.state
            .submit_headers(&headers, NOW)
            .await
            .expect("headers");
        self.bodies(blocks).await
    }

    async fn bodies(&mut self, blocks: &[Block]) -> Option<&'static str> {
        for block in blocks {
            if let Err(error) = self.state.submit_block(block.clone(), NOW).await.result {
                return Some(error.reason().expect("a broken rule"));
            }
        }
        None
    }
}

#[tokio::test]
async fn a_node_without_the_flag_refuses_the_forged_signature() {
    let (blocks, forged_at) = chain_with_a_forged_signature();
    let mut node = node(None).await;
    assert_eq!(node.sync(&blocks).await, Some("tx-bad-signature"));
    assert_eq!(node.state.tip().height.get() as usize, forged_at);
    assert_eq!(node.state.signatures_assumed(), 0);
}

#[tokio::test]
async fn the_signatures_under_the_assumed_block_are_not_checked() {
    let (blocks, _) = chain_with_a_forged_signature();
    let tip = blocks.last().expect("blocks").block_hash();
    let mut node = node(Some(tip)).await;
    assert_eq!(node.sync(&blocks).await, None);
    assert_eq!(node.state.tip().hash, tip);
    assert_eq!(node.state.signatures_assumed(), blocks.len() as u64);
}

#[tokio::test]
async fn the_signatures_above_the_assumed_block_are_checked() {
    let (blocks, forged_at) = chain_with_a_forged_signature();
    let below = blocks[forged_at - 1].block_hash();
    let mut node = node(Some(below)).await;
    assert_eq!(node.sync(&blocks).await, Some("tx-bad-signature"));
    assert_eq!(node.state.tip().hash, below);
    assert_eq!(node.state.signatures_assumed(), forged_at as u64);
}

#[tokio::test]
async fn an_assumed_block_whose_header_is_unknown_assumes_nothing() {
    let (blocks, forged_at) = chain_with_a_forged_signature();
    let tip = blocks.last().expect("blocks").block_hash();
    let mut node = node(Some(tip)).await;
    // Bodies without their headers first: the assumed block is not known yet.
    assert_eq!(node.bodies(&blocks).await, Some("tx-bad-signature"));
    assert_eq!(node.state.tip().height.get() as usize, forged_at);
    assert_eq!(node.state.signatures_assumed(), 0);
}

#[tokio::test]
async fn a_body_assumed_ahead_is_verified_after_all_when_the_best_headers_move_away() {
    let (blocks, forged_at) = chain_with_a_forged_signature();
    let tip = blocks.last().expect("blocks").block_hash();
    let mut node = node(Some(tip)).await;
    let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
    node.state
        .submit_headers(&headers, NOW)
        .await
        .expect("headers");
    let run: Vec<Arc<Block>> = blocks.iter().cloned().map(Arc::new).collect();
    // The forged body is prepared while the assumed block leads the best header chain...
    node.state.verify_ahead(&run, 0);
    // ... then a longer chain of headers that does not hold it arrives.
    let mut rival = TestChain::new(quick_params());
    rival.mine_empty(blocks.len() + 2, &key(4).address());
    let rival_headers: Vec<_> = rival.blocks()[1..].iter().map(|b| b.header).collect();
    node.state
        .submit_headers(&rival_headers, NOW)
        .await
        .expect("rival headers");

    let mut refused = None;
    for (i, block) in run.iter().enumerate() {
        node.state.verify_ahead(&run, i);
        if let Err(error) = node.state.submit_block(Arc::clone(block), NOW).await.result {
            refused = Some(error.reason().expect("a broken rule"));
            break;
        }
    }
    assert_eq!(refused, Some("tx-bad-signature"));
    assert_eq!(node.state.tip().height.get() as usize, forged_at);
    assert_eq!(node.state.signatures_assumed(), 0);
}
