//! `chaincore-node`: parse the configuration, set up logging, run the node.

use std::process::ExitCode;

use chaincore::config::{Cli, Config};
use clap::Parser;

fn main() -> ExitCode {
    let config = match Config::resolve(Cli::parse()) {
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
    match runtime.block_on(chaincore::launch::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("chaincore-node: {error:#}");
            ExitCode::FAILURE
        }
    }
}
