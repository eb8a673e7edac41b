//! The chain as data: which blocks we know, which branch is active, how to move between
//! branches, and what each block changes. Pure: storage applies what this module computes.
//!
//! - [`index`]: every accepted header with its height, cumulative work and status, and the
//!   choice of the best chain (most work; on a tie, the first seen).
//! - [`reorg`]: [`plan_reorg`], the pure function from (index, active chain, new tip) to the
//!   blocks to disconnect (newest first) and connect (oldest first).
//! - [`changes`]: the UTXO, history and undo changes of connecting or disconnecting a block;
//!   [`diff`] folds a run of them into one batch for storage.
//! - [`explorer`]: the transaction and address-history rows of a block, for the explorer
//!   index that runs behind the chain.
//! - [`coin_cache`]: a bounded copy of part of the committed UTXO set, asked before the
//!   database.
//! - [`commitment`]: an incrementally maintained hash of the whole UTXO set.
//! - [`orphans`]: a bounded pool of blocks whose parent has not arrived.
//! - [`events`]: what the chain tells the mempool, the API and metrics.

pub mod active;
pub mod changes;
pub mod coin_cache;
pub mod commitment;
pub mod diff;
pub mod events;
pub mod explorer;
pub mod index;
pub mod orphans;
pub mod reorg;
pub mod view;

pub use active::ActiveChain;
pub use changes::{BlockChanges, UndoData};
pub use coin_cache::{CacheUsage, CoinCache};
pub use commitment::UtxoCommitment;
pub use diff::{ChainDiff, Lookup};
pub use events::{ChainEvent, ChainUpdate};
pub use index::{BlockIndex, BlockStatus, IndexEntry};
pub use orphans::OrphanPool;
pub use reorg::{ReorgPlan, plan_reorg};
pub use view::ChainView;
