//! The SeaORM adapter of the `ChainStore` port, for PostgreSQL and SQLite alike.
//!
//! Conversions between domain types and rows live here and only here (`TryFrom`-style
//! helpers at the bottom). Queries are generic over `ConnectionTrait`, so the same code reads
//! from the pool or from inside a transaction, and every write takes whole batches: one
//! statement per table per block, chunked to stay under the backends' bind-parameter limits
//! (row-at-a-time writes were measured 10× slower on PostgreSQL).
//!
//! `blocks` is keyed by `(height, hash)`, so that headers, which arrive in height order,
//! append to the key instead of scattering over it; [`BlockHeights`] finds a hash's height.
//!
//! This file holds the store and its reads; `txn` its transactions' writes, `queries` what
//! both share, `rows` the conversions, `pool` the connection pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::entities::{
    address_balances, blocks, chain_state, explorer_index, mempool, transactions, utxos,
};
use super::queries::{
    BlockHeights, BlockKey, KEYS_PER_STATEMENT, blocks_with, read_block, read_coins, read_undo,
};
use super::rows::{
    IndexRow, address_from, amount_from, array_from, coin_from, corrupt, hash_from, height_from,
    index_entry_from, unsigned_from,
};
use super::txn::SqlTxn;
use super::{AddressBalance, ChainStore, ChainTip, MempoolRecord, StoreError};
use crate::chain::{IndexEntry, UndoData, UtxoCommitment};
use crate::consensus::{Coin, Network};
use crate::primitives::{Address, Block, BlockHash, Height, OutPoint, decode};

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        StoreError::Database(std::sync::Arc::new(e))
    }
}

/// A connection pool to a ChainCore database.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: DatabaseConnection,
    network: Network,
    heights: Arc<BlockHeights>,
}

impl SqlStore {
    /// Forgets the chain state derived from the stored blocks, in one transaction: the UTXO
    /// set, balances, undo data, the explorer index, the main chain and the tip; `valid`
    /// blocks become `data` (to be validated again), and rows in `orphaned` (index rows whose
    /// ancestry does not reach genesis) are deleted. Bodies, headers, `invalid` marks, the
    /// mempool and the node tables are kept. For `chaincore-node --repair` only, with no
    /// node running on the database (the block-height map of other stores would go stale).
    pub async fn reset_chain_state(
        &self,
        orphaned: &[(Height, BlockHash)],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        for table in [
            "utxos",
            "address_balances",
            "block_undo",
            "transactions",
            "address_txs",
            "explorer_index",
            "chain_state",
        ] {
            txn.execute_unprepared(&format!("DELETE FROM {table}"))
                .await?;
        }
        txn.execute_unprepared(
            "UPDATE blocks SET main_chain = FALSE, status = CASE WHEN status = 'valid' \
             THEN 'data' ELSE status END",
        )
        .await?;
        for chunk in orphaned.chunks(KEYS_PER_STATEMENT) {
            blocks::Entity::delete_many()
                .filter(blocks_with(chunk))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://user@host/db`), brings the
    /// schema up to date, and checks the database belongs to `network`.
    pub async fn open(url: &str, network: Network) -> Result<Self, StoreError> {
        let db = super::pool::connect(url).await?;
        let heights = Arc::new(BlockHeights::load(&db).await?);
        let store = Self {
            db,
            network,
            heights,
        };
        if let Some(row) = chain_state::Entity::find_by_id(1).one(&store.db).await?
            && row.network != network.as_str()
        {
            return Err(StoreError::WrongNetwork {
                expected: network,
                found: row.network,
            });
        }
        Ok(store)
    }

    /// The connection, for the rest of the shell's read-only queries.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// The key of the stored block `hash`, if there is one.
    pub(super) fn block_key(&self, hash: &BlockHash) -> Option<BlockKey> {
        self.heights.get(hash).map(|height| (height, *hash))
    }
}

impl ChainStore for SqlStore {
    type Txn = SqlTxn;

    async fn main_chain_from(
        &self,
        from: Height,
        limit: usize,
    ) -> Result<Vec<(Height, BlockHash)>, StoreError> {
        self.read_main_chain_from(from, limit).await
    }

    async fn index_tip(&self) -> Result<Option<(BlockHash, Height)>, StoreError> {
        let Some(row) = explorer_index::Entity::find_by_id(1).one(&self.db).await? else {
            return Ok(None);
        };
        Ok(Some((
            hash_from(&row.tip_hash, "explorer_index")?,
            height_from(row.tip_height, "explorer_index")?,
        )))
    }

    async fn indexed_block_at(&self, height: Height) -> Result<Option<BlockHash>, StoreError> {
        let row: Option<Vec<u8>> = transactions::Entity::find()
            .select_only()
            .column(transactions::Column::BlockHash)
            .filter(transactions::Column::Height.eq(i64::from(height.get())))
            .filter(transactions::Column::Position.eq(0))
            .into_tuple()
            .one(&self.db)
            .await?;
        row.map(|h| hash_from(&h, "transactions")).transpose()
    }

    async fn begin(&self) -> Result<SqlTxn, StoreError> {
        let txn = self.db.begin().await?;
        Ok(SqlTxn::new(txn, self.network, Arc::clone(&self.heights)))
    }

    async fn tip(&self) -> Result<Option<ChainTip>, StoreError> {
        let Some(row) = chain_state::Entity::find_by_id(1).one(&self.db).await? else {
            return Ok(None);
        };
        Ok(Some(ChainTip {
            network: self.network,
            hash: hash_from(&row.tip_hash, "chain_state")?,
            height: height_from(row.tip_height, "chain_state")?,
            utxo_commitment: UtxoCommitment::from_bytes(array_from(
                &row.utxo_commitment,
                "chain_state",
            )?),
            utxo_count: unsigned_from(row.utxo_count, "chain_state")?,
            total_amount: amount_from(row.total_amount, "chain_state")?,
        }))
    }

    async fn load_index(&self) -> Result<Vec<IndexEntry>, StoreError> {
        let rows: Vec<IndexRow> = blocks::Entity::find()
            .select_only()
            .columns([
                blocks::Column::Hash,
                blocks::Column::Height,
                blocks::Column::Header,
                blocks::Column::ChainWork,
                blocks::Column::Status,
                blocks::Column::Sequence,
            ])
            .order_by_asc(blocks::Column::Height)
            .into_tuple()
            .all(&self.db)
            .await?;
        let entries: Vec<IndexEntry> = rows
            .into_iter()
            .map(index_entry_from)
            .collect::<Result<_, _>>()?;
        // A commit whose answer was lost (the connection dropped during COMMIT) may have
        // written rows this map never heard of: the chain state reloads the index after
        // any storage error, and the map learns them here.
        self.heights
            .extend(entries.iter().map(|e| (e.hash, e.height)).collect());
        Ok(entries)
    }

    async fn main_chain(&self) -> Result<Vec<BlockHash>, StoreError> {
        let rows: Vec<Vec<u8>> = blocks::Entity::find()
            .select_only()
            .column(blocks::Column::Hash)
            .filter(blocks::Column::MainChain.eq(true))
            .order_by_asc(blocks::Column::Height)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.iter().map(|h| hash_from(h, "blocks")).collect()
    }

    async fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        read_block(&self.db, self.block_key(hash)).await
    }

    async fn undo(&self, hash: &BlockHash) -> Result<Option<UndoData>, StoreError> {
        read_undo(&self.db, hash).await
    }

    async fn coins(&self, outpoints: &[OutPoint]) -> Result<HashMap<OutPoint, Coin>, StoreError> {
        read_coins(&self.db, outpoints).await
    }

    async fn mempool(&self) -> Result<Vec<MempoolRecord>, StoreError> {
        let rows = mempool::Entity::find()
            .order_by_asc(mempool::Column::AddedAt)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(MempoolRecord {
                    tx: decode(&row.raw).map_err(|e| corrupt("mempool", e))?,
                    fee: amount_from(row.fee, "mempool")?,
                    added_at: unsigned_from(row.added_at, "mempool")?,
                })
            })
            .collect()
    }

    async fn utxo_set(&self) -> Result<HashMap<OutPoint, Coin>, StoreError> {
        let rows = utxos::Entity::find().all(&self.db).await?;
        rows.into_iter().map(coin_from).collect()
    }

    async fn balances(&self) -> Result<BTreeMap<Address, AddressBalance>, StoreError> {
        let rows = address_balances::Entity::find().all(&self.db).await?;
        rows.into_iter()
            .map(|row| {
                let address = address_from(&row.address, "address_balances")?;
                let balance = amount_from(row.balance, "address_balances")?;
                Ok((
                    address,
                    AddressBalance {
                        balance,
                        utxo_count: unsigned_from(row.utxo_count, "address_balances")?,
                    },
                ))
            })
            .collect()
    }
}

impl SqlStore {
    async fn read_main_chain_from(
        &self,
        from: Height,
        limit: usize,
    ) -> Result<Vec<(Height, BlockHash)>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = blocks::Entity::find()
            .select_only()
            .columns([blocks::Column::Height, blocks::Column::Hash])
            .filter(blocks::Column::MainChain.eq(true))
            .filter(blocks::Column::Height.gte(i64::from(from.get())))
            .order_by_asc(blocks::Column::Height)
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.iter()
            .map(|(h, hash)| Ok((height_from(*h, "blocks")?, hash_from(hash, "blocks")?)))
            .collect()
    }
}
