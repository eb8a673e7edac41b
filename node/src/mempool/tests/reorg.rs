//! Reorgs: transactions of disconnected blocks come back, those the new branch settles or
//! no longer allows do not. Each test forks one `TestChain` into two clones:
//!
//! ```text
//!   prefix ── a1 ── a2 ...   (old branch: the pool was built on it)
//!         └── b1 ── b2 ...   (new branch: more work)
//! ```

use crate::consensus::TxError;
use crate::primitives::{Block, Height, Work};
use crate::testkit::TestChain;

use super::*;

/// The blocks `branch` has above `fork`, oldest first: what a reorg away from it disconnects.
fn above(branch: &TestChain, fork: Height) -> &[Block] {
    &branch.blocks()[usize::try_from(fork.get()).unwrap() + 1..]
}

fn work_above(branch: &TestChain, fork: Height) -> Work {
    above(branch, fork)
        .iter()
        .map(|b| b.header.bits.to_target().unwrap().work())
        .fold(Work::ZERO, |sum, w| sum + w)
}

/// Takes the pool off `old` and re-adds it on `new`, checking the invariants.
fn reorg(pool: &mut Mempool, old: &TestChain, new: &TestChain, fork: Height) -> ReaddReport {
    assert!(work_above(new, fork) > work_above(old, fork), "not a reorg");
    let candidates = pool.take_for_reorg(above(old, fork));
    assert!(pool.is_empty());
    let report = pool.readd_after_reorg(candidates, new.utxos(), new.height(), NOW, &DEV);
    pool.check_invariants();
    report
}

#[test]
fn reorged_out_transactions_and_their_pool_children_come_back() {
    let (prefix, coins) = funded_chain(3);
    let fork = prefix.height();
    let mut old = prefix.clone();
    let confirmed_first = pay(&coins[..1], 2, 1_000);
    let confirmed_second = pay(&[output(&confirmed_first, 0)], 1, 1_000);
    old.mine(&miner(), vec![confirmed_first.clone()]);
    old.mine(&miner(), vec![confirmed_second.clone()]);
    let mut pool = pool();
    let pooled_child = pay(
        &[output(&confirmed_second, 0), output(&confirmed_first, 1)],
        1,
        2_000,
    );
    let pooled_other = pay(&coins[1..2], 1, 1_000);
    for tx in [&pooled_child, &pooled_other] {
        accept(&mut pool, &old, tx).unwrap();
    }
    let mut new = prefix.clone();
    new.mine_empty(3, &miner());

    let candidates = pool.clone().take_for_reorg(above(&old, fork));
    assert_eq!(
        txids(&candidates),
        txids(&[
            confirmed_first.clone(),
            confirmed_second.clone(),
            pooled_child.clone(),
            pooled_other.clone()
        ]),
        "block transactions in block order, then the pool parents first"
    );
    let mut newest_first = above(&old, fork).to_vec();
    newest_first.reverse();
    assert_eq!(pool.clone().take_for_reorg(&newest_first), candidates);
    let report = reorg(&mut pool, &old, &new, fork);
    assert_eq!(report.readded, txids(&candidates));
    assert!(report.dropped.is_empty() && report.evicted.is_empty());
    let child = pool.get(&pooled_child.txid()).unwrap();
    assert_eq!(
        child.parents(),
        &[confirmed_first.txid(), confirmed_second.txid()].into()
    );
}

#[test]
fn a_transaction_confirmed_in_the_new_branch_evicts_its_pool_conflict() {
    let (prefix, coins) = funded_chain(2);
    let fork = prefix.height();
    let mut old = prefix.clone();
    old.mine_empty(1, &miner());
    let mut pool = pool();
    let ours = pay(&coins[..1], 1, 1_000);
    let our_child = pay(&[output(&ours, 0)], 1, 1_000);
    let unrelated = pay(&coins[1..2], 1, 1_000);
    for tx in [&ours, &our_child, &unrelated] {
        accept(&mut pool, &old, tx).unwrap();
    }
    let mut new = prefix.clone();
    let theirs = pay(&coins[..1], 1, 9_000);
    new.mine(&miner(), vec![theirs]);
    new.mine_empty(1, &miner());

    let report = reorg(&mut pool, &old, &new, fork);
    assert_eq!(report.readded, vec![unrelated.txid()]);
    assert_eq!(
        report.dropped,
        vec![
            (
                ours.txid(),
                MempoolError::Invalid(TxError::MissingInput(coins[0].outpoint))
            ),
            (
                our_child.txid(),
                MempoolError::Invalid(TxError::MissingInput(output(&ours, 0).outpoint))
            ),
        ]
    );
}

#[test]
fn a_transaction_confirmed_on_both_branches_is_not_readded() {
    let (prefix, coins) = funded_chain(1);
    let fork = prefix.height();
    let tx = pay(&coins[..1], 1, 1_000);
    let mut old = prefix.clone();
    old.mine(&miner(), vec![tx.clone()]);
    let mut new = prefix.clone();
    new.mine_empty(1, &miner());
    new.mine(&miner(), vec![tx.clone()]);
    let mut pool = pool();
    let report = reorg(&mut pool, &old, &new, fork);
    assert!(report.readded.is_empty());
    assert_eq!(report.dropped.len(), 1);
    assert!(pool.is_empty());
}

/// Mines a block paying `payout` on `chain`, its time forced to steer the difficulty.
fn mine_at(chain: &mut TestChain, payout: &Address, time: fn(&TestChain) -> u32) {
    let mut block = chain.draft_block(payout, vec![]);
    block.header.time = time(chain);
    TestChain::solve(&mut block);
    chain.push(block).unwrap();
}

/// As early as allowed: ahead of schedule, so the next block's target is harder.
fn early(chain: &TestChain) -> u32 {
    chain.next_context().median_time_past + 1
}

/// An hour late: behind schedule, so the next block's target is at the pow limit.
fn late(chain: &TestChain) -> u32 {
    chain.tip().header.time + 3_600
}

#[test]
fn a_spend_of_a_coinbase_immature_on_the_shorter_heavier_new_branch_is_dropped() {
    // Hurried blocks make the difficulty climb, so the new branch wins with fewer blocks,
    // and at its lower tip alice's coinbase from height 15 is no longer mature.
    let young_height = Height::new(15);
    let mut prefix = TestChain::new(&DEV);
    prefix.mine(&alice().address(), vec![]); // block 1: an old coin, mature on both branches
    for height in 2..=20 {
        let payout = if height == young_height.get() {
            alice().address()
        } else {
            miner()
        };
        mine_at(&mut prefix, &payout, early);
    }
    let fork = prefix.height();
    let old_coin = output(&prefix.blocks()[1].transactions[0], 0);
    let young_coin = output(&prefix.blocks()[15].transactions[0], 0);
    let spendable_at = Height::new(young_height.get() + DEV.coinbase_maturity);

    let mut old = prefix.clone();
    for _ in 0..4 {
        mine_at(&mut old, &miner(), late);
    }
    let mut new = prefix.clone();
    for _ in 0..3 {
        mine_at(&mut new, &miner(), early);
    }
    assert_eq!(old.height().next(), spendable_at);
    assert!(new.height() < old.height());

    let mut pool = pool();
    let spends_young = pay(&[young_coin], 1, 1_000);
    let its_child = pay(&[output(&spends_young, 0)], 1, 1_000);
    let spends_old = pay(&[old_coin], 1, 1_000);
    for tx in [&spends_young, &its_child, &spends_old] {
        accept(&mut pool, &old, tx).unwrap();
    }

    let report = reorg(&mut pool, &old, &new, fork);
    assert_eq!(report.readded, vec![spends_old.txid()]);
    assert_eq!(
        report.dropped,
        vec![
            (
                spends_young.txid(),
                MempoolError::Invalid(TxError::ImmatureCoinbase {
                    outpoint: young_coin.outpoint,
                    coin_height: young_height,
                    spendable_at
                })
            ),
            (
                its_child.txid(),
                MempoolError::Invalid(TxError::MissingInput(output(&spends_young, 0).outpoint))
            ),
        ]
    );
}
