//! ChainCore's database schema, as sea-orm migrations that run unchanged on PostgreSQL and
//! SQLite. The node runs them at start; `chaincore-migrate up|down|status` runs them by hand.
//!
//! Conventions, so the same SQL works on both backends:
//! - hashes, raw blocks and transactions are `blob` (`bytea` on PostgreSQL);
//! - amounts, heights and times are `big_integer` (i64): amounts never exceed 21e14 units,
//!   so they fit; u32 fields (time, bits, nonce) fit without loss;
//! - cumulative work is 32 big-endian bytes, which sort like the number;
//! - addresses are stored as their base58 text, so `WHERE address = '1...'` works in psql.
//!
//! This crate knows tables and columns, nothing about consensus.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_chain;
mod m20261201_000001_drop_prev_hash_index;
mod m20261202_000001_blocks_by_height;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_chain::Migration),
            Box::new(m20261201_000001_drop_prev_hash_index::Migration),
            Box::new(m20261202_000001_blocks_by_height::Migration),
        ]
    }
}
