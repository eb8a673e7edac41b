//! ChainCore's database schema as sea-orm migrations.
//!
//! Empty until the chain-state issue (#3) adds the tables; the crate exists now so that the
//! workspace has its final shape from the first commit.
