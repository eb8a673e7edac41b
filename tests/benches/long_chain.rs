//! `just bench` → sync cost against chain length: a new `chaincore-node` process syncs a
//! 100,000-block chain (built by the testkit, one signed payment a block) from a seed over
//! loopback, and the time it spends on each stretch of 10,000 blocks is compared with the
//! first stretch. Anything that costs more as the chain grows (a scan of the index, a walk
//! from genesis, a table that slows with its size) shows as a ratio above 1.
//!
//! Goal: the stretch from 90,000 to 100,000 costs ≤ 1.5 × the one from 0 to 10,000.
//!
//! Build the node first (`just bench` does): `cargo build --release -p chaincore`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use chaincore::chainstate::ChainState;
use chaincore::consensus::params::DEV;
use chaincore::node::unix_now;
use chaincore::storage::SqlStore;
use chaincore::testkit::BusyChain;
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::node::{NodeOptions, NodeProcess};

const BLOCKS: u64 = 100_000;
const STRETCH: u64 = 10_000;
const DEADLINE: Duration = Duration::from_secs(1_800);

async fn start(name: &str, args: &[&str]) -> NodeProcess {
    let mut extra_args = vec!["--rate-limit".to_owned(), "0".to_owned()];
    extra_args.extend(args.iter().map(|a| (*a).to_owned()));
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        node_id: name.into(),
        extra_args,
    })
    .await
    .expect("SQLite needs no server")
}

/// A seed database holding the chain; returns its URL and the chain's height.
async fn build_seed(dir: &std::path::Path) -> (String, u64) {
    let (mut generator, setup) = BusyChain::new(&DEV, 1);
    let url = format!("sqlite://{}/seed.db?mode=rwc", dir.display());
    let store = SqlStore::open(&url, DEV.network).await.expect("open");
    let (mut state, _) = ChainState::open(store, &DEV, unix_now())
        .await
        .expect("state");
    let started = Instant::now();
    let mut height = 0;
    for block in setup
        .into_iter()
        .chain(std::iter::from_fn(|| Some(generator.next_block())))
        .take(usize::try_from(BLOCKS).expect("fits"))
    {
        state
            .submit_block(block, unix_now())
            .await
            .result
            .expect("a block");
        height += 1;
    }
    state.flush().await.expect("commit");
    state.close().await;
    println!(
        "seed: {height} blocks built and connected in {:.1?}",
        started.elapsed()
    );
    (url, height)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("a directory");
        let (url, height) = build_seed(dir.path()).await;
        let seed = start("seed", &["--database-url", &url]).await;
        let seed_client = Client::new(&seed.url);
        let until = Instant::now() + DEADLINE;
        while seed_client.status().await["indexed_height"].as_u64() != Some(height) {
            assert!(Instant::now() < until, "the seed's explorer index");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let joiner = start("joiner", &["--bootstrap-nodes", &seed.url]).await;
        let client = Client::new(&joiner.url);
        // The clock starts with the first block connected, so the process start and the
        // peer's discovery do not weigh on the first stretch.
        while client.height().await == 0 {
            assert!(Instant::now() < until, "the joiner's first block");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        // When the joiner first reached each multiple of STRETCH.
        let mut reached = vec![Duration::ZERO];
        while (reached.len() as u64 - 1) * STRETCH < height {
            assert!(Instant::now() < until, "the joiner at the seed's height");
            let now = client.height().await;
            while (reached.len() as u64) * STRETCH <= now {
                reached.push(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let stretches: Vec<Duration> = reached.windows(2).map(|w| w[1] - w[0]).collect();
        let first = stretches[0].as_secs_f64();
        println!("\nsync of a new node, {height} blocks, cost per {STRETCH} blocks:");
        println!(
            "{:<24} {:>10} {:>10} {:>12}",
            "heights", "seconds", "blocks/s", "÷ first"
        );
        for (i, stretch) in stretches.iter().enumerate() {
            let from = i as u64 * STRETCH;
            println!(
                "{:<24} {:>10.2} {:>10.0} {:>12.2}",
                format!("{from}–{}", from + STRETCH),
                stretch.as_secs_f64(),
                STRETCH as f64 / stretch.as_secs_f64(),
                stretch.as_secs_f64() / first
            );
        }
        let last = stretches.last().expect("stretches").as_secs_f64();
        println!("last stretch ÷ first: {:.2}   (goal ≤ 1.50)", last / first);
    });
}
