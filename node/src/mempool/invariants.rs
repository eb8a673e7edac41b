//! The mempool's invariants, checked from scratch: every index agrees with the entries.
//!
//! Used by tests after every operation (and available to debug assertions). It recomputes
//! everything the pool maintains incrementally and panics on the first disagreement; it
//! never repairs anything.

use std::collections::BTreeSet;

use crate::primitives::Txid;

use super::entry::{MempoolEntry, PackageStats};
use super::pool::Mempool;

/// Panics with a message naming the first invariant `pool` breaks.
pub(super) fn check(pool: &Mempool) {
    check_totals(pool);
    check_snapshot(pool);
    for (txid, entry) in &pool.entries {
        assert_eq!(*txid, entry.txid, "entry keyed by another txid");
        assert_eq!(
            *txid,
            entry.tx.txid(),
            "entry txid is not its transaction's"
        );
        assert!(!entry.tx.is_coinbase(), "{txid}: a coinbase in the mempool");
        check_ordered_indexes(pool, entry);
        check_spenders(pool, entry);
        check_links(pool, entry);
        check_package_bounds(pool, entry);
    }
}

/// The readers' snapshot holds exactly the entries, with their fees and sizes.
fn check_snapshot(pool: &Mempool) {
    let snapshot = &pool.snapshot;
    assert_eq!(snapshot.len(), pool.entries.len(), "snapshot size");
    assert_eq!(
        snapshot.by_fee_rate().count(),
        pool.entries.len(),
        "snapshot order"
    );
    let parent_first: Vec<Txid> = snapshot.parent_first().map(|p| p.txid).collect();
    let pool_order: Vec<Txid> = pool.entries_parent_first().map(|e| e.txid).collect();
    assert_eq!(
        parent_first, pool_order,
        "the snapshot's parent-first order"
    );
    for (txid, entry) in &pool.entries {
        let pooled = snapshot
            .get(txid)
            .unwrap_or_else(|| panic!("{txid} missing from the snapshot"));
        assert_eq!(
            (pooled.fee, pooled.size, pooled.time_added, pooled.sequence),
            (entry.fee, entry.size, entry.time_added, entry.sequence),
            "{txid}: the snapshot disagrees"
        );
    }
}

fn check_totals(pool: &Mempool) {
    let bytes: usize = pool.entries.values().map(|e| e.size).sum();
    assert_eq!(
        pool.total_bytes(),
        bytes,
        "total_bytes is not the sum of sizes"
    );
    assert!(
        pool.total_bytes() <= pool.config.max_bytes,
        "{} bytes held, above the {} byte cap",
        pool.total_bytes(),
        pool.config.max_bytes
    );
    let count = pool.entries.len();
    assert_eq!(pool.by_sequence.len(), count, "by_sequence size");
    assert_eq!(pool.by_fee_rate.len(), count, "by_fee_rate size");
    assert_eq!(
        pool.by_descendant_score.len(),
        count,
        "by_descendant_score size"
    );
    assert_eq!(pool.by_time.len(), count, "by_time size");
    let inputs: usize = pool.entries.values().map(|e| e.tx.inputs.len()).sum();
    assert_eq!(
        pool.spenders.len(),
        inputs,
        "two entries spend one outpoint"
    );
}

fn check_ordered_indexes(pool: &Mempool, entry: &MempoolEntry) {
    let txid = entry.txid;
    assert_eq!(
        pool.by_sequence.get(&entry.sequence),
        Some(&txid),
        "{txid}: by_sequence"
    );
    assert!(
        pool.by_fee_rate.contains(&(entry.fee_rate(), txid)),
        "{txid}: by_fee_rate"
    );
    assert!(
        pool.by_descendant_score
            .contains(&(entry.descendant_score(), txid)),
        "{txid}: by_descendant_score"
    );
    assert!(
        pool.by_time.contains(&(entry.time_added, txid)),
        "{txid}: by_time"
    );
    assert!(
        entry.sequence < pool.next_sequence,
        "{txid}: sequence from the future"
    );
}

fn check_spenders(pool: &Mempool, entry: &MempoolEntry) {
    for input in &entry.tx.inputs {
        assert_eq!(
            pool.spenders.get(&input.previous_output),
            Some(&entry.txid),
            "{}: spender of {:?}",
            entry.txid,
            input.previous_output
        );
    }
}

fn check_links(pool: &Mempool, entry: &MempoolEntry) {
    let txid = entry.txid;
    let parents: BTreeSet<Txid> = entry
        .tx
        .inputs
        .iter()
        .map(|input| input.previous_output.txid)
        .filter(|parent| pool.contains(parent))
        .collect();
    assert_eq!(
        entry.parents, parents,
        "{txid}: parents are not its inputs' pool txs"
    );
    for parent in &entry.parents {
        let parent = pool.entry(parent);
        assert!(
            parent.children.contains(&txid),
            "{txid}: parent lacks the child link"
        );
        assert!(
            parent.sequence < entry.sequence,
            "{txid}: parent inserted after child"
        );
    }
    for child in &entry.children {
        let child = pool.get(child).expect("child link to a missing entry");
        assert!(
            child.parents.contains(&txid),
            "{txid}: child lacks the parent link"
        );
    }
}

fn check_package_bounds(pool: &Mempool, entry: &MempoolEntry) {
    let txid = entry.txid;
    let descendants = pool.descendants(&txid);
    let stats = descendants
        .iter()
        .map(|d| pool.entry(d).own_stats())
        .fold(entry.own_stats(), PackageStats::plus);
    assert_eq!(entry.descendants, stats, "{txid}: stale descendant totals");
    assert!(
        stats.count <= pool.config.max_descendants,
        "{txid}: too many descendants"
    );
    let ancestors = pool.ancestors(&txid).len() + 1;
    assert!(
        ancestors <= pool.config.max_ancestors,
        "{txid}: too many ancestors"
    );
}
