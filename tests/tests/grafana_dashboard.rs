//! `docs/grafana-dashboard.json` against `chaincore::telemetry::FAMILIES`: the dashboard and
//! the code cannot drift. Every metric a panel queries is one the node exports (a histogram
//! through its `_bucket`, `_sum` or `_count` series), every family the node exports is shown
//! by some panel, and no two panels share an id.

use std::collections::BTreeSet;
use std::path::Path;

use chaincore::telemetry::{FAMILIES, Family, Kind};
use serde_json::Value;

/// The series a histogram family exposes (none carries the family's own name).
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Every panel, rows' nested panels included, in the dashboard's order.
fn all_panels<'a>(panels: &'a [Value], out: &mut Vec<&'a Value>) {
    for panel in panels {
        out.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all_panels(nested, out);
        }
    }
}

/// The identifiers starting with `chaincore_` in a PromQL expression.
fn metric_names(expr: &str) -> Vec<&str> {
    let in_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("chaincore_") {
        let inside_another = rest[..start].chars().next_back().is_some_and(in_name);
        let tail = &rest[start..];
        let end = tail.find(|c: char| !in_name(c)).unwrap_or(tail.len());
        if !inside_another {
            names.push(&tail[..end]);
        }
        rest = &tail[end..];
    }
    names
}

/// The family a queried series belongs to, if the node exports it.
fn family_of(series: &str) -> Option<&'static Family> {
    let plain = FAMILIES
        .iter()
        .find(|family| family.name == series && family.kind != Kind::Histogram);
    plain.or_else(|| {
        HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
            let name = series.strip_suffix(suffix)?;
            FAMILIES
                .iter()
                .find(|family| family.name == name && family.kind == Kind::Histogram)
        })
    })
}

#[test]
fn the_dashboard_queries_only_metrics_the_node_exports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let dashboard: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    let top = dashboard["panels"]
        .as_array()
        .expect("the dashboard has a `panels` list");
    let mut panels = Vec::new();
    all_panels(top, &mut panels);

    let mut ids = BTreeSet::new();
    let mut shown = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel {title:?} has no numeric id"));
        assert!(ids.insert(id), "panel {title:?} reuses id {id}");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?} has a target without `expr`"));
            for series in metric_names(expr) {
                let family = family_of(series).unwrap_or_else(|| {
                    panic!(
                        "panel {title:?} queries `{series}`, which the node does not export: \
                         {expr}"
                    )
                });
                shown.insert(family.name);
            }
        }
    }
    let unshown: Vec<&str> = FAMILIES
        .iter()
        .map(|family| family.name)
        .filter(|name| !shown.contains(name))
        .collect();
    assert!(unshown.is_empty(), "no panel shows {unshown:?}");
}
