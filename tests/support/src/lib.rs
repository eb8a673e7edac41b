//! Test support shared by every ChainCore test suite (the node crate's integration tests
//! and benches, and the multi-process harness in `tests/`), written once:
//!
//! - [`db`]: a fresh database of either backend per test, dropped after it, and
//!   [`on_both_backends!`] to run one test body on each.
//! - [`eventually`] and [`within`]: waiting for a condition with a deadline, never a fixed
//!   sleep.
//! - [`ceiling`]: the machine's own SHA-256 rate, which the hashing benchmarks report
//!   against.
//!
//! It knows nothing of ChainCore's types, so that it can serve the node crate's own tests.

pub mod ceiling;
pub mod db;

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(25);

/// Waits for `condition` to hold, polling, until `deadline` has passed.
///
/// # Panics
/// With "timed out … waiting for `what`" once the deadline has passed.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(
        within(deadline, condition).await,
        "timed out after {deadline:?} waiting for {what}"
    );
}

/// Whether `condition` holds within `deadline`, polled as by [`eventually`]; for a caller
/// that has more to say than [`eventually`]'s message when it does not (a node's log).
pub async fn within<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
