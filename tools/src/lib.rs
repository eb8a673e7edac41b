//! ChainCore's command-line tools (miner, wallet, monitor, cluster), which talk to nodes over
//! REST and link the pure core only (`chaincore` with `default-features = false`).
//!
//! Empty until the tools issues (#6, #7) add the binaries.
