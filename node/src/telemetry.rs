//! Logging and metrics setup: tracing to stderr (text or JSON, levels from `RUST_LOG`,
//! default `info`) and the Prometheus recorder behind `GET /metrics`.
//!
//! Metric names are declared here, in one place, so that dashboards and code agree.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const HEIGHT: &str = "chaincore_height";
pub const PEERS: &str = "chaincore_peers";
pub const MEMPOOL_TXS: &str = "chaincore_mempool_transactions";
pub const MEMPOOL_BYTES: &str = "chaincore_mempool_bytes";
pub const BLOCKS_ACCEPTED: &str = "chaincore_blocks_accepted_total";
pub const BLOCKS_REJECTED: &str = "chaincore_blocks_rejected_total";
pub const TXS_ACCEPTED: &str = "chaincore_transactions_accepted_total";
pub const TXS_REJECTED: &str = "chaincore_transactions_rejected_total";
pub const REORGS: &str = "chaincore_reorgs_total";
pub const HTTP_REQUESTS: &str = "chaincore_http_requests_total";
pub const HTTP_LATENCY: &str = "chaincore_http_request_duration_seconds";
pub const SYNC_HEADERS: &str = "chaincore_sync_headers_total";
pub const SYNC_BLOCKS: &str = "chaincore_sync_blocks_total";
pub const GOSSIP_MESSAGES: &str = "chaincore_gossip_messages_total";
pub const PEER_PENALTIES: &str = "chaincore_peer_penalties_total";
pub const PEER_BANS: &str = "chaincore_peer_bans_total";
pub const FOREIGN_PEERS: &str = "chaincore_foreign_peers_disconnected_total";
pub const STORAGE_UP: &str = "chaincore_storage_up";
pub const STORAGE_DOWN_SINCE: &str = "chaincore_storage_down_since_seconds";
pub const STORAGE_OUTAGES: &str = "chaincore_storage_outages_total";

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

/// Installs the Prometheus recorder and returns the handle that renders it.
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let latency_buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_LATENCY.to_owned()), &latency_buckets)?
        .install_recorder()?;
    metrics::describe_gauge!(HEIGHT, "height of the main chain's tip");
    metrics::describe_gauge!(PEERS, "connected peers");
    metrics::describe_gauge!(MEMPOOL_TXS, "transactions in the mempool");
    metrics::describe_gauge!(MEMPOOL_BYTES, "bytes of transactions in the mempool");
    metrics::describe_counter!(BLOCKS_ACCEPTED, "blocks stored, by source");
    metrics::describe_counter!(BLOCKS_REJECTED, "blocks refused, by reason");
    metrics::describe_counter!(TXS_ACCEPTED, "transactions accepted into the mempool");
    metrics::describe_counter!(TXS_REJECTED, "transactions refused, by reason");
    metrics::describe_counter!(REORGS, "reorganisations, by depth");
    metrics::describe_counter!(HTTP_REQUESTS, "REST requests, by route and status");
    metrics::describe_histogram!(HTTP_LATENCY, "REST request latency, by route");
    metrics::describe_counter!(SYNC_HEADERS, "new headers indexed from sync responses");
    metrics::describe_counter!(SYNC_BLOCKS, "block bodies received in sync responses");
    metrics::describe_counter!(
        GOSSIP_MESSAGES,
        "gossip messages judged, by topic and verdict"
    );
    metrics::describe_counter!(PEER_PENALTIES, "misbehaviour charged to peers, by offence");
    metrics::describe_counter!(PEER_BANS, "peers banned");
    metrics::describe_counter!(
        FOREIGN_PEERS,
        "peers of another network (identify version or genesis) disconnected, without a ban"
    );
    metrics::describe_gauge!(
        STORAGE_UP,
        "1 while the database takes writes, 0 while it is lost"
    );
    metrics::describe_gauge!(
        STORAGE_DOWN_SINCE,
        "Unix time the database was lost (0 while it is up)"
    );
    metrics::describe_counter!(STORAGE_OUTAGES, "times the database was lost");
    metrics::gauge!(STORAGE_UP).set(1.0);
    metrics::gauge!(STORAGE_DOWN_SINCE).set(0.0);
    Ok(handle)
}
