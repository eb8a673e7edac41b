//! Block templates: package order, child-pays-for-parent, the size limit, the coinbase, and
//! a solved template that the chain accepts. Each test builds its own chain and pool.

use crate::consensus::block_subsidy;
use crate::consensus::params::Params;
use crate::mempool::{BlockTemplate, build_template, select_transactions};
use crate::primitives::Amount;

use super::*;

/// A pool with, by package fee rate (units/B): a cheap parent whose child pays for it (293),
/// a generous parent (117) whose stingy child (2.9) must wait for it, a mid-fee transaction
/// (29) and a cheap one (1.75) that still beats the cheap parent alone (1.17).
struct Market {
    chain: TestChain,
    pool: Mempool,
    cheap_parent: Transaction,
    generous_child: Transaction,
    generous_parent: Transaction,
    stingy_child: Transaction,
    mid: Transaction,
    cheap: Transaction,
}

fn market() -> Market {
    let (chain, coins) = funded_chain(4);
    let cheap_parent = pay(&coins[..1], 1, 200);
    let generous_child = pay(&[output(&cheap_parent, 0)], 1, 100_000);
    let generous_parent = pay(&coins[1..2], 1, 20_000);
    let stingy_child = pay(&[output(&generous_parent, 0)], 1, 500);
    let mid = pay(&coins[2..3], 1, 5_000);
    let cheap = pay(&coins[3..4], 1, 300);
    let mut pool = pool();
    for tx in [
        &cheap_parent,
        &generous_child,
        &generous_parent,
        &stingy_child,
        &mid,
        &cheap,
    ] {
        accept(&mut pool, &chain, tx).unwrap();
    }
    Market {
        chain,
        pool,
        cheap_parent,
        generous_child,
        generous_parent,
        stingy_child,
        mid,
        cheap,
    }
}

#[test]
fn higher_package_fee_rates_go_first_and_parents_before_children() {
    let m = market();
    let selection = select_transactions(&m.pool, usize::MAX);
    assert_eq!(
        txids(&selection.txs),
        txids(&[
            m.cheap_parent,
            m.generous_child,
            m.generous_parent,
            m.mid,
            m.stingy_child,
            m.cheap
        ])
    );
    assert_eq!(
        selection.fees,
        units(200 + 100_000 + 20_000 + 5_000 + 500 + 300)
    );
    assert_eq!(selection.bytes, 6 * TX_SIZE);
}

#[test]
fn a_generous_child_pulls_its_cheap_parent_in_before_cheap_loners() {
    let m = market();
    let selection = select_transactions(&m.pool, 2 * TX_SIZE);
    assert_eq!(
        txids(&selection.txs),
        txids(&[m.cheap_parent, m.generous_child])
    );
}

#[test]
fn a_package_too_big_for_the_room_left_is_skipped_for_smaller_ones() {
    let m = market();
    let selection = select_transactions(&m.pool, TX_SIZE);
    assert_eq!(txids(&selection.txs), txids(&[m.generous_parent]));
    let selection = select_transactions(&m.pool, 0);
    assert_eq!(selection, Default::default());
}

fn template_on(chain: &TestChain, pool: &Mempool, now: u64) -> BlockTemplate {
    build_template(
        chain.params(),
        &tip_info(chain),
        pool,
        &miner(),
        now,
        7,
        b"mempool tests",
    )
    .unwrap()
}

#[test]
fn the_coinbase_pays_exactly_subsidy_plus_fees_and_the_solved_block_is_valid() {
    let m = market();
    let now = u64::from(m.chain.next_time());
    let template = template_on(&m.chain, &m.pool, now);
    let pool_fees = Amount::checked_sum(m.pool.entries_parent_first().map(|e| e.fee())).unwrap();
    assert_eq!(template.fees, pool_fees);
    assert_eq!(template.height, m.chain.height().next());
    let subsidy = block_subsidy(template.height, &DEV);
    assert_eq!(
        template.coinbase.total_output(),
        subsidy.checked_add(pool_fees)
    );
    assert_eq!(template.transactions.len(), m.pool.len());
    assert_eq!(template.header.nonce, 0);
    assert_eq!(
        template.header.merkle_root,
        template.block().compute_merkle_root()
    );
    assert_eq!(Ok(template.target), template.header.bits.to_target());

    let mut block = template.block();
    TestChain::solve(&mut block);
    let validated = m.chain.validate(block).unwrap();
    assert_eq!(validated.fees(), pool_fees);
}

#[test]
fn the_template_stays_within_the_block_size_limit() {
    let small = Params {
        max_block_size: 1_000,
        ..DEV
    };
    let (chain, coins) = funded_chain_on(&small, 8);
    let mut pool = pool();
    for coin in &coins {
        accept(&mut pool, &chain, &pay(&[*coin], 1, 1_000)).unwrap();
    }
    let template = template_on(&chain, &pool, u64::from(chain.next_time()));
    // 1,000 bytes less header (80), count (9 reserved) and coinbase (171) leave room for 4.
    assert_eq!(template.transactions.len(), 4);
    let mut block = template.block();
    assert_eq!(block.size(), template.size());
    assert!(block.size() <= small.max_block_size);
    TestChain::solve(&mut block);
    chain.validate(block).unwrap();
}

#[test]
fn the_template_time_is_now_unless_that_is_not_after_the_median_time_past() {
    let (chain, _) = funded_chain(1);
    let pool = pool();
    let tip = tip_info(&chain);
    let later = u64::from(tip.median_time_past) + 500;
    assert_eq!(
        template_on(&chain, &pool, later).header.time,
        tip.median_time_past + 500
    );
    let stale_clock = u64::from(tip.median_time_past) - 500;
    assert_eq!(
        template_on(&chain, &pool, stale_clock).header.time,
        tip.median_time_past + 1
    );
}
