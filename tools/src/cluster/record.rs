//! `cluster.json`: what a cluster started (processes, ports, peer ids, databases, wallets), so
//! that the next run, `down` and users can find it. Its process ids are cleared when the
//! cluster stops them; its database list is what `down` may drop, and nothing else.
//!
//! Written whole (a temporary file renamed over it) with mode 0600, since a database URL
//! may hold a password. Liveness checks only read `/proc` and send signal 0: nothing here
//! stops a process.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::record_path;

/// The format tag of the files this version writes.
pub const FORMAT: &str = "chaincore-cluster/1";

/// The binaries whose processes a record names.
pub const CLUSTER_PROGRAM: &str = "chaincore-cluster";
pub const NODE_PROGRAM: &str = "chaincore-node";
pub const MINER_PROGRAM: &str = "chaincore-miner";

/// Why `cluster.json` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("{path} is not a cluster record: {reason}")]
    Malformed { path: String, reason: String },
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: String,
    /// The `chaincore-cluster` process supervising the others, while it runs.
    pub supervisor_pid: Option<u32>,
    pub network: String,
    pub postgres: Option<PgRecord>,
    pub nodes: Vec<NodeRecord>,
    pub miners: Vec<MinerRecord>,
    /// The file holding the miners' wallet passphrase.
    pub passphrase_file: Option<PathBuf>,
}

/// The PostgreSQL databases this cluster created, on which server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgRecord {
    /// The server's maintenance database, from which they are dropped.
    pub admin_url: String,
    pub databases: Vec<String>,
}

/// One node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub node_id: String,
    pub pid: Option<u32>,
    pub url: String,
    pub api_port: u16,
    pub p2p_port: u16,
    /// From the node's ready line, once it printed it.
    pub p2p: Option<String>,
    pub peer_id: Option<String>,
    pub data_dir: PathBuf,
    pub database: String,
    pub log: PathBuf,
}

/// One miner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinerRecord {
    pub name: String,
    pub pid: Option<u32>,
    pub wallet: PathBuf,
    pub address: String,
    pub nodes: Vec<String>,
    pub log: PathBuf,
}

impl Record {
    /// The record in `dir`, or `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>, RecordError> {
        let path = record_path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path, &e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RecordError::Malformed {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    /// Writes the record into `dir`, replacing the previous one in one step.
    pub fn write(&self, dir: &Path) -> Result<(), RecordError> {
        let path = record_path(dir);
        let temporary = dir.join("cluster.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| RecordError::Malformed {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| io("create", &temporary, &e))?;
        file.write_all(format!("{text}\n").as_bytes())
            .map_err(|e| io("write", &temporary, &e))?;
        std::fs::rename(&temporary, &path).map_err(|e| io("replace", &path, &e))
    }

    /// The recorded processes that still run: (name, pid).
    pub fn live_processes(&self) -> Vec<(String, u32)> {
        let supervisor = self
            .supervisor_pid
            .map(|pid| (CLUSTER_PROGRAM.to_owned(), pid, CLUSTER_PROGRAM));
        let nodes = self
            .nodes
            .iter()
            .filter_map(|n| Some((n.node_id.clone(), n.pid?, NODE_PROGRAM)));
        let miners = self
            .miners
            .iter()
            .filter_map(|m| Some((m.name.clone(), m.pid?, MINER_PROGRAM)));
        supervisor
            .into_iter()
            .chain(nodes)
            .chain(miners)
            .filter(|(_, pid, program)| is_running(*pid, program))
            .map(|(name, pid, _)| (name, pid))
            .collect()
    }

    /// Forgets every process id (they have all been stopped).
    pub fn clear_pids(&mut self) {
        self.supervisor_pid = None;
        self.nodes.iter_mut().for_each(|n| n.pid = None);
        self.miners.iter_mut().for_each(|m| m.pid = None);
    }
}

/// Whether `pid` is a live process running `program`. The program check keeps a reused pid
/// (or a zombie, whose command line is empty) from passing for one of ours.
pub fn is_running(pid: u32, program: &str) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let exists = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    };
    if !exists {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            let argv0 = String::from_utf8_lossy(argv0);
            Path::new(argv0.as_ref())
                .file_name()
                .is_some_and(|name| name == program)
        }
        // No /proc (not Linux): signal 0 is all there is to go on.
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

fn io(action: &'static str, path: &Path, error: &std::io::Error) -> RecordError {
    RecordError::Io {
        action,
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_record_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Record::read(dir.path()).unwrap(), None);
        let record = Record {
            format: FORMAT.into(),
            supervisor_pid: Some(1),
            network: "dev".into(),
            postgres: Some(PgRecord {
                admin_url: "postgres://root@h/postgres".into(),
                databases: vec!["a_node0".into()],
            }),
            nodes: vec![NodeRecord {
                node_id: "node0".into(),
                pid: Some(2),
                ..NodeRecord::default()
            }],
            miners: vec![],
            passphrase_file: None,
        };
        record.write(dir.path()).unwrap();
        assert_eq!(Record::read(dir.path()).unwrap(), Some(record.clone()));
        let mode = std::fs::metadata(dir.path().join("cluster.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut stopped = record;
        stopped.clear_pids();
        assert_eq!(stopped.supervisor_pid, None);
        assert_eq!(stopped.nodes[0].pid, None);
    }

    #[test]
    fn only_live_processes_of_the_named_program_count() {
        let me = std::process::id();
        let own_name = std::env::current_exe().unwrap();
        let own_name = own_name.file_name().unwrap().to_str().unwrap();
        assert!(is_running(me, own_name));
        assert!(!is_running(me, NODE_PROGRAM));
        assert!(!is_running(u32::MAX, NODE_PROGRAM));
        let record = Record {
            supervisor_pid: Some(me),
            ..Record::default()
        };
        assert!(record.live_processes().is_empty());
    }
}
