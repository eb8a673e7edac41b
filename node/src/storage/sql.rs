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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::entities::{
    address_balances, address_txs, block_undo, blocks, chain_state, explorer_index, mempool,
    transactions, utxos,
};
use super::{AddressBalance, ChainStore, ChainTip, MempoolRecord, StoreError, StoreTxn};
use crate::chain::changes::BalanceDelta;
use crate::chain::explorer::BlockRecords;
use crate::chain::{BlockChanges, BlockStatus, ChainDiff, IndexEntry, UndoData, UtxoCommitment};
use crate::consensus::{Coin, Network};
use crate::primitives::{
    Address, Amount, Block, BlockHash, BlockHeader, Height, OutPoint, TxOut, Txid, Work, decode,
    encode,
};

/// The `blocks` columns of an index entry: hash, height, header, chain work, status, sequence.
type IndexRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>, String, i64);

/// Rows per multi-row statement: far below SQLite's 32,766 and PostgreSQL's 65,535 bind
/// parameters for our widest table (9 columns).
const BATCH_ROWS: usize = 1_000;

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

/// The height of every block row, by hash: a read by hash needs it to use the key of
/// `blocks`, as Bitcoin Core finds a block on disk through its in-memory index. Read from
/// the table at open, and extended by a transaction's new rows only once it has committed,
/// so it never names a row the database does not hold. Rows of `blocks` are never deleted.
/// One process writes a database (the node); a store opened beside it knows the blocks of
/// the moment it opened.
/// (About 50 bytes a block: 5 MB at height 100,000.)
#[derive(Debug, Default)]
struct BlockHeights(RwLock<HashMap<BlockHash, Height>>);

impl BlockHeights {
    async fn load(db: &DatabaseConnection) -> Result<Self, StoreError> {
        let rows: Vec<(Vec<u8>, i64)> = blocks::Entity::find()
            .select_only()
            .columns([blocks::Column::Hash, blocks::Column::Height])
            .into_tuple()
            .all(db)
            .await?;
        let map = rows
            .iter()
            .map(|(hash, height)| Ok((hash_from(hash, "blocks")?, height_from(*height, "blocks")?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(Self(RwLock::new(map)))
    }

    fn get(&self, hash: &BlockHash) -> Option<Height> {
        self.0.read().expect("not poisoned").get(hash).copied()
    }

    fn extend(&self, committed: HashMap<BlockHash, Height>) {
        self.0.write().expect("not poisoned").extend(committed);
    }
}

/// The key of a block row.
pub(super) type BlockKey = (Height, BlockHash);

/// Rows of `blocks` with any of `keys` (not empty), in a form both backends answer from the
/// key: `(height = ? AND hash = ?) OR ...`. (SQLite takes a row-value `IN` only with a
/// subquery, and `height IN .. AND hash IN ..` would probe every pair.)
pub(super) fn blocks_with(keys: &[BlockKey]) -> Condition {
    keys.iter().fold(Condition::any(), |any, (height, hash)| {
        any.add(
            Condition::all()
                .add(blocks::Column::Height.eq(i64::from(height.get())))
                .add(blocks::Column::Hash.eq(hash.as_bytes().to_vec())),
        )
    })
}

/// Rows per `blocks_with` statement: two bound parameters each.
pub(super) const KEYS_PER_STATEMENT: usize = 250;

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

/// A database transaction of a [`SqlStore`].
#[derive(Debug)]
pub struct SqlTxn {
    txn: DatabaseTransaction,
    network: Network,
    heights: Arc<BlockHeights>,
    /// Block rows this transaction wrote, for [`BlockHeights`] once it commits.
    written: HashMap<BlockHash, Height>,
}

impl SqlTxn {
    fn block_key(&self, hash: &BlockHash) -> Option<BlockKey> {
        let height = self.written.get(hash).copied();
        height
            .or_else(|| self.heights.get(hash))
            .map(|h| (h, *hash))
    }

    fn keys_of(&self, hashes: &[BlockHash]) -> Vec<BlockKey> {
        hashes.iter().filter_map(|h| self.block_key(h)).collect()
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
        Ok(SqlTxn {
            txn: self.db.begin().await?,
            network: self.network,
            heights: Arc::clone(&self.heights),
            written: HashMap::new(),
        })
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

/// Header rows per insert statement: 15 columns each stays far below SQLite's and
/// PostgreSQL's limits on bound parameters.
const HEADERS_PER_STATEMENT: usize = 500;

/// The row of an index entry, without a body.
fn header_row(entry: &IndexEntry) -> blocks::ActiveModel {
    blocks::ActiveModel {
        hash: Set(entry.hash.as_bytes().to_vec()),
        height: Set(i64::from(entry.height.get())),
        prev_hash: Set(entry.header.prev_blockhash.as_bytes().to_vec()),
        header: Set(entry.header.to_bytes().to_vec()),
        time: Set(i64::from(entry.header.time)),
        bits: Set(i64::from(entry.header.bits.to_consensus())),
        nonce: Set(i64::from(entry.header.nonce)),
        chain_work: Set(entry.chain_work.to_be_bytes().to_vec()),
        status: Set(entry.status.as_str().to_owned()),
        main_chain: Set(false),
        sequence: Set(sequence_to_db(entry.sequence)),
        tx_count: Set(None),
        size: Set(None),
        miner_address: Set(None),
        data: Set(None),
    }
}

impl StoreTxn for SqlTxn {
    async fn insert_headers(&mut self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        for chunk in entries.chunks(HEADERS_PER_STATEMENT) {
            blocks::Entity::insert_many(chunk.iter().map(header_row))
                .on_conflict_do_nothing()
                .exec(&self.txn)
                .await?;
        }
        self.written
            .extend(entries.iter().map(|e| (e.hash, e.height)));
        Ok(())
    }

    async fn insert_block(
        &mut self,
        entry: &IndexEntry,
        body: Option<&Block>,
    ) -> Result<(), StoreError> {
        self.written.insert(entry.hash, entry.height);
        let mut row = header_row(entry);
        let Some(block) = body else {
            blocks::Entity::insert(row)
                .on_conflict_do_nothing()
                .exec(&self.txn)
                .await?;
            return Ok(());
        };
        // A header stored earlier (headers-first sync) gets its body, status and sequence.
        set_body(&mut row, block);
        let on_conflict = OnConflict::columns([blocks::Column::Height, blocks::Column::Hash])
            .update_columns([
                blocks::Column::Status,
                blocks::Column::Sequence,
                blocks::Column::TxCount,
                blocks::Column::Size,
                blocks::Column::MinerAddress,
                blocks::Column::Data,
            ])
            .to_owned();
        blocks::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    async fn set_status(
        &mut self,
        hashes: &[BlockHash],
        status: BlockStatus,
    ) -> Result<(), StoreError> {
        for chunk in self.keys_of(hashes).chunks(KEYS_PER_STATEMENT) {
            blocks::Entity::update_many()
                .col_expr(blocks::Column::Status, Expr::value(status.as_str()))
                .filter(blocks_with(chunk))
                .exec(&self.txn)
                .await?;
        }
        Ok(())
    }

    async fn block(&mut self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        read_block(&self.txn, self.block_key(hash)).await
    }

    async fn undo(&mut self, hash: &BlockHash) -> Result<Option<UndoData>, StoreError> {
        read_undo(&self.txn, hash).await
    }

    async fn coins(
        &mut self,
        outpoints: &[OutPoint],
    ) -> Result<HashMap<OutPoint, Coin>, StoreError> {
        read_coins(&self.txn, outpoints).await
    }

    async fn apply(&mut self, diff: &ChainDiff) -> Result<(), StoreError> {
        let db = &self.txn;
        let gone: Vec<BlockKey> = diff
            .disconnected()
            .iter()
            .map(|b| (b.height, b.hash))
            .collect();
        for chunk in gone.chunks(BATCH_ROWS) {
            let hashes = chunk.iter().map(|(_, hash)| hash.as_bytes().to_vec());
            block_undo::Entity::delete_many()
                .filter(block_undo::Column::BlockHash.is_in(hashes))
                .exec(db)
                .await?;
        }
        set_main_chain(db, &gone, false).await?;
        delete_utxos(db, &diff.utxos_to_delete()).await?;
        insert_utxos(db, &diff.utxos_to_insert()).await?;
        let joined = diff.connected();
        let height = joined
            .last()
            .map(|c| c.height)
            .or(diff.disconnected().last().map(|b| b.height));
        apply_balances(
            db,
            &diff.balance_deltas(),
            height.unwrap_or(Height::GENESIS),
        )
        .await?;
        insert_undo(db, joined).await?;
        let joined: Vec<BlockKey> = joined.iter().map(|c| (c.height, c.hash)).collect();
        set_main_chain(db, &joined, true).await?;
        Ok(())
    }

    async fn set_tip(&mut self, tip: &ChainTip) -> Result<(), StoreError> {
        debug_assert_eq!(tip.network, self.network);
        let row = chain_state::ActiveModel {
            id: Set(1),
            network: Set(tip.network.as_str().to_owned()),
            tip_hash: Set(tip.hash.as_bytes().to_vec()),
            tip_height: Set(i64::from(tip.height.get())),
            utxo_commitment: Set(tip.utxo_commitment.to_bytes().to_vec()),
            utxo_count: Set(signed(tip.utxo_count)),
            total_amount: Set(signed(tip.total_amount.units())),
        };
        let update_all = OnConflict::column(chain_state::Column::Id)
            .update_columns([
                chain_state::Column::TipHash,
                chain_state::Column::TipHeight,
                chain_state::Column::UtxoCommitment,
                chain_state::Column::UtxoCount,
                chain_state::Column::TotalAmount,
            ])
            .to_owned();
        chain_state::Entity::insert(row)
            .on_conflict(update_all)
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    async fn rewind_index(&mut self, above: Option<Height>) -> Result<(), StoreError> {
        let floor = above.map_or(-1, |h| i64::from(h.get()));
        transactions::Entity::delete_many()
            .filter(transactions::Column::Height.gt(floor))
            .exec(&self.txn)
            .await?;
        address_txs::Entity::delete_many()
            .filter(address_txs::Column::Height.gt(floor))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    async fn index_blocks(
        &mut self,
        blocks: &[(BlockHash, Height, BlockRecords)],
    ) -> Result<(), StoreError> {
        let Some((last_hash, last_height, _)) = blocks.last() else {
            return Ok(());
        };
        insert_transactions(&self.txn, blocks).await?;
        insert_history(&self.txn, blocks).await?;
        let row = explorer_index::ActiveModel {
            id: Set(1),
            tip_hash: Set(last_hash.as_bytes().to_vec()),
            tip_height: Set(i64::from(last_height.get())),
        };
        let on_conflict = OnConflict::column(explorer_index::Column::Id)
            .update_columns([
                explorer_index::Column::TipHash,
                explorer_index::Column::TipHeight,
            ])
            .to_owned();
        explorer_index::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    async fn mempool_insert(&mut self, records: &[MempoolRecord]) -> Result<(), StoreError> {
        for chunk in records.chunks(BATCH_ROWS) {
            let rows = chunk.iter().map(|r| {
                let raw = encode(&r.tx);
                mempool::ActiveModel {
                    txid: Set(r.tx.txid().as_bytes().to_vec()),
                    size: Set(i32::try_from(raw.len()).expect("a transaction is under 1 MiB")),
                    raw: Set(raw),
                    fee: Set(signed(r.fee.units())),
                    added_at: Set(signed(r.added_at)),
                }
            });
            mempool::Entity::insert_many(rows)
                .on_conflict_do_nothing()
                .exec(&self.txn)
                .await?;
        }
        Ok(())
    }

    async fn mempool_remove(&mut self, txids: &[Txid]) -> Result<(), StoreError> {
        for chunk in txids.chunks(BATCH_ROWS) {
            mempool::Entity::delete_many()
                .filter(mempool::Column::Txid.is_in(chunk.iter().map(|t| t.as_bytes().to_vec())))
                .exec(&self.txn)
                .await?;
        }
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().await?;
        self.heights.extend(self.written);
        Ok(())
    }
}

/// The body of the block row `key` (`None`: no such row, or no body yet).
async fn read_block(
    db: &impl ConnectionTrait,
    key: Option<BlockKey>,
) -> Result<Option<Block>, StoreError> {
    let Some((height, hash)) = key else {
        return Ok(None);
    };
    let id = (hash.as_bytes().to_vec(), i64::from(height.get()));
    let data: Option<Option<Vec<u8>>> = blocks::Entity::find_by_id(id)
        .select_only()
        .column(blocks::Column::Data)
        .into_tuple()
        .one(db)
        .await?;
    match data.flatten() {
        Some(bytes) => decode(&bytes).map(Some).map_err(|e| corrupt("blocks", e)),
        None => Ok(None),
    }
}

async fn read_undo(
    db: &impl ConnectionTrait,
    hash: &BlockHash,
) -> Result<Option<UndoData>, StoreError> {
    let Some(row) = block_undo::Entity::find_by_id(hash.as_bytes().to_vec())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    UndoData::from_bytes(&row.data)
        .map(Some)
        .map_err(|e| corrupt("block_undo", e))
}

async fn read_coins(
    db: &impl ConnectionTrait,
    outpoints: &[OutPoint],
) -> Result<HashMap<OutPoint, Coin>, StoreError> {
    let mut coins = HashMap::with_capacity(outpoints.len());
    for chunk in outpoints.chunks(BATCH_ROWS) {
        let rows = utxos::Entity::find()
            .filter(utxos::Column::Outpoint.is_in(chunk.iter().map(outpoint_key)))
            .all(db)
            .await?;
        for row in rows {
            let (outpoint, coin) = coin_from(row)?;
            coins.insert(outpoint, coin);
        }
    }
    Ok(coins)
}

async fn delete_utxos(
    db: &impl ConnectionTrait,
    coins: &[(OutPoint, Coin)],
) -> Result<(), StoreError> {
    for chunk in coins.chunks(BATCH_ROWS) {
        utxos::Entity::delete_many()
            .filter(utxos::Column::Outpoint.is_in(chunk.iter().map(|(o, _)| outpoint_key(o))))
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn insert_utxos(
    db: &impl ConnectionTrait,
    coins: &[(OutPoint, Coin)],
) -> Result<(), StoreError> {
    for chunk in coins.chunks(BATCH_ROWS) {
        let rows = chunk.iter().map(|(outpoint, coin)| utxos::ActiveModel {
            outpoint: Set(outpoint_key(outpoint)),
            txid: Set(outpoint.txid.as_bytes().to_vec()),
            vout: Set(vout_to_db(outpoint.vout)),
            address: Set(coin.output.address().to_string()),
            amount: Set(signed(coin.output.value.units())),
            height: Set(i64::from(coin.height.get())),
            is_coinbase: Set(coin.is_coinbase),
        });
        utxos::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// Adds each delta to its address's row (creating it), then drops rows left with no UTXO.
async fn apply_balances(
    db: &impl ConnectionTrait,
    deltas: &BTreeMap<Address, BalanceDelta>,
    height: Height,
) -> Result<(), StoreError> {
    let entries: Vec<(&Address, &BalanceDelta)> = deltas.iter().collect();
    for chunk in entries.chunks(BATCH_ROWS) {
        let rows = chunk
            .iter()
            .map(|(address, delta)| address_balances::ActiveModel {
                address: Set(address.to_string()),
                balance: Set(delta.units),
                utxo_count: Set(delta.utxos),
                updated_height: Set(i64::from(height.get())),
            });
        let add = |column: address_balances::Column| {
            Expr::col((address_balances::Entity, column)).add(Expr::col(("excluded", column)))
        };
        let on_conflict = OnConflict::column(address_balances::Column::Address)
            .value(
                address_balances::Column::Balance,
                add(address_balances::Column::Balance),
            )
            .value(
                address_balances::Column::UtxoCount,
                add(address_balances::Column::UtxoCount),
            )
            .update_column(address_balances::Column::UpdatedHeight)
            .to_owned();
        address_balances::Entity::insert_many(rows)
            .on_conflict(on_conflict)
            .exec(db)
            .await?;
        address_balances::Entity::delete_many()
            .filter(
                address_balances::Column::Address.is_in(chunk.iter().map(|(a, _)| a.to_string())),
            )
            .filter(address_balances::Column::UtxoCount.eq(0))
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn insert_transactions(
    db: &impl ConnectionTrait,
    blocks: &[(BlockHash, Height, BlockRecords)],
) -> Result<(), StoreError> {
    let rows: Vec<transactions::ActiveModel> = blocks
        .iter()
        .flat_map(|(hash, height, records)| {
            records
                .transactions
                .iter()
                .map(move |tx| transactions::ActiveModel {
                    txid: Set(tx.txid.as_bytes().to_vec()),
                    wtxid: Set(tx.wtxid.as_bytes().to_vec()),
                    block_hash: Set(hash.as_bytes().to_vec()),
                    height: Set(i64::from(height.get())),
                    position: Set(position_to_db(tx.position)),
                    is_coinbase: Set(tx.is_coinbase),
                    fee: Set(tx.fee.map(|f| signed(f.units()))),
                    size: Set(i32::try_from(tx.size).expect("a transaction is under 1 MiB")),
                })
        })
        .collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        transactions::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn insert_history(
    db: &impl ConnectionTrait,
    blocks: &[(BlockHash, Height, BlockRecords)],
) -> Result<(), StoreError> {
    let rows: Vec<address_txs::ActiveModel> = blocks
        .iter()
        .flat_map(|(_, height, records)| {
            records
                .history
                .iter()
                .map(move |h| address_txs::ActiveModel {
                    height: Set(i64::from(height.get())),
                    position: Set(position_to_db(h.position)),
                    address: Set(h.address.to_string()),
                    txid: Set(h.txid.as_bytes().to_vec()),
                    received: Set(signed(h.received.units())),
                    sent: Set(signed(h.sent.units())),
                })
        })
        .collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        address_txs::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn insert_undo(db: &impl ConnectionTrait, blocks: &[BlockChanges]) -> Result<(), StoreError> {
    let rows: Vec<block_undo::ActiveModel> = blocks
        .iter()
        .map(|block| block_undo::ActiveModel {
            block_hash: Set(block.hash.as_bytes().to_vec()),
            data: Set(block.undo.to_bytes()),
        })
        .collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        block_undo::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Marks blocks on (with status `valid`) or off the main chain.
async fn set_main_chain(
    db: &impl ConnectionTrait,
    keys: &[BlockKey],
    on: bool,
) -> Result<(), StoreError> {
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let mut update =
            blocks::Entity::update_many().col_expr(blocks::Column::MainChain, Expr::value(on));
        if on {
            update = update.col_expr(
                blocks::Column::Status,
                Expr::value(BlockStatus::Valid.as_str()),
            );
        }
        update.filter(blocks_with(chunk)).exec(db).await?;
    }
    Ok(())
}

fn set_body(row: &mut blocks::ActiveModel, block: &Block) {
    let bytes = encode(block);
    row.tx_count = Set(Some(
        i32::try_from(block.transactions.len()).expect("a block is under 1 MiB"),
    ));
    row.size = Set(Some(
        i32::try_from(bytes.len()).expect("a block is under 1 MiB"),
    ));
    row.miner_address = Set(block
        .coinbase()
        .and_then(|cb| cb.outputs.first())
        .map(|o| o.address().to_string()));
    row.data = Set(Some(bytes));
}

// ---- conversions between rows and domain types -------------------------------------------

fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

fn array_from<const N: usize>(bytes: &[u8], table: &'static str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(table, format!("expected {N} bytes, found {}", bytes.len())))
}

pub(super) fn hash_from(bytes: &[u8], table: &'static str) -> Result<BlockHash, StoreError> {
    array_from(bytes, table).map(BlockHash::from_byte_array)
}

fn unsigned_from(value: i64, table: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(table, format!("negative count {value}")))
}

pub(super) fn height_from(value: i64, table: &'static str) -> Result<Height, StoreError> {
    u32::try_from(value)
        .map(Height::new)
        .map_err(|_| corrupt(table, format!("height {value} out of range")))
}

pub(super) fn amount_from(value: i64, table: &'static str) -> Result<Amount, StoreError> {
    let units = unsigned_from(value, table)?;
    Amount::from_units(units).map_err(|e| corrupt(table, e))
}

fn address_from(text: &str, table: &'static str) -> Result<Address, StoreError> {
    text.parse().map_err(|e| corrupt(table, e))
}

/// Amounts (≤ 2.1e15) and counts fit in i64 with room to spare.
fn signed(value: u64) -> i64 {
    i64::try_from(value).expect("amounts and counts fit in i64")
}

/// Sequence `u64::MAX` ("no body yet") is stored as -1.
fn sequence_to_db(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(-1)
}

fn sequence_from_db(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn position_to_db(position: u32) -> i32 {
    i32::try_from(position).expect("a block holds far fewer than 2^31 transactions")
}

/// A vout is a u32 bit-cast to i32 so that every value round-trips.
fn vout_to_db(vout: u32) -> i32 {
    i32::from_ne_bytes(vout.to_ne_bytes())
}

fn vout_from_db(value: i32) -> u32 {
    u32::from_ne_bytes(value.to_ne_bytes())
}

fn outpoint_key(outpoint: &OutPoint) -> Vec<u8> {
    encode(outpoint)
}

pub(super) fn coin_from(row: utxos::Model) -> Result<(OutPoint, Coin), StoreError> {
    let outpoint: OutPoint = decode(&row.outpoint).map_err(|e| corrupt("utxos", e))?;
    debug_assert_eq!(outpoint.vout, vout_from_db(row.vout));
    let address = address_from(&row.address, "utxos")?;
    let output = TxOut {
        value: amount_from(row.amount, "utxos")?,
        pubkey_hash: address.pubkey_hash(),
    };
    Ok((
        outpoint,
        Coin {
            output,
            height: height_from(row.height, "utxos")?,
            is_coinbase: row.is_coinbase,
        },
    ))
}

fn index_entry_from(row: IndexRow) -> Result<IndexEntry, StoreError> {
    let (hash, height, header, work, status, sequence) = row;
    let header: BlockHeader = decode(&header).map_err(|e| corrupt("blocks", e))?;
    let hash = hash_from(&hash, "blocks")?;
    if header.block_hash() != hash {
        return Err(corrupt("blocks", format!("header does not hash to {hash}")));
    }
    Ok(IndexEntry {
        hash,
        header,
        height: height_from(height, "blocks")?,
        chain_work: Work::from_be_bytes(array_from(&work, "blocks")?),
        status: BlockStatus::parse(&status)
            .ok_or_else(|| corrupt("blocks", format!("status {status:?}")))?,
        sequence: sequence_from_db(sequence),
    })
}
