//! `just bench` → (b) of the accept-path benchmarks: the resident memory of a release
//! `chaincore-node` answering 8 parallel requests for the same 128 large blocks (~0.84 MB
//! each, 107 MB in all), against the same node idle, measured in the same run. Before the
//! fix each request loaded all 128 blocks before its 4 MiB cap applied.
//!
//! Goal: peak ≤ 2 × idle + 64 MB.
//!
//! Build the node first (`just bench` does): `cargo build --release -p chaincore`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::network::protocol::{Request, Response, Status};
use chaincore::primitives::Work;
use chaincore::testkit::{key, pad_coinbase};
use chaincore_tests::client::Client;
use chaincore_tests::miner::{block_on, submit};
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::peer::{RawPeer, Seen};
use libp2p::PeerId;

const BLOCKS: usize = 128;
const OUTPUTS: usize = 30_000;
const PARALLEL: usize = 8;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Feeds the node `BLOCKS` main-chain blocks of ~0.84 MB each; returns their hashes.
async fn large_chain(client: &Client) -> Vec<[u8; 32]> {
    let mut hashes = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let tip = client.tip_hash().await;
        let mut block = block_on(client, &tip, &key(1).address(), b"large").await;
        pad_coinbase(&mut block, OUTPUTS);
        let reply = submit(client, &block).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        hashes.push(block.block_hash().to_byte_array());
    }
    hashes
}

async fn measure() -> (u64, u64, usize) {
    let node = NodeProcess::start(NodeOptions::default())
        .await
        .expect("SQLite needs no server");
    let client = Client::new(&node.url);
    let hashes = large_chain(&client).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_bytes(node.pid());

    let mut peer = RawPeer::new(Network::Dev);
    let genesis = Network::Dev.params().genesis_hash();
    peer.answer_with(move |request| {
        matches!(request, Request::Status(_)).then(|| {
            Response::Status(Status {
                genesis: *genesis.as_bytes(),
                tip: *genesis.as_bytes(),
                height: 0,
                chain_work: Work::ZERO.to_be_bytes(),
                rest_url: None,
                node_id: "asker".into(),
            })
        })
    });
    let node_id: PeerId = node.peer_id.parse().unwrap();
    let seen = peer
        .dial_and_watch(&node.p2p, Duration::from_secs(10), |seen| {
            seen.iter().any(|s| matches!(s, Seen::Asked(..)))
        })
        .await;
    assert!(seen.contains(&Seen::Connected(node_id)), "{seen:?}");

    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (Arc::clone(&peak), Arc::clone(&done), node.pid());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for _ in 0..PARALLEL {
        peer.ask(node_id, Request::Blocks(hashes.clone()));
    }
    let seen = peer
        .watch(Duration::from_secs(60), |seen| {
            seen.iter()
                .filter(|s| matches!(s, Seen::Answered { .. }))
                .count()
                >= PARALLEL
        })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let answered = seen
        .iter()
        .filter(|s| matches!(s, Seen::Answered { items, .. } if *items > 0))
        .count();
    (idle, peak.load(Ordering::Relaxed), answered)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (idle, peak, answered) = runtime.block_on(measure());
    let mb = |b: u64| b as f64 / 1e6;
    let allowed = 2 * idle + 64_000_000;
    println!(
        "\nserving blocks: {PARALLEL} parallel requests for {BLOCKS} blocks of ~0.84 MB (release node)"
    );
    println!("{:<44} {:>10} {:>10}", "measure", "MB", "ratio");
    println!("{:<44} {:>10.1} {:>10}", "resident, idle", mb(idle), "1.00");
    println!(
        "{:<44} {:>10.1} {:>10.2}   ({answered}/{PARALLEL} answered with blocks)",
        "resident, peak while serving",
        mb(peak),
        peak as f64 / idle as f64
    );
    println!(
        "{:<44} {:>10.1} {:>10.2}   (goal ≤ 1.00)",
        "peak ÷ (2 × idle + 64 MB)",
        mb(allowed),
        peak as f64 / allowed as f64
    );
}
