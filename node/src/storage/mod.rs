//! Storage: the `ChainStore` port, in domain terms, and its SeaORM adapter.
//!
//! The port speaks blocks, coins and change sets; SQL rows never leave [`sql`]. Everything
//! that changes the chain happens inside a [`StoreTxn`]: connecting, disconnecting or
//! reorganizing is one database transaction, so a crash at any instant leaves the database
//! on one complete chain. One adapter serves PostgreSQL and SQLite, chosen by URL.
//!
//! This module decides nothing: what to write is computed by `chain`; when, by `chainstate`.

mod entities;
pub mod node_tables;
mod pool;
mod queries;
pub mod reads;
mod rows;
pub mod sql;
mod txn;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use thiserror::Error;

use crate::chain::explorer::BlockRecords;
use crate::chain::{BlockStatus, ChainDiff, IndexEntry, UndoData, UtxoCommitment};
use crate::consensus::{Coin, Network};
use crate::primitives::{Address, Amount, Block, BlockHash, Height, OutPoint, Transaction, Txid};

pub use node_tables::{KnownPeer, MiningRecord};
pub use reads::{AddressStats, BodyFacts, HistoryCursor, HistoryEntry, TxLocation};
pub use sql::SqlStore;
pub use txn::SqlTxn;

/// Why storage failed. The message names the table or the operation; a database error
/// keeps the driver's error as its source (shared, so a failure reported to every job that
/// waited on one transaction is the same error).
#[derive(Clone, Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// The chain state above the store stopped being trustworthy (a writer that stopped,
    /// a commit rolled back); it is reloaded like after a database error.
    #[error("the chain state is inconsistent: {0}")]
    Inconsistent(String),
    #[error("corrupt data in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("the database holds the {found} chain, not {expected}")]
    WrongNetwork { expected: Network, found: String },
    /// The node lost its database and has not got it back yet: nothing was tried.
    #[error("the database is unavailable (since {since}, Unix time): {cause}")]
    Down { since: u64, cause: String },
}

/// The tip and the UTXO-set totals, as committed with the last change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTip {
    pub network: Network,
    pub hash: BlockHash,
    pub height: Height,
    pub utxo_commitment: UtxoCommitment,
    pub utxo_count: u64,
    /// The sum of every unspent output: the money supply.
    pub total_amount: Amount,
}

/// A persisted mempool transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolRecord {
    pub tx: Transaction,
    pub fee: Amount,
    pub added_at: u64,
}

/// An address's row of `address_balances`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressBalance {
    pub balance: Amount,
    pub utxo_count: u64,
}

/// Read access and transactions. Implementations must be cheap to share (`Clone` = handle).
pub trait ChainStore: Clone + Send + Sync + 'static {
    type Txn: StoreTxn;

    /// Starts a database transaction; dropping it without [`StoreTxn::commit`] rolls back.
    fn begin(&self) -> impl Future<Output = Result<Self::Txn, StoreError>> + Send;

    /// The committed tip, or `None` for an empty database.
    fn tip(&self) -> impl Future<Output = Result<Option<ChainTip>, StoreError>> + Send;

    /// Every index entry (headers, work, status, sequence).
    fn load_index(&self) -> impl Future<Output = Result<Vec<IndexEntry>, StoreError>> + Send;

    /// The main chain's hashes from genesis to tip.
    fn main_chain(&self) -> impl Future<Output = Result<Vec<BlockHash>, StoreError>> + Send;

    fn block(
        &self,
        hash: &BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, StoreError>> + Send;

    /// The undo data of a connected block.
    fn undo(
        &self,
        hash: &BlockHash,
    ) -> impl Future<Output = Result<Option<UndoData>, StoreError>> + Send;

    /// The unspent outputs among `outpoints` (absent ones are spent or never existed).
    fn coins(
        &self,
        outpoints: &[OutPoint],
    ) -> impl Future<Output = Result<HashMap<OutPoint, Coin>, StoreError>> + Send;

    fn mempool(&self) -> impl Future<Output = Result<Vec<MempoolRecord>, StoreError>> + Send;

    /// The whole UTXO set (for consistency checks and tests: it can be large).
    fn utxo_set(&self) -> impl Future<Output = Result<HashMap<OutPoint, Coin>, StoreError>> + Send;

    /// Every `address_balances` row.
    fn balances(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<Address, AddressBalance>, StoreError>> + Send;

    /// The main chain's blocks from height `from`, at most `limit` of them, in order.
    fn main_chain_from(
        &self,
        from: Height,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(Height, BlockHash)>, StoreError>> + Send;

    /// How far the explorer index has got: the last block it indexed.
    fn index_tip(
        &self,
    ) -> impl Future<Output = Result<Option<(BlockHash, Height)>, StoreError>> + Send;

    /// The block the explorer index holds at `height` (that of its coinbase), if any.
    fn indexed_block_at(
        &self,
        height: Height,
    ) -> impl Future<Output = Result<Option<BlockHash>, StoreError>> + Send;
}

/// The writes (and the reads they depend on) of one database transaction.
pub trait StoreTxn: Send {
    /// Adds a block to the index, with its body if known; a body for a block stored earlier
    /// as a header alone replaces its status and sequence.
    fn insert_block(
        &mut self,
        entry: &IndexEntry,
        body: Option<&Block>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds headers without bodies to the index (known ones are left as they are), in as
    /// few statements as the database allows.
    fn insert_headers(
        &mut self,
        entries: &[IndexEntry],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn set_status(
        &mut self,
        hashes: &[BlockHash],
        status: BlockStatus,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn block(
        &mut self,
        hash: &BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, StoreError>> + Send;

    fn undo(
        &mut self,
        hash: &BlockHash,
    ) -> impl Future<Output = Result<Option<UndoData>, StoreError>> + Send;

    fn coins(
        &mut self,
        outpoints: &[OutPoint],
    ) -> impl Future<Output = Result<HashMap<OutPoint, Coin>, StoreError>> + Send;

    /// Writes a run of block disconnects and connects: UTXOs, balances, transactions,
    /// history, undo data and main-chain flags, table by table.
    fn apply(&mut self, diff: &ChainDiff) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes the tip row.
    fn set_tip(&mut self, tip: &ChainTip) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops the explorer index rows above `height` (all of them for `None`).
    fn rewind_index(
        &mut self,
        above: Option<Height>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds blocks' explorer index rows and moves the index tip to the last of them.
    fn index_blocks(
        &mut self,
        blocks: &[(BlockHash, Height, BlockRecords)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn mempool_insert(
        &mut self,
        records: &[MempoolRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn mempool_remove(
        &mut self,
        txids: &[Txid],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
