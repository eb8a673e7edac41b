//! The first schema: the Python system's tables (`blocks`, `transactions`, `utxos`, `nodes`,
//! `mining_stats`, `address_balances`) in our shape, plus what the design needs: undo data,
//! the address history, the chain state row and the persisted mempool.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

// async_trait's expansion refuses `SchemaManager<'_>`, so the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLE_NAMES.iter().rev() {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(*name))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

const TABLE_NAMES: [&str; 11] = [
    "blocks",
    "block_undo",
    "transactions",
    "address_txs",
    "explorer_index",
    "utxos",
    "address_balances",
    "chain_state",
    "mempool",
    "nodes",
    "mining_stats",
];

fn tables() -> Vec<TableCreateStatement> {
    vec![
        blocks(),
        block_undo(),
        transactions(),
        address_txs(),
        explorer_index(),
        utxos(),
        address_balances(),
        chain_state(),
        mempool(),
        nodes(),
        mining_stats(),
    ]
}

/// Every header the node accepted (the block index), with its body once it arrived.
fn blocks() -> TableCreateStatement {
    Table::create()
        .table(Blocks::Table)
        .if_not_exists()
        .col(blob(Blocks::Hash).primary_key())
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

/// The outputs each connected block spent, to put back when it is disconnected.
fn block_undo() -> TableCreateStatement {
    Table::create()
        .table(BlockUndo::Table)
        .if_not_exists()
        .col(blob(BlockUndo::BlockHash).primary_key())
        .col(blob(BlockUndo::Data))
        .to_owned()
}

/// Where each main-chain transaction is (its bytes are in its block's `data`). Part of the
/// explorer index, see `explorer_index`.
fn transactions() -> TableCreateStatement {
    Table::create()
        .table(Transactions::Table)
        .if_not_exists()
        .col(blob(Transactions::Txid).primary_key())
        .col(blob(Transactions::Wtxid))
        .col(blob(Transactions::BlockHash))
        .col(big_integer(Transactions::Height))
        .col(integer(Transactions::Position))
        .col(boolean(Transactions::IsCoinbase))
        .col(big_integer_null(Transactions::Fee))
        .col(integer(Transactions::Size))
        .to_owned()
}

/// Which main-chain transactions touch which address, and by how much (for history).
fn address_txs() -> TableCreateStatement {
    Table::create()
        .table(AddressTxs::Table)
        .if_not_exists()
        .col(string(AddressTxs::Address))
        .col(blob(AddressTxs::Txid))
        .col(big_integer(AddressTxs::Height))
        .col(integer(AddressTxs::Position))
        .col(big_integer(AddressTxs::Received))
        .col(big_integer(AddressTxs::Sent))
        .primary_key(
            Index::create()
                .col(AddressTxs::Address)
                .col(AddressTxs::Txid),
        )
        .to_owned()
}

/// One row: how far the explorer index (`transactions`, `address_txs`) has caught up with
/// the main chain. It is built behind the chain, off the consensus path.
fn explorer_index() -> TableCreateStatement {
    Table::create()
        .table(ExplorerIndex::Table)
        .if_not_exists()
        .col(integer(ExplorerIndex::Id).primary_key())
        .col(blob(ExplorerIndex::TipHash))
        .col(big_integer(ExplorerIndex::TipHeight))
        .to_owned()
}

/// The unspent outputs of the main chain. `outpoint` is txid ‖ vout (u32 LE).
fn utxos() -> TableCreateStatement {
    Table::create()
        .table(Utxos::Table)
        .if_not_exists()
        .col(blob(Utxos::Outpoint).primary_key())
        .col(blob(Utxos::Txid))
        .col(integer(Utxos::Vout))
        .col(string(Utxos::Address))
        .col(big_integer(Utxos::Amount))
        .col(big_integer(Utxos::Height))
        .col(boolean(Utxos::IsCoinbase))
        .to_owned()
}

/// Balance and UTXO count per address: always the sums over `utxos`.
fn address_balances() -> TableCreateStatement {
    Table::create()
        .table(AddressBalances::Table)
        .if_not_exists()
        .col(string(AddressBalances::Address).primary_key())
        .col(big_integer(AddressBalances::Balance))
        .col(big_integer(AddressBalances::UtxoCount))
        .col(big_integer(AddressBalances::UpdatedHeight))
        .to_owned()
}

/// One row: which network, the tip, and the UTXO-set totals and commitment at that tip.
fn chain_state() -> TableCreateStatement {
    Table::create()
        .table(ChainState::Table)
        .if_not_exists()
        .col(integer(ChainState::Id).primary_key())
        .col(string(ChainState::Network))
        .col(blob(ChainState::TipHash))
        .col(big_integer(ChainState::TipHeight))
        .col(blob(ChainState::UtxoCommitment))
        .col(big_integer(ChainState::UtxoCount))
        .col(big_integer(ChainState::TotalAmount))
        .to_owned()
}

/// Transactions waiting in the mempool, kept across restarts.
fn mempool() -> TableCreateStatement {
    Table::create()
        .table(Mempool::Table)
        .if_not_exists()
        .col(blob(Mempool::Txid).primary_key())
        .col(blob(Mempool::Raw))
        .col(big_integer(Mempool::Fee))
        .col(integer(Mempool::Size))
        .col(big_integer(Mempool::AddedAt))
        .to_owned()
}

/// Peers this node has known, redialed at start.
fn nodes() -> TableCreateStatement {
    Table::create()
        .table(Nodes::Table)
        .if_not_exists()
        .col(string(Nodes::PeerId).primary_key())
        .col(text(Nodes::Multiaddrs))
        .col(string_null(Nodes::RestUrl))
        .col(string_null(Nodes::NodeId))
        .col(big_integer(Nodes::FirstSeen))
        .col(big_integer(Nodes::LastSeen))
        .col(big_integer_null(Nodes::LastConnected))
        .col(integer(Nodes::Failures).default(0))
        .col(big_integer_null(Nodes::BannedUntil))
        .to_owned()
}

/// One row per block this node accepted from a miner.
fn mining_stats() -> TableCreateStatement {
    Table::create()
        .table(MiningStats::Table)
        .if_not_exists()
        .col(pk_auto(MiningStats::Id))
        .col(blob(MiningStats::BlockHash))
        .col(big_integer(MiningStats::Height))
        .col(string(MiningStats::MinerAddress))
        .col(big_integer(MiningStats::BlockTime))
        .col(big_integer(MiningStats::AcceptedAt))
        .col(big_integer_null(MiningStats::TemplateToSubmitMs))
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, columns: &[&str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(table).if_not_exists();
    for column in columns {
        statement.col(Alias::new(*column));
    }
    statement.to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("idx_blocks_height", Blocks::Table, &["height"]),
        index("idx_blocks_prev_hash", Blocks::Table, &["prev_hash"]),
        index(
            "idx_blocks_main_chain_height",
            Blocks::Table,
            &["main_chain", "height"],
        ),
        index(
            "idx_transactions_height",
            Transactions::Table,
            &["height", "position"],
        ),
        index(
            "idx_address_txs_history",
            AddressTxs::Table,
            &["address", "height", "position"],
        ),
        index("idx_utxos_address", Utxos::Table, &["address"]),
        index("idx_mining_stats_height", MiningStats::Table, &["height"]),
    ]
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

#[derive(DeriveIden)]
enum BlockUndo {
    Table,
    BlockHash,
    Data,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Txid,
    Wtxid,
    BlockHash,
    Height,
    Position,
    IsCoinbase,
    Fee,
    Size,
}

#[derive(DeriveIden)]
enum AddressTxs {
    Table,
    Address,
    Txid,
    Height,
    Position,
    Received,
    Sent,
}

#[derive(DeriveIden)]
enum ExplorerIndex {
    Table,
    Id,
    TipHash,
    TipHeight,
}

#[derive(DeriveIden)]
enum Utxos {
    Table,
    Outpoint,
    Txid,
    Vout,
    Address,
    Amount,
    Height,
    IsCoinbase,
}

#[derive(DeriveIden)]
enum AddressBalances {
    Table,
    Address,
    Balance,
    UtxoCount,
    UpdatedHeight,
}

#[derive(DeriveIden)]
enum ChainState {
    Table,
    Id,
    Network,
    TipHash,
    TipHeight,
    UtxoCommitment,
    UtxoCount,
    TotalAmount,
}

#[derive(DeriveIden)]
enum Mempool {
    Table,
    Txid,
    Raw,
    Fee,
    Size,
    AddedAt,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    PeerId,
    Multiaddrs,
    RestUrl,
    NodeId,
    FirstSeen,
    LastSeen,
    LastConnected,
    Failures,
    BannedUntil,
}

#[derive(DeriveIden)]
enum MiningStats {
    Table,
    Id,
    BlockHash,
    Height,
    MinerAddress,
    BlockTime,
    AcceptedAt,
    TemplateToSubmitMs,
}
