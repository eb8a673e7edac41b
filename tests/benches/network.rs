//! `just bench` → the peer-to-peer network, with real `chaincore-node` processes on
//! loopback:
//!
//! 1. Propagation: five nodes bootstrapped from node 0; blocks of 100 signed transactions
//!    submitted to node 0 one at a time; for each, the time from node 0 connecting it to the
//!    last of the other four connecting it, as their `/events` streams report. p50 and p99.
//!    Goal: p99 ≤ 100 ms.
//! 2. Sync: a node joins a 10,000-block chain (10 transactions a block) and catches up
//!    headers first. Its rate beside the block-connect rate of the chain state on the same
//!    blocks, measured in the same run (the storage benchmark's "as sync" path: `ChainState`
//!    on SQLite, headers first, bodies in runs verified ahead). Then a second new node does the same with `--assume-valid` at the seed's tip,
//!    so it checks every rule but the signatures. Goals: sync ≥ 0.8 × connect, and with
//!    assume-valid ≥ 3 × connect.
//!
//! Build the node first (`just bench` does): `cargo build --release -p chaincore`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chaincore::chainstate::ChainState;
use chaincore::consensus::params::DEV;
use chaincore::node::unix_now;
use chaincore::primitives::{Block, encode};
use chaincore::storage::SqlStore;
use chaincore::testkit::{BusyChain, connect_as_sync};
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::node::{NodeOptions, NodeProcess};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

const NODES: usize = 5;
const PROPAGATION_BLOCKS: usize = 60;
const PROPAGATION_TXS: usize = 100;
const SYNC_BLOCKS: usize = 10_000;
const SYNC_TXS: usize = 10;
const DEADLINE: Duration = Duration::from_secs(30);

fn options(name: &str, args: &[&str]) -> NodeOptions {
    let mut extra_args = vec!["--rate-limit".to_owned(), "0".to_owned()];
    extra_args.extend(args.iter().map(|a| (*a).to_owned()));
    NodeOptions {
        backend: Backend::Sqlite,
        node_id: name.into(),
        extra_args,
    }
}

async fn start(name: &str, args: &[&str]) -> NodeProcess {
    NodeProcess::start(options(name, args))
        .await
        .expect("SQLite needs no server")
}

async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + DEADLINE * 4;
    while !condition().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Streams `(node, block hash, arrival)` for every `block_connected` event of `url`.
fn watch_blocks(
    node: usize,
    url: String,
    arrivals: mpsc::UnboundedSender<(usize, String, Instant)>,
) {
    tokio::spawn(async move {
        let response = reqwest::Client::new()
            .get(format!("{url}/events"))
            .send()
            .await
            .expect("/events");
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let now = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if !event.contains("event: block_connected") {
                    continue;
                }
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("{}");
                let value: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                if let Some(hash) = value["hash"].as_str() {
                    let _ = arrivals.send((node, hash.to_owned(), now));
                }
            }
        }
    });
}

async fn submit(client: &Client, block: &Block) {
    let reply = client
        .post(
            "/submit_block",
            &json!({"block_hex": hex::encode(encode(block))}),
        )
        .await
        .ok();
    assert_eq!(reply["status"], "accepted", "{reply}");
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() - 1) * percent / 100]
}

struct Propagation {
    latencies: Vec<Duration>,
    mean_peers: f64,
}

async fn propagation() -> Propagation {
    let (mut generator, setup) = BusyChain::new(&DEV, PROPAGATION_TXS);
    let blocks: Vec<Block> = (0..PROPAGATION_BLOCKS)
        .map(|_| generator.next_block())
        .collect();
    let first = start("n0", &[]).await;
    let mut nodes = vec![first];
    for i in 1..NODES {
        let bootstrap = nodes[0].url.clone();
        nodes.push(start(&format!("n{i}"), &["--bootstrap-nodes", &bootstrap]).await);
    }
    let clients: Vec<Client> = nodes.iter().map(|n| Client::new(&n.url)).collect();
    wait_until("every node connected", async || {
        for client in &clients {
            if client.get("/peers").await.ok()["count"].as_u64() < Some(1) {
                return false;
            }
        }
        true
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // let Kademlia fill in the mesh
    let mut peers = 0;
    for client in &clients {
        peers += client.get("/peers").await.ok()["count"]
            .as_u64()
            .unwrap_or(0);
    }
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    for (i, node) in nodes.iter().enumerate() {
        watch_blocks(i, node.url.clone(), tx.clone());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for block in &setup {
        submit(&clients[0], block).await;
    }
    let setup_tip = setup.last().expect("setup blocks").block_hash().to_string();
    wait_until("the setup blocks everywhere", async || {
        for client in &clients {
            if client.tip_hash().await != setup_tip {
                return false;
            }
        }
        true
    })
    .await;
    while arrivals.try_recv().is_ok() {}

    let mut latencies = Vec::with_capacity(blocks.len());
    let mut seen: HashMap<String, [Option<Instant>; NODES]> = HashMap::new();
    for block in &blocks {
        let hash = block.block_hash().to_string();
        submit(&clients[0], block).await;
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(times) = seen.get(&hash)
                && times.iter().all(Option::is_some)
            {
                let origin = times[0].expect("all arrived");
                let last = times.iter().flatten().max().expect("all arrived");
                latencies.push(last.saturating_duration_since(origin));
                break;
            }
            let left = until.saturating_duration_since(Instant::now());
            let (node, arrived, at) = tokio::time::timeout(left, arrivals.recv())
                .await
                .unwrap_or_else(|_| panic!("block {hash} did not reach every node in {DEADLINE:?}"))
                .expect("the event streams run");
            seen.entry(arrived).or_default()[node] = Some(at);
        }
    }
    latencies.sort();
    Propagation {
        latencies,
        mean_peers: peers as f64 / NODES as f64,
    }
}

struct Sync {
    blocks: usize,
    txs: usize,
    connect: Duration,
    sync: Joined,
    assumed: Joined,
    blocks_assumed: u64,
}

/// How a new node reached the seed's height.
struct Joined {
    /// From starting the process to the seed's height.
    total: Duration,
    /// Of which the process took to answer REST (opening its database, migrations).
    startup: Duration,
    status: serde_json::Value,
}

/// A new node started with `args` reaching `height` from `seed`.
async fn join(name: &str, seed: &str, height: u64, args: &[&str]) -> Joined {
    let mut all = vec!["--bootstrap-nodes", seed];
    all.extend_from_slice(args);
    let started = Instant::now();
    let joiner = start(name, &all).await;
    let startup = started.elapsed();
    let client = Client::new(&joiner.url);
    wait_until("the joiner at the seed's height", async || {
        client.height().await == height
    })
    .await;
    Joined {
        total: started.elapsed(),
        startup,
        status: client.status().await,
    }
}

async fn sync() -> Sync {
    let (mut generator, setup) = BusyChain::new(&DEV, SYNC_TXS);
    let blocks: Vec<Block> = (0..SYNC_BLOCKS).map(|_| generator.next_block()).collect();
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}/seed.db?mode=rwc", dir.path().display());

    // The connect rate: the same blocks through the chain state, delivered as sync delivers
    // them (the storage bench's "as sync" path).
    let store = SqlStore::open(&url, DEV.network).await.expect("open");
    let (mut state, _) = ChainState::open(store.clone(), &DEV, unix_now())
        .await
        .expect("state");
    for block in &setup {
        state
            .submit_block(block.clone(), unix_now())
            .await
            .result
            .expect("setup block");
    }
    let started = Instant::now();
    connect_as_sync(&mut state, &blocks, unix_now()).await;
    let connect = started.elapsed();
    drop(state);
    drop(store);

    let seed = start("seed", &["--database-url", &url]).await;
    let height = (setup.len() + blocks.len()) as u64;
    // A seed that has been running a while: its explorer index has caught up.
    let seed_client = Client::new(&seed.url);
    wait_until("the seed's explorer index", async || {
        seed_client.status().await["indexed_height"].as_u64() == Some(height)
    })
    .await;
    let sync = join("joiner", &seed.url, height, &[]).await;
    let tip = blocks.last().expect("blocks").block_hash().to_string();
    let assumed = join("assuming", &seed.url, height, &["--assume-valid", &tip]).await;
    let blocks_assumed = assumed.status["assume_valid"]["blocks_assumed"]
        .as_u64()
        .expect("/status reports the assumed blocks");
    Sync {
        blocks: blocks.len(),
        txs: blocks.len() * SYNC_TXS,
        connect,
        sync,
        assumed,
        blocks_assumed,
    }
}

/// `cargo bench --bench network [propagation|sync]`: the parts whose name holds one of the
/// arguments, or every part without any.
fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs = |part: &str| wanted.is_empty() || wanted.iter().any(|w| part.contains(w.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    println!("network, chaincore-node processes on loopback (release build)");
    if runs("propagation") {
        report_propagation(runtime.block_on(propagation()));
    }
    if runs("sync") {
        report_sync(&runtime.block_on(sync()));
    }
}

fn report_propagation(p: Propagation) {
    let (p50, p99) = (percentile(&p.latencies, 50), percentile(&p.latencies, 99));
    println!(
        "propagation of a {PROPAGATION_TXS}-tx block, node 0 → last of {} ({} blocks, {:.1} peers/node):",
        NODES - 1,
        p.latencies.len(),
        p.mean_peers
    );
    println!("  p50 {:>8.1} ms", p50.as_secs_f64() * 1e3);
    println!(
        "  p99 {:>8.1} ms   (goal ≤ 100 ms)",
        p99.as_secs_f64() * 1e3
    );
    println!(
        "  max {:>8.1} ms",
        p.latencies.last().expect("measured").as_secs_f64() * 1e3
    );
}

fn report_sync(s: &Sync) {
    let connect_tx = s.txs as f64 / s.connect.as_secs_f64();
    println!(
        "\nsync of a new node, {} blocks × {SYNC_TXS} txs, headers first:",
        s.blocks
    );
    println!(
        "{:<40} {:>12} {:>12} {:>10}",
        "", "blocks/s", "tx/s", "÷ connect"
    );
    println!(
        "{:<40} {:>12.0} {:>12.0} {:>10.2}",
        "chain state connect (same blocks)",
        s.blocks as f64 / s.connect.as_secs_f64(),
        connect_tx,
        1.0
    );
    let row = |what: &str, joined: &Joined, goal: &str| {
        let tx_rate = s.txs as f64 / joined.total.as_secs_f64();
        println!(
            "{what:<40} {:>12.0} {tx_rate:>12.0} {:>10.2}   (goal ≥ {goal})",
            s.blocks as f64 / joined.total.as_secs_f64(),
            tx_rate / connect_tx
        );
        let syncing = joined.total.saturating_sub(joined.startup);
        println!(
            "  of which process start {:.2} s; from REST up: {:.0} blocks/s, {:.2} ÷ connect",
            joined.startup.as_secs_f64(),
            s.blocks as f64 / syncing.as_secs_f64(),
            s.txs as f64 / syncing.as_secs_f64() / connect_tx
        );
    };
    row("sync over the network", &s.sync, "0.80");
    row("sync with --assume-valid at the tip", &s.assumed, "3.00");
    println!(
        "  blocks whose signatures were assumed: {}",
        s.blocks_assumed
    );
}
