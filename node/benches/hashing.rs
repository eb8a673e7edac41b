//! `just bench` → hashing: single-thread sha256d of a block header, naive and with the
//! SHA-256 midstate, beside this machine's raw SHA-256 compression rate measured in the same
//! run (`openssl speed -evp sha256 -bytes 16384` ÷ 64, and sha2's own compression function).
//!
//! A header hash costs 3 compressions naively (two for the 80 bytes, one for the outer
//! hash) and 2 with the midstate, so the midstate path's ceiling is half the compression rate.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chaincore::primitives::{BlockHeader, sha256d};
use chaincore_test_support::ceiling::openssl_compressions_per_second;

const RUN_FOR: Duration = Duration::from_secs(2);

/// Calls `step(n)` for n = 0, 1, 2, ... (wrapping) for about `RUN_FOR`; returns calls per second.
fn rate(mut step: impl FnMut(u32)) -> f64 {
    const BATCH: u32 = 100_000;
    let start = Instant::now();
    let (mut nonce, mut batches) = (0u32, 0u32);
    while start.elapsed() < RUN_FOR {
        for _ in 0..BATCH {
            step(nonce);
            nonce = nonce.wrapping_add(1);
        }
        batches += 1;
    }
    f64::from(batches) * f64::from(BATCH) / start.elapsed().as_secs_f64()
}

fn main() {
    let header = chaincore::consensus::Network::Dev
        .params()
        .genesis_block()
        .header;

    let naive = rate(|nonce| {
        let mut h: BlockHeader = header;
        h.nonce = nonce;
        black_box(sha256d(&h.to_bytes()));
    });
    let midstate = header.midstate();
    let with_midstate = rate(|nonce| {
        black_box(midstate.hash_with_nonce(nonce));
    });
    let mut state = [0u32; 8];
    let block = [[7u8; 64]];
    let sha2_compress =
        rate(|_| sha2::block_api::compress256(black_box(&mut state), black_box(&block)));
    let openssl = openssl_compressions_per_second();

    let ceiling = openssl.unwrap_or(sha2_compress);
    let ceiling_name = if openssl.is_some() {
        "openssl"
    } else {
        "sha2 (openssl missing)"
    };
    println!("hashing, 1 thread; ceiling = raw SHA-256 compressions/s ({ceiling_name})");
    println!("{:<36} {:>14} {:>12}", "path", "per second", "÷ ceiling");
    let row = |name: &str, value: f64| {
        println!(
            "{name:<36} {:>14} {:>12.3}",
            format!("{:.2} M", value / 1e6),
            value / ceiling
        )
    };
    if let Some(o) = openssl {
        row("compression: openssl speed ÷ 64", o);
    }
    row("compression: sha2::compress256", sha2_compress);
    row("sha256d header: naive (3 compr.)", naive);
    row("sha256d header: midstate (2 compr.)", with_midstate);
    println!(
        "midstate ÷ naive: {:.2}×   (ideal 1.5×; midstate ceiling = 0.5 × compression rate)",
        with_midstate / naive
    );
}
