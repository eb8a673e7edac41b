//! The history checker: what the lab's clients were told, against where the network ended.
//! Pure: the lab gathers the facts, this judges them.
//!
//! The rules (a Jepsen-style check of one history):
//! 1. Every node ends on the same tip, with the same UTXO commitment.
//! 2. Each node's supply equals the subsidies of its height.
//! 3. Every transaction a node acknowledged (a 2xx on `/add_transaction`) is either on the
//!    final chain, or provably conflicted: a transaction on the final chain spends one of
//!    its inputs, or one of its inputs is an output of a transaction conflicted so.
//!    Anything else was acknowledged and then lost.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

/// A transaction a node acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Acknowledged {
    pub txid: String,
    /// `(txid, vout)` of each input.
    pub inputs: Vec<(String, u32)>,
    pub node: usize,
}

/// A transaction of the final chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmed {
    pub txid: String,
    pub inputs: Vec<(String, u32)>,
}

/// What one node said at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FinalState {
    pub node: usize,
    pub tip: String,
    pub height: u32,
    pub utxo_commitment: String,
    pub supply_units: u64,
    /// The subsidies of blocks 1..=height, which the supply must equal.
    pub subsidies_units: u64,
}

/// The verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub acknowledged: usize,
    pub confirmed: usize,
    /// A confirmed transaction spends one of its inputs.
    pub conflicted: usize,
    /// One of its inputs comes from a conflicted transaction.
    pub conflicted_by_ancestry: usize,
    /// Acknowledged, neither confirmed nor conflicted: the bug this checker hunts.
    pub lost: Vec<String>,
    /// Every broken rule, in words.
    pub violations: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Judges a history.
pub fn check(acknowledged: &[Acknowledged], chain: &[Confirmed], ends: &[FinalState]) -> Verdict {
    let mut verdict = Verdict {
        acknowledged: acknowledged.len(),
        ..Verdict::default()
    };
    check_agreement(ends, &mut verdict.violations);
    let on_chain: HashSet<&str> = chain.iter().map(|tx| tx.txid.as_str()).collect();
    let spent_by: HashMap<&(String, u32), &str> = chain
        .iter()
        .flat_map(|tx| tx.inputs.iter().map(move |input| (input, tx.txid.as_str())))
        .collect();
    let (conflicted, by_ancestry) = conflicts(acknowledged, &on_chain, &spent_by);
    let mut seen = HashSet::new();
    for tx in acknowledged {
        let id = tx.txid.as_str();
        if !seen.insert(id) {
            continue; // acknowledged by two nodes: judged once
        }
        if on_chain.contains(id) {
            verdict.confirmed += 1;
        } else if conflicted.contains(id) {
            verdict.conflicted += 1;
        } else if by_ancestry.contains(id) {
            verdict.conflicted_by_ancestry += 1;
        } else {
            verdict.lost.push(tx.txid.clone());
        }
    }
    verdict.acknowledged = seen.len();
    if !verdict.lost.is_empty() {
        verdict.violations.push(format!(
            "{} acknowledged transaction(s) neither confirmed nor conflicted, e.g. {}",
            verdict.lost.len(),
            verdict.lost[0]
        ));
    }
    verdict
}

/// The acknowledged transactions off the chain that a chain transaction conflicts with, and
/// those that descend from one of them.
fn conflicts<'a>(
    acknowledged: &'a [Acknowledged],
    on_chain: &HashSet<&str>,
    spent_by: &HashMap<&(String, u32), &str>,
) -> (HashSet<&'a str>, HashSet<&'a str>) {
    // Parents before children is not guaranteed: iterate until no new conflict appears.
    let mut conflicted: HashSet<&str> = HashSet::new();
    let mut by_ancestry: HashSet<&str> = HashSet::new();
    for tx in acknowledged {
        let direct = tx
            .inputs
            .iter()
            .any(|input| spent_by.get(input).is_some_and(|&by| by != tx.txid));
        if !on_chain.contains(tx.txid.as_str()) && direct {
            conflicted.insert(&tx.txid);
        }
    }
    loop {
        let before = by_ancestry.len();
        for tx in acknowledged {
            let id = tx.txid.as_str();
            if on_chain.contains(id) || conflicted.contains(id) || by_ancestry.contains(id) {
                continue;
            }
            let from_conflicted = tx.inputs.iter().any(|(parent, _)| {
                conflicted.contains(parent.as_str()) || by_ancestry.contains(parent.as_str())
            });
            if from_conflicted {
                by_ancestry.insert(id);
            }
        }
        if by_ancestry.len() == before {
            break;
        }
    }
    (conflicted, by_ancestry)
}

fn check_agreement(ends: &[FinalState], violations: &mut Vec<String>) {
    let tips: BTreeMap<&str, Vec<usize>> = ends.iter().fold(BTreeMap::new(), |mut map, end| {
        map.entry(end.tip.as_str()).or_default().push(end.node);
        map
    });
    if tips.len() > 1 {
        violations.push(format!(
            "the nodes end on {} different tips: {tips:?}",
            tips.len()
        ));
    }
    let commitments: BTreeMap<(&str, &str), Vec<usize>> =
        ends.iter().fold(BTreeMap::new(), |mut map, end| {
            map.entry((end.tip.as_str(), end.utxo_commitment.as_str()))
                .or_default()
                .push(end.node);
            map
        });
    if commitments.len() > tips.len() {
        violations.push(format!(
            "nodes on the same tip hold different UTXO sets: {commitments:?}"
        ));
    }
    for end in ends {
        if end.supply_units != end.subsidies_units {
            violations.push(format!(
                "node {} holds a supply of {} units at height {}, the subsidies allow {}",
                end.node, end.supply_units, end.height, end.subsidies_units
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(txid: &str, vout: u32) -> (String, u32) {
        (txid.to_owned(), vout)
    }

    fn ack(txid: &str, inputs: &[(&str, u32)]) -> Acknowledged {
        Acknowledged {
            txid: txid.into(),
            inputs: inputs.iter().map(|(t, v)| input(t, *v)).collect(),
            node: 0,
        }
    }

    fn confirmed(txid: &str, inputs: &[(&str, u32)]) -> Confirmed {
        Confirmed {
            txid: txid.into(),
            inputs: inputs.iter().map(|(t, v)| input(t, *v)).collect(),
        }
    }

    fn end(node: usize, tip: &str, commitment: &str) -> FinalState {
        FinalState {
            node,
            tip: tip.into(),
            height: 10,
            utxo_commitment: commitment.into(),
            supply_units: 500,
            subsidies_units: 500,
        }
    }

    #[test]
    fn a_double_spend_leaves_one_confirmed_and_its_rival_and_rivals_child_conflicted() {
        let acknowledged = [
            ack("pay-bob", &[("coin", 0)]),
            ack("pay-carol", &[("coin", 0)]),
            ack("carol-spends", &[("pay-carol", 0)]),
            ack("plain", &[("other", 1)]),
        ];
        let chain = [
            confirmed("pay-bob", &[("coin", 0)]),
            confirmed("plain", &[("other", 1)]),
        ];
        let ends = [end(0, "t", "u"), end(1, "t", "u")];
        let verdict = check(&acknowledged, &chain, &ends);
        assert!(verdict.passed(), "{:?}", verdict.violations);
        assert_eq!(
            (
                verdict.confirmed,
                verdict.conflicted,
                verdict.conflicted_by_ancestry
            ),
            (2, 1, 1)
        );
    }

    #[test]
    fn an_acknowledged_transaction_that_vanished_is_lost() {
        let verdict = check(&[ack("vanished", &[("coin", 0)])], &[], &[end(0, "t", "u")]);
        assert_eq!(verdict.lost, ["vanished"]);
        assert!(!verdict.passed());
    }

    #[test]
    fn split_tips_different_utxo_sets_and_inflation_are_each_reported() {
        let mut inflated = end(2, "t", "v");
        inflated.supply_units = 501;
        let ends = [end(0, "t", "u"), end(1, "s", "u"), inflated];
        let verdict = check(&[], &[], &ends);
        let text = verdict.violations.join("\n");
        assert!(text.contains("2 different tips"), "{text}");
        assert!(text.contains("different UTXO sets"), "{text}");
        assert!(text.contains("supply of 501"), "{text}");
    }
}
