//! The SeaORM adapter's side of [`StoreTxn`]: a database transaction that writes a chain
//! change in batches (one statement per table per block, chunked under the bind-parameter
//! limits), and reads what it wrote. It decides nothing: `chain` computed what to write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, ExprTrait,
    QueryFilter,
};

use super::entities::{
    address_balances, address_txs, block_undo, blocks, chain_state, explorer_index, mempool,
    transactions, utxos,
};
use super::queries::{
    BATCH_ROWS, BlockHeights, BlockKey, KEYS_PER_STATEMENT, blocks_with, read_block, read_coins,
    read_undo,
};
use super::rows::{header_row, outpoint_key, position_to_db, signed, vout_to_db};
use super::{ChainTip, MempoolRecord, StoreError, StoreTxn};
use crate::chain::changes::BalanceDelta;
use crate::chain::explorer::BlockRecords;
use crate::chain::{BlockChanges, BlockStatus, ChainDiff, IndexEntry, UndoData};
use crate::consensus::{Coin, Network};
use crate::primitives::{Address, Block, BlockHash, Height, OutPoint, Txid, encode};

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
    pub(super) fn new(
        txn: DatabaseTransaction,
        network: Network,
        heights: Arc<BlockHeights>,
    ) -> Self {
        Self {
            txn,
            network,
            heights,
            written: HashMap::new(),
        }
    }

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

/// Header rows per insert statement: 15 columns each stays far below SQLite's and
/// PostgreSQL's limits on bound parameters.
const HEADERS_PER_STATEMENT: usize = 500;

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
