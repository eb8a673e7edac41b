//! `chaincore-lab`: run a network scenario in network namespaces (see `chaincore_tools::lab`).
//!
//! ```text
//! chaincore-lab tests/scenarios/twelve.toml           # as root; report in .lab/twelve/
//! chaincore-lab tests/scenarios/fifty.toml --out /tmp/fifty
//! chaincore-lab relay --listen 0.0.0.0:9100 --delay-ms 50 --jitter-ms 10 --stats s.json
//! ```
//!
//! Exit codes: 0 the history check passed; 1 it failed, or the lab could not run; 2 bad
//! arguments or a bad scenario file.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chaincore_tools::lab::relay::{RelayOptions, serve};
use chaincore_tools::lab::scenario::Scenario;
use chaincore_tools::lab::{LabOptions, default_out_dir, run};
use clap::{Parser, Subcommand};

/// Run a ChainCore network scenario: nodes in namespaces, shaped links, faults, a verdict.
#[derive(Debug, Parser)]
#[command(
    name = "chaincore-lab",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    action: Option<Action>,
    /// The scenario file (TOML; see tests/scenarios/ and the README).
    scenario: Option<PathBuf>,
    /// Where the nodes' files and the report go [default: .lab/<scenario name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The node binary [default: chaincore-node beside this executable].
    #[arg(long)]
    node_binary: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// The delay relay the lab runs inside each namespace (not for direct use).
    Relay {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        delay_ms: f64,
        #[arg(long, default_value_t = 0.0)]
        jitter_ms: f64,
        #[arg(long)]
        stats: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match cli.action {
        Some(Action::Relay {
            listen,
            delay_ms,
            jitter_ms,
            stats,
        }) => {
            let options = RelayOptions {
                listen,
                delay: Duration::from_secs_f64(delay_ms / 1000.0),
                jitter: Duration::from_secs_f64(jitter_ms / 1000.0),
                stats,
            };
            match runtime.block_on(serve(options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("chaincore-lab relay: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => runtime.block_on(lab(cli.scenario, cli.out, cli.node_binary)),
    }
}

async fn lab(
    scenario: Option<PathBuf>,
    out: Option<PathBuf>,
    node_binary: Option<PathBuf>,
) -> ExitCode {
    let Some(path) = scenario else {
        eprintln!("chaincore-lab: give a scenario file, e.g. tests/scenarios/twelve.toml");
        return ExitCode::from(2);
    };
    let scenario = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| Scenario::from_toml(&text).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chaincore-lab: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let Ok(me) = std::env::current_exe() else {
        eprintln!("chaincore-lab: cannot find this executable");
        return ExitCode::FAILURE;
    };
    let beside = me.parent().map(PathBuf::from).unwrap_or_default();
    let options = LabOptions {
        node_binary: node_binary.unwrap_or_else(|| beside.join("chaincore-node")),
        lab_binary: me.clone(),
        out_dir: out.unwrap_or_else(|| default_out_dir(&scenario)),
    };
    if !options.node_binary.is_file() {
        eprintln!(
            "chaincore-lab: {} is missing: `cargo build -p chaincore --bin chaincore-node`",
            options.node_binary.display()
        );
        return ExitCode::FAILURE;
    }
    match run(scenario, &options).await {
        Ok(report) => {
            print!("\n{}", report.text());
            match report.write(&options.out_dir) {
                Ok((json, html)) => println!("report: {} and {}", json.display(), html.display()),
                Err(e) => eprintln!("chaincore-lab: cannot write the report: {e}"),
            }
            if report.verdict.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("chaincore-lab: {e}");
            ExitCode::FAILURE
        }
    }
}
