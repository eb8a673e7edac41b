//! `chaincore-cluster`: a local network of ChainCore nodes (see `chaincore_tools::cluster`).
//!
//! ```text
//! chaincore-cluster                   # 3 nodes: REST 5000-5002, P2P 8000-8002, files in .cluster/
//! chaincore-cluster 5 --miners 2      # 5 nodes and 2 miners paying fresh wallets
//! DATABASE_URL=postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres chaincore-cluster
//! chaincore-cluster down              # remove what a stopped cluster left
//! ```
//!
//! Exit codes: 0 stopped by Ctrl-C/SIGTERM, or `down` done; 1 it could not start (or
//! remove), or every process it started exited; 2 bad arguments.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user"
)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chaincore::consensus::Network;
use chaincore_tools::cluster::plan::DEFAULT_DB_PREFIX;
use chaincore_tools::cluster::process::describe;
use chaincore_tools::cluster::status::{render_status, render_summary};
use chaincore_tools::cluster::supervise::unix_now;
use chaincore_tools::cluster::{Board, ClusterError, Event, Options, Stopped, down, run};
use clap::{Parser, Subcommand};

/// Start a local ChainCore network: N nodes (and miners), one table of URLs, Ctrl-C stops all.
#[derive(Debug, Parser)]
#[command(
    name = "chaincore-cluster",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    action: Option<Action>,
    /// How many nodes (1 to 64).
    #[arg(default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    nodes: u16,
    /// How many `chaincore-miner` processes to run, each paying a fresh wallet.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    miners: u16,
    /// The cluster's directory: node data, logs, wallets and cluster.json.
    #[arg(long, global = true, default_value = ".cluster")]
    dir: PathBuf,
    /// REST port of node 0; node i gets this + i.
    #[arg(long, default_value_t = 5000)]
    api_base: u16,
    /// P2P port of node 0; node i gets this + i.
    #[arg(long, default_value_t = 8000)]
    p2p_base: u16,
    /// The network the nodes follow: dev, test or main.
    #[arg(long, default_value = "dev")]
    network: Network,
    /// Hashing threads per miner.
    #[arg(long, default_value_t = 1)]
    miner_threads: usize,
    /// postgres://USER@HOST[:PORT]/ANY: one database per node is created on that server.
    /// A sqlite: URL, or none, gives each node its own SQLite file in its directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The per-node PostgreSQL databases are named <PREFIX>_node<i>.
    #[arg(long, default_value = DEFAULT_DB_PREFIX)]
    db_prefix: String,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Remove what a stopped cluster left: its PostgreSQL databases, then its directory.
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = runtime.block_on(async {
        match cli.action {
            Some(Action::Down) => down(&cli.dir, &mut |e| show(e, &mut Board::new(false))).await,
            None => start(cli).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            match error {
                ClusterError::Plan(_) => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

async fn start(cli: Cli) -> Result<(), ClusterError> {
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            return Err(ClusterError::Io {
                action: "listen for",
                path: "signals".into(),
                reason: e.to_string(),
            });
        }
    };
    let options = Options {
        nodes: cli.nodes,
        miners: cli.miners,
        dir: cli.dir,
        api_base: cli.api_base,
        p2p_base: cli.p2p_base,
        network: cli.network,
        miner_threads: cli.miner_threads,
        database_url: cli.database_url,
        db_prefix: cli.db_prefix,
    };
    let dir = options.dir.clone();
    let mut board = Board::new(std::io::stdout().is_terminal());
    run(options, shutdown, &mut |e| show(e, &mut board)).await?;
    say(&format!(
        "stopped; the logs stay in {} until the next run or `just cluster-down`\n",
        dir.display()
    ));
    Ok(())
}

/// Prints an event, keeping the status block in place on a terminal.
fn show(event: Event, board: &mut Board) {
    let text = match event {
        Event::Note(note) => board.message(&note),
        Event::NodeReady { node_id, url } => board.message(&format!("{node_id} ready at {url}")),
        Event::Ready(summary) => format!("\n{}\n", render_summary(&summary)),
        Event::Status(nodes) => board
            .show(render_status(&nodes, unix_now()))
            .unwrap_or_default(),
        Event::Exited { name, status, log } => board.message(&format!(
            "{name} exited unexpectedly ({status}); its log: {}",
            log.display()
        )),
        Event::Stopping => format!(
            "{}stopping every process the cluster started\n",
            board.freeze()
        ),
        Event::Stopped { name, how } => board.message(&stopped(&name, &how)),
    };
    say(&text);
}

/// Prints `text` as it is. A closed stdout (a pipe whose reader quit) must not stop the
/// supervisor, which still has children to stop: errors are ignored.
fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn stopped(name: &str, how: &Stopped) -> String {
    match how {
        Stopped::Before(status) => {
            format!(
                "  {name} had exited by itself ({})",
                describe(Some(*status))
            )
        }
        Stopped::Terminated(status) => format!("  {name} stopped ({})", describe(Some(*status))),
        Stopped::Killed => format!("  {name} did not stop within 10 s: killed"),
        Stopped::Lost(error) => format!("  {name}: cannot tell whether it stopped: {error}"),
    }
}

/// Completes on SIGINT (Ctrl-C), SIGTERM or SIGHUP. Registered now, before any child starts,
/// so a signal that arrives while they start is not lost.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    })
}
