//! Acceptance: what gets in, what is refused and with which error, and eviction at the cap.
//! Each test builds its own chain and pool; none shares state with another.

use crate::consensus::TxError;
use crate::primitives::{OutPoint, Txid};
use crate::testkit::spend;

use super::*;
use crate::mempool::FeeRate;

#[test]
fn a_spend_of_a_mature_chain_coin_is_accepted_with_its_fee_size_and_rate() {
    let (chain, coins) = funded_chain(1);
    let mut pool = pool();
    let tx = pay(&coins[..1], 1, 1_000);
    let accepted = accept(&mut pool, &chain, &tx).unwrap();
    assert_eq!(accepted.txid, tx.txid());
    assert_eq!(accepted.fee, units(1_000));
    assert_eq!(accepted.size, TX_SIZE);
    assert_eq!(accepted.fee_rate, FeeRate::new(units(1_000), TX_SIZE));
    assert!(accepted.evicted.is_empty());
    let entry = pool.get(&tx.txid()).unwrap();
    assert_eq!(
        (entry.fee(), entry.size(), entry.time_added()),
        (units(1_000), TX_SIZE, NOW)
    );
    assert_eq!((pool.len(), pool.total_bytes()), (1, TX_SIZE));
    assert_eq!(pool.spender_of(&coins[0].outpoint), Some(tx.txid()));
}

#[test]
fn a_chain_of_unconfirmed_transactions_is_accepted_and_linked_parent_to_child() {
    let (chain, coins) = funded_chain(1);
    let mut pool = pool();
    let first = pay(&coins[..1], 2, 1_000);
    let second = pay(&[output(&first, 0)], 1, 1_000);
    let third = pay(&[output(&first, 1), output(&second, 0)], 1, 1_000);
    for tx in [&first, &second, &third] {
        accept(&mut pool, &chain, tx).unwrap();
    }
    let (a, b, c) = (first.txid(), second.txid(), third.txid());
    assert!(pool.get(&a).unwrap().parents().is_empty());
    assert_eq!(pool.get(&b).unwrap().parents(), &[a].into());
    assert_eq!(pool.get(&c).unwrap().parents(), &[a, b].into());
    assert_eq!(pool.get(&a).unwrap().children(), &[b, c].into());
    assert_eq!(pool.ancestors(&c), [a, b].into());
    assert_eq!(pool.descendants(&a), [b, c].into());
    let stats = pool.get(&a).unwrap().descendant_stats();
    assert_eq!((stats.count, stats.fee), (3, units(3_000)));
    assert_eq!(pool.spender_of(&output(&first, 1).outpoint), Some(c));
}

#[test]
fn missing_inputs_are_only_the_coins_no_pool_transaction_creates() {
    let (chain, coins) = funded_chain(2);
    let mut pool = pool();
    let parent = pay(&coins[..1], 1, 1_000);
    accept(&mut pool, &chain, &parent).unwrap();
    let child = pay(&[output(&parent, 0), coins[1]], 1, 1_000);
    assert_eq!(pool.missing_inputs(&child), vec![coins[1].outpoint]);
    assert_eq!(pool.missing_inputs(&parent), vec![coins[0].outpoint]);
}

#[test]
fn a_transaction_already_in_the_pool_is_refused() {
    let (chain, coins) = funded_chain(1);
    let mut pool = pool();
    let tx = pay(&coins[..1], 1, 1_000);
    accept(&mut pool, &chain, &tx).unwrap();
    let error = accept(&mut pool, &chain, &tx).unwrap_err();
    assert_eq!(error, MempoolError::AlreadyInPool(tx.txid()));
    assert_eq!(error.code(), "mempool-already-in-pool");
}

#[test]
fn a_second_spend_of_an_outpoint_is_refused_naming_the_first_spender() {
    let (chain, coins) = funded_chain(1);
    let mut pool = pool();
    let first = pay(&coins[..1], 1, 1_000);
    let richer = pay(&coins[..1], 1, 50_000);
    accept(&mut pool, &chain, &first).unwrap();
    let error = accept(&mut pool, &chain, &richer).unwrap_err();
    assert_eq!(
        error,
        MempoolError::Conflict {
            outpoint: coins[0].outpoint,
            with: first.txid()
        }
    );
    assert_eq!(error.code(), "mempool-conflict");
    assert_eq!(pool.len(), 1, "no replace-by-fee");
}

#[test]
fn consensus_failures_keep_the_consensus_error_and_its_code() {
    let (mut chain, coins) = funded_chain(1);
    let young = chain.mine(&alice().address(), vec![]).block().transactions[0].clone();
    let mut pool = pool();

    let immature = pay(&[output(&young, 0)], 1, 1_000);
    let error = accept(&mut pool, &chain, &immature).unwrap_err();
    assert!(matches!(
        error,
        MempoolError::Invalid(TxError::ImmatureCoinbase { .. })
    ));
    assert_eq!(error.code(), "tx-immature-coinbase-spend");
    assert!(error.is_consensus_failure());

    let nowhere = OutPoint::new(Txid::from_byte_array([7; 32]), 0);
    let missing = spend(
        &[nowhere],
        &alice(),
        young.outputs.clone(),
        &chain.params().genesis_hash(),
    );
    let error = accept(&mut pool, &chain, &missing).unwrap_err();
    assert_eq!(error, MempoolError::Invalid(TxError::MissingInput(nowhere)));
    assert_eq!(error.code(), "tx-missing-or-spent-input");

    let mut inflated = pay(&coins[..1], 1, 0);
    inflated.outputs[0].value = units(coins[0].value.units() + 1);
    let error = accept(&mut pool, &chain, &inflated).unwrap_err();
    assert_eq!(error.code(), "tx-outputs-exceed-inputs");

    let error = accept(&mut pool, &chain, &young).unwrap_err();
    assert_eq!(error, MempoolError::Invalid(TxError::UnexpectedCoinbase));
    assert!(pool.is_empty());
}

#[test]
fn a_fee_rate_below_the_minimum_is_refused_and_exactly_the_minimum_is_accepted() {
    let (chain, coins) = funded_chain(1);
    let mut pool = pool();
    let minimum = pool.config().min_fee_rate;
    assert_eq!(minimum, FeeRate::from_units_per_byte(1));
    let cheap = pay(&coins[..1], 1, 170);
    assert_eq!(
        accept(&mut pool, &chain, &cheap).unwrap_err(),
        MempoolError::FeeRateTooLow {
            fee_rate: FeeRate::new(units(170), TX_SIZE),
            minimum
        }
    );
    let enough = pay(&coins[..1], 1, 171);
    assert_eq!(
        accept(&mut pool, &chain, &enough).unwrap().fee_rate,
        minimum
    );
}

#[test]
fn a_chain_longer_than_the_ancestor_limit_is_refused() {
    let (chain, coins) = funded_chain(1);
    let mut pool = Mempool::new(MempoolConfig {
        max_ancestors: 3,
        ..MempoolConfig::default()
    });
    let mut tip = pay(&coins[..1], 1, 1_000);
    accept(&mut pool, &chain, &tip).unwrap();
    for _ in 0..2 {
        tip = pay(&[output(&tip, 0)], 1, 1_000);
        accept(&mut pool, &chain, &tip).unwrap();
    }
    let fourth = pay(&[output(&tip, 0)], 1, 1_000);
    assert_eq!(
        accept(&mut pool, &chain, &fourth).unwrap_err(),
        MempoolError::TooManyAncestors { count: 4, max: 3 }
    );
}

#[test]
fn a_parent_at_the_descendant_limit_refuses_another_child() {
    let (chain, coins) = funded_chain(1);
    let mut pool = Mempool::new(MempoolConfig {
        max_descendants: 3,
        ..MempoolConfig::default()
    });
    let parent = pay(&coins[..1], 3, 1_000);
    accept(&mut pool, &chain, &parent).unwrap();
    for vout in 0..2 {
        accept(&mut pool, &chain, &pay(&[output(&parent, vout)], 1, 1_000)).unwrap();
    }
    let third_child = pay(&[output(&parent, 2)], 1, 1_000);
    let error = accept(&mut pool, &chain, &third_child).unwrap_err();
    assert_eq!(
        error,
        MempoolError::TooManyDescendants {
            ancestor: parent.txid(),
            max: 3
        }
    );
    assert_eq!(error.code(), "mempool-too-many-descendants");
}

/// A pool capped at three one-in-one-out transactions, holding a cheap parent with a
/// slightly better child (descendant score 600/342 = 1.754 units/B) and a mid-fee one.
struct FullPool {
    chain: crate::testkit::TestChain,
    coins: Vec<Input>,
    pool: Mempool,
    parent: Transaction,
    child: Transaction,
    mid: Transaction,
}

fn full_pool() -> FullPool {
    let (chain, coins) = funded_chain(4);
    let mut pool = Mempool::new(MempoolConfig {
        max_bytes: 3 * TX_SIZE,
        ..MempoolConfig::default()
    });
    let parent = pay(&coins[..1], 1, 200);
    let child = pay(&[output(&parent, 0)], 1, 400);
    let mid = pay(&coins[1..2], 1, 5_000);
    for tx in [&parent, &child, &mid] {
        accept(&mut pool, &chain, tx).unwrap();
    }
    assert_eq!(pool.total_bytes(), pool.config().max_bytes);
    FullPool {
        chain,
        coins,
        pool,
        parent,
        child,
        mid,
    }
}

#[test]
fn at_the_cap_the_lowest_descendant_score_is_evicted_with_its_descendants() {
    let FullPool {
        chain,
        coins,
        mut pool,
        parent,
        child,
        mid,
    } = full_pool();
    let generous = pay(&coins[2..3], 1, 10_000);
    let accepted = accept(&mut pool, &chain, &generous).unwrap();
    assert_eq!(accepted.evicted, vec![parent.txid(), child.txid()]);
    assert!(pool.contains(&mid.txid()) && pool.contains(&generous.txid()));
    assert_eq!(pool.total_bytes(), 2 * TX_SIZE);
    assert_eq!(pool.spender_of(&coins[0].outpoint), None);
}

#[test]
fn at_the_cap_a_cheap_child_goes_alone_and_its_generous_parent_stays() {
    let (chain, coins) = funded_chain(3);
    let mut pool = Mempool::new(MempoolConfig {
        max_bytes: 3 * TX_SIZE,
        ..MempoolConfig::default()
    });
    let generous = pay(&coins[..1], 1, 20_000);
    let cheap_child = pay(&[output(&generous, 0)], 1, 200);
    let mid = pay(&coins[1..2], 1, 5_000);
    for tx in [&generous, &cheap_child, &mid] {
        accept(&mut pool, &chain, tx).unwrap();
    }
    let newcomer = pay(&coins[2..3], 1, 10_000);
    let accepted = accept(&mut pool, &chain, &newcomer).unwrap();
    assert_eq!(accepted.evicted, vec![cheap_child.txid()]);
    let parent = pool.get(&generous.txid()).unwrap();
    assert!(parent.children().is_empty());
    assert_eq!(parent.descendant_stats().count, 1);
}

#[test]
fn at_the_cap_a_transaction_paying_no_more_than_the_evicted_is_refused_and_nothing_changes() {
    let FullPool {
        chain,
        coins,
        mut pool,
        parent,
        ..
    } = full_pool();
    let before = pool.entries_for_persistence();
    let package_score = pool.get(&parent.txid()).unwrap().descendant_score();
    assert_eq!(package_score, FeeRate::new(units(600), 2 * TX_SIZE));

    let equal = pay(&coins[2..3], 1, 300); // 300/171 = 600/342
    let error = accept(&mut pool, &chain, &equal).unwrap_err();
    assert_eq!(
        error,
        MempoolError::PoolFull {
            fee_rate: FeeRate::new(units(300), TX_SIZE),
            evicted: package_score
        }
    );
    assert_eq!(error.code(), "mempool-full");
    assert_eq!(pool.entries_for_persistence(), before);

    let better = pay(&coins[2..3], 1, 301);
    assert_eq!(accept(&mut pool, &chain, &better).unwrap().evicted.len(), 2);
}

#[test]
fn at_the_cap_a_child_whose_ancestor_would_be_evicted_is_refused() {
    let FullPool {
        chain,
        mut pool,
        parent,
        child,
        ..
    } = full_pool();
    let grandchild = pay(&[output(&child, 0)], 1, 50_000);
    let error = accept(&mut pool, &chain, &grandchild).unwrap_err();
    assert_eq!(
        error,
        MempoolError::PoolFullAncestorEvicted {
            ancestor: parent.txid()
        }
    );
    assert_eq!(pool.len(), 3);
}

#[test]
fn a_transaction_larger_than_the_whole_pool_is_refused() {
    let (chain, coins) = funded_chain(1);
    let mut pool = Mempool::new(MempoolConfig {
        max_bytes: TX_SIZE - 1,
        ..MempoolConfig::default()
    });
    let error = accept(&mut pool, &chain, &pay(&coins[..1], 1, 1_000)).unwrap_err();
    assert_eq!(
        error,
        MempoolError::TooLargeForPool {
            size: TX_SIZE,
            max: TX_SIZE - 1
        }
    );
}

#[test]
fn entries_are_listed_by_fee_rate_highest_first() {
    let (chain, coins) = funded_chain(3);
    let mut pool = pool();
    let fees = [2_000, 9_000, 500];
    let txs: Vec<Transaction> = coins
        .iter()
        .zip(fees)
        .map(|(coin, fee)| pay(&[*coin], 1, fee))
        .collect();
    for tx in &txs {
        accept(&mut pool, &chain, tx).unwrap();
    }
    let listed: Vec<Txid> = pool.entries_by_fee_rate().map(|e| e.txid()).collect();
    assert_eq!(listed, vec![txs[1].txid(), txs[0].txid(), txs[2].txid()]);
    let parent_first: Vec<Txid> = pool.entries_parent_first().map(|e| e.txid()).collect();
    assert_eq!(parent_first, txids(&txs));
}

/// A zero-fee transaction whose signatures are all wrong: a flood of these must cost us no
/// signature work (Bitcoin Core checks policy before scripts for the same reason).
#[test]
fn policy_comes_before_any_signature_and_a_refusal_fixed_by_its_bytes_is_remembered() {
    let (chain, coins) = funded_chain(3);
    let mut pool = pool();
    let mut forged = pay(&coins, 1, 0);
    for input in &mut forged.inputs {
        input.witness.signature = alice().sign_digest(&[0x42; 32]);
    }
    let error = accept(&mut pool, &chain, &forged).unwrap_err();
    assert!(
        matches!(error, MempoolError::FeeRateTooLow { .. }),
        "refused on its fee, before its signatures were looked at: {error}"
    );
    assert_eq!(
        accept(&mut pool, &chain, &forged).unwrap_err(),
        MempoolError::RecentlyRejected(forged.wtxid()),
        "the same bytes again cost a look-up"
    );
    let paying = pay(&coins, 1, 10_000);
    let mut paying_forged = paying.clone();
    paying_forged.inputs[2].witness.signature = alice().sign_digest(&[0x42; 32]);
    assert!(matches!(
        accept(&mut pool, &chain, &paying_forged).unwrap_err(),
        MempoolError::Invalid(TxError::BadSignature { index: 2, .. })
    ));
    accept(&mut pool, &chain, &paying)
        .expect("the genuine copy shares the txid but not the wtxid: it is not kept out");
    pool.clear_recent_rejects();
    assert_eq!(
        accept(&mut pool, &chain, &forged).unwrap_err(),
        MempoolError::RecentlyRejected(forged.wtxid()),
        "a new tip cannot raise a transaction's own fee rate: still refused for free"
    );
}
