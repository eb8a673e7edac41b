//! `chaincore-monitor`: watch ChainCore nodes (see `chaincore_tools::monitor`).
//!
//! ```text
//! chaincore-monitor --node http://localhost:5000 --node http://localhost:5001
//! chaincore-monitor --node http://localhost:5000 --database-url sqlite://.cluster/node0/chain.db --status-only
//! ```
//!
//! Exit codes: 0 (with `--status-only`: every node answered and they agree), 1 some node is
//! unreachable or they disagree (`--status-only` only), 2 bad arguments.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user"
)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chaincore_tools::monitor::{agreed_tip, gather, render};
use chaincore_tools::rest::NodeClient;
use clap::Parser;

/// A refreshing view of ChainCore nodes: heights, tips, peers, mempools, recent blocks.
#[derive(Debug, Parser)]
#[command(name = "chaincore-monitor", version)]
struct Cli {
    /// A node's REST URL; repeat for several.
    #[arg(long = "node", default_value = "http://localhost:5000")]
    nodes: Vec<String>,
    /// Also show row counts and the latest blocks from this database (read only).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// Print one snapshot and exit.
    #[arg(long)]
    status_only: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let nodes = match cli
        .nodes
        .iter()
        .map(|n| NodeClient::new(n))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(nodes) => nodes,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if !(cli.interval.is_finite() && cli.interval >= 0.1) {
        eprintln!("error: --interval must be at least 0.1 seconds");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        if cli.status_only {
            let snapshot = gather(&nodes, cli.database_url.as_deref(), unix_now()).await;
            print!("{}", render(&snapshot));
            let healthy =
                snapshot.nodes.iter().all(|n| n.state.is_ok()) && agreed_tip(&snapshot).is_some();
            return if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
        }
        let clear = std::io::stdout().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(cli.interval));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
            }
            let snapshot = gather(&nodes, cli.database_url.as_deref(), unix_now()).await;
            if clear {
                print!("\x1b[2J\x1b[H");
            }
            println!(
                "chaincore-monitor, every {}s (Ctrl-C quits)\n",
                cli.interval
            );
            print!("{}", render(&snapshot));
        }
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
