//! `chaincore-cluster`: a local ChainCore network of N nodes (and optional miners) on one
//! machine, for `just cluster`. Node `i` listens on REST port 5000+i and P2P port 8000+i,
//! keeps its files in `.cluster/node{i}` and its chain in its own database (a SQLite file,
//! or one PostgreSQL database per node when given a `postgres://` URL); nodes 1..N bootstrap
//! from node 0's REST URL. It prints a table of the nodes, then a live status line per node,
//! and on Ctrl-C or SIGTERM stops every process it started. `down` removes what a stopped
//! cluster left (its directory and its databases).
//!
//! - [`plan`]: the cluster as a value (pure): ids, ports, directories, databases, commands.
//! - [`prepare`]: the refusals before anything starts, the leftovers removed, databases and
//!   wallets made.
//! - [`supervise`]: starting the children, watching them and `/status`, stopping them.
//! - [`process`]: one child process: its logs, its ready line, SIGTERM then SIGKILL.
//! - [`record`]: `cluster.json`, what a run started, for the next run, `down` and users.
//! - [`postgres`]: creating and dropping the per-node databases.
//! - [`status`]: the table and the status lines as text (pure).
//!
//! It must not touch what it did not make: it signals only processes it started (by pid,
//! never by name), drops only databases its record lists, removes only a directory that
//! holds its record, and refuses to start over a running cluster, a busy port or a database
//! of the same name that someone else created. It judges nothing about the chain: agreement
//! is what the nodes' `/status` says.

pub mod plan;
pub mod postgres;
pub mod prepare;
pub mod process;
pub mod record;
pub mod status;
pub mod supervise;

use std::path::{Path, PathBuf};

pub use plan::{Options, Plan, PlanError};
pub use process::Stopped;
pub use status::{Board, NodeStatus, Summary};

use crate::rest::RestError;
use crate::wallet::KeyFileError;
use record::{Record, RecordError};

/// What the cluster reports to its caller, which shows it.
#[derive(Debug)]
pub enum Event {
    /// A step worth a line: a database created, a directory removed.
    Note(String),
    /// A node printed its ready line.
    NodeReady { node_id: String, url: String },
    /// Every node and miner runs: the table.
    Ready(Summary),
    /// Every node's `/status`, about every two seconds.
    Status(Vec<NodeStatus>),
    /// A child exited while the cluster ran.
    Exited {
        name: String,
        status: String,
        log: PathBuf,
    },
    /// Ctrl-C or SIGTERM arrived: stopping everything.
    Stopping,
    /// A child has been stopped.
    Stopped { name: String, how: Stopped },
}

/// Why the cluster did not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Postgres(#[from] postgres::PgError),
    #[error(transparent)]
    Wallet(#[from] KeyFileError),
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error(
        "port {port} ({what}) is not free: {reason}; stop what uses it, or choose other ports with --api-base / --p2p-base"
    )]
    PortInUse {
        port: u16,
        what: String,
        reason: String,
    },
    #[error(
        "a cluster is already running in {dir} ({processes}); Ctrl-C it (or kill those pids), or run just cluster-down once it has stopped"
    )]
    AlreadyRunning { dir: String, processes: String },
    #[error(
        "the cluster in {dir} still runs ({processes}): stop it with Ctrl-C (or kill those pids) before removing it"
    )]
    StillRunning { dir: String, processes: String },
    #[error(
        "{dir} holds files but no cluster.json: it is not a cluster directory; choose another --dir"
    )]
    NotAClusterDir { dir: String },
    #[error(
        "database(s) {names} already exist on {server}, and {record} does not say this cluster created them; it never touches a database it did not create: choose another --db-prefix, or drop them yourself"
    )]
    ForeignDatabases {
        names: String,
        server: String,
        record: String,
    },
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("every process of the cluster has exited; see the logs in {dir}")]
    AllExited { dir: String },
}

impl ClusterError {
    fn io(action: &'static str, path: &Path, error: &std::io::Error) -> Self {
        ClusterError::Io {
            action,
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }
}

/// Starts the cluster `options` describe and supervises it until `shutdown` completes (then
/// stops everything and returns `Ok`), or until every child has exited.
pub async fn run(
    options: Options,
    shutdown: impl Future<Output = ()>,
    on_event: &mut impl FnMut(Event),
) -> Result<(), ClusterError> {
    supervise::run(Plan::new(&options)?, shutdown, on_event).await
}

/// Removes what a stopped cluster left in `dir`: its databases, then the directory.
pub async fn down(dir: &Path, on_event: &mut impl FnMut(Event)) -> Result<(), ClusterError> {
    if !dir.exists() {
        on_event(Event::Note(format!(
            "{} does not exist: nothing to remove",
            dir.display()
        )));
        return Ok(());
    }
    let Some(record) = Record::read(dir)? else {
        return Err(ClusterError::NotAClusterDir {
            dir: dir.display().to_string(),
        });
    };
    let live = record.live_processes();
    if !live.is_empty() {
        return Err(ClusterError::StillRunning {
            dir: dir.display().to_string(),
            processes: prepare::describe_processes(&live),
        });
    }
    prepare::remove_cluster(dir, &record, on_event).await
}
