//! The node's configuration: command-line flags, each also settable from the environment
//! (`CHAINCORE_*`, `DATABASE_URL`) and from a TOML file (`--config`), in that order of
//! precedence. The flags of the Python node keep their names (`--node-id`, `--api-port`,
//! `--p2p-port`, `--bootstrap-nodes`).
//!
//! This module parses and checks; it opens nothing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde::Deserialize;

use crate::chainstate::{ChainOptions, DEFAULT_DBCACHE_MB};
use crate::consensus::Network;
use crate::network::per_ip::{DEFAULT_MAX_INBOUND_PER_IP, PerIpLimit};
use crate::primitives::BlockHash;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `chaincore-node`: a ChainCore full node.
#[derive(Debug, Parser, Default)]
#[command(
    name = "chaincore-node",
    version,
    about = "A ChainCore full node: chain, mempool, peer-to-peer network and REST API"
)]
pub struct Cli {
    /// A TOML file with any of these settings (keys as the long flags, `-` or `_`).
    #[arg(long, env = "CHAINCORE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Check the database and report what is inconsistent, then exit (1 if anything is).
    #[arg(long, conflicts_with = "repair")]
    pub check: bool,
    /// Rebuild the chain state (UTXO set, undo data, index, tip) from the stored blocks,
    /// validating them again, then exit. Stop the node first.
    #[arg(long)]
    pub repair: bool,
    /// This node's name, shown in /status and logs [default: core0].
    #[arg(long, env = "CHAINCORE_NODE_ID")]
    pub node_id: Option<String>,
    /// The network to follow: dev, test or main [default: dev].
    #[arg(long, env = "CHAINCORE_NETWORK")]
    pub network: Option<Network>,
    /// Port of the REST API (0: any free port) [default: 5000].
    #[arg(long, env = "CHAINCORE_API_PORT")]
    pub api_port: Option<u16>,
    /// Address the REST API listens on [default: 127.0.0.1].
    #[arg(long, env = "CHAINCORE_API_BIND")]
    pub api_bind: Option<IpAddr>,
    /// Port of the peer-to-peer listener (0: any free port) [default: 8000].
    #[arg(long, env = "CHAINCORE_P2P_PORT")]
    pub p2p_port: Option<u16>,
    /// Address the peer-to-peer listener binds [default: 127.0.0.1; 0.0.0.0 to be reachable
    /// from other machines].
    #[arg(long, env = "CHAINCORE_P2P_BIND")]
    pub p2p_bind: Option<IpAddr>,
    /// Peers to start from: REST URLs (http://localhost:5000) or multiaddrs, comma-separated.
    #[arg(long, env = "CHAINCORE_BOOTSTRAP_NODES", value_delimiter = ',')]
    pub bootstrap_nodes: Option<Vec<String>>,
    /// Directory for the node's files [default: ./.chaincore/<node-id>].
    #[arg(long, env = "CHAINCORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB
    /// [default: sqlite://<data-dir>/chain.db?mode=rwc].
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format: text or json [default: text]. Levels come from RUST_LOG (default info).
    #[arg(long, env = "CHAINCORE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Requests per second allowed per client IP on the REST API; 0 turns the limit off
    /// [default: 200].
    #[arg(long, env = "CHAINCORE_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Addresses allowed to call admin routes (/addpeer, /discover_peers), comma-separated;
    /// `any` allows everyone [default: loopback only].
    #[arg(long, env = "CHAINCORE_ADMIN_ALLOW", value_delimiter = ',')]
    pub admin_allow: Option<Vec<String>>,
    /// Largest mempool, in MiB [default: 32].
    #[arg(long, env = "CHAINCORE_MEMPOOL_MB")]
    pub mempool_mb: Option<usize>,
    /// Find peers on the local network with mDNS (`--mdns`, or `--mdns false`) [default: off].
    #[arg(long, env = "CHAINCORE_MDNS", num_args = 0..=1, default_missing_value = "true")]
    pub mdns: Option<bool>,
    /// Inbound peer-to-peer connections one IP address may hold; at least 1 [default: 16].
    #[arg(long, env = "CHAINCORE_MAX_INBOUND_PER_IP", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_inbound_per_ip: Option<u32>,
    /// IP addresses exempt from that cap, comma-separated: a lab or test network that runs
    /// many nodes behind one address [default: none].
    #[arg(long, env = "CHAINCORE_INBOUND_PER_IP_EXEMPT", value_delimiter = ',')]
    pub inbound_per_ip_exempt: Option<Vec<IpAddr>>,
    /// Memory for the cache of unspent outputs in front of the database, in MiB; 0 turns it
    /// off [default: 64].
    #[arg(long, env = "CHAINCORE_DBCACHE_MB")]
    pub dbcache_mb: Option<usize>,
    /// A block whose ancestors' signatures are taken as verified when they are connected
    /// (they are buried under its proof of work); every other rule is still checked. Only
    /// once its header is on the best header chain [default: none].
    #[arg(long, env = "CHAINCORE_ASSUME_VALID")]
    pub assume_valid: Option<BlockHash>,
}

/// The same settings as they appear in a config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    #[serde(alias = "node_id")]
    node_id: Option<String>,
    network: Option<String>,
    #[serde(alias = "api_port")]
    api_port: Option<u16>,
    #[serde(alias = "api_bind")]
    api_bind: Option<IpAddr>,
    #[serde(alias = "p2p_port")]
    p2p_port: Option<u16>,
    #[serde(alias = "p2p_bind")]
    p2p_bind: Option<IpAddr>,
    #[serde(alias = "bootstrap_nodes")]
    bootstrap_nodes: Option<Vec<String>>,
    #[serde(alias = "data_dir")]
    data_dir: Option<PathBuf>,
    #[serde(alias = "database_url")]
    database_url: Option<String>,
    #[serde(alias = "log_format")]
    log_format: Option<LogFormat>,
    #[serde(alias = "rate_limit")]
    rate_limit: Option<u32>,
    #[serde(alias = "admin_allow")]
    admin_allow: Option<Vec<String>>,
    #[serde(alias = "mempool_mb")]
    mempool_mb: Option<usize>,
    mdns: Option<bool>,
    max_inbound_per_ip: Option<u32>,
    inbound_per_ip_exempt: Option<Vec<IpAddr>>,
    dbcache_mb: Option<usize>,
    assume_valid: Option<String>,
}

/// Who may call admin routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminAllow {
    Loopback,
    Any,
    Addresses(Vec<IpAddr>),
}

impl AdminAllow {
    pub fn allows(&self, ip: IpAddr) -> bool {
        // A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        match self {
            AdminAllow::Any => true,
            AdminAllow::Loopback => ip.is_loopback(),
            AdminAllow::Addresses(list) => ip.is_loopback() || list.contains(&ip),
        }
    }
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub node_id: String,
    pub network: Network,
    pub api_bind: IpAddr,
    pub api_port: u16,
    pub p2p_port: u16,
    pub p2p_bind: IpAddr,
    pub bootstrap_nodes: Vec<String>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log_format: LogFormat,
    pub rate_limit: u32,
    pub admin_allow: AdminAllow,
    pub mempool_bytes: usize,
    pub mdns: bool,
    pub per_ip: PerIpLimit,
    pub chain: ChainOptions,
}

/// `--node-id` (default `core0`): letters, digits, `-`, `_` and `.` only.
fn checked_node_id(given: Option<String>) -> anyhow::Result<String> {
    let node_id = given.unwrap_or_else(|| "core0".to_owned());
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if node_id.is_empty() || !node_id.chars().all(allowed) {
        bail!("--node-id {node_id:?}: use letters, digits, '-', '_' or '.'");
    }
    Ok(node_id)
}

/// `--bootstrap-nodes`, each entry a peer name the network can read.
fn checked_bootstrap(given: Option<Vec<String>>) -> anyhow::Result<Vec<String>> {
    let entries = given.unwrap_or_default();
    for entry in &entries {
        entry
            .parse::<crate::network::target::PeerTarget>()
            .map_err(|e| anyhow::anyhow!("--bootstrap-nodes: {e}"))?;
    }
    Ok(entries)
}

/// `--mempool-mb` (default 32), from 1 to 4096.
fn checked_mempool_mb(given: Option<usize>) -> anyhow::Result<usize> {
    let mempool_mb = given.unwrap_or(32);
    if mempool_mb == 0 || mempool_mb > 4096 {
        bail!("--mempool-mb {mempool_mb}: choose 1 to 4096");
    }
    Ok(mempool_mb)
}

/// `--dbcache-mb` (default 64), from 0 (off) to 65536.
fn checked_dbcache_mb(given: Option<usize>) -> anyhow::Result<usize> {
    let dbcache_mb = given.unwrap_or(DEFAULT_DBCACHE_MB);
    if dbcache_mb > 65_536 {
        bail!("--dbcache-mb {dbcache_mb}: choose 0 (off) to 65536");
    }
    Ok(dbcache_mb)
}

/// `--assume-valid` from the command line, else from the file (a block hash in hex).
fn checked_assume_valid(
    cli: Option<BlockHash>,
    file: Option<String>,
) -> anyhow::Result<Option<BlockHash>> {
    match (cli, file) {
        (Some(hash), _) => Ok(Some(hash)),
        (None, Some(text)) => text
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("assume-valid {text:?}: {e}")),
        (None, None) => Ok(None),
    }
}

impl Config {
    /// Resolves flags (already merged with the environment by clap) over the config file
    /// over the defaults.
    pub fn resolve(cli: Cli) -> anyhow::Result<Self> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let network = match (cli.network, file.network) {
            (Some(n), _) => n,
            (None, Some(text)) => text
                .parse()
                .with_context(|| format!("in {}", display(&cli.config)))?,
            (None, None) => Network::Dev,
        };
        let node_id = checked_node_id(cli.node_id.or(file.node_id))?;
        let data_dir = cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| Path::new(".chaincore").join(&node_id));
        let database_url = cli
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| default_database_url(&data_dir));
        let admin_allow =
            parse_admin_allow(cli.admin_allow.or(file.admin_allow).unwrap_or_default())?;
        let bootstrap_nodes = checked_bootstrap(cli.bootstrap_nodes.or(file.bootstrap_nodes))?;
        let mempool_mb = checked_mempool_mb(cli.mempool_mb.or(file.mempool_mb))?;
        let chain = ChainOptions {
            coin_cache_bytes: checked_dbcache_mb(cli.dbcache_mb.or(file.dbcache_mb))? << 20,
            assume_valid: checked_assume_valid(cli.assume_valid, file.assume_valid)?,
        };
        Ok(Self {
            node_id,
            network,
            api_bind: cli
                .api_bind
                .or(file.api_bind)
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            api_port: cli.api_port.or(file.api_port).unwrap_or(5000),
            p2p_port: cli.p2p_port.or(file.p2p_port).unwrap_or(8000),
            p2p_bind: cli
                .p2p_bind
                .or(file.p2p_bind)
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            bootstrap_nodes,
            data_dir,
            database_url,
            log_format: cli
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            rate_limit: cli.rate_limit.or(file.rate_limit).unwrap_or(200),
            admin_allow,
            mempool_bytes: mempool_mb << 20,
            mdns: cli.mdns.or(file.mdns).unwrap_or(false),
            per_ip: PerIpLimit {
                max_inbound: checked_per_ip(cli.max_inbound_per_ip.or(file.max_inbound_per_ip))?,
                exempt: cli
                    .inbound_per_ip_exempt
                    .or(file.inbound_per_ip_exempt)
                    .unwrap_or_default(),
            },
            chain,
        })
    }

    /// Whether the database is the default SQLite file in the data directory.
    pub fn uses_data_dir_sqlite(&self) -> bool {
        self.database_url == default_database_url(&self.data_dir)
    }
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}/chain.db?mode=rwc", data_dir.display())
}

fn display(path: &Option<PathBuf>) -> String {
    path.as_deref()
        .map_or_else(String::new, |p| p.display().to_string())
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

/// The per-address inbound cap, at least 1 (a file is not checked by clap).
fn checked_per_ip(given: Option<u32>) -> anyhow::Result<u32> {
    match given {
        None => Ok(DEFAULT_MAX_INBOUND_PER_IP),
        Some(0) => bail!("max-inbound-per-ip must be at least 1"),
        Some(n) => Ok(n),
    }
}

fn parse_admin_allow(items: Vec<String>) -> anyhow::Result<AdminAllow> {
    if items.is_empty() {
        return Ok(AdminAllow::Loopback);
    }
    if items.iter().any(|i| i == "any") {
        return Ok(AdminAllow::Any);
    }
    let addresses = items
        .iter()
        .map(|i| {
            i.trim()
                .parse::<IpAddr>()
                .with_context(|| format!("--admin-allow: {i:?} is not an IP address"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(AdminAllow::Addresses(addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let cli =
            Cli::try_parse_from(std::iter::once("chaincore-node").chain(args.iter().copied()))?;
        Config::resolve(cli)
    }

    #[test]
    fn the_python_flags_work_and_defaults_fill_the_rest() {
        let config = parse(&[
            "--node-id",
            "core1",
            "--api-port",
            "5001",
            "--p2p-port",
            "8001",
            "--bootstrap-nodes",
            "http://localhost:5000",
        ])
        .unwrap();
        assert_eq!(
            (config.node_id.as_str(), config.api_port, config.p2p_port),
            ("core1", 5001, 8001)
        );
        assert_eq!(config.bootstrap_nodes, vec!["http://localhost:5000"]);
        assert_eq!(config.network, Network::Dev);
        assert_eq!(config.api_bind, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(
            config.database_url,
            "sqlite://.chaincore/core1/chain.db?mode=rwc"
        );
    }

    #[test]
    fn a_config_file_fills_what_flags_do_not_say() {
        let dir = std::env::temp_dir().join(format!("chaincore-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(
            &path,
            "node-id = \"from-file\"\napi_port = 6000\nnetwork = \"test\"\n",
        )
        .unwrap();
        let config = parse(&["--config", path.to_str().unwrap(), "--api-port", "6001"]).unwrap();
        assert_eq!(
            (config.node_id.as_str(), config.api_port, config.network),
            ("from-file", 6001, Network::Test)
        );
        std::fs::write(&path, "no-such-setting = 1\n").unwrap();
        assert!(parse(&["--config", path.to_str().unwrap()]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        assert!(parse(&["--api-port", "70000"]).is_err());
        assert!(parse(&["--network", "moon"]).is_err());
        let error = parse(&["--admin-allow", "not-an-ip"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--admin-allow"), "{error}");
        assert!(parse(&["--node-id", "bad id"]).is_err());
        let error = parse(&["--bootstrap-nodes", "http://a:1, "])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--bootstrap-nodes"), "{error}");
    }

    #[test]
    fn the_inbound_cap_per_address_is_configurable_and_never_zero() {
        let default = parse(&[]).unwrap().per_ip;
        assert_eq!(default.max_inbound, DEFAULT_MAX_INBOUND_PER_IP);
        assert!(default.exempt.is_empty());
        let set = parse(&[
            "--max-inbound-per-ip",
            "4",
            "--inbound-per-ip-exempt",
            "10.0.0.1,::1",
        ])
        .unwrap()
        .per_ip;
        assert_eq!(set.max_inbound, 4);
        assert_eq!(
            set.exempt,
            vec![IpAddr::from([10, 0, 0, 1]), "::1".parse().unwrap()]
        );
        assert!(parse(&["--max-inbound-per-ip", "0"]).is_err());
        assert!(parse(&["--inbound-per-ip-exempt", "localhost"]).is_err());
        assert!(
            checked_per_ip(Some(0)).is_err(),
            "a file cannot set 0 either"
        );
    }

    #[test]
    fn mdns_is_a_switch() {
        assert!(!parse(&[]).unwrap().mdns);
        assert!(parse(&["--mdns"]).unwrap().mdns);
        assert!(!parse(&["--mdns", "false"]).unwrap().mdns);
        assert!(parse(&["--mdns", "--api-port", "1"]).unwrap().mdns);
    }
}
