//! Read-only queries for the API and tools, in domain terms: blocks by height, where a
//! transaction is, address histories, UTXOs and balances. They read committed data only and
//! never take part in a chain transaction.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect};

use super::SqlStore;
use super::entities::{address_balances, address_txs, blocks, transactions, utxos};
use super::rows::{amount_from, coin_from, hash_from, height_from};
use super::{AddressBalance, StoreError};
use crate::consensus::Coin;
use crate::primitives::{Address, Amount, BlockHash, Height, OutPoint, Txid};

/// Where a main-chain transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub txid: Txid,
    pub block_hash: BlockHash,
    pub height: Height,
    pub position: u32,
    pub fee: Option<Amount>,
    pub size: u32,
}

/// One transaction in an address's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub txid: Txid,
    pub height: Height,
    pub position: u32,
    pub received: Amount,
    pub sent: Amount,
}

/// Where to continue a history listing: strictly before this (height, position).
pub type HistoryCursor = (Height, u32);

impl SqlStore {
    /// The main-chain block at `height`.
    pub async fn main_block_at(&self, height: Height) -> Result<Option<BlockHash>, StoreError> {
        let row: Option<Vec<u8>> = blocks::Entity::find()
            .select_only()
            .column(blocks::Column::Hash)
            .filter(blocks::Column::MainChain.eq(true))
            .filter(blocks::Column::Height.eq(i64::from(height.get())))
            .into_tuple()
            .one(self.connection())
            .await?;
        row.map(|h| hash_from(&h, "blocks")).transpose()
    }

    /// Where the main-chain transaction `txid` is, per the explorer index.
    pub async fn tx_location(&self, txid: &Txid) -> Result<Option<TxLocation>, StoreError> {
        let Some(row) = transactions::Entity::find_by_id(txid.as_bytes().to_vec())
            .one(self.connection())
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "transactions",
            detail,
        };
        Ok(Some(TxLocation {
            txid: *txid,
            block_hash: hash_from(&row.block_hash, "transactions")?,
            height: height_from(row.height, "transactions")?,
            position: u32::try_from(row.position)
                .map_err(|_| corrupt(format!("position {}", row.position)))?,
            fee: row
                .fee
                .map(|f| amount_from(f, "transactions"))
                .transpose()?,
            size: u32::try_from(row.size).map_err(|_| corrupt(format!("size {}", row.size)))?,
        }))
    }

    /// Up to `limit` transactions touching `address`, newest first, strictly before `cursor`.
    pub async fn address_history(
        &self,
        address: &Address,
        cursor: Option<HistoryCursor>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut query = address_txs::Entity::find()
            .filter(address_txs::Column::Address.eq(address.to_string()));
        if let Some((height, position)) = cursor {
            let (h, p) = (i64::from(height.get()), i64::from(position));
            query = query.filter(
                Expr::col(address_txs::Column::Height).lt(h).or(Expr::col(
                    address_txs::Column::Height,
                )
                .eq(h)
                .and(Expr::col(address_txs::Column::Position).lt(p))),
            );
        }
        let rows = query
            .order_by_desc(address_txs::Column::Height)
            .order_by_desc(address_txs::Column::Position)
            .limit(limit)
            .all(self.connection())
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(HistoryEntry {
                    txid: Txid::from_byte_array(
                        hash_from(&row.txid, "address_txs")?.to_byte_array(),
                    ),
                    height: height_from(row.height, "address_txs")?,
                    position: u32::try_from(row.position).unwrap_or_default(),
                    received: amount_from(row.received, "address_txs")?,
                    sent: amount_from(row.sent, "address_txs")?,
                })
            })
            .collect()
    }

    /// The unspent outputs paying `address`, oldest first, at most `limit`.
    pub async fn address_utxos(
        &self,
        address: &Address,
        limit: u64,
    ) -> Result<Vec<(OutPoint, Coin)>, StoreError> {
        let rows = utxos::Entity::find()
            .filter(utxos::Column::Address.eq(address.to_string()))
            .order_by_asc(utxos::Column::Height)
            .order_by_asc(utxos::Column::Outpoint)
            .limit(limit)
            .all(self.connection())
            .await?;
        rows.into_iter().map(coin_from).collect()
    }

    /// The `address_balances` row of `address` (none: it holds nothing).
    pub async fn balance(&self, address: &Address) -> Result<AddressBalance, StoreError> {
        let row = address_balances::Entity::find_by_id(address.to_string())
            .one(self.connection())
            .await?;
        Ok(match row {
            None => AddressBalance {
                balance: Amount::ZERO,
                utxo_count: 0,
            },
            Some(row) => AddressBalance {
                balance: amount_from(row.balance, "address_balances")?,
                utxo_count: u64::try_from(row.utxo_count).unwrap_or_default(),
            },
        })
    }

    /// The sum of `address`'s coinbase outputs created above `height` (not yet mature when
    /// `height` is the last immature one).
    pub async fn immature_balance(
        &self,
        address: &Address,
        above: Height,
    ) -> Result<Amount, StoreError> {
        let total: Option<Option<i64>> = utxos::Entity::find()
            .select_only()
            .column_as(Expr::cust("CAST(SUM(amount) AS BIGINT)"), "total")
            .filter(utxos::Column::Address.eq(address.to_string()))
            .filter(utxos::Column::IsCoinbase.eq(true))
            .filter(utxos::Column::Height.gt(i64::from(above.get())))
            .into_tuple()
            .one(self.connection())
            .await?;
        amount_from(total.flatten().unwrap_or(0), "utxos")
    }
}

/// `blocks` columns: hash, tx_count, size, miner_address.
type BodyFactsRow = (Vec<u8>, Option<i32>, Option<i32>, Option<String>);

/// The stored facts about a block's body, for listings without decoding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyFacts {
    pub tx_count: Option<usize>,
    pub size: Option<usize>,
    pub miner_address: Option<Address>,
}

/// Totals over an address's indexed history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressStats {
    pub tx_count: u64,
    pub received: Amount,
    pub sent: Amount,
}

impl SqlStore {
    /// Body facts of the given blocks (absent hashes are missing from the map).
    pub async fn body_facts(
        &self,
        hashes: &[BlockHash],
    ) -> Result<std::collections::HashMap<BlockHash, BodyFacts>, StoreError> {
        let mut facts = std::collections::HashMap::with_capacity(hashes.len());
        let keys: Vec<_> = hashes.iter().filter_map(|h| self.block_key(h)).collect();
        for chunk in keys.chunks(super::queries::KEYS_PER_STATEMENT) {
            let rows: Vec<BodyFactsRow> = blocks::Entity::find()
                .select_only()
                .columns([
                    blocks::Column::Hash,
                    blocks::Column::TxCount,
                    blocks::Column::Size,
                    blocks::Column::MinerAddress,
                ])
                .filter(super::queries::blocks_with(chunk))
                .into_tuple()
                .all(self.connection())
                .await?;
            for (hash, tx_count, size, miner) in rows {
                facts.insert(
                    hash_from(&hash, "blocks")?,
                    BodyFacts {
                        tx_count: tx_count.and_then(|n| usize::try_from(n).ok()),
                        size: size.and_then(|n| usize::try_from(n).ok()),
                        miner_address: miner.and_then(|m| m.parse().ok()),
                    },
                );
            }
        }
        Ok(facts)
    }

    /// Counts and sums over an address's indexed history.
    pub async fn address_stats(&self, address: &Address) -> Result<AddressStats, StoreError> {
        let row: Option<(i64, Option<i64>, Option<i64>)> = address_txs::Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .column_as(Expr::cust("CAST(SUM(received) AS BIGINT)"), "r")
            .column_as(Expr::cust("CAST(SUM(sent) AS BIGINT)"), "s")
            .filter(address_txs::Column::Address.eq(address.to_string()))
            .into_tuple()
            .one(self.connection())
            .await?;
        let Some((count, received, sent)) = row else {
            return Ok(AddressStats::default());
        };
        Ok(AddressStats {
            tx_count: u64::try_from(count).unwrap_or_default(),
            received: amount_from(received.unwrap_or(0), "address_txs")?,
            sent: amount_from(sent.unwrap_or(0), "address_txs")?,
        })
    }
}
