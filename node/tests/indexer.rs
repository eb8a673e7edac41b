#![cfg(feature = "full")]
//! The explorer index follows the main chain, through reorgs, behind the chain state.

mod common;

use chaincore_test_support::on_both_backends;

use chaincore::chainstate::ChainState;
use chaincore::consensus::params::DEV;
use chaincore::indexer::Indexer;
use chaincore::primitives::{Amount, Height, OutPoint, TxOut, Txid};
use chaincore::storage::{ChainStore, HistoryEntry, SqlStore};
use chaincore::testkit::{key, spend};
use common::db::{Backend, TestDb};
use common::forks::Forks;
use common::{NOW, quick_params};

fn txids(history: &[HistoryEntry]) -> Vec<Txid> {
    history.iter().map(|h| h.txid).collect()
}

/// ```text
///   G ── s1 ── a2 (alice → bob)
///          └── b2 (alice → carol) ── b3       indexed before and after the reorg
/// ```
async fn the_index_follows_the_main_chain_through_a_reorg(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let params = quick_params();
    let store = SqlStore::open(&db.url, params.network).await.unwrap();
    let (mut chain, _) = ChainState::open(store.clone(), params, NOW).await.unwrap();
    let indexer = Indexer::new(store.clone());
    let mut forks = Forks::new(params);
    let s1 = forks.mine("s1", "G", 10);
    let coin = OutPoint::new(s1.transactions[0].txid(), 0);
    let pay = |to: u8| vec![TxOut::to_address(Amount::coins(49), &key(to).address())];
    let to_bob = spend(&[coin], &key(b's'), pay(2), &DEV.genesis_hash());
    let to_carol = spend(&[coin], &key(b's'), pay(3), &DEV.genesis_hash());
    forks.mine_with("a2", "s1", 10, vec![to_bob.clone()], |_| {});
    forks.mine_with("b2", "s1", 10, vec![to_carol.clone()], |_| {});
    forks.mine("b3", "b2", 10);
    let alice = key(b's').address();

    for name in ["s1", "a2"] {
        chain
            .submit_block(forks.block(name), NOW)
            .await
            .result
            .unwrap();
    }
    chain.flush().await.unwrap();
    assert_eq!(
        indexer.catch_up().await.unwrap(),
        Some((forks.hash("a2"), Height::new(2)))
    );
    let location = store
        .tx_location(&to_bob.txid())
        .await
        .unwrap()
        .expect("indexed");
    assert_eq!(
        (location.block_hash, location.height, location.position),
        (forks.hash("a2"), Height::new(2), 1)
    );
    assert_eq!(location.fee, Some(Amount::coins(1)));
    let history = store.address_history(&alice, None, 10).await.unwrap();
    assert_eq!(
        txids(&history),
        vec![to_bob.txid(), s1.transactions[0].txid()],
        "newest first"
    );
    assert_eq!(
        (history[0].sent, history[1].received),
        (Amount::coins(50), Amount::coins(50))
    );
    let older = store
        .address_history(&alice, Some((history[0].height, history[0].position)), 10)
        .await
        .unwrap();
    assert_eq!(
        txids(&older),
        vec![s1.transactions[0].txid()],
        "paging continues after the cursor"
    );

    for name in ["b2", "b3"] {
        chain
            .submit_block(forks.block(name), NOW)
            .await
            .result
            .unwrap();
    }
    chain.flush().await.unwrap();
    assert_eq!(
        indexer.catch_up().await.unwrap(),
        Some((forks.hash("b3"), Height::new(3)))
    );
    assert_eq!(
        store.tx_location(&to_bob.txid()).await.unwrap(),
        None,
        "reorged out of the index"
    );
    assert_eq!(
        store
            .tx_location(&to_carol.txid())
            .await
            .unwrap()
            .map(|l| l.height),
        Some(Height::new(2))
    );
    assert!(
        store
            .address_history(&key(2).address(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        txids(
            &store
                .address_history(&key(3).address(), None, 10)
                .await
                .unwrap()
        ),
        vec![to_carol.txid()]
    );
    assert_eq!(
        store.index_tip().await.unwrap(),
        Some((forks.hash("b3"), Height::new(3)))
    );
}

/// The spawned indexer catches up by itself when poked.
async fn a_running_indexer_catches_up_when_poked(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
    let (mut chain, _) = ChainState::open(store.clone(), &DEV, NOW).await.unwrap();
    let handle = Indexer::new(store.clone()).spawn(&chaincore::tasks::Tasks::new());
    let mut forks = Forks::new(&DEV);
    for block in forks.mine_run("a", 1, 5, "G", 10) {
        chain.submit_block(block, NOW).await.result.unwrap();
    }
    chain.flush().await.unwrap();
    handle.poke();
    let deadline = std::time::Duration::from_secs(10);
    tokio::time::timeout(deadline, handle.wait_for(forks.hash("a5"), Height::new(5)))
        .await
        .expect("indexed in time");
    assert_eq!(handle.tip(), Some((forks.hash("a5"), Height::new(5))));
}

on_both_backends!(
    the_index_follows_the_main_chain_through_a_reorg,
    a_running_indexer_catches_up_when_poked
);
