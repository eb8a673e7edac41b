//! `just bench` → the accept path under load, each figure a ratio against a baseline
//! measured in the same run:
//!
//! (a) honest blocks (100 signed txs each) accepted by a ledger while a peer resends one
//!     zero-fee, validly signed 7,000-input transaction in a loop, against the same blocks
//!     with no flood. Goal ≥ 0.8. The flood is measured in its steady state: its first
//!     copy, judged in full once (every coin looked up), is timed on a line of its own. For scale, the time one full check of that transaction's
//!     signatures takes is printed beside it: what each copy cost when signatures came first.
//! (b) is in `tests/benches/network.rs` (memory of a node serving large blocks).
//! (c) header sync (2,000-header batches with a locator each, as sync does) per 10,000
//!     headers at height 100,000 against at height 0. Goal ≤ 1.5.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use chaincore_test_support::db;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chaincore::chainstate::{ChainOptions, ChainState, HeadersOutcome};
use chaincore::consensus::params::DEV;
use chaincore::consensus::tx::check_inputs;
use chaincore::ledger::Ledger;
use chaincore::mempool::MempoolConfig;
use chaincore::primitives::{
    Amount, Block, BlockHeader, Height, IdentifiedTx, OutPoint, Transaction, TxOut,
};
use chaincore::storage::SqlStore;
use chaincore::testkit::{TestChain, header_chain, key, spend};
use db::{Backend, TestDb};

const NOW: u64 = 1_900_000_000;
const HONEST_BLOCKS: usize = 40;
const LANES: usize = 100;
const FLOOD_INPUTS: usize = 7_000;
const HEADERS: usize = 110_000;
const BUCKET: usize = 10_000;
const BATCH: usize = 2_000;

struct Flood {
    setup: Vec<Block>,
    honest: Vec<Block>,
    flood: Transaction,
}

/// A chain where an attacker owns `FLOOD_INPUTS` coins and an honest spender `LANES`, then
/// `HONEST_BLOCKS` blocks of the honest payments; and the attacker's zero-fee spend of all
/// its coins, validly signed.
fn flood_setup() -> Flood {
    let (attacker, honest) = (key(201), key(200));
    let genesis = DEV.genesis_hash();
    let mut chain = TestChain::new(&DEV);
    let a = chain.mine(&attacker.address(), vec![]).block().clone();
    let h = chain.mine(&honest.address(), vec![]).block().clone();
    chain.mine_empty(DEV.coinbase_maturity as usize, &honest.address());
    let fan_out = |coinbase: &Block, owner: &chaincore::primitives::PrivateKey, n: usize| {
        let coin = OutPoint::new(coinbase.transactions[0].txid(), 0);
        let each = Amount::from_units(DEV.initial_subsidy.units() / (n as u64 + 1)).unwrap();
        spend(
            &[coin],
            owner,
            vec![TxOut::to_address(each, &owner.address()); n],
            &genesis,
        )
    };
    let attacker_coins = fan_out(&a, &attacker, FLOOD_INPUTS);
    let lanes = fan_out(&h, &honest, LANES);
    chain.mine(
        &honest.address(),
        vec![attacker_coins.clone(), lanes.clone()],
    );
    let setup = chain.blocks()[1..].to_vec();
    let mut lanes: Vec<(OutPoint, Amount)> = (0..LANES)
        .map(|i| {
            let vout = u32::try_from(i).unwrap();
            (OutPoint::new(lanes.txid(), vout), lanes.outputs[i].value)
        })
        .collect();
    let fee = Amount::from_units(1_000).unwrap();
    for _ in 0..HONEST_BLOCKS {
        let txs: Vec<Transaction> = lanes
            .iter()
            .map(|(outpoint, value)| {
                let change = value.checked_sub(fee).unwrap();
                spend(
                    &[*outpoint],
                    &honest,
                    vec![TxOut::to_address(change, &honest.address())],
                    &genesis,
                )
            })
            .collect();
        for (lane, tx) in lanes.iter_mut().zip(&txs) {
            *lane = (OutPoint::new(tx.txid(), 0), tx.outputs[0].value);
        }
        chain.mine(&honest.address(), txs);
    }
    let honest_blocks = chain.blocks()[1 + setup.len()..].to_vec();
    let inputs: Vec<OutPoint> = (0..FLOOD_INPUTS)
        .map(|i| OutPoint::new(attacker_coins.txid(), u32::try_from(i).unwrap()))
        .collect();
    let total = Amount::checked_sum(attacker_coins.outputs.iter().map(|o| o.value)).unwrap();
    let flood = spend(
        &inputs,
        &attacker,
        vec![TxOut::to_address(total, &attacker.address())],
        &genesis,
    );
    Flood {
        setup,
        honest: honest_blocks,
        flood,
    }
}

/// What one run measured.
struct Run {
    /// The time to accept the honest blocks.
    took: Duration,
    /// Flood copies judged meanwhile.
    copies: u64,
    /// The first copy's full judgement (coins looked up, fee found), before the clock.
    first_copy: Duration,
}

/// The honest blocks accepted by a fresh ledger, with the flood under way or not. A flood
/// is a steady state: its first copy, judged in full once per distinct transaction, is
/// judged before the clock starts and reported on its own line.
async fn accept_honest(backend: Backend, flood: &Flood, flooding: bool) -> Run {
    let db = TestDb::new(backend).await.expect("a database");
    let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
    let ledger = Ledger::open(
        store,
        &DEV,
        ChainOptions::default(),
        MempoolConfig::default(),
        NOW,
    )
    .await
    .unwrap();
    let ledger = Arc::new(tokio::sync::Mutex::new(ledger));
    for block in &flood.setup {
        ledger
            .lock()
            .await
            .submit_block(block.clone(), NOW)
            .await
            .result
            .unwrap();
    }
    let mut first_copy = Duration::ZERO;
    if flooding {
        let start = Instant::now();
        let copy = IdentifiedTx::new(flood.flood.clone());
        let result = ledger.lock().await.submit_transaction(&copy, NOW).await;
        assert!(result.is_err(), "a zero-fee transaction is refused");
        first_copy = start.elapsed();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flooding.then(|| {
        let (ledger, stop, tx) = (Arc::clone(&ledger), Arc::clone(&stop), flood.flood.clone());
        tokio::spawn(async move {
            let mut copies = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Decoded and hashed before the lock, as the node does with a gossip
                // message, and freed after it.
                let copy = IdentifiedTx::new(tx.clone());
                let result = ledger.lock().await.submit_transaction(&copy, NOW).await;
                assert!(result.is_err(), "a zero-fee transaction is refused");
                copies += 1;
                tokio::task::yield_now().await;
            }
            copies
        })
    });
    let start = Instant::now();
    for block in &flood.honest {
        ledger
            .lock()
            .await
            .submit_block(block.clone(), NOW)
            .await
            .result
            .unwrap();
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let copies = match flooder {
        Some(task) => task.await.unwrap(),
        None => 0,
    };
    Run {
        took,
        copies,
        first_copy,
    }
}

/// One full check of the flood's signatures, one thread (as the mempool checked them).
fn signature_cost(flood: &Flood) -> Duration {
    let mut chain_coins = std::collections::HashMap::new();
    let fan_out = &flood.setup.last().unwrap().transactions[1];
    for (vout, output) in (0u32..).zip(&fan_out.outputs) {
        chain_coins.insert(
            OutPoint::new(fan_out.txid(), vout),
            chaincore::consensus::Coin {
                output: *output,
                height: Height::new(12),
                is_coinbase: false,
            },
        );
    }
    let genesis = DEV.genesis_hash();
    let checked = check_inputs(&flood.flood, &chain_coins, Height::new(13), &DEV, &genesis)
        .expect("the flood is valid but for its fee");
    let start = Instant::now();
    for check in &checked.signature_checks {
        check.run().expect("validly signed");
    }
    start.elapsed()
}

/// Time per `BUCKET` headers, in order, syncing `headers` in batches as sync does.
async fn header_sync(backend: Backend, headers: &[BlockHeader]) -> Vec<Duration> {
    let db = TestDb::new(backend).await.expect("a database");
    let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
    let (mut state, _) = ChainState::open(store, &DEV, NOW).await.unwrap();
    let mut buckets = vec![Duration::ZERO; headers.len().div_ceil(BUCKET)];
    for (i, batch) in headers.chunks(BATCH).enumerate() {
        let start = Instant::now();
        let _locator = state.header_locator();
        let outcome = state.submit_headers(batch, NOW).await.unwrap();
        assert!(matches!(outcome, HeadersOutcome::Indexed { new, .. } if new == batch.len()));
        buckets[i * BATCH / BUCKET] += start.elapsed();
    }
    buckets
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let start = Instant::now();
    let flood = flood_setup();
    println!(
        "generated {} honest blocks and a {}-input flood transaction in {:.1?}",
        flood.honest.len(),
        flood.flood.inputs.len(),
        start.elapsed()
    );
    println!("\naccept path, {} threads", rayon::current_num_threads());
    println!("{:<58} {:>12} {:>10}", "measure", "value", "ratio");
    let per_copy = signature_cost(&flood);
    println!(
        "{:<58} {:>11.3}s {:>10}",
        "(a) one check of the flood's signatures (1 thread)",
        per_copy.as_secs_f64(),
        ""
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if runtime.block_on(TestDb::new(backend)).is_none() {
            println!("{backend:?}: skipped (no server)");
            continue;
        }
        let quiet = runtime.block_on(accept_honest(backend, &flood, false)).took;
        let flooded = runtime.block_on(accept_honest(backend, &flood, true));
        let per_block = |d: Duration| d.as_secs_f64() * 1e3 / HONEST_BLOCKS as f64;
        println!(
            "{:<58} {:>10.2}ms {:>10}",
            format!("(a) {backend:?}: the flood's first copy, judged in full once"),
            flooded.first_copy.as_secs_f64() * 1e3,
            ""
        );
        println!(
            "{:<58} {:>10.2}ms {:>10}",
            format!("(a) {backend:?}: honest block, no flood"),
            per_block(quiet),
            "1.00"
        );
        println!(
            "{:<58} {:>10.2}ms {:>10.2}   (goal ≥ 0.80; {} copies judged)",
            format!("(a) {backend:?}: honest block, flooded"),
            per_block(flooded.took),
            quiet.as_secs_f64() / flooded.took.as_secs_f64(),
            flooded.copies
        );
    }
    let start = Instant::now();
    let headers = header_chain(&DEV, HEADERS, DEV.target_spacing);
    println!("\ngenerated {HEADERS} headers in {:.1?}", start.elapsed());
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if runtime.block_on(TestDb::new(backend)).is_none() {
            continue;
        }
        let buckets = runtime.block_on(header_sync(backend, &headers));
        let (first, last) = (buckets[0], buckets[buckets.len() - 1]);
        println!(
            "{:<58} {:>11.3}s {:>10}",
            format!("(c) {backend:?}: {BUCKET} headers at height 0"),
            first.as_secs_f64(),
            "1.00"
        );
        println!(
            "{:<58} {:>11.3}s {:>10.2}   (goal ≤ 1.5)",
            format!(
                "(c) {backend:?}: {BUCKET} headers at height {}",
                HEADERS - BUCKET
            ),
            last.as_secs_f64(),
            last.as_secs_f64() / first.as_secs_f64()
        );
    }
}
