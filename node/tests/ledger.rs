#![cfg(feature = "full")]
//! The mempool following the chain through the real store: reorged-out transactions come
//! back, a confirmed double spend evicts its mempool twin, templates mine, and the mempool
//! survives a restart. Runs on SQLite and PostgreSQL.

mod common;

use chaincore_test_support::on_both_backends;

use chaincore::chainstate::{ChainOptions, SubmitOutcome};
use chaincore::consensus::params::DEV;
use chaincore::consensus::{Params, TxError};
use chaincore::ledger::{Ledger, TxSubmitError};
use chaincore::mempool::{MempoolConfig, MempoolError};
use chaincore::primitives::{Amount, OutPoint, Transaction, TxOut};
use chaincore::storage::{ChainStore, MempoolRecord, SqlStore, StoreTxn};
use chaincore::testkit::{TestChain, key, spend};
use common::checks::assert_consistent;
use common::db::{Backend, TestDb};
use common::forks::Forks;
use common::{NOW, quick_params};

async fn open(db: &TestDb, params: &'static Params) -> Ledger<SqlStore> {
    let store = SqlStore::open(&db.url, params.network).await.unwrap();
    Ledger::open(
        store,
        params,
        ChainOptions::default(),
        MempoolConfig::default(),
        NOW,
    )
    .await
    .unwrap()
}

async fn submit(ledger: &mut Ledger<SqlStore>, forks: &Forks, names: &[&str]) {
    for name in names {
        let outcome = ledger
            .submit_block(forks.block(name), NOW)
            .await
            .result
            .unwrap();
        assert!(
            matches!(outcome, SubmitOutcome::Accepted { .. }),
            "{name}: {outcome:?}"
        );
    }
}

/// Submits every block of `chain` after genesis.
async fn submit_chain(ledger: &mut Ledger<SqlStore>, chain: &TestChain) {
    for block in &chain.blocks()[1..] {
        let outcome = ledger.submit_block(block.clone(), NOW).await.result;
        assert!(
            matches!(outcome, Ok(SubmitOutcome::Accepted { .. })),
            "{outcome:?}"
        );
    }
}

fn pay(to: u8, coins: u64) -> Vec<TxOut> {
    vec![TxOut::to_address(Amount::coins(coins), &key(to).address())]
}

/// ```text
///   G ── a1 ── a2 (confirms alice → bob)
///    └── b1 ── b2 ── b3                     after the reorg, alice → bob is pending again
/// ```
async fn reorged_out_transactions_come_back(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let params = quick_params();
    let mut ledger = open(&db, params).await;
    let mut forks = Forks::new(params);
    // The coin must exist on both branches: alice's coin comes from a block both share.
    let shared = forks.mine("s1", "G", 10);
    let coin = OutPoint::new(shared.transactions[0].txid(), 0);
    let to_bob = spend(&[coin], &key(b's'), pay(2, 49), &DEV.genesis_hash());
    forks.mine_with("a2", "s1", 10, vec![to_bob.clone()], |_| {});
    forks.mine_run("b", 2, 3, "s1", 10);
    submit(&mut ledger, &forks, &["s1"]).await;
    ledger
        .submit_transaction(&to_bob.clone().into(), NOW)
        .await
        .unwrap();
    submit(&mut ledger, &forks, &["a2"]).await;
    assert!(ledger.mempool().is_empty(), "confirmed in a2");
    assert!(ledger.chain().store().mempool().await.unwrap().is_empty());

    submit(&mut ledger, &forks, &["b2"]).await;
    let reorg = ledger.submit_block(forks.block("b3"), NOW).await;
    assert!(matches!(
        reorg.result,
        Ok(SubmitOutcome::Accepted {
            on_main_chain: true
        })
    ));
    assert_eq!(ledger.chain().tip().hash, forks.hash("b3"));
    assert!(
        ledger.mempool().contains(&to_bob.txid()),
        "reorged out, back in the mempool"
    );
    let persisted: Vec<Transaction> = ledger
        .chain()
        .store()
        .mempool()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.tx)
        .collect();
    assert_eq!(persisted, vec![to_bob.clone()]);
    let changes = reorg.changes;
    assert!(changes.updates.iter().any(|u| u.is_reorg()));
    let readded: Vec<_> = changes.readded.iter().map(|r| r.txid).collect();
    assert_eq!(readded, vec![to_bob.txid()], "to be announced again");
    assert_eq!(changes.mempool.entered, vec![to_bob.txid()]);
    assert!(changes.mempool.left.is_empty());
    assert_consistent(ledger.chain().store(), "reorged-out tx").await;
}

/// ```text
///   mempool: alice → bob
///   G ── s1 ── a2 (confirms alice → carol)      bob's version can never confirm: evicted
/// ```
async fn a_double_spend_confirmed_in_a_block_evicts_its_mempool_twin(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let params = quick_params();
    let mut ledger = open(&db, params).await;
    let mut forks = Forks::new(params);
    let shared = forks.mine("s1", "G", 10);
    let coin = OutPoint::new(shared.transactions[0].txid(), 0);
    let to_bob = spend(&[coin], &key(b's'), pay(2, 49), &DEV.genesis_hash());
    let to_carol = spend(&[coin], &key(b's'), pay(3, 48), &DEV.genesis_hash());
    forks.mine_with("a2", "s1", 10, vec![to_carol], |_| {});
    submit(&mut ledger, &forks, &["s1"]).await;
    ledger
        .submit_transaction(&to_bob.clone().into(), NOW)
        .await
        .unwrap();
    submit(&mut ledger, &forks, &["a2"]).await;
    assert!(!ledger.mempool().contains(&to_bob.txid()));
    assert!(
        ledger.chain().store().mempool().await.unwrap().is_empty(),
        "the eviction is persisted"
    );
    let again = ledger
        .submit_transaction(&to_bob.into(), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            TxSubmitError::Rejected(MempoolError::Invalid(TxError::MissingInput(_)))
        ),
        "{again}"
    );
}

/// A template from the ledger, solved, is a valid block that empties the mempool.
async fn a_solved_template_is_accepted_and_clears_the_mempool(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let params = quick_params();
    let mut ledger = open(&db, params).await;
    let mut forks = Forks::new(params);
    let shared = forks.mine("s1", "G", 10);
    submit(&mut ledger, &forks, &["s1"]).await;
    let coin = OutPoint::new(shared.transactions[0].txid(), 0);
    let parent = spend(&[coin], &key(b's'), pay(2, 49), &DEV.genesis_hash());
    let child = spend(
        &[OutPoint::new(parent.txid(), 0)],
        &key(2),
        pay(3, 47),
        &DEV.genesis_hash(),
    );
    ledger
        .submit_transaction(&parent.into(), NOW)
        .await
        .unwrap();
    ledger.submit_transaction(&child.into(), NOW).await.unwrap();
    let template = ledger
        .template(&key(9).address(), NOW, 0, b"test miner")
        .unwrap();
    assert_eq!(template.fees, Amount::coins(3));
    let mut block = template.block();
    assert!(chaincore::consensus::pow::solve_header(
        &mut block.header,
        1 << 32
    ));
    let outcome = ledger.submit_block(block, NOW).await.result.unwrap();
    assert_eq!(
        outcome,
        SubmitOutcome::Accepted {
            on_main_chain: true
        }
    );
    assert!(ledger.mempool().is_empty());
    assert_consistent(ledger.chain().store(), "template").await;
}

/// Pending transactions are kept across a restart, and revalidated on the way back.
async fn the_mempool_survives_a_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (chain, coin) = TestChain::with_mature_coin(&DEV, &key(1).address());
    let tx = spend(&[coin], &key(1), pay(2, 49), &DEV.genesis_hash());
    {
        let mut ledger = open(&db, &DEV).await;
        submit_chain(&mut ledger, &chain).await;
        ledger
            .submit_transaction(&tx.clone().into(), NOW - 60)
            .await
            .unwrap();
    }
    let ledger = open(&db, &DEV).await;
    let entry = ledger.mempool().get(&tx.txid()).expect("restored");
    assert_eq!(
        entry.time_added(),
        NOW - 60,
        "the arrival time is kept, so expiry still counts from it"
    );
}

/// The store orders the mempool by arrival second; a child that arrived in the same second
/// as its parent, read back first, must still come back (not be dropped for a missing
/// input and deleted).
async fn a_restart_restores_a_child_stored_before_its_parent(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (chain, coin) = TestChain::with_mature_coin(&DEV, &key(1).address());
    let parent = spend(&[coin], &key(1), pay(2, 49), &DEV.genesis_hash());
    let child = spend(
        &[OutPoint::new(parent.txid(), 0)],
        &key(2),
        pay(3, 48),
        &DEV.genesis_hash(),
    );
    {
        let mut ledger = open(&db, &DEV).await;
        submit_chain(&mut ledger, &chain).await;
        // Written as another version of the node might have: the child's row first.
        let record = |tx: &Transaction| MempoolRecord {
            tx: tx.clone(),
            fee: Amount::coins(1),
            added_at: NOW - 5,
        };
        let mut txn = ledger.chain().store().begin().await.unwrap();
        txn.mempool_insert(&[record(&child), record(&parent)])
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    let ledger = open(&db, &DEV).await;
    assert!(ledger.mempool().contains(&parent.txid()), "parent restored");
    assert!(ledger.mempool().contains(&child.txid()), "child restored");
    assert_eq!(ledger.chain().store().mempool().await.unwrap().len(), 2);
}

on_both_backends!(
    a_restart_restores_a_child_stored_before_its_parent,
    reorged_out_transactions_come_back,
    a_double_spend_confirmed_in_a_block_evicts_its_mempool_twin,
    a_solved_template_is_accepted_and_clears_the_mempool,
    the_mempool_survives_a_restart,
);
