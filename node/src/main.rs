//! `chaincore-node`: parse the configuration, set up logging, run the node.

use std::process::ExitCode;

use chaincore::config::{Cli, Config};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (check, repair) = (cli.check, cli.repair);
    let config = match Config::resolve(cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("chaincore-node: {error:#}");
            return ExitCode::from(2);
        }
    };
    chaincore::telemetry::init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chaincore-node: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if check || repair {
        return runtime.block_on(maintain(config, repair));
    }
    match runtime.block_on(chaincore::launch::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("chaincore-node: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--check` or `--repair`: a report on stdout, exit 0 when the database is consistent.
#[allow(clippy::print_stdout, reason = "the report is the command's output")]
async fn maintain(config: Config, repair: bool) -> ExitCode {
    use chaincore::maintenance;
    let params = config.network.params();
    let store = match chaincore::storage::SqlStore::open(&config.database_url, config.network).await
    {
        Ok(store) => store,
        Err(error) => {
            eprintln!("chaincore-node: opening the database: {error}");
            return ExitCode::FAILURE;
        }
    };
    if repair {
        match maintenance::repair(store.clone(), params, chaincore::node::unix_now()).await {
            Ok((hash, height)) => {
                println!("repaired: the chain state was rebuilt up to {hash} at height {height}")
            }
            Err(error) => {
                eprintln!("chaincore-node: repair failed: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    match maintenance::check(&store, params).await {
        Ok(report) => {
            for line in &report.fine {
                println!("ok       {line}");
            }
            for line in &report.problems {
                println!("PROBLEM  {line}");
            }
            if report.problems.is_empty() {
                println!("the database is consistent");
                ExitCode::SUCCESS
            } else {
                println!(
                    "the database is inconsistent: run `chaincore-node --repair` with the same --database-url (see docs/storage-faults.md)"
                );
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("chaincore-node: check failed: {error}");
            ExitCode::FAILURE
        }
    }
}
