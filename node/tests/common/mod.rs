//! Test support shared by the integration tests: databases to run against, a builder of
//! forked chains, and the consistency checks every chain-state test ends with.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

pub mod checks;
pub mod forks;

pub use chaincore_test_support::db;

use chaincore::consensus::Params;
use chaincore::consensus::params::DEV;

/// The node's clock in these tests: well after every block's time.
pub const NOW: u64 = 1_800_000_000;

/// Dev rules with a coinbase maturity of 1, so that a branch can spend its own coins at once.
pub fn quick_params() -> &'static Params {
    Box::leak(Box::new(Params {
        coinbase_maturity: 1,
        ..DEV
    }))
}
