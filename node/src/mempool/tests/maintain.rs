//! Maintenance: blocks connected on the tip, expiry, and persistence round trips.
//! Each test builds its own chain and pool; none shares state with another.

use crate::primitives::Txid;

use super::*;

#[test]
fn a_block_confirming_pool_transactions_removes_them_and_keeps_their_children() {
    let (mut chain, coins) = funded_chain(2);
    let mut pool = pool();
    let parent = pay(&coins[..1], 1, 1_000);
    let child = pay(&[output(&parent, 0)], 1, 1_000);
    let other = pay(&coins[1..2], 1, 1_000);
    for tx in [&parent, &child, &other] {
        accept(&mut pool, &chain, tx).unwrap();
    }
    let block = chain.mine(&miner(), vec![parent.clone()]);
    let removed = pool.remove_for_block(block.block());
    pool.check_invariants();
    assert_eq!(removed.confirmed, vec![parent.txid()]);
    assert!(removed.conflicts.is_empty());
    assert_eq!(pool.len(), 2);
    assert!(pool.get(&child.txid()).unwrap().parents().is_empty());
    // The child now spends a confirmed output, and its own child is still welcome.
    assert_eq!(
        pool.missing_inputs(&child),
        vec![output(&parent, 0).outpoint]
    );
    let grandchild = pay(&[output(&child, 0)], 1, 1_000);
    accept(&mut pool, &chain, &grandchild).unwrap();
}

#[test]
fn a_block_spending_a_pool_input_removes_the_conflict_and_its_descendants() {
    let (mut chain, coins) = funded_chain(2);
    let mut pool = pool();
    let ours = pay(&coins[..1], 1, 1_000);
    let our_child = pay(&[output(&ours, 0)], 1, 1_000);
    let unrelated = pay(&coins[1..2], 1, 1_000);
    for tx in [&ours, &our_child, &unrelated] {
        accept(&mut pool, &chain, tx).unwrap();
    }
    let theirs = pay(&coins[..1], 2, 7_000); // the same coin, spent differently
    let block = chain.mine(&miner(), vec![theirs]);
    let removed = pool.remove_for_block(block.block());
    pool.check_invariants();
    assert!(removed.confirmed.is_empty());
    assert_eq!(removed.conflicts, vec![ours.txid(), our_child.txid()]);
    let left: Vec<Txid> = pool.entries_parent_first().map(|e| e.txid()).collect();
    assert_eq!(left, vec![unrelated.txid()]);
    assert_eq!(pool.spender_of(&coins[0].outpoint), None);
}

#[test]
fn expired_entries_go_with_their_descendants_however_young() {
    let (chain, coins) = funded_chain(2);
    let mut pool = Mempool::new(MempoolConfig {
        expiry_secs: 100,
        ..MempoolConfig::default()
    });
    let old = pay(&coins[..1], 1, 1_000);
    let young_child = pay(&[output(&old, 0)], 1, 1_000);
    let young = pay(&coins[1..2], 1, 1_000);
    accept_at(&mut pool, &chain, &old, 1_000).unwrap();
    accept_at(&mut pool, &chain, &young_child, 1_050).unwrap();
    accept_at(&mut pool, &chain, &young, 1_050).unwrap();

    assert!(
        pool.expire(1_100).is_empty(),
        "exactly the expiry age is not older"
    );
    assert_eq!(pool.expire(1_101), vec![old.txid(), young_child.txid()]);
    pool.check_invariants();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.expire(1_151), vec![young.txid()]);
    assert!(pool.is_empty() && pool.total_bytes() == 0);
}

#[test]
fn a_clock_that_went_backwards_expires_nothing() {
    let (chain, coins) = funded_chain(1);
    let mut pool = pool();
    accept_at(&mut pool, &chain, &pay(&coins[..1], 1, 1_000), NOW).unwrap();
    assert!(pool.expire(NOW - 1_000_000_000).is_empty());
}

#[test]
fn persisted_entries_restore_the_same_pool_with_their_arrival_times() {
    let (chain, coins) = funded_chain(2);
    let mut pool = pool();
    let parent = pay(&coins[..1], 2, 1_000);
    let child = pay(&[output(&parent, 1)], 1, 2_000);
    let grandchild = pay(&[output(&child, 0), output(&parent, 0)], 1, 3_000);
    let other = pay(&coins[1..2], 1, 500);
    for (tx, time) in [(&parent, 10), (&other, 20), (&child, 30), (&grandchild, 40)] {
        accept_at(&mut pool, &chain, tx, time).unwrap();
    }
    let saved = pool.entries_for_persistence();
    assert_eq!(
        saved
            .iter()
            .map(|(tx, time)| (tx.txid(), *time))
            .collect::<Vec<_>>(),
        vec![
            (parent.txid(), 10),
            (other.txid(), 20),
            (child.txid(), 30),
            (grandchild.txid(), 40)
        ]
    );

    let mut restored = Mempool::new(*pool.config());
    for (tx, time_added) in saved.clone() {
        accept_at(&mut restored, &chain, &tx, time_added).unwrap();
    }
    assert_eq!(restored.entries_for_persistence(), saved);
    assert_eq!(restored.total_bytes(), pool.total_bytes());
}
