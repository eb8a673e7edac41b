//! `chaincore-node --check` and `--repair`: what an operator runs on a database the node
//! refuses to open (from an older version, a bug, a restore from a bad backup).
//!
//! `--check` reads and reports; it changes nothing (it may apply pending migrations, as any
//! open does). `--repair` keeps the stored blocks and rebuilds everything derived from them,
//! as Bitcoin Core's `-reindex-chainstate`: index rows that do not reach genesis are
//! dropped, the UTXO set, undo data, explorer index and tip are forgotten, and the chain
//! state then connects the best stored chain again from genesis with full validation, by
//! the same code that connects any block. Neither runs beside a node on the same database.

use std::collections::HashSet;

use crate::chain::UtxoCommitment;
use crate::chainstate::ChainState;
use crate::consensus::Params;
use crate::primitives::{Amount, BlockHash, Height};
use crate::storage::{ChainStore, ChainTip, SqlStore, StoreError};

/// What `--check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// What holds, one line each.
    pub fine: Vec<String>,
    /// What is wrong, one line each.
    pub problems: Vec<String>,
}

impl Report {
    fn check(&mut self, holds: bool, fine: String, problem: String) {
        if holds {
            self.fine.push(fine);
        } else {
            self.problems.push(problem);
        }
    }
}

/// Checks the database: the index reaches genesis, the main chain runs from genesis to the
/// tip with bodies and undo data, and the UTXO set matches the tip's totals.
pub async fn check(store: &SqlStore, params: &Params) -> Result<Report, StoreError> {
    let mut report = Report::default();
    check_index(store, params, &mut report).await?;
    let Some(tip) = store.tip().await? else {
        report
            .problems
            .push("no tip row: the chain state is missing".into());
        return Ok(report);
    };
    check_main_chain(store, params, &tip, &mut report).await?;
    check_utxo_set(store, &tip, &mut report).await?;
    Ok(report)
}

async fn check_index(
    store: &SqlStore,
    params: &Params,
    report: &mut Report,
) -> Result<(), StoreError> {
    let index = store.load_index().await?;
    let orphaned = orphaned_rows(&index, params.genesis_hash());
    report.check(
        orphaned.is_empty(),
        format!(
            "index: {} blocks, every one descends from genesis",
            index.len()
        ),
        format!(
            "index: {} of {} blocks do not descend from genesis (first: {})",
            orphaned.len(),
            index.len(),
            orphaned
                .first()
                .map_or(String::new(), |(_, h)| h.to_string())
        ),
    );
    Ok(())
}

async fn check_main_chain(
    store: &SqlStore,
    params: &Params,
    tip: &ChainTip,
    report: &mut Report,
) -> Result<(), StoreError> {
    let main = store.main_chain().await?;
    report.check(
        main.first() == Some(&params.genesis_hash())
            && main.last() == Some(&tip.hash)
            && main.len() == tip.height.get() as usize + 1,
        format!(
            "main chain: genesis to tip {} at height {}",
            tip.hash, tip.height
        ),
        format!(
            "main chain: {} blocks flagged, but the tip row says {} at height {}",
            main.len(),
            tip.hash,
            tip.height
        ),
    );
    let mut missing = Vec::new();
    for (height, hash) in main.iter().enumerate() {
        if store.block(hash).await?.is_none() {
            missing.push(format!("body of {hash}"));
        }
        if height > 0 && store.undo(hash).await?.is_none() {
            missing.push(format!("undo data of {hash}"));
        }
    }
    report.check(
        missing.is_empty(),
        "main chain: every body and undo record is stored".into(),
        format!(
            "main chain: {} records missing (first: {})",
            missing.len(),
            missing.first().cloned().unwrap_or_default()
        ),
    );
    Ok(())
}

async fn check_utxo_set(
    store: &SqlStore,
    tip: &ChainTip,
    report: &mut Report,
) -> Result<(), StoreError> {
    let utxos = store.utxo_set().await?;
    let mut commitment = UtxoCommitment::EMPTY;
    let mut total = Amount::ZERO;
    for (outpoint, coin) in &utxos {
        commitment.add(outpoint, coin);
        total = total.checked_add(coin.output.value).unwrap_or(Amount::MAX);
    }
    report.check(
        commitment == tip.utxo_commitment
            && utxos.len() as u64 == tip.utxo_count
            && total == tip.total_amount,
        format!(
            "UTXO set: {} coins match the tip's commitment and supply",
            utxos.len()
        ),
        format!(
            "UTXO set: {} coins, {} units, commitment {} but the tip says {} coins, {} units, {}",
            utxos.len(),
            total.units(),
            commitment,
            tip.utxo_count,
            tip.total_amount.units(),
            tip.utxo_commitment
        ),
    );
    Ok(())
}

/// Rebuilds the chain state from the stored blocks; returns the new tip's hash and height.
pub async fn repair(
    store: SqlStore,
    params: &'static Params,
    now: u64,
) -> anyhow::Result<(BlockHash, Height)> {
    let index = store.load_index().await?;
    let orphaned = orphaned_rows(&index, params.genesis_hash());
    store.reset_chain_state(&orphaned).await?;
    let (mut chain, _) = ChainState::open(store, params, now).await?;
    chain.flush().await?;
    let tip = *chain.tip();
    chain.close().await;
    Ok((tip.hash, tip.height))
}

/// The keys of index rows whose ancestry does not reach genesis (rows come in height order).
fn orphaned_rows(
    index: &[crate::chain::IndexEntry],
    genesis: BlockHash,
) -> Vec<(Height, BlockHash)> {
    let mut reached: HashSet<BlockHash> = HashSet::new();
    let mut orphaned = Vec::new();
    for entry in index {
        if entry.hash == genesis || reached.contains(&entry.header.prev_blockhash) {
            reached.insert(entry.hash);
        } else {
            orphaned.push((entry.height, entry.hash));
        }
    }
    orphaned
}
