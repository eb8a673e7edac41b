//! `chaincore-miner`: mines blocks for a ChainCore node (see `chaincore_tools::miner`).
//!
//! ```text
//! chaincore-miner --wallet 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa --node http://localhost:5000
//! chaincore-miner --wallet alice.json --node http://localhost:5000 --node http://localhost:5001 --threads 2
//! ```
//!
//! Exit codes: 0 stopped by Ctrl-C/SIGTERM or after `--blocks`; 2 bad arguments (an invalid
//! payout address, an unknown kernel); 4 a node refused to make a template or sent one that
//! cannot be mined.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user"
)]

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chaincore::primitives::{Address, Amount};
use chaincore_tools::miner::kernel::Kernel;
use chaincore_tools::miner::{MinerConfig, MinerEvent, run};
use chaincore_tools::rest::NodeClient;
use clap::Parser;

/// Mine ChainCore blocks on every core, paying a wallet.
#[derive(Debug, Parser)]
#[command(name = "chaincore-miner", version)]
struct Cli {
    /// Where the block rewards go: a P2PKH address, or a wallet file (its address is read;
    /// no passphrase is needed).
    #[arg(long)]
    wallet: String,
    /// A node's REST URL; repeat for failover, in order of preference.
    #[arg(long = "node", default_value = "http://localhost:5000")]
    nodes: Vec<String>,
    /// Hashing threads [default: one per core].
    #[arg(long, conflicts_with = "single_core")]
    threads: Option<usize>,
    /// One thread (same as `--threads 1`).
    #[arg(long)]
    single_core: bool,
    /// The hashing kernel: auto, sha-ni or portable.
    #[arg(long, default_value = "auto")]
    kernel: String,
    /// Hash at most this many times a second in all (to leave the CPU to other work).
    #[arg(long)]
    max_hashrate: Option<f64>,
    /// Stop after this many accepted blocks.
    #[arg(long)]
    blocks: Option<u64>,
    /// How often to poll the node's tip, besides following its events (milliseconds).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Replace a template after this many seconds, to take in new transactions.
    #[arg(long, default_value_t = 30)]
    refresh_secs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match configure(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(mine(config))
}

fn configure(cli: &Cli) -> Result<MinerConfig, String> {
    let payout = payout_address(&cli.wallet)?;
    let nodes = cli
        .nodes
        .iter()
        .map(|n| NodeClient::new(n).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let kernel = match cli.kernel.as_str() {
        "auto" => Kernel::detect(),
        name => Kernel::available()
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                format!("kernel {name:?} is not available on this CPU (try auto or portable)")
            })?,
    };
    let threads = if cli.single_core {
        1
    } else {
        cli.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
    };
    if threads == 0 || threads > 1024 {
        return Err(format!("--threads {threads}: choose 1 to 1024"));
    }
    if cli
        .max_hashrate
        .is_some_and(|h| !(h >= 1.0 && h.is_finite()))
    {
        return Err("--max-hashrate must be at least 1".into());
    }
    Ok(MinerConfig {
        payout,
        nodes,
        threads,
        kernel,
        max_hashrate: cli.max_hashrate,
        poll: Duration::from_millis(cli.poll_ms.max(50)),
        refresh: Duration::from_secs(cli.refresh_secs.max(1)),
        max_blocks: cli.blocks,
    })
}

/// The payout address: given directly, or read from a wallet file.
fn payout_address(wallet: &str) -> Result<Address, String> {
    if let Ok(address) = wallet.parse::<Address>() {
        return Ok(address);
    }
    let path = Path::new(wallet);
    if !path.exists() {
        return Err(format!(
            "--wallet {wallet:?} is neither a valid address nor a wallet file"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a wallet file: {e}", path.display()))?;
    let address = json["address"]
        .as_str()
        .ok_or_else(|| format!("{} has no address", path.display()))?;
    address.parse().map_err(|e| {
        format!(
            "{} holds an invalid address {address:?}: {e}",
            path.display()
        )
    })
}

async fn mine(config: MinerConfig) -> ExitCode {
    let live = std::io::stderr().is_terminal();
    println!(
        "{} mining to {} with {} thread(s), {} kernel, on {}",
        clock(),
        config.payout,
        config.threads,
        config.kernel.name(),
        config
            .nodes
            .iter()
            .map(NodeClient::url)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let status_every = if live {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut print = |event: MinerEvent| show(&event, live);
    match run(config, shutdown_signal(), &mut print, status_every).await {
        Ok(report) => {
            if live {
                eprintln!();
            }
            println!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(4)
        }
    }
}

fn show(event: &MinerEvent, live: bool) {
    let line = match event {
        MinerEvent::Status(report) if live => {
            eprint!("\r\x1b[2K{}", report.status_line());
            return;
        }
        MinerEvent::Status(report) => format!("status {}", report.status_line()),
        MinerEvent::Mining {
            node,
            template_id,
            height,
            txs,
            fees_units,
        } => format!(
            "mining block {height} (template {template_id}, {txs} txs, fees {}) from {node}",
            Amount::from_units(*fees_units)
                .map_or_else(|_| fees_units.to_string(), |a| a.to_string())
        ),
        MinerEvent::Dropped {
            template_id,
            new_tip,
        } => {
            format!("tip moved to {new_tip}: dropped template {template_id}")
        }
        MinerEvent::Found {
            hash,
            height,
            thread,
            extra_nonce,
        } => {
            format!("found block {height} {hash} (thread {thread}, extra-nonce {extra_nonce})")
        }
        MinerEvent::Submitted { hash, result } => {
            let place = if result.on_main_chain {
                "on the main chain"
            } else {
                "not on the main chain"
            };
            format!("submitted {hash}: {} ({place})", result.status)
        }
        MinerEvent::Rejected { hash, error } => format!("block {hash} not taken: {error}"),
        MinerEvent::NodeDown { node, error } => {
            format!("node {node} is down ({error}); trying the next")
        }
        MinerEvent::AllDown { retry_in } => format!("no node answers; retrying in {retry_in:?}"),
    };
    if live {
        eprint!("\r\x1b[2K");
    }
    println!("{} {line}", clock());
}

/// UTC time of day with milliseconds: `14:03:27.512`.
fn clock() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        now.subsec_millis()
    )
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
