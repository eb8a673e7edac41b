//! `just bench` → lab (root only): fifty nodes of the release build on 50 ± 10 ms links
//! with blocks of about 1 MB (`tests/scenarios/bench-fifty.toml`), measured by the lab.
//!
//! The goals, printed as ratios against figures of the same run:
//! - block propagation p99 (quiet blocks, every other node) ≤ 4 × the peer graph's
//!   diameter × the links' one-way delay, as the relays measured it;
//! - bytes each node sent to other nodes, per MB of block mined, ≤ 3 MB (the transactions'
//!   gossip included: a node that relays a block's transactions and then the block sends
//!   at least twice its size unless blocks are relayed compactly).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on stdout"
)]

use std::path::PathBuf;

use chaincore_tools::lab::scenario::Scenario;
use chaincore_tools::lab::{LabOptions, netns, run};

fn main() {
    if let Some(why) = netns::missing() {
        println!("lab: SKIPPED ({why}; run `just bench` as root)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let release = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| root.join("target"), PathBuf::from)
        .join("release");
    let text = std::fs::read_to_string(root.join("tests/scenarios/bench-fifty.toml"))
        .expect("the bench scenario");
    let scenario = Scenario::from_toml(&text).expect("a valid scenario");
    let options = LabOptions {
        node_binary: release.join("chaincore-node"),
        lab_binary: release.join("chaincore-lab"),
        out_dir: std::env::temp_dir().join("chaincore-bench-lab"),
    };
    for binary in [&options.node_binary, &options.lab_binary] {
        assert!(
            binary.is_file(),
            "{} is missing: `just bench` builds it",
            binary.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let report = runtime
        .block_on(run(scenario, &options))
        .expect("the lab ran");
    print!("{}", report.text());
    let delay = report.latency_produced_ms.p50;
    let p99 = report.propagation_quiet_ms.p99;
    match report.peer_graph_diameter {
        Some(diameter) => {
            let bound = 4.0 * diameter as f64 * delay;
            println!(
                "lab: propagation p99 {p99:.0} ms = {:.2} × (4 × diameter {diameter} × {delay:.1} ms produced) (goal ≤ 1)",
                p99 / bound
            );
        }
        None => println!("lab: the peer graph is not connected"),
    }
    let block_mb: f64 = report
        .blocks
        .iter()
        .map(|b| b.block.size as f64)
        .sum::<f64>()
        / 1e6;
    let per_mb: Vec<f64> = report
        .per_node
        .iter()
        .map(|n| n.sent_bytes as f64 / 1e6 / block_mb)
        .collect();
    let mean = per_mb.iter().sum::<f64>() / per_mb.len() as f64;
    let max = per_mb.iter().copied().fold(0.0, f64::max);
    println!(
        "lab: {block_mb:.1} MB of blocks in {} blocks; MB sent per node per MB of block: mean {mean:.2}, max {max:.2} (goal ≤ 3)",
        report.blocks.len()
    );
}
