//! The miner: takes block templates from a node, scans nonces on every thread with the
//! fastest kernel this CPU has, drops a template as soon as the tip moves, and submits what
//! it finds.
//!
//! - [`work`]: a template as hashable work (extra-nonce → coinbase → merkle root → header).
//! - [`kernel`]: nonce-scanning kernels (SHA-NI, portable), chosen at run time.
//! - [`workers`]: the hashing threads, each on its own slice of the work.
//! - [`tip`]: watching the node's tip (event stream, with polling as a fallback).
//! - [`run`]: the loop that ties them to the nodes, with failover and backoff.
//! - [`report`]: hash rates and block tallies for the user.

pub mod kernel;
pub mod report;
pub mod run;
pub mod tip;
pub mod work;
pub mod workers;

pub use run::{MinerConfig, MinerError, MinerEvent, run};
