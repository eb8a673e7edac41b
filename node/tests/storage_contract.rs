#![cfg(feature = "full")]
//! The `ChainStore` contract: what any store must do, checked on SQLite and on PostgreSQL
//! (a fresh database per test, dropped after).

mod common;

use chaincore_test_support::on_both_backends;

use std::collections::HashMap;

use chaincore::chain::{BlockChanges, BlockStatus, ChainDiff, IndexEntry, UtxoCommitment};
use chaincore::chainstate::ChainState;
use chaincore::consensus::params::DEV;
use chaincore::consensus::{Coin, Network};
use chaincore::primitives::{Amount, Height, OutPoint, PubkeyHash, Transaction, TxOut, Txid, Work};
use chaincore::storage::{ChainStore, ChainTip, MempoolRecord, SqlStore, StoreError, StoreTxn};
use chaincore::testkit::{TestChain, key, spend};
use common::NOW;
use common::db::{Backend, TestDb};

/// A diff of connecting `changes`, in order.
fn connecting(changes: &[BlockChanges]) -> ChainDiff {
    let mut diff = ChainDiff::new();
    for change in changes {
        diff.connect(change.clone());
    }
    diff
}

async fn open(db: &TestDb) -> SqlStore {
    SqlStore::open(&db.url, Network::Dev)
        .await
        .expect("open store")
}

fn coin(units: u64, height: u32) -> Coin {
    let output = TxOut {
        value: Amount::from_units(units).unwrap(),
        pubkey_hash: PubkeyHash::from_byte_array([7; 20]),
    };
    Coin {
        output,
        height: Height::new(height),
        is_coinbase: false,
    }
}

/// A dev chain with alice's mature coinbase spent to bob in its last block.
fn chain_with_a_spend() -> (TestChain, Vec<BlockChanges>) {
    let alice = key(1);
    let mut chain = TestChain::new(&DEV);
    let first = chain.mine(&alice.address(), vec![]);
    let mut validated = vec![first.clone()];
    for _ in 0..DEV.coinbase_maturity {
        validated.push(chain.mine(&key(9).address(), vec![]));
    }
    let coinbase = OutPoint::new(first.block().transactions[0].txid(), 0);
    let outputs = vec![
        TxOut::to_address(Amount::coins(30), &key(2).address()),
        TxOut::to_address(Amount::coins(19), &alice.address()),
    ];
    let tx = spend(&[coinbase], &alice, outputs, &DEV.genesis_hash());
    validated.push(chain.mine(&key(9).address(), vec![tx]));
    (
        chain,
        validated
            .iter()
            .map(|v| BlockChanges::connect(v.checked()))
            .collect(),
    )
}

async fn an_empty_database_gets_genesis_as_its_whole_chain(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (state, updates) = ChainState::open(open(&db).await, &DEV, NOW).await.unwrap();
    assert!(updates.is_empty());
    let store = state.store();
    let genesis = DEV.genesis_hash();
    assert_eq!(store.main_chain().await.unwrap(), vec![genesis]);
    let tip = store.tip().await.unwrap().unwrap();
    assert_eq!(
        (tip.hash, tip.height, tip.utxo_count),
        (genesis, Height::GENESIS, 0)
    );
    assert_eq!(tip.utxo_commitment, UtxoCommitment::EMPTY);
    assert_eq!(
        store.block(&genesis).await.unwrap().as_ref(),
        Some(DEV.genesis_block())
    );
    assert!(
        store.utxo_set().await.unwrap().is_empty(),
        "genesis's output is unspendable"
    );
    let index = store.load_index().await.unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index[0].status, BlockStatus::Valid);
}

async fn connect_then_disconnect_restores_the_utxo_set_and_balances(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (state, _) = ChainState::open(open(&db).await, &DEV, NOW).await.unwrap();
    let store = state.store().clone();
    let (chain, changes) = chain_with_a_spend();
    let (last, earlier) = changes.split_last().unwrap();

    let mut txn = store.begin().await.unwrap();
    for (block, change) in chain.blocks()[1..].iter().zip(&changes) {
        let mut entry = index_entry(block, change.height);
        entry.status = BlockStatus::DataStored;
        txn.insert_block(&entry, Some(block)).await.unwrap();
    }
    txn.apply(&connecting(earlier)).await.unwrap();
    txn.commit().await.unwrap();
    let utxos_before = store.utxo_set().await.unwrap();
    let balances_before = store.balances().await.unwrap();

    let mut txn = store.begin().await.unwrap();
    txn.apply(&connecting(std::slice::from_ref(last)))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        store.utxo_set().await.unwrap(),
        chaincore::testkit::replay_utxo_set(chain.blocks())
    );
    assert_eq!(
        store.balances().await.unwrap()[&key(2).address()].balance,
        Amount::coins(30)
    );

    let mut txn = store.begin().await.unwrap();
    let undo = txn
        .undo(&last.hash)
        .await
        .unwrap()
        .expect("undo data was stored");
    assert_eq!(undo, last.undo);
    let block = txn.block(&last.hash).await.unwrap().unwrap();
    let mut diff = ChainDiff::new();
    diff.disconnect(&BlockChanges::disconnect(&block, last.height, &undo));
    txn.apply(&diff).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(store.utxo_set().await.unwrap(), utxos_before);
    assert_eq!(store.balances().await.unwrap(), balances_before);
    assert!(
        !store
            .balances()
            .await
            .unwrap()
            .contains_key(&key(2).address()),
        "empty rows are removed"
    );
}

fn index_entry(block: &chaincore::primitives::Block, height: Height) -> IndexEntry {
    IndexEntry {
        hash: block.block_hash(),
        header: block.header,
        height,
        chain_work: Work::ZERO,
        status: BlockStatus::HeaderOnly,
        sequence: u64::from(height.get()),
    }
}

async fn a_transaction_dropped_without_commit_writes_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = open(&db).await;
    let (chain, _) = chain_with_a_spend();
    let block = &chain.blocks()[1];
    {
        let mut txn = store.begin().await.unwrap();
        txn.insert_block(&index_entry(block, Height::new(1)), Some(block))
            .await
            .unwrap();
        txn.mempool_insert(&[MempoolRecord {
            tx: block.transactions[0].clone(),
            fee: Amount::ZERO,
            added_at: 1,
        }])
        .await
        .unwrap();
    }
    assert_eq!(store.block(&block.block_hash()).await.unwrap(), None);
    assert!(store.load_index().await.unwrap().is_empty());
    assert!(store.mempool().await.unwrap().is_empty());
}

async fn coins_are_looked_up_in_batches_larger_than_one_statement(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = open(&db).await;
    let coins: Vec<(OutPoint, Coin)> = (0..2_500u32)
        .map(|i| {
            (
                OutPoint::new(Txid::from_byte_array([(i % 251) as u8; 32]), i),
                coin(u64::from(i) + 1, 3),
            )
        })
        .collect();
    let mut changes = chain_with_a_spend().1.remove(0);
    changes.added = coins.clone();
    changes.removed.clear();
    let mut txn = store.begin().await.unwrap();
    txn.apply(&connecting(&[changes])).await.unwrap();
    txn.commit().await.unwrap();

    let mut wanted: Vec<OutPoint> = coins.iter().map(|(o, _)| *o).collect();
    wanted.push(OutPoint::new(Txid::from_byte_array([255; 32]), 0)); // never existed
    let found = store.coins(&wanted).await.unwrap();
    assert_eq!(found, coins.into_iter().collect::<HashMap<_, _>>());
}

async fn extreme_values_round_trip(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = open(&db).await;
    let big_vout = OutPoint::new(Txid::from_byte_array([1; 32]), 3_000_000_000);
    let max_amount = (big_vout, coin(Amount::MAX.units(), u32::MAX));
    let mut changes = chain_with_a_spend().1.remove(0);
    changes.added = vec![max_amount];
    changes.removed.clear();
    let mut txn = store.begin().await.unwrap();
    txn.apply(&connecting(std::slice::from_ref(&changes)))
        .await
        .unwrap();
    let tip = ChainTip {
        network: Network::Dev,
        hash: changes.hash,
        height: Height::new(u32::MAX),
        utxo_commitment: UtxoCommitment::of([(&max_amount.0, &max_amount.1)]),
        utxo_count: 1,
        total_amount: Amount::MAX,
    };
    txn.set_tip(&tip).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        store.coins(&[big_vout]).await.unwrap()[&big_vout],
        max_amount.1
    );
    assert_eq!(store.tip().await.unwrap(), Some(tip));
}

async fn mempool_rows_round_trip(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = open(&db).await;
    let (chain, _) = chain_with_a_spend();
    let tx: Transaction = chain.tip().transactions[1].clone();
    let record = MempoolRecord {
        tx: tx.clone(),
        fee: Amount::coins(1),
        added_at: NOW,
    };
    let mut txn = store.begin().await.unwrap();
    txn.mempool_insert(std::slice::from_ref(&record))
        .await
        .unwrap();
    txn.mempool_insert(std::slice::from_ref(&record))
        .await
        .unwrap(); // idempotent
    txn.commit().await.unwrap();
    assert_eq!(store.mempool().await.unwrap(), vec![record]);
    let mut txn = store.begin().await.unwrap();
    txn.mempool_remove(&[tx.txid()]).await.unwrap();
    txn.commit().await.unwrap();
    assert!(store.mempool().await.unwrap().is_empty());
}

async fn a_database_of_another_network_is_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    ChainState::open(open(&db).await, &DEV, NOW).await.unwrap();
    let error = SqlStore::open(&db.url, Network::Main).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::WrongNetwork {
                expected: Network::Main,
                ..
            }
        ),
        "{error}"
    );
}

async fn statuses_and_sequences_round_trip_through_the_index(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = open(&db).await;
    let (chain, _) = chain_with_a_spend();
    let statuses = [
        BlockStatus::HeaderOnly,
        BlockStatus::DataStored,
        BlockStatus::Valid,
        BlockStatus::Invalid,
    ];
    let mut txn = store.begin().await.unwrap();
    let mut expected = Vec::new();
    for ((block, status), i) in chain.blocks()[1..5].iter().zip(statuses).zip(0u32..) {
        let mut entry = index_entry(block, Height::new(i + 1));
        entry.chain_work = block.header.bits.to_target().unwrap().work();
        entry.sequence = if status == BlockStatus::HeaderOnly {
            u64::MAX
        } else {
            u64::from(i)
        };
        txn.insert_block(&entry, None).await.unwrap();
        if status != BlockStatus::HeaderOnly {
            txn.set_status(&[entry.hash], status).await.unwrap();
        }
        entry.status = status;
        expected.push(entry);
    }
    txn.commit().await.unwrap();
    assert_eq!(store.load_index().await.unwrap(), expected);
}

/// The `blocks_by_height` migration rebuilds a populated table, both ways: a database made
/// before it (blocks keyed by hash) comes back with every block, status and body, readable
/// by hash, on the same tip.
async fn a_database_keyed_by_hash_is_rebuilt_with_every_block(backend: Backend) {
    use chaincore_migration::{Migrator, MigratorTrait};
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (chain, _) = chain_with_a_spend();
    let (index, tip) = {
        let (mut state, _) = ChainState::open(open(&db).await, &DEV, NOW).await.unwrap();
        for block in &chain.blocks()[1..] {
            state.submit_block(block.clone(), NOW).await.result.unwrap();
        }
        state.flush().await.unwrap();
        let store = open(&db).await;
        (
            store.load_index().await.unwrap(),
            store.tip().await.unwrap(),
        )
    };
    let connection = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    Migrator::down(&connection, Some(1)).await.unwrap();
    connection.close().await.unwrap();

    let store = open(&db).await; // migrates up again
    assert_eq!(
        store.load_index().await.unwrap(),
        index,
        "the index survives"
    );
    assert_eq!(store.tip().await.unwrap(), tip, "the tip survives");
    for block in chain.blocks() {
        let stored = store.block(&block.block_hash()).await.unwrap();
        assert_eq!(stored.as_ref(), Some(block), "each body, read by its hash");
    }
    common::checks::assert_consistent(&store, &format!("{backend:?}, rebuilt")).await;
}

/// The database the outage left behind (a block row whose parent row is missing, a
/// coin lost from the UTXO set): `--check` names both, `--repair` rebuilds the chain state
/// from the stored blocks onto the same tip and UTXO set, and the node opens it again.
async fn a_damaged_database_is_reported_and_repaired(backend: Backend) {
    use chaincore::maintenance::{check, repair};
    use sea_orm::ConnectionTrait;
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (chain, _) = chain_with_a_spend();
    let good_tip = {
        let (mut state, _) = ChainState::open(open(&db).await, &DEV, NOW).await.unwrap();
        for block in &chain.blocks()[1..] {
            state.submit_block(block.clone(), NOW).await.result.unwrap();
        }
        state.flush().await.unwrap();
        *state.tip()
    };
    assert!(
        check(&open(&db).await, &DEV)
            .await
            .unwrap()
            .problems
            .is_empty(),
        "healthy first"
    );

    let connection = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let parent = chain.blocks()[3].block_hash();
    for statement in [
        format!("DELETE FROM blocks WHERE hash = {}", bytes_literal(backend, parent.as_bytes())),
        "DELETE FROM utxos WHERE outpoint IN (SELECT outpoint FROM utxos ORDER BY outpoint LIMIT 1)".to_owned(),
    ] {
        connection.execute_unprepared(&statement).await.unwrap();
    }
    connection.close().await.unwrap();
    let opened = ChainState::open(open(&db).await, &DEV, NOW).await;
    assert!(opened.is_err(), "the damaged database does not open");
    let report = check(&open(&db).await, &DEV).await.unwrap();
    let problems = report.problems.join("\n");
    assert!(
        problems.contains("do not descend from genesis"),
        "{problems}"
    );
    assert!(problems.contains("UTXO set"), "{problems}");

    // Blocks 4.. lost their ancestry with block 3's row: they are dropped, and the repaired
    // chain ends at block 2; the blocks come back as they would from a peer.
    let (_, height) = repair(open(&db).await, &DEV, NOW).await.unwrap();
    assert_eq!(height, Height::new(2));
    let report = check(&open(&db).await, &DEV).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let (mut state, _) = ChainState::open(open(&db).await, &DEV, NOW).await.unwrap();
    for block in &chain.blocks()[3..] {
        state.submit_block(block.clone(), NOW).await.result.unwrap();
    }
    state.flush().await.unwrap();
    assert_eq!(
        *state.tip(),
        good_tip,
        "the same tip and UTXO set as before the damage"
    );
    common::checks::assert_consistent(state.store(), &format!("{backend:?}, repaired")).await;
}

fn bytes_literal(backend: Backend, bytes: &[u8]) -> String {
    match backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

on_both_backends!(
    a_damaged_database_is_reported_and_repaired,
    a_database_keyed_by_hash_is_rebuilt_with_every_block,
    an_empty_database_gets_genesis_as_its_whole_chain,
    connect_then_disconnect_restores_the_utxo_set_and_balances,
    a_transaction_dropped_without_commit_writes_nothing,
    coins_are_looked_up_in_batches_larger_than_one_statement,
    extreme_values_round_trip,
    mempool_rows_round_trip,
    a_database_of_another_network_is_refused,
    statuses_and_sequences_round_trip_through_the_index,
);
