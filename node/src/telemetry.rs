//! Logging and metrics setup: tracing to stderr (text or JSON, levels from `RUST_LOG`,
//! default `info`) and the Prometheus recorder behind `GET /metrics`.
//!
//! Every metric family is declared here, in [`FAMILIES`], so that dashboards
//! (`docs/grafana-dashboard.json`) and code agree. Names follow Prometheus' conventions:
//! `chaincore_` prefix, base units in the name (`_seconds`, `_bytes`), `_total` on counters,
//! `_time_seconds` on Unix times. Every series exists from the start: [`init_metrics`] sets
//! each gauge, and [`zero_counters`] creates each labelled counter the node knows the label
//! values of (Prometheus' "avoid missing metrics"). Nothing here decides anything.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const BUILD_INFO: &str = "chaincore_build_info";
pub const START_TIME: &str = "chaincore_start_time_seconds";
pub const HEIGHT: &str = "chaincore_height";
pub const TIP_TIME: &str = "chaincore_tip_time_seconds";
pub const PEERS: &str = "chaincore_peers";
pub const BANNED_PEERS: &str = "chaincore_banned_peers";
pub const MEMPOOL_TXS: &str = "chaincore_mempool_transactions";
pub const MEMPOOL_BYTES: &str = "chaincore_mempool_bytes";
pub const BLOCKS_ACCEPTED: &str = "chaincore_blocks_accepted_total";
pub const BLOCKS_REJECTED: &str = "chaincore_blocks_rejected_total";
pub const BLOCK_CONNECT: &str = "chaincore_block_connect_duration_seconds";
pub const BLOCK_ARRIVAL_DELAY: &str = "chaincore_block_arrival_delay_seconds";
pub const TXS_ACCEPTED: &str = "chaincore_transactions_accepted_total";
pub const TXS_REJECTED: &str = "chaincore_transactions_rejected_total";
pub const REORGS: &str = "chaincore_reorgs_total";
pub const REORG_DEPTH: &str = "chaincore_reorg_depth_blocks";
pub const HTTP_REQUESTS: &str = "chaincore_http_requests_total";
pub const HTTP_LATENCY: &str = "chaincore_http_request_duration_seconds";
pub const SYNC_HEADERS: &str = "chaincore_sync_headers_total";
pub const SYNC_BLOCKS: &str = "chaincore_sync_blocks_total";
pub const SYNC_TXS: &str = "chaincore_sync_transactions_total";
pub const GOSSIP_MESSAGES: &str = "chaincore_gossip_messages_total";
pub const PEER_PENALTIES: &str = "chaincore_peer_penalties_total";
pub const PEER_BANS: &str = "chaincore_peer_bans_total";
pub const FOREIGN_PEERS: &str = "chaincore_foreign_peers_disconnected_total";
pub const STORAGE_UP: &str = "chaincore_storage_up";
pub const STORAGE_LOST_TIME: &str = "chaincore_storage_lost_time_seconds";
pub const STORAGE_OUTAGES: &str = "chaincore_storage_outages_total";
pub const STORAGE_CONNECTIONS_DISCARDED: &str = "chaincore_storage_connections_discarded_total";

/// What a family is, as Prometheus types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family: its name, type and the help text `/metrics` shows.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family { name, kind, help }
}

/// Every family the node exports.
pub const FAMILIES: &[Family] = &[
    family(
        BUILD_INFO,
        Kind::Gauge,
        "always 1; the labels say the version and network",
    ),
    family(START_TIME, Kind::Gauge, "Unix time the node started"),
    family(HEIGHT, Kind::Gauge, "height of the main chain's tip"),
    family(
        TIP_TIME,
        Kind::Gauge,
        "header time of the main chain's tip (Unix)",
    ),
    family(PEERS, Kind::Gauge, "connected peers"),
    family(BANNED_PEERS, Kind::Gauge, "peers banned now"),
    family(MEMPOOL_TXS, Kind::Gauge, "transactions in the mempool"),
    family(
        MEMPOOL_BYTES,
        Kind::Gauge,
        "bytes of transactions in the mempool",
    ),
    family(BLOCKS_ACCEPTED, Kind::Counter, "blocks stored, by source"),
    family(BLOCKS_REJECTED, Kind::Counter, "blocks refused, by reason"),
    family(
        BLOCK_CONNECT,
        Kind::Histogram,
        "time from a block's arrival to its commit (checks, signatures, connect, write)",
    ),
    family(
        BLOCK_ARRIVAL_DELAY,
        Kind::Histogram,
        "our clock minus the header time, for blocks from the network that became the tip",
    ),
    family(
        TXS_ACCEPTED,
        Kind::Counter,
        "transactions accepted into the mempool",
    ),
    family(
        TXS_REJECTED,
        Kind::Counter,
        "transactions refused, by reason",
    ),
    family(REORGS, Kind::Counter, "reorganisations"),
    family(
        REORG_DEPTH,
        Kind::Histogram,
        "blocks disconnected by each reorganisation",
    ),
    family(
        HTTP_REQUESTS,
        Kind::Counter,
        "REST requests, by route and status",
    ),
    family(
        HTTP_LATENCY,
        Kind::Histogram,
        "REST request latency, by route",
    ),
    family(
        SYNC_HEADERS,
        Kind::Counter,
        "new headers indexed from sync responses",
    ),
    family(
        SYNC_BLOCKS,
        Kind::Counter,
        "block bodies received in sync responses",
    ),
    family(
        SYNC_TXS,
        Kind::Counter,
        "transactions accepted from peers' mempools (what gossip did not bring)",
    ),
    family(
        GOSSIP_MESSAGES,
        Kind::Counter,
        "gossip messages judged, by topic and verdict",
    ),
    family(
        PEER_PENALTIES,
        Kind::Counter,
        "misbehaviour charged to peers, by offence",
    ),
    family(PEER_BANS, Kind::Counter, "peers banned"),
    family(
        FOREIGN_PEERS,
        Kind::Counter,
        "peers of another network (identify version or genesis) disconnected, without a ban",
    ),
    family(
        STORAGE_UP,
        Kind::Gauge,
        "1 while the database takes writes, 0 while it is lost",
    ),
    family(
        STORAGE_LOST_TIME,
        Kind::Gauge,
        "Unix time the database was lost (0 while it is up)",
    ),
    family(
        STORAGE_OUTAGES,
        Kind::Counter,
        "times the database was lost",
    ),
    family(
        STORAGE_CONNECTIONS_DISCARDED,
        Kind::Counter,
        "pooled database connections closed because a transaction was left open on them",
    ),
];

/// Installs the tracing subscriber. Call once, first thing.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(error) = result {
        eprintln!("logging was already set up: {error}");
    }
}

/// Installs the Prometheus recorder, describes every family and creates every series that
/// has no labels, set to its value at start. Returns the handle that renders them.
pub fn init_metrics(version: &str, network: &str, now: u64) -> anyhow::Result<PrometheusHandle> {
    let latency_buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let connect_buckets = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let delay_buckets = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];
    let depth_buckets = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_LATENCY.to_owned()), &latency_buckets)?
        .set_buckets_for_metric(Matcher::Full(BLOCK_CONNECT.to_owned()), &connect_buckets)?
        .set_buckets_for_metric(
            Matcher::Full(BLOCK_ARRIVAL_DELAY.to_owned()),
            &delay_buckets,
        )?
        .set_buckets_for_metric(Matcher::Full(REORG_DEPTH.to_owned()), &depth_buckets)?
        .install_recorder()?;
    for family in FAMILIES {
        describe(family);
    }
    let labels = [
        ("version", version.to_owned()),
        ("network", network.to_owned()),
    ];
    metrics::gauge!(BUILD_INFO, &labels).set(1.0);
    metrics::gauge!(START_TIME).set(now as f64);
    for name in [
        HEIGHT,
        TIP_TIME,
        PEERS,
        BANNED_PEERS,
        MEMPOOL_TXS,
        MEMPOOL_BYTES,
    ] {
        metrics::gauge!(name).set(0.0);
    }
    metrics::gauge!(STORAGE_UP).set(1.0);
    metrics::gauge!(STORAGE_LOST_TIME).set(0.0);
    let unlabelled_counters = [
        TXS_ACCEPTED,
        REORGS,
        SYNC_HEADERS,
        SYNC_BLOCKS,
        SYNC_TXS,
        PEER_BANS,
        FOREIGN_PEERS,
        STORAGE_OUTAGES,
        STORAGE_CONNECTIONS_DISCARDED,
    ];
    for name in unlabelled_counters {
        metrics::counter!(name).absolute(0);
    }
    for name in [BLOCK_CONNECT, BLOCK_ARRIVAL_DELAY, REORG_DEPTH] {
        let _ = metrics::histogram!(name);
    }
    Ok(handle)
}

fn describe(family: &Family) {
    let (name, help) = (family.name, family.help);
    match family.kind {
        Kind::Counter => metrics::describe_counter!(name, help),
        Kind::Gauge => metrics::describe_gauge!(name, help),
        Kind::Histogram => metrics::describe_histogram!(name, help),
    }
}

/// Creates the series of counter `name` for each of `values` of `label`, at zero.
pub fn zero_counters(name: &'static str, label: &'static str, values: &[&'static str]) {
    for value in values {
        metrics::counter!(name, label => *value).absolute(0);
    }
}
