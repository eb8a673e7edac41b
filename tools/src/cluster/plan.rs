//! The cluster as a value: which nodes and miners to start, with which ports, directories,
//! databases and bootstrap peers. Node `i` is `node{i}` on REST port `api_base + i` and P2P
//! port `p2p_base + i`, keeps its files in `<dir>/node{i}`, and (but node 0) bootstraps from
//! node 0's REST URL; miner `j` pays `<dir>/wallets/miner{j}.json` and mines on node `j % N`.
//!
//! Pure: it reads no file, opens no socket and starts nothing. `supervise` acts on the plan.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use chaincore::consensus::Network;

/// At most this many nodes (and miners): a local network, not a load test.
pub const MAX_NODES: u16 = 64;
pub const MAX_MINERS: u16 = 64;
/// The default prefix of the per-node PostgreSQL databases.
pub const DEFAULT_DB_PREFIX: &str = "chaincore_cluster";
/// PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1), so names could
/// collide: longer prefixes are refused.
const MAX_DB_NAME: usize = 63;
/// The longest suffix a prefix gets: `_node63`.
const DB_SUFFIX_LEN: usize = "_node63".len();

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct Options {
    pub nodes: u16,
    pub miners: u16,
    pub dir: PathBuf,
    pub api_base: u16,
    pub p2p_base: u16,
    pub network: Network,
    pub miner_threads: usize,
    /// `DATABASE_URL`: a `postgres://` URL means one database per node on that server;
    /// `sqlite:` or nothing means each node's own SQLite file.
    pub database_url: Option<String>,
    pub db_prefix: String,
}

/// Why the options do not make a cluster.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0} nodes: choose 1 to {MAX_NODES}")]
    NodeCount(u16),
    #[error("{0} miners: choose 0 to {MAX_MINERS}")]
    MinerCount(u16),
    #[error("--miner-threads {0}: choose 1 to 1024")]
    MinerThreads(usize),
    #[error("{what} ports {first} to {last} do not fit in 1..=65535")]
    PortRange {
        what: &'static str,
        first: u32,
        last: u32,
    },
    #[error("REST ports {api} and P2P ports {p2p} overlap: move --api-base or --p2p-base")]
    PortOverlap { api: String, p2p: String },
    #[error(
        "--db-prefix {0:?}: use lower-case letters, digits and `_`, starting with a letter, at most {max} characters",
        max = MAX_DB_NAME - DB_SUFFIX_LEN
    )]
    DbPrefix(String),
    #[error(
        "database URL {0:?}: expected postgres://USER@HOST[:PORT]/DB (one database per node) or sqlite: (the default)"
    )]
    DatabaseUrl(String),
}

/// Where the nodes keep their chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Each node's default, `sqlite://<data-dir>/chain.db`.
    Sqlite,
    /// One database per node on this server.
    Postgres(PgServer),
}

/// A PostgreSQL server, as named by a URL to any of its databases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgServer {
    /// `postgres://USER@HOST[:PORT]` (with password, if given): everything before the path.
    base: String,
    /// `?...` after the path, kept on every URL made from this one.
    query: String,
}

impl PgServer {
    /// The server of a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<Self, PlanError> {
        let bad = || PlanError::DatabaseUrl(redact(url));
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        if !matches!(scheme, "postgres" | "postgresql") {
            return Err(bad());
        }
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, format!("?{query}")),
            None => (rest, String::new()),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            base: format!("{scheme}://{authority}"),
            query,
        })
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("{}/{name}{}", self.base, self.query)
    }

    /// The server's maintenance database, from which databases are created and dropped.
    pub fn admin_url(&self) -> String {
        self.database_url("postgres")
    }
}

/// A node to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    pub index: u16,
    pub node_id: String,
    pub api_port: u16,
    pub p2p_port: u16,
    pub data_dir: PathBuf,
    /// The node's stderr (its log), and its stdout after the ready line.
    pub log: PathBuf,
    /// On PostgreSQL, the database made for this node: (name, URL).
    pub database: Option<(String, String)>,
    /// Node 0's REST URL, for every other node.
    pub bootstrap: Option<String>,
    pub network: Network,
}

impl NodePlan {
    /// Its REST URL.
    pub fn url(&self) -> String {
        local_url(self.api_port)
    }

    /// Its database URL, as shown to users (password hidden).
    pub fn database_shown(&self) -> String {
        match &self.database {
            Some((_, url)) => redact(url),
            None => format!("sqlite://{}/chain.db", self.data_dir.display()),
        }
    }

    /// The `chaincore-node` command line.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--node-id".into(),
            self.node_id.clone().into(),
            "--api-port".into(),
            self.api_port.to_string().into(),
            "--p2p-port".into(),
            self.p2p_port.to_string().into(),
            "--data-dir".into(),
            self.data_dir.clone().into(),
        ];
        if let Some((_, url)) = &self.database {
            args.extend(["--database-url".into(), url.into()]);
        }
        if let Some(bootstrap) = &self.bootstrap {
            args.extend(["--bootstrap-nodes".into(), bootstrap.into()]);
        }
        args.extend(["--network".into(), self.network.as_str().into()]);
        args
    }
}

/// A miner to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerPlan {
    pub name: String,
    pub wallet: PathBuf,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// REST URLs in order of preference: its own node, then node 0.
    pub nodes: Vec<String>,
    pub threads: usize,
}

impl MinerPlan {
    /// The `chaincore-miner` command line.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--wallet".into(), self.wallet.clone().into()];
        for node in &self.nodes {
            args.extend(["--node".into(), node.into()]);
        }
        args.extend(["--threads".into(), self.threads.to_string().into()]);
        args
    }
}

/// Everything to start, and where its files go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub dir: PathBuf,
    pub network: Network,
    pub backend: Backend,
    pub nodes: Vec<NodePlan>,
    pub miners: Vec<MinerPlan>,
}

impl Plan {
    pub fn new(options: &Options) -> Result<Self, PlanError> {
        check_counts(options)?;
        check_ports(options)?;
        let backend = backend(options.database_url.as_deref())?;
        if matches!(backend, Backend::Postgres(_)) && !valid_prefix(&options.db_prefix) {
            return Err(PlanError::DbPrefix(options.db_prefix.clone()));
        }
        let nodes: Vec<NodePlan> = (0..options.nodes)
            .map(|i| node_plan(options, &backend, i))
            .collect();
        let miners = (0..options.miners)
            .map(|j| miner_plan(options, &nodes, j))
            .collect();
        Ok(Self {
            dir: options.dir.clone(),
            network: options.network,
            backend,
            nodes,
            miners,
        })
    }

    /// `<dir>/cluster.json`.
    pub fn record_path(&self) -> PathBuf {
        record_path(&self.dir)
    }

    /// `<dir>/wallets`, where the miners' wallets and their passphrase live.
    pub fn wallets_dir(&self) -> PathBuf {
        self.dir.join("wallets")
    }

    /// `<dir>/wallets/passphrase`.
    pub fn passphrase_path(&self) -> PathBuf {
        self.wallets_dir().join("passphrase")
    }

    /// Every port the cluster will listen on, with what listens there.
    pub fn ports(&self) -> Vec<(u16, String)> {
        self.nodes
            .iter()
            .flat_map(|n| {
                [
                    (n.api_port, format!("{} REST", n.node_id)),
                    (n.p2p_port, format!("{} P2P", n.node_id)),
                ]
            })
            .collect()
    }

    /// The PostgreSQL databases to create, by name.
    pub fn databases(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| n.database.as_ref().map(|(name, _)| name.clone()))
            .collect()
    }
}

/// `<dir>/cluster.json`.
pub fn record_path(dir: &Path) -> PathBuf {
    dir.join("cluster.json")
}

/// `http://127.0.0.1:PORT`.
pub fn local_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A URL with its password (if any) replaced by `***`, for output and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

fn check_counts(options: &Options) -> Result<(), PlanError> {
    if !(1..=MAX_NODES).contains(&options.nodes) {
        return Err(PlanError::NodeCount(options.nodes));
    }
    if options.miners > MAX_MINERS {
        return Err(PlanError::MinerCount(options.miners));
    }
    if !(1..=1024).contains(&options.miner_threads) {
        return Err(PlanError::MinerThreads(options.miner_threads));
    }
    Ok(())
}

fn check_ports(options: &Options) -> Result<(), PlanError> {
    let count = u32::from(options.nodes);
    let range = |what, base: u16| {
        let (first, last) = (u32::from(base), u32::from(base) + count - 1);
        if first == 0 || last > u32::from(u16::MAX) {
            return Err(PlanError::PortRange { what, first, last });
        }
        Ok(first..=last)
    };
    let api = range("REST", options.api_base)?;
    let p2p = range("P2P", options.p2p_base)?;
    if api.start() <= p2p.end() && p2p.start() <= api.end() {
        return Err(PlanError::PortOverlap {
            api: format!("{}-{}", api.start(), api.end()),
            p2p: format!("{}-{}", p2p.start(), p2p.end()),
        });
    }
    Ok(())
}

/// PostgreSQL for a `postgres://` URL; SQLite for `sqlite:` or no URL.
fn backend(database_url: Option<&str>) -> Result<Backend, PlanError> {
    match database_url.map(str::trim) {
        None | Some("") => Ok(Backend::Sqlite),
        Some(url) if url.starts_with("sqlite:") => Ok(Backend::Sqlite),
        Some(url) => PgServer::parse(url).map(Backend::Postgres),
    }
}

/// A prefix that makes valid, unquoted, untruncated database names.
fn valid_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && prefix.len() <= MAX_DB_NAME - DB_SUFFIX_LEN
}

fn node_plan(options: &Options, backend: &Backend, i: u16) -> NodePlan {
    let node_id = format!("node{i}");
    let data_dir = options.dir.join(&node_id);
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(server) => {
            let name = format!("{}_{node_id}", options.db_prefix);
            let url = server.database_url(&name);
            Some((name, url))
        }
    };
    NodePlan {
        index: i,
        api_port: options.api_base + i,
        p2p_port: options.p2p_base + i,
        log: data_dir.join("node.log"),
        data_dir,
        database,
        bootstrap: (i > 0).then(|| local_url(options.api_base)),
        network: options.network,
        node_id,
    }
}

fn miner_plan(options: &Options, nodes: &[NodePlan], j: u16) -> MinerPlan {
    let name = format!("miner{j}");
    let own = &nodes[usize::from(j % options.nodes)];
    let mut urls = vec![own.url()];
    if own.index != 0 {
        urls.push(nodes[0].url());
    }
    MinerPlan {
        wallet: options.dir.join("wallets").join(format!("{name}.json")),
        log: options.dir.join(format!("{name}.log")),
        nodes: urls,
        threads: options.miner_threads,
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(nodes: u16, miners: u16) -> Options {
        Options {
            nodes,
            miners,
            dir: PathBuf::from(".cluster"),
            api_base: 5000,
            p2p_base: 8000,
            network: Network::Dev,
            miner_threads: 1,
            database_url: None,
            db_prefix: DEFAULT_DB_PREFIX.into(),
        }
    }

    fn strings(args: &[OsString]) -> Vec<&str> {
        args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn node_i_gets_its_ports_directory_and_node_0_as_bootstrap() {
        let plan = Plan::new(&options(3, 0)).unwrap();
        assert_eq!(plan.nodes.len(), 3);
        assert_eq!(
            strings(&plan.nodes[0].args()),
            [
                "--node-id",
                "node0",
                "--api-port",
                "5000",
                "--p2p-port",
                "8000",
                "--data-dir",
                ".cluster/node0",
                "--network",
                "dev"
            ]
        );
        assert_eq!(
            strings(&plan.nodes[2].args()),
            [
                "--node-id",
                "node2",
                "--api-port",
                "5002",
                "--p2p-port",
                "8002",
                "--data-dir",
                ".cluster/node2",
                "--bootstrap-nodes",
                "http://127.0.0.1:5000",
                "--network",
                "dev"
            ]
        );
        assert_eq!(plan.nodes[1].log, Path::new(".cluster/node1/node.log"));
        assert_eq!(plan.ports().len(), 6);
        assert!(plan.databases().is_empty());
    }

    #[test]
    fn miner_j_pays_its_wallet_on_node_j_mod_n_then_node_0() {
        let plan = Plan::new(&options(3, 4)).unwrap();
        let urls: Vec<_> = plan.miners.iter().map(|m| m.nodes.clone()).collect();
        assert_eq!(
            urls,
            [
                vec!["http://127.0.0.1:5000"],
                vec!["http://127.0.0.1:5001", "http://127.0.0.1:5000"],
                vec!["http://127.0.0.1:5002", "http://127.0.0.1:5000"],
                vec!["http://127.0.0.1:5000"],
            ]
        );
        assert_eq!(
            strings(&plan.miners[1].args()),
            [
                "--wallet",
                ".cluster/wallets/miner1.json",
                "--node",
                "http://127.0.0.1:5001",
                "--node",
                "http://127.0.0.1:5000",
                "--threads",
                "1"
            ]
        );
        assert_eq!(plan.miners[3].log, Path::new(".cluster/miner3.log"));
    }

    #[test]
    fn postgres_gives_each_node_its_own_database_on_the_same_server() {
        let mut opts = options(2, 0);
        opts.database_url = Some("postgres://root@%2Fvar%2Frun%2Fpostgresql/anything".into());
        let plan = Plan::new(&opts).unwrap();
        assert_eq!(
            plan.databases(),
            ["chaincore_cluster_node0", "chaincore_cluster_node1"]
        );
        let args = plan.nodes[1].args();
        let args = strings(&args);
        let at = args.iter().position(|a| *a == "--database-url").unwrap();
        assert_eq!(
            args[at + 1],
            "postgres://root@%2Fvar%2Frun%2Fpostgresql/chaincore_cluster_node1"
        );
        let Backend::Postgres(server) = &plan.backend else {
            panic!("postgres")
        };
        assert_eq!(
            server.admin_url(),
            "postgres://root@%2Fvar%2Frun%2Fpostgresql/postgres"
        );
    }

    #[test]
    fn server_urls_keep_credentials_port_and_query() {
        let server = PgServer::parse("postgresql://bob:pw@db:5433/x?sslmode=disable").unwrap();
        assert_eq!(
            server.database_url("y"),
            "postgresql://bob:pw@db:5433/y?sslmode=disable"
        );
        let bare = PgServer::parse("postgres://bob@127.0.0.1").unwrap();
        assert_eq!(bare.database_url("y"), "postgres://bob@127.0.0.1/y");
        assert!(PgServer::parse("mysql://bob@db/x").is_err());
        assert!(PgServer::parse("postgres:///x").is_err());
    }

    #[test]
    fn sqlite_urls_and_no_url_mean_a_file_per_node() {
        for url in [None, Some(""), Some("sqlite://elsewhere.db")] {
            let mut opts = options(2, 0);
            opts.database_url = url.map(str::to_owned);
            let plan = Plan::new(&opts).unwrap();
            assert_eq!(plan.backend, Backend::Sqlite);
            assert_eq!(
                plan.nodes[1].database_shown(),
                "sqlite://.cluster/node1/chain.db"
            );
        }
        let mut opts = options(2, 0);
        opts.database_url = Some("mysql://x@y/z".into());
        assert!(matches!(Plan::new(&opts), Err(PlanError::DatabaseUrl(_))));
    }

    #[test]
    fn bad_counts_ports_and_prefixes_are_refused() {
        assert_eq!(Plan::new(&options(0, 0)), Err(PlanError::NodeCount(0)));
        assert_eq!(Plan::new(&options(65, 0)), Err(PlanError::NodeCount(65)));
        assert_eq!(Plan::new(&options(3, 65)), Err(PlanError::MinerCount(65)));
        let mut opts = options(3, 0);
        opts.p2p_base = 5002;
        assert!(matches!(
            Plan::new(&opts),
            Err(PlanError::PortOverlap { .. })
        ));
        opts.p2p_base = 65534;
        assert!(matches!(
            Plan::new(&opts),
            Err(PlanError::PortRange { what: "P2P", .. })
        ));
        let mut opts = options(3, 0);
        opts.database_url = Some("postgres://root@localhost/postgres".into());
        for prefix in ["", "Upper", "1abc", "a-b", "drop table", &"a".repeat(57)] {
            opts.db_prefix = prefix.into();
            assert!(
                matches!(Plan::new(&opts), Err(PlanError::DbPrefix(_))),
                "{prefix:?}"
            );
        }
        opts.db_prefix = "a".repeat(56);
        assert!(Plan::new(&opts).is_ok());
    }

    #[test]
    fn passwords_are_hidden_in_what_is_shown() {
        assert_eq!(
            redact("postgres://bob:secret@127.0.0.1:5432/db"),
            "postgres://bob:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact("postgres://bob@h/db"), "postgres://bob@h/db");
    }
}
