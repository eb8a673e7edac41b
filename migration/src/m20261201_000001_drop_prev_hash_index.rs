//! Drops `idx_blocks_prev_hash`: no query reads blocks by parent (the index is rebuilt in
//! memory at start), and every header inserted put a random key into it. On SQLite those
//! scattered page writes made header sync at height 100,000 cost twice what it costs at
//! height 0. `down` puts it back.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const NAME: &str = "idx_blocks_prev_hash";

// async_trait's expansion refuses `SchemaManager<'_>`, so the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("blocks"))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Alias::new("blocks"))
                    .col(Alias::new("prev_hash"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
