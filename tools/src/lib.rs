//! ChainCore's command-line tools (miner, wallet, monitor, cluster), which talk to nodes over
//! REST and link the pure core only (`chaincore` with `default-features = false`): no
//! libp2p, no sea-orm. Each binary in `src/bin/` is a thin `main` over a module here.
//!
//! - [`rest`]: a typed REST client for one or several nodes.
//! - [`miner`]: templates, nonce-scanning kernels (SHA-NI and portable), the mining loop.
//! - [`wallet`]: encrypted key files, coin selection, signing, merkle-proof checks.
//! - [`monitor`]: a snapshot of several nodes and their database, and its rendering.
//! - [`cluster`]: a local network of nodes and miners, supervised until Ctrl-C.
//! - [`lab`]: a network of nodes in namespaces on shaped links, put through faults and judged.

pub mod cluster;
pub mod lab;
pub mod miner;
pub mod monitor;
pub mod rest;
pub mod wallet;
