//! `just bench` → miner: the miner's hash rate on one thread and on every thread, through the
//! same [`Pool`] of hashing threads `chaincore-miner` runs, beside this machine's raw SHA-256
//! compression rate on one thread (`openssl speed`, else `sha2`'s `compress256`), measured in
//! the same run.
//!
//! A header hash with the midstate costs two compressions, so the plain midstate path tops out
//! at half the compression rate; the SHA-NI kernel skips the work that does not depend on the
//! nonce and keeps the SHA unit busy with two nonces, so it can pass that. The goals,
//! printed as ratios: one thread ≥ 0.65 × the compression rate, and all threads ≥ 1.8 × one.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaincore::consensus::Network;
use chaincore::primitives::{CompactTarget, Witness, encode};
use chaincore_tools::miner::kernel::Kernel;
use chaincore_tools::miner::work::Work;
use chaincore_tools::miner::workers::Pool;
use chaincore_tools::rest::TemplateView;

use chaincore_test_support::ceiling::openssl_compressions_per_second;

const RUN_FOR: Duration = Duration::from_secs(3);

/// A target no hash meets in practice (one in 2^232), so the threads hash for the whole run.
const HARDEST: CompactTarget = CompactTarget::from_consensus(0x0300_0001);

/// `sha2::compress256` calls per second on one thread.
fn compressions_per_second() -> f64 {
    let mut state = [0u32; 8];
    let block = [[7u8; 64]];
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < RUN_FOR {
        for _ in 0..100_000 {
            sha2::block_api::compress256(black_box(&mut state), black_box(&block));
        }
        calls += 100_000;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

/// Work on the dev genesis block's header and coinbase, with an unreachable target.
fn work() -> Work {
    let genesis = Network::Dev.params().genesis_block();
    let mut header = genesis.header;
    header.bits = HARDEST;
    let coinbase = encode(&genesis.transactions[0]);
    let template = TemplateView {
        template_id: 1,
        height: 0,
        previous_block_hash: header.prev_blockhash.to_string(),
        bits: HARDEST.to_string(),
        target: String::new(),
        header_hex: hex::encode(header.to_bytes()),
        extra_nonce_offset: coinbase.len() - Witness::SIZE,
        coinbase_hex: hex::encode(coinbase),
        coinbase_branch: vec![],
        transactions_hex: vec![],
        coinbase_value_units: 0,
        fees_units: 0,
        ..TemplateView::default()
    };
    Work::from_template(&template).expect("a well-formed template")
}

/// Hashes per second of a [`Pool`] of `threads` threads with `kernel`, after a warm-up.
fn pool_rate(threads: usize, kernel: Kernel) -> f64 {
    let (pool, _solutions) = Pool::start(threads, kernel, None);
    pool.set_work(Some(Arc::new(work())));
    std::thread::sleep(Duration::from_millis(300));
    let (before, start) = (pool.hashes().iter().sum::<u64>(), Instant::now());
    std::thread::sleep(RUN_FOR);
    let hashed = pool.hashes().iter().sum::<u64>() - before;
    let elapsed = start.elapsed().as_secs_f64();
    pool.shutdown();
    hashed as f64 / elapsed
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let sha2 = compressions_per_second();
    let openssl = openssl_compressions_per_second();
    let (ceiling, source) = match openssl {
        Some(rate) => (rate, "openssl speed -evp sha256 ÷ 64"),
        None => (sha2, "sha2::compress256 (openssl missing)"),
    };
    println!("miner hash rate, {cores} cores; ceiling = one thread's raw SHA-256 compressions/s");
    println!(
        "  {source}: {:.2} M/s; sha2::compress256: {:.2} M/s",
        ceiling / 1e6,
        sha2 / 1e6
    );
    println!(
        "{:<10} {:>8} {:>12} {:>12} {:>14}",
        "kernel", "threads", "MH/s", "÷ ceiling", "÷ one thread"
    );
    for kernel in Kernel::available() {
        let one = pool_rate(1, kernel);
        let all = pool_rate(cores, kernel);
        for (threads, rate) in [(1, one), (cores, all)] {
            println!(
                "{:<10} {threads:>8} {:>12.2} {:>12.3} {:>14.2}",
                kernel.name(),
                rate / 1e6,
                rate / ceiling,
                rate / one
            );
        }
    }
    println!(
        "goals: 1 thread ≥ 0.65 × ceiling with the default kernel ({}); all threads ≥ 1.8 × one \
         (a header hash costs 2 compressions, so 0.5 is the plain midstate path's limit)",
        Kernel::detect().name()
    );
}
