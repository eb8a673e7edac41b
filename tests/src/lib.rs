//! ChainCore's multi-process test harness: real `chaincore-node` processes on loopback
//! ports, a REST client, and a test-side miner.
//!
//! - [`node`]: start a node (SQLite or PostgreSQL behind it) on port 0, wait for its ready
//!   line, stop it (SIGTERM, then SIGKILL) when dropped; never a process it did not start.
//! - [`client`]: typed calls to the REST API, each answer held to the node's OpenAPI
//!   document ([`contract`]); [`events`]: its event stream.
//! - [`miner`]: solve templates from `/mine_block` at dev difficulty and submit them.
//! - [`wallet`]: signed payments from a node's listed coins.
//! - [`tools`]: the miner, wallet and monitor binaries as child processes.
//! - [`netns`], [`partition`]: network namespaces on a bridge, links cut and healed, and a
//!   network of nodes in them for partition scenarios (root only).
//! - [`peer`]: a bare libp2p peer speaking ChainCore's protocols, for misbehaving on purpose.
//! - [`pgserver`]: a private PostgreSQL server to stop and start under a node.
//! - [`db`], [`eventually`], [`within`], [`on_both_backends!`]: from
//!   `chaincore-test-support`, shared with the node crate's tests.

pub use chaincore_test_support::{db, eventually, on_both_backends, within};

pub mod client;
pub mod contract;
pub mod events;
pub mod miner;
pub mod minimal_peer;
pub use chaincore_tools::lab::netns;
pub mod node;
pub mod partition;
pub mod peer;
pub use chaincore_tools::lab::postgres as pgserver;
pub mod tools;
pub mod wallet;
