//! Conversions between rows and domain types, for the SeaORM adapter only: every column
//! read is checked (a wrong length or a negative count is `StoreError::Corrupt`), and every
//! narrowing write says why it cannot truncate.

use sea_orm::ActiveValue::Set;

use super::StoreError;
use super::entities::{blocks, utxos};
use crate::chain::{BlockStatus, IndexEntry};
use crate::consensus::Coin;
use crate::primitives::{
    Address, Amount, BlockHash, BlockHeader, Height, OutPoint, TxOut, Work, decode, encode,
};

/// The `blocks` columns of an index entry: hash, height, header, chain work, status, sequence.
pub(super) type IndexRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>, String, i64);

/// The row of an index entry, without a body.
pub(super) fn header_row(entry: &IndexEntry) -> blocks::ActiveModel {
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

pub(super) fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

pub(super) fn array_from<const N: usize>(
    bytes: &[u8],
    table: &'static str,
) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(table, format!("expected {N} bytes, found {}", bytes.len())))
}

pub(super) fn hash_from(bytes: &[u8], table: &'static str) -> Result<BlockHash, StoreError> {
    array_from(bytes, table).map(BlockHash::from_byte_array)
}

pub(super) fn unsigned_from(value: i64, table: &'static str) -> Result<u64, StoreError> {
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

pub(super) fn address_from(text: &str, table: &'static str) -> Result<Address, StoreError> {
    text.parse().map_err(|e| corrupt(table, e))
}

/// Amounts (≤ 2.1e15) and counts fit in i64 with room to spare.
pub(super) fn signed(value: u64) -> i64 {
    i64::try_from(value).expect("amounts and counts fit in i64")
}

/// Sequence `u64::MAX` ("no body yet") is stored as -1.
pub(super) fn sequence_to_db(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(-1)
}

pub(super) fn sequence_from_db(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

pub(super) fn position_to_db(position: u32) -> i32 {
    i32::try_from(position).expect("a block holds far fewer than 2^31 transactions")
}

/// A vout is a u32 bit-cast to i32 so that every value round-trips.
pub(super) fn vout_to_db(vout: u32) -> i32 {
    i32::from_ne_bytes(vout.to_ne_bytes())
}

pub(super) fn vout_from_db(value: i32) -> u32 {
    u32::from_ne_bytes(value.to_ne_bytes())
}

pub(super) fn outpoint_key(outpoint: &OutPoint) -> Vec<u8> {
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

pub(super) fn index_entry_from(row: IndexRow) -> Result<IndexEntry, StoreError> {
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
