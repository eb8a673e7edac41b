//! The mempool's state: its entries, the indexes over them, and the read API.
//!
//! Indexes: txid → entry; outpoint → the entry spending it; parent/child links between
//! entries; each entry's descendant totals; and ordered sets by insertion sequence (parents
//! first), own fee rate, descendant score (eviction) and arrival time (expiry). Every change
//! goes through `Mempool::insert` and `Mempool::remove_set`, which keep them all in step;
//! [`Mempool::check_invariants`] proves it in tests. Acceptance is in `accept`, block and
//! reorg maintenance in `maintain`. Pure: the caller passes time and chain state in; nothing
//! here reads a clock, a database or the network.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::primitives::{OutPoint, Transaction, Txid};

use super::entry::{MempoolEntry, PackageStats};
use super::fee_rate::FeeRate;
use super::snapshot::MempoolSnapshot;

/// 32 MiB of transactions, a few dozen full blocks.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Two weeks, as Bitcoin Core's `-mempoolexpiry` default.
pub const DEFAULT_EXPIRY_SECS: u64 = 14 * 24 * 60 * 60;
/// One base unit per byte.
pub const DEFAULT_MIN_FEE_RATE: FeeRate = FeeRate::from_units_per_byte(1);
/// Bitcoin Core's `-limitancestorcount` default (the transaction itself included).
pub const DEFAULT_MAX_ANCESTORS: usize = 25;
/// Bitcoin Core's `-limitdescendantcount` default (the transaction itself included).
pub const DEFAULT_MAX_DESCENDANTS: usize = 25;

/// The mempool's bounds and policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// The most bytes of transactions (canonical encodings) the pool holds.
    pub max_bytes: usize,
    /// Entries older than this many seconds are dropped by [`Mempool::expire`].
    pub expiry_secs: u64,
    /// The least fee per byte a transaction must pay on its own.
    pub min_fee_rate: FeeRate,
    /// The most mempool ancestors a transaction may have, itself included. Bounds the work of
    /// every accept, removal and template package.
    pub max_ancestors: usize,
    /// The most mempool descendants a transaction may have, itself included.
    pub max_descendants: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            expiry_secs: DEFAULT_EXPIRY_SECS,
            min_fee_rate: DEFAULT_MIN_FEE_RATE,
            max_ancestors: DEFAULT_MAX_ANCESTORS,
            max_descendants: DEFAULT_MAX_DESCENDANTS,
        }
    }
}

/// Valid transactions waiting for a block, indexed for acceptance, eviction and mining.
#[derive(Clone, Debug, Default)]
pub struct Mempool {
    pub(super) config: MempoolConfig,
    pub(super) entries: HashMap<Txid, MempoolEntry>,
    /// Each outpoint a mempool transaction spends, and that transaction.
    pub(super) spenders: HashMap<OutPoint, Txid>,
    pub(super) by_sequence: BTreeMap<u64, Txid>,
    pub(super) by_fee_rate: BTreeSet<(FeeRate, Txid)>,
    pub(super) by_descendant_score: BTreeSet<(FeeRate, Txid)>,
    pub(super) by_time: BTreeSet<(u64, Txid)>,
    pub(super) next_sequence: u64,
    /// Transactions refused, so that a copy sent again costs no validation (Bitcoin Core's
    /// `m_recent_rejects`; see [`super::rejects`] for how long each refusal holds).
    pub(super) recent_rejects: super::rejects::Rejects,
    /// The entries as readers see them, kept in step by `insert` and `unlink`; it also
    /// holds the pool's byte total.
    pub(super) snapshot: MempoolSnapshot,
}

impl Mempool {
    pub fn new(config: MempoolConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of all entries' canonical encodings; at most `config.max_bytes`.
    pub fn total_bytes(&self) -> usize {
        self.snapshot.total_bytes()
    }

    /// The transactions as readers see them now; O(1), shares everything with the pool.
    pub fn snapshot(&self) -> MempoolSnapshot {
        self.snapshot.clone()
    }

    /// Every entry, highest own fee rate first (ties by txid).
    pub fn entries_by_fee_rate(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.by_fee_rate
            .iter()
            .rev()
            .map(|(_, txid)| self.entry(txid))
    }

    /// Every entry, parents before children (in the order they arrived).
    pub fn entries_parent_first(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.by_sequence.values().map(|txid| self.entry(txid))
    }

    /// The mempool transaction that spends `outpoint`, if any.
    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spenders.get(outpoint).copied()
    }

    /// The outpoints `tx` spends that no mempool transaction creates: the coins the caller
    /// must fetch from its chain state before calling `accept`.
    pub fn missing_inputs(&self, tx: &Transaction) -> Vec<OutPoint> {
        self.snapshot.missing_inputs(tx)
    }

    /// Every transaction with its arrival time, parents first: what to persist so that
    /// `accept`ing them in this order, with `now` = the stored time, restores the pool.
    pub fn entries_for_persistence(&self) -> Vec<(Transaction, u64)> {
        self.entries_parent_first()
            .map(|entry| (Transaction::clone(&entry.tx), entry.time_added))
            .collect()
    }

    /// The entry for a txid an index holds.
    ///
    /// # Panics
    /// If the indexes are out of step with the entries (a bug in this module).
    pub(super) fn entry(&self, txid: &Txid) -> &MempoolEntry {
        self.entries
            .get(txid)
            .unwrap_or_else(|| panic!("mempool index names {txid}, which has no entry"))
    }

    /// The mempool ancestors of a transaction whose mempool parents are `parents`.
    pub(super) fn ancestors_of_parents(&self, parents: &BTreeSet<Txid>) -> BTreeSet<Txid> {
        self.walk(parents.iter().copied(), |entry| &entry.parents)
    }

    /// The mempool ancestors of entry `txid`, itself excluded.
    pub fn ancestors(&self, txid: &Txid) -> BTreeSet<Txid> {
        self.entries
            .get(txid)
            .map(|entry| self.ancestors_of_parents(&entry.parents))
            .unwrap_or_default()
    }

    /// The mempool descendants of entry `txid`, itself excluded.
    pub fn descendants(&self, txid: &Txid) -> BTreeSet<Txid> {
        self.entries
            .get(txid)
            .map(|entry| self.walk(entry.children.iter().copied(), |e| &e.children))
            .unwrap_or_default()
    }

    /// Everything reachable from `start` along `next` links, `start` included.
    fn walk(
        &self,
        start: impl Iterator<Item = Txid>,
        next: impl Fn(&MempoolEntry) -> &BTreeSet<Txid>,
    ) -> BTreeSet<Txid> {
        let mut found = BTreeSet::new();
        let mut stack: Vec<Txid> = start.collect();
        while let Some(txid) = stack.pop() {
            if found.insert(txid) {
                stack.extend(self.entries.get(&txid).map(&next).into_iter().flatten());
            }
        }
        found
    }

    /// `roots` (those in the pool) and all their descendants, parents first.
    pub(super) fn with_descendants(&self, roots: impl IntoIterator<Item = Txid>) -> Vec<Txid> {
        let mut all = BTreeSet::new();
        for root in roots.into_iter().filter(|txid| self.contains(txid)) {
            all.extend(self.descendants(&root));
            all.insert(root);
        }
        self.parent_first(all)
    }

    /// `txids` (all in the pool) sorted parents first.
    pub(super) fn parent_first(&self, txids: impl IntoIterator<Item = Txid>) -> Vec<Txid> {
        let mut keyed: Vec<(u64, Txid)> = txids
            .into_iter()
            .map(|txid| (self.entry(&txid).sequence, txid))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, txid)| txid).collect()
    }

    /// Adds `entry`, whose mempool parents are already linked in `entry.parents` and whose
    /// mempool ancestors are `ancestors`. It has no children yet.
    pub(super) fn insert(&mut self, mut entry: MempoolEntry, ancestors: &BTreeSet<Txid>) {
        let txid = entry.txid;
        entry.sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.saturating_add(1);
        entry.descendants = entry.own_stats();
        for input in &entry.tx.inputs {
            self.spenders.insert(input.previous_output, txid);
        }
        for parent in &entry.parents {
            if let Some(parent) = self.entries.get_mut(parent) {
                parent.children.insert(txid);
            }
        }
        for ancestor in ancestors {
            let stats = self.entry(ancestor).descendants.plus(entry.own_stats());
            self.set_descendants(ancestor, stats);
        }
        self.by_sequence.insert(entry.sequence, txid);
        self.by_fee_rate.insert((entry.fee_rate(), txid));
        self.by_descendant_score
            .insert((entry.descendant_score(), txid));
        self.by_time.insert((entry.time_added, txid));
        self.snapshot.insert(&entry);
        self.entries.insert(txid, entry);
    }

    /// Removes `txids` (all in the pool, in any order) and recomputes the descendant totals
    /// of the ancestors they leave behind. Children left behind lose their link to a removed
    /// parent: that is a block confirming the parent, whose outputs the chain now holds.
    pub(super) fn remove_set(&mut self, txids: &[Txid]) {
        let removing: BTreeSet<Txid> = txids.iter().copied().collect();
        let survivors: BTreeSet<Txid> = txids
            .iter()
            .flat_map(|txid| self.ancestors(txid))
            .filter(|txid| !removing.contains(txid))
            .collect();
        for txid in txids {
            self.unlink(txid);
        }
        for txid in &survivors {
            self.recompute_descendants(txid);
        }
    }

    /// Drops one entry from every index and from its neighbours' links.
    fn unlink(&mut self, txid: &Txid) {
        let Some(entry) = self.entries.remove(txid) else {
            return;
        };
        for input in &entry.tx.inputs {
            if self.spenders.get(&input.previous_output) == Some(txid) {
                self.spenders.remove(&input.previous_output);
            }
        }
        for parent in &entry.parents {
            if let Some(parent) = self.entries.get_mut(parent) {
                parent.children.remove(txid);
            }
        }
        for child in &entry.children {
            if let Some(child) = self.entries.get_mut(child) {
                child.parents.remove(txid);
            }
        }
        self.by_sequence.remove(&entry.sequence);
        self.by_fee_rate.remove(&(entry.fee_rate(), *txid));
        self.by_descendant_score
            .remove(&(entry.descendant_score(), *txid));
        self.by_time.remove(&(entry.time_added, *txid));
        self.snapshot.remove(txid);
    }

    fn recompute_descendants(&mut self, txid: &Txid) {
        let Some(entry) = self.entries.get(txid) else {
            return;
        };
        let stats = self
            .descendants(txid)
            .iter()
            .map(|d| self.entry(d).own_stats())
            .fold(entry.own_stats(), PackageStats::plus);
        self.set_descendants(txid, stats);
    }

    /// Replaces an entry's descendant totals, and so its key in the eviction order.
    fn set_descendants(&mut self, txid: &Txid, stats: PackageStats) {
        let Some(entry) = self.entries.get_mut(txid) else {
            return;
        };
        self.by_descendant_score
            .remove(&(entry.descendant_score(), *txid));
        entry.descendants = stats;
        self.by_descendant_score
            .insert((entry.descendant_score(), *txid));
    }

    /// Empties the pool, keeping its configuration.
    pub(super) fn clear(&mut self) {
        *self = Self {
            config: self.config,
            next_sequence: self.next_sequence,
            ..Self::default()
        };
    }

    /// Checks that every index agrees with the entries; for tests and debug assertions.
    ///
    /// # Panics
    /// With a message naming the first broken invariant.
    pub fn check_invariants(&self) {
        super::invariants::check(self);
    }
}
