//! `just bench` → REST API: `GET /status` and `GET /balance/{addr}` (an address holding 1,000
//! UTXOs), requests per second and latency percentiles at 2 and 16 keep-alive connections.
//!
//! The node runs in this process (2 Tokio workers, as `chaincore-node`); the load comes from
//! a small HTTP/1.1 client here, on its own runtime, sharing the same 2 cores. Goal: ≥ 15,000
//! requests/s for /status.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaincore::api::{self, ApiSettings, AppState};
use chaincore::chainstate::ChainOptions;
use chaincore::config::AdminAllow;
use chaincore::consensus::params::DEV;
use chaincore::indexer::Indexer;
use chaincore::ledger::Ledger;
use chaincore::mempool::MempoolConfig;
use chaincore::node::{BlockOrigin, Node, NodeInfo};
use chaincore::primitives::{Amount, TxOut};
use chaincore::storage::SqlStore;
use chaincore::testkit::{TestChain, key, spend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RUN_FOR: Duration = Duration::from_secs(4);
const UTXOS: usize = 1_000;

/// Starts a node on a temporary SQLite database; returns its address and the address that
/// holds `UTXOS` coins.
async fn start_node(dir: &std::path::Path) -> (SocketAddr, String) {
    let url = format!("sqlite://{}/chain.db?mode=rwc", dir.display());
    let store = SqlStore::open(&url, DEV.network).await.expect("store");
    let ledger = Ledger::open(
        store.clone(),
        &DEV,
        ChainOptions::default(),
        MempoolConfig::default(),
        1_900_000_000,
    )
    .await
    .expect("ledger");
    let indexer = Indexer::new(store.clone()).spawn(&chaincore::tasks::Tasks::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let info = NodeInfo {
        node_id: "bench".into(),
        network: DEV.network,
        version: "bench",
        rest_url: format!("http://{addr}"),
    };
    let node = Node::new(info, store, ledger, indexer);

    let (mut chain, coin) = TestChain::with_mature_coin(&DEV, &key(1).address());
    let holder = key(2).address();
    let each = Amount::from_units(Amount::coins(49).units() / UTXOS as u64).expect("an amount");
    let fan_out = spend(
        &[coin],
        &key(1),
        vec![TxOut::to_address(each, &holder); UTXOS],
        &DEV.genesis_hash(),
    );
    chain.mine(&key(9).address(), vec![fan_out]);
    for block in &chain.blocks()[1..] {
        node.submit_block(block.clone(), BlockOrigin::Network)
            .await
            .expect("a valid block");
    }
    let metrics = chaincore::telemetry::init_metrics("bench", "dev", 0).expect("metrics");
    let settings = ApiSettings {
        rate_limit: 0,
        admin_allow: AdminAllow::Loopback,
    };
    let router = api::router(
        AppState {
            node: Arc::clone(&node),
            network: None,
            metrics,
        },
        &settings,
    );
    tokio::spawn(api::serve(listener, router, std::future::pending()));
    (addr, holder.to_string())
}

/// Sends `GET path` over one keep-alive connection until `until`; returns the latencies.
async fn hammer(addr: SocketAddr, path: String, until: Instant) -> Vec<Duration> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut buffer = vec![0u8; 64 * 1024];
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await.expect("write");
        read_response(&mut stream, &mut buffer).await;
        latencies.push(started.elapsed());
    }
    latencies
}

/// Reads one HTTP/1.1 response with a Content-Length body.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..]).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        filled += n;
        let Some(head_end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..head_end]).expect("an HTTP head");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().expect("a length"))
            })
            .expect("a content length");
        while filled < head_end + 4 + length {
            filled += stream.read(&mut buffer[filled..]).await.expect("read");
        }
        return;
    }
}

/// The `percent`th percentile (nearest rank below) of sorted latencies.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() - 1) * percent / 100]
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (addr, holder) = server.block_on(start_node(dir.path()));
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    println!(
        "REST API, node and load generator sharing {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<34} {:>6} {:>12} {:>10} {:>10}",
        "route", "conns", "req/s", "p50", "p99"
    );
    for (name, path) in [
        ("GET /status", "/status".to_owned()),
        (
            &*format!("GET /balance ({UTXOS} UTXOs)"),
            format!("/balance/{holder}"),
        ),
    ] {
        for connections in [2, 16] {
            let until = Instant::now() + RUN_FOR;
            let started = Instant::now();
            let mut latencies: Vec<Duration> = load.block_on(async {
                let tasks: Vec<_> = (0..connections)
                    .map(|_| tokio::spawn(hammer(addr, path.clone(), until)))
                    .collect();
                let mut all = Vec::new();
                for task in tasks {
                    all.extend(task.await.expect("a client task"));
                }
                all
            });
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort_unstable();
            let goal = if path == "/status" {
                "  (goal ≥ 15,000/s)"
            } else {
                ""
            };
            println!(
                "{name:<34} {connections:>6} {:>12.0} {:>10.2?} {:>10.2?}{goal}",
                latencies.len() as f64 / elapsed,
                percentile(&latencies, 50),
                percentile(&latencies, 99),
            );
        }
    }
}
