//! A lab scenario as a value: parsed from TOML, checked, and nothing run. Pure.
//!
//! ```toml
//! name = "twelve"
//! nodes = 12
//! miners = "0,4,8"            # nodes whose blocks the lab mines (a node set, see below)
//! block_interval_ms = 4000     # mean time between blocks, over all miners (Poisson)
//! seed = 7                     # for every random choice: which miner, which node to kill
//! duration_s = 150             # the timeline's length; then the heal-all and the settle
//! postgres = "5"               # nodes that keep their chain in a private PostgreSQL server
//! bootstrap = "star"           # "star": all from node 0; "chain": each from the previous;
//!                              # "random:K": each from K random earlier nodes
//!
//! [links]                      # every node-to-node link
//! delay_ms = 50
//! jitter_ms = 10
//! loss_percent = 1.0
//! rate_mbit = 0                # 0: unlimited
//!
//! [[skew]]                     # a node whose wall clock runs ahead (libfaketime)
//! node = 3
//! ahead_s = 5400
//!
//! [[load]]                     # payments from the lab's wallets to random nodes
//! from_s = 10
//! until_s = 120
//! tx_per_s = 5
//! tx_bytes = 100000            # optional: pad each payment to ~100 kB (big blocks)
//!
//! [[event]]                    # the timeline, in seconds from the start of the run
//! at_s = 30
//! kind = "partition"           # partition | heal | flap | kill | pause | db_outage
//! groups = ["0-6", "7-11"]     # partition, flap: node sets; `one_way = true` drops only
//!                              # what the first group sends to the second
//! ```
//!
//! Other event fields: `kill`: `node` (a number or "random"), `restart_after_s`; `pause`:
//! `node`, `for_s`; `flap`: `groups` (two), `period_s`, `until_s`; `db_outage`: `node` (one
//! of `postgres`), `for_s`. A node set is a list of numbers and ranges: `"0-6,9"`.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

/// The most nodes a lab holds (its addresses are `.10` to `.59` of one /24).
pub const MAX_NODES: usize = 50;

/// Why a scenario file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("the scenario is not valid TOML for a lab: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError::Invalid(message.into()))
}

/// A checked scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub nodes: usize,
    pub miners: Vec<usize>,
    pub block_interval_ms: u64,
    pub seed: u64,
    pub duration_s: f64,
    pub postgres: Vec<usize>,
    pub bootstrap: Bootstrap,
    pub links: Links,
    pub skew: Vec<Skew>,
    pub load: Vec<Load>,
    /// Sorted by time.
    pub events: Vec<Event>,
}

/// Who each node bootstraps from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    Star,
    Chain,
    Random(usize),
}

/// The shape of every node-to-node link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Links {
    pub delay_ms: f64,
    pub jitter_ms: f64,
    pub loss_percent: f64,
    pub rate_mbit: f64,
}

impl fmt::Display for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ± {} ms, {} % loss, ",
            self.delay_ms, self.jitter_ms, self.loss_percent
        )?;
        if self.rate_mbit > 0.0 {
            write!(f, "{} Mbit/s", self.rate_mbit)
        } else {
            f.write_str("no rate limit")
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skew {
    pub node: usize,
    pub ahead_s: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub from_s: f64,
    pub until_s: f64,
    pub tx_per_s: f64,
    /// Pad each payment to about this many bytes (one-unit outputs), for big blocks.
    #[serde(default)]
    pub tx_bytes: Option<usize>,
}

/// A node an event acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Node(usize),
    /// Chosen when the event fires, among the running nodes, with the scenario's seed.
    Random,
}

/// One fault (or its end) on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at_s: f64,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Cut every link between two groups (or only from the first to the second).
    Partition {
        groups: Vec<Vec<usize>>,
        one_way: bool,
    },
    /// Remove every cut.
    Heal,
    /// Cut and restore the links between two groups every `period_s`, until `until_s`.
    Flap {
        groups: [Vec<usize>; 2],
        period_s: f64,
        until_s: f64,
    },
    /// SIGKILL, then start again on the same files.
    Kill { node: Target, restart_after_s: f64 },
    /// SIGSTOP, then SIGCONT.
    Pause { node: Target, for_s: f64 },
    /// Stop the node's PostgreSQL server (immediate shutdown), then start it again.
    DbOutage { node: usize, for_s: f64 },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Partition { groups, one_way } => {
                let arrow = if *one_way { " -> " } else { " | " };
                let sets: Vec<String> = groups.iter().map(|g| format_set(g)).collect();
                write!(f, "partition {}", sets.join(arrow))
            }
            Action::Heal => f.write_str("heal"),
            Action::Flap {
                groups, period_s, ..
            } => write!(
                f,
                "flap {} <-> {} every {period_s} s",
                format_set(&groups[0]),
                format_set(&groups[1])
            ),
            Action::Kill { node, .. } => write!(f, "kill {node}"),
            Action::Pause { node, for_s } => write!(f, "pause {node} for {for_s} s"),
            Action::DbOutage { node, for_s } => {
                write!(f, "database outage of node {node} for {for_s} s")
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(i) => write!(f, "node {i}"),
            Target::Random => f.write_str("a random node"),
        }
    }
}

/// `[0, 1, 2, 5]` as `0-2,5`.
pub fn format_set(nodes: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let start = nodes[i];
        while i + 1 < nodes.len() && nodes[i + 1] == nodes[i] + 1 {
            i += 1;
        }
        parts.push(if nodes[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", nodes[i])
        });
        i += 1;
    }
    parts.join(",")
}

/// `"0-6,9"` as `[0, 1, 2, 3, 4, 5, 6, 9]` (sorted, without repeats).
pub fn parse_set(text: &str) -> Result<Vec<usize>, ScenarioError> {
    let mut set = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| ScenarioError::Invalid(format!("{s:?} in node set {text:?}")))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return invalid(format!("range {part:?} runs backwards"));
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(number(part)?);
            }
        }
    }
    Ok(set.into_iter().collect())
}

/// The file's fields before checking.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    nodes: usize,
    #[serde(default)]
    miners: NodeSet,
    #[serde(default = "default_interval")]
    block_interval_ms: u64,
    #[serde(default)]
    seed: u64,
    duration_s: f64,
    #[serde(default)]
    postgres: NodeSet,
    #[serde(default = "default_bootstrap")]
    bootstrap: String,
    #[serde(default)]
    links: Links,
    #[serde(default)]
    skew: Vec<Skew>,
    #[serde(default)]
    load: Vec<Load>,
    #[serde(default)]
    event: Vec<EventFile>,
}

fn default_interval() -> u64 {
    5_000
}

fn default_bootstrap() -> String {
    "star".into()
}

/// A node set written as `"0-6,9"` or as a list of numbers.
#[derive(Default, Deserialize)]
#[serde(untagged)]
enum NodeSet {
    #[default]
    None,
    Text(String),
    List(Vec<usize>),
}

impl NodeSet {
    fn resolve(&self) -> Result<Vec<usize>, ScenarioError> {
        match self {
            NodeSet::None => Ok(Vec::new()),
            NodeSet::Text(text) => parse_set(text),
            NodeSet::List(list) => Ok(list
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    at_s: f64,
    kind: String,
    #[serde(default)]
    groups: Vec<NodeSet>,
    #[serde(default)]
    one_way: bool,
    node: Option<toml::Value>,
    for_s: Option<f64>,
    restart_after_s: Option<f64>,
    period_s: Option<f64>,
    until_s: Option<f64>,
}

impl Scenario {
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let file: File = toml::from_str(text)?;
        let mut events = file
            .event
            .iter()
            .map(EventFile::check)
            .collect::<Result<Vec<_>, _>>()?;
        events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let scenario = Scenario {
            name: file.name,
            nodes: file.nodes,
            miners: file.miners.resolve()?,
            block_interval_ms: file.block_interval_ms,
            seed: file.seed,
            duration_s: file.duration_s,
            postgres: file.postgres.resolve()?,
            bootstrap: parse_bootstrap(&file.bootstrap)?,
            links: file.links,
            skew: file.skew,
            load: file.load,
            events,
        };
        scenario.check()?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), ScenarioError> {
        if !(2..=MAX_NODES).contains(&self.nodes) {
            return invalid(format!(
                "nodes = {}: a lab holds 2 to {MAX_NODES}",
                self.nodes
            ));
        }
        if self.miners.is_empty() {
            return invalid("miners is empty: a lab needs at least one miner");
        }
        if self.block_interval_ms < 100 {
            return invalid("block_interval_ms must be at least 100");
        }
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            return invalid("duration_s must be above 0");
        }
        self.check_links()?;
        let nodes: Vec<usize> = self
            .miners
            .iter()
            .chain(&self.postgres)
            .chain(self.skew.iter().map(|s| &s.node))
            .copied()
            .collect();
        self.check_nodes("a node list", &nodes)?;
        for load in &self.load {
            if !(load.tx_per_s > 0.0 && load.from_s < load.until_s) {
                return invalid("a load needs tx_per_s > 0 and from_s < until_s");
            }
        }
        self.events.iter().try_for_each(|e| self.check_event(e))
    }

    fn check_links(&self) -> Result<(), ScenarioError> {
        let l = &self.links;
        let sane = [l.delay_ms, l.jitter_ms, l.loss_percent, l.rate_mbit]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0);
        if !sane || l.loss_percent >= 100.0 || l.jitter_ms > l.delay_ms {
            return invalid(
                "links: delay, jitter, loss and rate must be >= 0, loss below 100 and jitter at most the delay",
            );
        }
        Ok(())
    }

    fn check_nodes(&self, what: &str, nodes: &[usize]) -> Result<(), ScenarioError> {
        match nodes.iter().find(|&&n| n >= self.nodes) {
            Some(n) => invalid(format!(
                "{what} names node {n}, but the lab has {}",
                self.nodes
            )),
            None => Ok(()),
        }
    }

    fn check_event(&self, event: &Event) -> Result<(), ScenarioError> {
        let at = format!("the event at {} s ({})", event.at_s, event.action);
        if !(event.at_s.is_finite() && event.at_s >= 0.0 && event.at_s <= self.duration_s) {
            return invalid(format!("{at} lies outside 0..=duration_s"));
        }
        match &event.action {
            Action::Partition { groups, .. } => {
                let all: Vec<usize> = groups.iter().flatten().copied().collect();
                let distinct: BTreeSet<usize> = all.iter().copied().collect();
                if groups.len() < 2
                    || groups.iter().any(Vec::is_empty)
                    || distinct.len() != all.len()
                {
                    return invalid(format!(
                        "{at}: a partition needs two or more disjoint, non-empty groups"
                    ));
                }
                self.check_nodes(&at, &all)
            }
            Action::Flap {
                groups, period_s, ..
            } => {
                if *period_s <= 0.0 {
                    return invalid(format!("{at}: period_s must be above 0"));
                }
                self.check_nodes(&at, &[groups[0].clone(), groups[1].clone()].concat())
            }
            Action::Kill { node, .. } | Action::Pause { node, .. } => match node {
                Target::Node(n) => self.check_nodes(&at, &[*n]),
                Target::Random => Ok(()),
            },
            Action::DbOutage { node, .. } if !self.postgres.contains(node) => {
                invalid(format!("{at}: node {node} is not in `postgres`"))
            }
            Action::DbOutage { .. } | Action::Heal => Ok(()),
        }
    }
}

fn parse_bootstrap(text: &str) -> Result<Bootstrap, ScenarioError> {
    match text {
        "star" => Ok(Bootstrap::Star),
        "chain" => Ok(Bootstrap::Chain),
        _ => match text.strip_prefix("random:").and_then(|k| k.parse().ok()) {
            Some(k) if k >= 1 => Ok(Bootstrap::Random(k)),
            _ => invalid(format!(
                "bootstrap = {text:?}: expected \"star\", \"chain\" or \"random:K\""
            )),
        },
    }
}

impl EventFile {
    fn check(&self) -> Result<Event, ScenarioError> {
        let need = |value: Option<f64>, field: &str| {
            value.filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                ScenarioError::Invalid(format!(
                    "the {} event at {} s needs {field} (a number of seconds)",
                    self.kind, self.at_s
                ))
            })
        };
        let groups = self
            .groups
            .iter()
            .map(NodeSet::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let action = match self.kind.as_str() {
            "partition" => Action::Partition {
                groups,
                one_way: self.one_way,
            },
            "heal" => Action::Heal,
            "flap" => match <[Vec<usize>; 2]>::try_from(groups) {
                Ok(groups) => Action::Flap {
                    groups,
                    period_s: need(self.period_s, "period_s")?,
                    until_s: need(self.until_s, "until_s")?,
                },
                Err(_) => return invalid(format!("the flap at {} s needs two groups", self.at_s)),
            },
            "kill" => Action::Kill {
                node: self.target()?,
                restart_after_s: need(self.restart_after_s, "restart_after_s")?,
            },
            "pause" => Action::Pause {
                node: self.target()?,
                for_s: need(self.for_s, "for_s")?,
            },
            "db_outage" => match self.target()? {
                Target::Node(node) => Action::DbOutage {
                    node,
                    for_s: need(self.for_s, "for_s")?,
                },
                Target::Random => return invalid("a db_outage names its node"),
            },
            other => {
                return invalid(format!(
                    "event kind {other:?}: expected partition, heal, flap, kill, pause or db_outage"
                ));
            }
        };
        Ok(Event {
            at_s: self.at_s,
            action,
        })
    }

    fn target(&self) -> Result<Target, ScenarioError> {
        match &self.node {
            Some(toml::Value::Integer(n)) if *n >= 0 => Ok(Target::Node(
                usize::try_from(*n).map_err(|_| ScenarioError::Invalid("node".into()))?,
            )),
            Some(toml::Value::String(s)) if s == "random" => Ok(Target::Random),
            _ => invalid(format!(
                "the {} event at {} s needs node = N or node = \"random\"",
                self.kind, self.at_s
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
        name = "small"
        nodes = 6
        miners = "0,3"
        duration_s = 60
        [links]
        delay_ms = 20
        jitter_ms = 5
        [[event]]
        at_s = 30
        kind = "heal"
        [[event]]
        at_s = 10
        kind = "partition"
        groups = ["0-2", [3, 4, 5]]
        [[event]]
        at_s = 12
        kind = "kill"
        node = "random"
        restart_after_s = 5
    "#;

    #[test]
    fn a_scenario_reads_with_its_events_in_time_order() {
        let s = Scenario::from_toml(SMALL).unwrap();
        assert_eq!((s.nodes, s.miners.clone()), (6, vec![0, 3]));
        assert_eq!(s.bootstrap, Bootstrap::Star);
        let times: Vec<f64> = s.events.iter().map(|e| e.at_s).collect();
        assert_eq!(times, [10.0, 12.0, 30.0]);
        assert_eq!(
            s.events[0].action,
            Action::Partition {
                groups: vec![vec![0, 1, 2], vec![3, 4, 5]],
                one_way: false
            }
        );
        assert_eq!(
            s.events[1].action,
            Action::Kill {
                node: Target::Random,
                restart_after_s: 5.0
            }
        );
    }

    #[test]
    fn node_sets_read_and_print_as_ranges() {
        assert_eq!(parse_set("0-3, 7,5").unwrap(), [0, 1, 2, 3, 5, 7]);
        assert_eq!(format_set(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert!(parse_set("3-1").is_err());
        assert!(parse_set("a").is_err());
    }

    #[test]
    fn mistakes_are_refused_with_what_is_wrong() {
        let refused = |edit: &str| {
            let text = format!("{SMALL}\n{edit}");
            match Scenario::from_toml(&text) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("accepted: {edit}"),
            }
        };
        assert!(
            refused("[[event]]\nat_s = 5\nkind = \"pause\"\nnode = 9\nfor_s = 1")
                .contains("node 9")
        );
        assert!(refused("[[event]]\nat_s = 5\nkind = \"explode\"").contains("explode"));
        assert!(refused("[[event]]\nat_s = 99\nkind = \"heal\"").contains("outside"));
        assert!(
            refused("[[event]]\nat_s = 5\nkind = \"partition\"\ngroups = [\"0-2\", \"2-5\"]")
                .contains("disjoint")
        );
        assert!(
            refused("[[event]]\nat_s = 5\nkind = \"db_outage\"\nnode = 1\nfor_s = 3")
                .contains("postgres")
        );
        assert!(refused("surprise = 1").contains("surprise"));
    }

    #[test]
    fn the_shipped_scenarios_are_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 2, "tests/scenarios holds the lab's examples");
    }
}
