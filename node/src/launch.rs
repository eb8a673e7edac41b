//! The composition root: store → ledger → indexer → node → network + sync → API, wired once, and
//! a clean stop on SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::{self, ApiSettings, AppState};
use crate::config::Config;
use crate::indexer::Indexer;
use crate::ledger::Ledger;
use crate::mempool::MempoolConfig;
use crate::network::{self, NetworkConfig};
use crate::node::{Node, NodeInfo, unix_now};
use crate::storage::SqlStore;
use crate::sync;
use crate::tasks::Tasks;
use crate::telemetry;

/// How often the mempool drops expired entries.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// How long a stopping node waits for its background tasks before its final commit.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// Creates, at zero, every labelled series whose label values the node knows in advance.
fn register_metrics() {
    use crate::chainstate::ChainError;
    use crate::consensus::{BlockError, TxError};
    use crate::mempool::MempoolError;
    use crate::node::BlockOrigin;

    let block_sources = BlockOrigin::LABELS;
    telemetry::zero_counters(telemetry::BLOCKS_ACCEPTED, "source", &block_sources);
    let block_reasons = [
        BlockError::CODES.as_slice(),
        &TxError::CODES,
        &ChainError::REASONS,
        &["storage"],
    ]
    .concat();
    telemetry::zero_counters(telemetry::BLOCKS_REJECTED, "reason", &block_reasons);
    let tx_reasons = [TxError::CODES.as_slice(), &MempoolError::POLICY_CODES].concat();
    telemetry::zero_counters(telemetry::TXS_REJECTED, "reason", &tx_reasons);
    network::register_metrics();
}

/// Runs a node until it is told to stop.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let metrics = telemetry::init_metrics(
        env!("CARGO_PKG_VERSION"),
        &config.network.to_string(),
        unix_now(),
    )
    .context("metrics")?;
    register_metrics();
    let tasks = Tasks::new();
    let listener = TcpListener::bind((config.api_bind, config.api_port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.api_bind, config.api_port))?;
    let api_addr = listener.local_addr()?;
    let node = open_node(&config, api_addr, &tasks).await?;
    let network = start_network(&config, &node, node.store().clone(), &tasks).await?;
    let settings = ApiSettings {
        rate_limit: config.rate_limit,
        admin_allow: config.admin_allow.clone(),
    };
    let state = AppState {
        node: Arc::clone(&node),
        network: Some(network.handle.clone()),
        metrics,
    };
    let router = api::router(state, &settings);
    announce_ready(&node, api_addr, &network);
    api::serve(listener, router, shutdown_signal())
        .await
        .context("serving the API")?;
    stop(&node, tasks).await
}

/// Opens the database and the chain state, and starts the node with its own tasks (the
/// indexer, mempool expiry, recovery from storage outages).
async fn open_node(
    config: &Config,
    api_addr: std::net::SocketAddr,
    tasks: &Tasks,
) -> anyhow::Result<Arc<Node>> {
    prepare_sqlite_dir(config)?;
    let store = SqlStore::open(&config.database_url, config.network)
        .await
        .with_context(|| format!("opening the database {}", redact(&config.database_url)))?;
    let mempool = MempoolConfig {
        max_bytes: config.mempool_bytes,
        ..MempoolConfig::default()
    };
    let ledger = Ledger::open(
        store.clone(),
        config.network.params(),
        config.chain,
        mempool,
        unix_now(),
    )
    .await
    .context("loading the chain")?;
    let indexer = Indexer::new(store.clone()).spawn(tasks);
    let info = NodeInfo {
        node_id: config.node_id.clone(),
        network: config.network,
        version: env!("CARGO_PKG_VERSION"),
        rest_url: format!("http://{api_addr}"),
    };
    let node = Node::new(info, store, ledger, indexer);
    tasks.spawn(expire_mempool(Arc::clone(&node), tasks.clone()));
    tasks.spawn(Arc::clone(&node).recover(tasks.clone()));
    let snapshot = node.snapshot();
    tracing::info!(
        node_id = %config.node_id,
        network = %config.network,
        height = %snapshot.tip.height,
        tip = %snapshot.tip.hash,
        api = %api_addr,
        "node started"
    );
    Ok(node)
}

/// Waits for the background tasks (with patience), then commits what is pending.
async fn stop(node: &Node, tasks: Tasks) -> anyhow::Result<()> {
    tracing::info!(
        tasks = tasks.running(),
        "stopping: waiting for the background tasks"
    );
    if !tasks.stop(SHUTDOWN_PATIENCE).await {
        tracing::warn!(
            still_running = tasks.running(),
            "some background tasks did not finish in time"
        );
    }
    tracing::info!("stopping: committing what is pending");
    node.flush().await.context("final commit")?;
    Ok(())
}

/// One line on stdout that scripts and tests wait for.
#[allow(
    clippy::print_stdout,
    reason = "the ready line is part of the command's interface"
)]
fn announce_ready(node: &Node, api_addr: std::net::SocketAddr, network: &StartedNetwork) {
    let info = node.info();
    let p2p = network
        .listen_addrs
        .first()
        .map_or_else(String::new, ToString::to_string);
    println!(
        "chaincore-node ready node_id={} network={} api=http://{api_addr} p2p={p2p} peer_id={}",
        info.node_id, info.network, network.peer_id
    );
}

/// The running network: its controls, and what the ready line says about it.
struct StartedNetwork {
    handle: network::NetworkHandle,
    peer_id: libp2p::PeerId,
    listen_addrs: Vec<libp2p::Multiaddr>,
}

/// Starts the peer-to-peer network and the sync task.
async fn start_network(
    config: &Config,
    node: &Arc<Node>,
    store: SqlStore,
    tasks: &Tasks,
) -> anyhow::Result<StartedNetwork> {
    let network_config = NetworkConfig {
        bind: config.p2p_bind,
        port: config.p2p_port,
        bootstrap: config.bootstrap_nodes.clone(),
        mdns: config.mdns,
        per_ip: config.per_ip.clone(),
        key_path: config.data_dir.join("p2p.key"),
    };
    let network = network::start(Arc::clone(node), store, network_config, tasks)
        .await
        .context("starting the peer-to-peer network")?;
    tasks.spawn(sync::driver::run(
        Arc::clone(node),
        network.handle.clone(),
        network.sync_events,
        tasks.clone(),
    ));
    tasks.spawn(sync::mempool::run(
        Arc::clone(node),
        network.handle.clone(),
        tasks.clone(),
    ));
    Ok(StartedNetwork {
        handle: network.handle.clone(),
        peer_id: network.handle.local_peer_id(),
        listen_addrs: network.listen_addrs,
    })
}

/// Creates the directory of a SQLite database file.
fn prepare_sqlite_dir(config: &Config) -> anyhow::Result<()> {
    let Some(rest) = config.database_url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or_default();
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// A database URL with any password hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if url[scheme + 3..at].contains(':') => {
            let user_end = url[scheme + 3..at].find(':').map_or(at, |i| scheme + 3 + i);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

async fn expire_mempool(node: Arc<Node>, tasks: Tasks) {
    let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => node.expire_mempool().await,
            () = tasks.stopping() => return,
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("postgres://bob:secret@127.0.0.1:5432/db"),
            "postgres://bob:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact("postgres://bob@%2Fvar%2Frun%2Fpostgresql/db"),
            "postgres://bob@%2Fvar%2Frun%2Fpostgresql/db"
        );
        assert_eq!(
            redact("sqlite://./chain.db?mode=rwc"),
            "sqlite://./chain.db?mode=rwc"
        );
    }
}
