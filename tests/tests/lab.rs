//! The network lab as CI runs it: `chaincore-lab tests/scenarios/twelve.toml`, twelve nodes
//! on 50 ± 10 ms links with 1 % loss, put through every fault kind of the fifty-node
//! scenario (a split with a double spend across it, SIGKILLs, a pause, a database outage,
//! a flapping link, a one-way cut, a clock 90 minutes ahead). The lab's own history
//! checker must pass, and its report must show what it measured.

use std::path::Path;
use std::process::Command;

use chaincore_tests::netns;
use chaincore_tests::tools::tool_binary;
use serde_json::Value;

fn run_scenario(file: &str) -> Option<(Value, String)> {
    if !netns::available() {
        return None;
    }
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let out = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(tool_binary("chaincore-lab"))
        .arg(&scenario)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run chaincore-lab");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the lab failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(out.path().join("report.json")).expect("report.json");
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("report.html");
    assert!(html.contains("<svg"), "the page has its plots");
    Some((serde_json::from_str(&report).expect("JSON"), stdout))
}

#[test]
fn lab_twelve_nodes_survive_every_fault_kind_and_lose_no_acknowledged_payment() {
    let Some((report, stdout)) = run_scenario("twelve.toml") else {
        return;
    };
    #[allow(clippy::print_stderr, reason = "the report is the scenario's output")]
    {
        eprintln!("{stdout}");
    }
    let verdict = &report["verdict"];
    assert_eq!(verdict["violations"], serde_json::json!([]), "{stdout}");
    assert!(
        verdict["acknowledged"].as_u64() > Some(100),
        "the wallets paid: {stdout}"
    );
    assert!(
        verdict["conflicted"].as_u64() >= Some(1),
        "a double spend across the split leaves its loser conflicted: {stdout}"
    );
    // Every heal converged, and the relays produced the configured 50 ± 10 ms.
    let heals = report["convergence_after_heal_s"]
        .as_array()
        .expect("a list");
    assert_eq!(heals.len(), 2, "{stdout}");
    assert!(
        heals.iter().all(|h| h[1].is_f64()),
        "a heal never converged: {stdout}"
    );
    let latency = &report["latency_produced_ms"];
    let p50 = latency["p50"].as_f64().expect("a figure");
    assert!(
        (45.0..60.0).contains(&p50),
        "produced latency p50 {p50} ms: {stdout}"
    );
    assert!(latency["max"].as_f64() >= Some(55.0), "jitter: {stdout}");
    // The timeline ran each fault.
    let timeline = report["timeline"].to_string();
    for fault in [
        "killed (SIGKILL)",
        "paused (SIGSTOP)",
        "database is back",
        "flapping",
        "10 -> 1",
    ] {
        assert!(timeline.contains(fault), "{fault}: {stdout}");
    }
    let sent = report["per_node"].as_array().expect("nodes");
    assert!(
        sent.iter().all(|n| n["sent_bytes"].as_u64() > Some(0)),
        "bytes are metered"
    );
}
