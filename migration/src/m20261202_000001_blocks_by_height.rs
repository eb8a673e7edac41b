//! Keys `blocks` by `(height, hash)` instead of `hash`. Headers arrive in height order, so
//! each one now lands at the right edge of the key's B-tree; keyed by a hash (random), every
//! batch of headers dirtied pages all over the index, and the more headers the database held
//! the more pages each batch rewrote: header sync at height 100,000 cost twice what it cost
//! at 0 on SQLite. The store finds a hash's height in memory (`storage::sql`), as Bitcoin
//! Core finds a block's place on disk through its in-memory index.
//!
//! `idx_blocks_height` goes too: the key's first column serves its queries.
//!
//! A table's key cannot be changed in place on SQLite, so both backends rebuild the table:
//! create the new shape, copy the rows, drop the old, rename. `down` does the same back.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, TransactionTrait};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const COLUMNS: &str = "hash, height, prev_hash, header, time, bits, nonce, chain_work, status, \
                       main_chain, sequence, tx_count, size, miner_address, data";

/// Which key a rebuilt `blocks` table has.
#[derive(Clone, Copy)]
enum Key {
    Hash,
    HeightHash,
}

// async_trait's expansion refuses `SchemaManager<'_>`, so the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, Key::HeightHash).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, Key::Hash).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_blocks_height")
                    .table(Blocks::Table)
                    .col(Blocks::Height)
                    .to_owned(),
            )
            .await
    }
}

/// Replaces `blocks` by a copy with `key`, with its main-chain index; the old table's
/// indexes go with it. One transaction, so on one connection: the migrator runs statements
/// on any connection of the pool, and a SQLite connection holding an older snapshot would
/// not see the drop before the rename.
async fn rebuild(manager: &SchemaManager<'_>, key: Key) -> Result<(), DbErr> {
    let txn = manager.get_connection().begin().await?;
    txn.execute(&table(key)).await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO blocks_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM blocks"
    ))
    .await?;
    txn.execute(&Table::drop().table(Blocks::Table).to_owned())
        .await?;
    txn.execute(
        &Table::rename()
            .table(Alias::new("blocks_rebuilt"), Blocks::Table)
            .to_owned(),
    )
    .await?;
    txn.execute(&main_chain_index()).await?;
    txn.commit().await
}

/// The `blocks` table of the first migration, with `key`.
fn table(key: Key) -> TableCreateStatement {
    let mut hash = blob(Blocks::Hash);
    let mut statement = Table::create();
    statement.table(Alias::new("blocks_rebuilt"));
    match key {
        Key::Hash => {
            hash.primary_key();
        }
        Key::HeightHash => {
            // Named, so that PostgreSQL's constraint name does not stay `blocks_rebuilt_pkey`
            // (taken again by the copy a `down` makes).
            statement.primary_key(
                Index::create()
                    .name("pk_blocks_height_hash")
                    .col(Blocks::Height)
                    .col(Blocks::Hash),
            );
        }
    }
    statement
        .col(hash)
        .col(big_integer(Blocks::Height))
        .col(blob(Blocks::PrevHash))
        .col(blob(Blocks::Header))
        .col(big_integer(Blocks::Time))
        .col(big_integer(Blocks::Bits))
        .col(big_integer(Blocks::Nonce))
        .col(blob(Blocks::ChainWork))
        .col(string(Blocks::Status))
        .col(boolean(Blocks::MainChain).default(false))
        .col(big_integer(Blocks::Sequence))
        .col(integer_null(Blocks::TxCount))
        .col(integer_null(Blocks::Size))
        .col(string_null(Blocks::MinerAddress))
        .col(blob_null(Blocks::Data))
        .to_owned()
}

fn main_chain_index() -> IndexCreateStatement {
    Index::create()
        .name("idx_blocks_main_chain_height")
        .table(Blocks::Table)
        .col(Blocks::MainChain)
        .col(Blocks::Height)
        .to_owned()
}

#[derive(DeriveIden)]
enum Blocks {
    Table,
    Hash,
    Height,
    PrevHash,
    Header,
    Time,
    Bits,
    Nonce,
    ChainWork,
    Status,
    MainChain,
    Sequence,
    TxCount,
    Size,
    MinerAddress,
    Data,
}
