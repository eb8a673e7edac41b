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
//! - [`db`]: fresh test databases (shared with the node crate's tests).

#[path = "../../node/tests/common/db.rs"]
pub mod db;

pub mod client;
pub mod contract;
pub mod events;
pub mod miner;
pub mod minimal_peer;
pub mod netns;
pub mod node;
pub mod partition;
pub mod peer;
pub mod pgserver;
pub mod tools;
pub mod wallet;

/// Waits for `condition` to hold, polling, until `deadline` has passed.
pub async fn eventually<F, Fut>(what: &str, deadline: std::time::Duration, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(
        within(deadline, condition).await,
        "timed out after {deadline:?} waiting for {what}"
    );
}

/// Whether `condition` holds within `deadline`, polled as by [`eventually`]; for a caller
/// that has more to say than [`eventually`]'s message when it does not (a node's log).
pub async fn within<F, Fut>(deadline: std::time::Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + deadline;
    loop {
        if condition().await {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
