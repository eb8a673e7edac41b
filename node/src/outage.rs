//! Losing the database and getting it back: the node's ledger is either ready or gone.
//!
//! The rule (see `chainstate`): the in-memory chain state never runs ahead of what is
//! committed, as anyone outside the writer can see it. The ledger's memory does run ahead
//! between a change and its flush, so after any storage error it is not trusted: it is
//! closed (its writer stopped) and dropped, and the node serves what it can without it until
//! [`reopen`] has loaded it again from the database, retrying with backoff (crash-only, as a
//! restarted process would, but without the restart).
//!
//! This module must not decide what to do with a block or a transaction; it only holds the
//! ledger or the reason there is none.

use std::time::Duration;

use crate::chainstate::ChainError;
use crate::chainstate::ChainOptions;
use crate::consensus::Params;
use crate::ledger::Ledger;
use crate::mempool::MempoolConfig;
use crate::storage::{SqlStore, StoreError};
use crate::telemetry;

/// The first wait before opening the ledger again, doubled after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// The node's ledger, or why it has none.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one slot per node, behind a lock; boxing the ledger would buy nothing"
)]
pub(crate) enum LedgerSlot {
    Ready(Ledger<SqlStore>),
    Down(Outage),
}

/// A database lost: since when, the last error, and what it takes to open the ledger again.
#[derive(Clone, Debug)]
pub(crate) struct Outage {
    pub since: u64,
    pub cause: String,
    pub params: &'static Params,
    pub chain: ChainOptions,
    pub mempool: MempoolConfig,
}

/// What the node says about its database (`/health`, `/status`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StorageStatus {
    #[default]
    Up,
    Down {
        since: u64,
        cause: String,
    },
}

impl LedgerSlot {
    /// The ledger, or the error for a request that needs it while it is gone.
    pub(crate) fn ready(&mut self) -> Result<&mut Ledger<SqlStore>, StoreError> {
        match self {
            LedgerSlot::Ready(ledger) => Ok(ledger),
            LedgerSlot::Down(outage) => Err(StoreError::Down {
                since: outage.since,
                cause: outage.cause.clone(),
            }),
        }
    }

    /// Takes the ledger out after a storage error; `None` if it was gone already.
    pub(crate) fn lose(&mut self, cause: String, now: u64) -> Option<Ledger<SqlStore>> {
        let LedgerSlot::Ready(ledger) = self else {
            if let LedgerSlot::Down(outage) = self {
                outage.cause = cause;
            }
            return None;
        };
        let outage = Outage {
            since: now,
            cause,
            params: ledger.params(),
            chain: ledger.chain().options(),
            mempool: *ledger.mempool_config(),
        };
        match std::mem::replace(self, LedgerSlot::Down(outage)) {
            LedgerSlot::Ready(ledger) => Some(ledger),
            LedgerSlot::Down(_) => unreachable!("just matched Ready"),
        }
    }
}

impl StorageStatus {
    /// Sets the storage metrics to this status.
    pub(crate) fn record(&self) {
        match self {
            StorageStatus::Up => {
                metrics::gauge!(telemetry::STORAGE_UP).set(1.0);
                metrics::gauge!(telemetry::STORAGE_LOST_TIME).set(0.0);
            }
            StorageStatus::Down { since, .. } => {
                metrics::gauge!(telemetry::STORAGE_UP).set(0.0);
                metrics::gauge!(telemetry::STORAGE_LOST_TIME).set(*since as f64);
            }
        }
    }
}

/// Opens the ledger again from the database, waiting longer after each failure, until it
/// opens; `on_failure` hears each failure's error.
pub(crate) async fn reopen(
    store: &SqlStore,
    outage: &Outage,
    now: impl Fn() -> u64,
    mut on_failure: impl FnMut(String),
) -> Ledger<SqlStore> {
    let mut wait = FIRST_RETRY;
    loop {
        match open_writable(store, outage, now()).await {
            Ok(ledger) => return ledger,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?wait, "the database is still unavailable");
                on_failure(error.to_string());
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// Opens the ledger and proves that the database takes a write: one that answers reads but
/// refuses writes (a full disk) is still lost.
async fn open_writable(
    store: &SqlStore,
    outage: &Outage,
    now: u64,
) -> Result<Ledger<SqlStore>, ChainError> {
    let mut ledger = Ledger::open(
        store.clone(),
        outage.params,
        outage.chain,
        outage.mempool,
        now,
    )
    .await?;
    if let Err(error) = ledger.chain_mut().probe_write().await {
        ledger.close().await;
        return Err(error);
    }
    Ok(ledger)
}
