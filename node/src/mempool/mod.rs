//! The mempool: valid transactions waiting for a block, and the block templates built from
//! them.
//!
//! - [`pool`]: the [`Mempool`] and its indexes, [`MempoolConfig`], the read API.
//! - [`accept`]: validation (consensus against chain + mempool, then policy) and eviction.
//! - [`maintain`]: connected blocks, reorgs and expiry.
//! - [`template`]: ancestor-package selection and [`BlockTemplate`]s.
//! - [`snapshot`]: the pool as readers see it, shared in O(1).
//! - [`delta`]: how the pool's membership changed across writes, for the shell to persist.
//! - [`fee_rate`], [`entry`], [`error`], [`view`]: the types they share.
//!
//! Pure core: no clock (times are `now: u64` arguments, Unix seconds), no storage (the chain
//! comes in as a `UtxoView`), no network, no globals. The node's shell owns a `Mempool`,
//! feeds it transactions and chain events, and persists [`Mempool::entries_for_persistence`].

pub mod accept;
pub mod delta;
pub mod entry;
pub mod error;
pub mod fee_rate;
mod invariants;
pub mod maintain;
pub mod pool;
pub mod rejects;
pub mod snapshot;
pub mod template;
pub mod view;

#[cfg(test)]
mod tests;

pub use accept::Accepted;
pub use delta::MempoolDelta;
pub use entry::{MempoolEntry, PackageStats};
pub use error::MempoolError;
pub use fee_rate::FeeRate;
pub use maintain::{ReaddReport, Removed};
pub use pool::{Mempool, MempoolConfig};
pub use snapshot::{MempoolSnapshot, PooledTx};
pub use template::{BlockTemplate, Selection, TipInfo, build_template, select_transactions};
pub use view::PoolView;
