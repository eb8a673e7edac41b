//! What the store and its transactions share: the map from block hash to the key of its
//! row, the key condition, the batch sizes, and the reads both run (generic over
//! `ConnectionTrait`, so the same query reads from the pool or from inside a transaction).
//! Nothing here writes.

use std::collections::HashMap;
use std::sync::RwLock;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::StoreError;
use super::entities::{block_undo, blocks, utxos};
use super::rows::{coin_from, corrupt, hash_from, height_from, outpoint_key};
use crate::chain::UndoData;
use crate::consensus::Coin;
use crate::primitives::{Block, BlockHash, Height, OutPoint, decode};

/// Rows per multi-row statement: far below SQLite's 32,766 and PostgreSQL's 65,535 bind
/// parameters for our widest table (9 columns).
pub(super) const BATCH_ROWS: usize = 1_000;

/// The height of every block row, by hash: a read by hash needs it to use the key of
/// `blocks`, as Bitcoin Core finds a block on disk through its in-memory index. Read from
/// the table at open, and extended by a transaction's new rows only once it has committed,
/// so it never names a row the database does not hold. Rows of `blocks` are never deleted.
/// One process writes a database (the node); a store opened beside it knows the blocks of
/// the moment it opened.
/// (About 50 bytes a block: 5 MB at height 100,000.)
#[derive(Debug, Default)]
pub(super) struct BlockHeights(RwLock<HashMap<BlockHash, Height>>);

impl BlockHeights {
    pub(super) async fn load(db: &DatabaseConnection) -> Result<Self, StoreError> {
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

    pub(super) fn get(&self, hash: &BlockHash) -> Option<Height> {
        self.0.read().expect("not poisoned").get(hash).copied()
    }

    pub(super) fn extend(&self, committed: HashMap<BlockHash, Height>) {
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

/// The body of the block row `key` (`None`: no such row, or no body yet).
pub(super) async fn read_block(
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

pub(super) async fn read_undo(
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

pub(super) async fn read_coins(
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
