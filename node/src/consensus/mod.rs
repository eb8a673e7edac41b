//! Consensus: the rules every node applies identically, as pure functions.
//!
//! Nothing here reads a clock, a database or the network: the caller passes the time, the
//! parent's context and a [`UtxoView`]. Each rule cites its source (BIP, CVE, ASERT spec).
//!
//! - [`params`]: the `dev`, `test` and `main` constants; [`genesis`] builds their genesis blocks.
//! - [`pow`], [`asert`], [`difficulty`], [`time`]: header rules.
//! - [`subsidy`], [`coinbase`], [`tx`], [`sighash`]: what transactions may do.
//! - [`block`]: block rules and the `Block` → [`ValidatedBlock`] typestate.

pub mod asert;
#[cfg(test)]
mod attacks;
pub mod block;
pub mod coinbase;
pub mod difficulty;
pub mod error;
pub mod genesis;
pub mod params;
pub mod pow;
pub mod sighash;
pub mod subsidy;
pub mod time;
pub mod tx;
pub mod utxo;

pub use block::{
    CheckedBlock, HeaderContext, SignaturesChecked, ValidatedBlock, check_block,
    check_block_contextually, check_header, validate_block, verify_block_signatures,
};
pub use difficulty::next_bits;
pub use error::{BlockError, TxError};
pub use params::{Network, Params};
pub use subsidy::{block_subsidy, total_subsidy};
pub use time::median_time_past;
pub use tx::{ValidTransaction, check_transaction, validate_transaction};
pub use utxo::{Coin, UtxoOverlay, UtxoView};
