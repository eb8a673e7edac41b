//! ChainCore: a proof-of-work UTXO blockchain node.
//!
//! # Layout
//!
//! The crate is a pure core wrapped in an I/O shell. Dependencies point inward only:
//!
//! ```text
//!   shell (feature "full"):
//!     launch ─▶ api ──────┐   (api and sync also hold a NetworkHandle)
//!               network ──┼─▶ node ─▶ ledger ─▶ chainstate ─▶ storage
//!               sync ─────┘     └───▶ indexer ─────────────────▲
//!                                 ledger and chainstate stand on the pure core:
//!   pure core:  api_types   mempool ─▶ chain ─▶ consensus ─▶ primitives
//! ```
//!
//! The node knows nothing of the network, the API or sync. REST reads take the node's
//! published snapshot and the store; only writes take the ledger's lock.
//!
//! `docs/architecture.md` maps the shell: who owns what, which lock guards what, and the
//! paths of a gossiped block and of a REST read.
//!
//! - [`primitives`]: hashes, amounts, addresses, keys, headers, transactions, blocks, and the
//!   one canonical byte encoding.
//! - [`consensus`]: network parameters, genesis, proof of work, aserti3-2d, time, subsidy,
//!   coinbase, transaction and block rules; `Block` becomes `ValidatedBlock` only here.
//! - [`chain`]: the block index, best-chain choice, reorg plans, per-block change sets, the
//!   UTXO commitment, the orphan pool and chain events.
//! - [`mempool`]: transactions waiting for a block, and block templates.
//! - [`api_types`]: the JSON shapes of the REST API, which the node serves and the tools read.
//! - `testkit` (feature `testkit`, tests and benchmarks only): builds valid chains in
//!   memory from deterministic keys.
//!
//! The pure core reads no clock, touches no disk or socket and imports none of tokio,
//! libp2p, axum or sea-orm: `cargo check -p chaincore --no-default-features` proves it.

#[cfg(feature = "full")]
pub mod api;
pub mod api_types;
pub mod chain;
#[cfg(feature = "full")]
pub mod chainstate;
#[cfg(feature = "full")]
pub mod config;
pub mod consensus;
#[cfg(feature = "full")]
pub mod devchain;
#[cfg(feature = "full")]
pub mod events;
#[cfg(feature = "full")]
pub mod indexer;
#[cfg(feature = "full")]
pub mod launch;
#[cfg(feature = "full")]
pub mod ledger;
#[cfg(feature = "full")]
pub mod maintenance;
pub mod mempool;
#[cfg(feature = "full")]
pub mod network;
#[cfg(feature = "full")]
pub mod node;
#[cfg(feature = "full")]
pub mod outage;
pub mod primitives;
#[cfg(feature = "full")]
pub mod storage;
#[cfg(feature = "full")]
pub mod sync;
#[cfg(feature = "full")]
pub mod tasks;
#[cfg(feature = "full")]
pub mod telemetry;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
