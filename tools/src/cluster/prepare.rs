//! Before a cluster starts: the checks that refuse (a cluster still running in the
//! directory, a directory that is not a cluster's, a port in use, a database the cluster did
//! not create), then the previous run's leftovers removed and the new run's databases and
//! miner wallets made. Also the removal itself, which `down` shares.
//!
//! It removes only what a record says a cluster made: the record's databases and the
//! directory holding that record. It starts and stops no process.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use chaincore::primitives::PrivateKey;

use super::plan::{Backend, PgServer, Plan, redact};
use super::postgres::Admin;
use super::record::{PgRecord, Record};
use super::{ClusterError, Event};
use crate::wallet::KeyFile;

/// The record of a previous cluster in `dir`, if any; refuses while that cluster runs, or
/// when `dir` holds files but no record.
pub fn previous_cluster(dir: &Path) -> Result<Option<Record>, ClusterError> {
    if !dir.exists() {
        return Ok(None);
    }
    let Some(record) = Record::read(dir)? else {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| ClusterError::io("read", dir, &e))?
            .next()
            .is_none();
        return if empty {
            Ok(None)
        } else {
            Err(ClusterError::NotAClusterDir {
                dir: dir.display().to_string(),
            })
        };
    };
    let live = record.live_processes();
    if !live.is_empty() {
        return Err(ClusterError::AlreadyRunning {
            dir: dir.display().to_string(),
            processes: describe_processes(&live),
        });
    }
    Ok(Some(record))
}

/// `node0 (pid 12), miner0 (pid 14)`, and the pids alone for a `kill` command.
pub fn describe_processes(live: &[(String, u32)]) -> String {
    let named: Vec<String> = live
        .iter()
        .map(|(name, pid)| format!("{name} pid {pid}"))
        .collect();
    named.join(", ")
}

/// Fails on the first port something already listens on.
pub fn check_ports(plan: &Plan) -> Result<(), ClusterError> {
    for (port, what) in plan.ports() {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Err(ClusterError::PortInUse {
                port,
                what,
                reason: e.to_string(),
            });
        }
    }
    Ok(())
}

/// Refuses when a database the plan would create exists but `previous` did not create it.
pub async fn refuse_foreign_databases(
    plan: &Plan,
    previous: Option<&Record>,
) -> Result<(), ClusterError> {
    let Backend::Postgres(server) = &plan.backend else {
        return Ok(());
    };
    let mut admin = Admin::connect(&server.admin_url()).await?;
    let ours = previous
        .and_then(|r| r.postgres.as_ref())
        .filter(|pg| pg.admin_url == server.admin_url())
        .map(|pg| pg.databases.clone())
        .unwrap_or_default();
    let foreign: Vec<String> = admin
        .existing(&plan.databases())
        .await?
        .into_iter()
        .filter(|name| !ours.contains(name))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(ClusterError::ForeignDatabases {
        names: foreign.join(", "),
        server: redact(&server.admin_url()),
        record: plan.record_path().display().to_string(),
    })
}

/// Drops the databases `record` lists and removes `dir`, the directory holding it.
pub async fn remove_cluster(
    dir: &Path,
    record: &Record,
    on_event: &mut impl FnMut(Event),
) -> Result<(), ClusterError> {
    if let Some(pg) = record
        .postgres
        .as_ref()
        .filter(|pg| !pg.databases.is_empty())
    {
        let mut admin = Admin::connect(&pg.admin_url).await?;
        for name in &pg.databases {
            admin.drop_database(name).await?;
            on_event(Event::Note(format!("dropped database {name}")));
        }
    }
    std::fs::remove_dir_all(dir).map_err(|e| ClusterError::io("remove", dir, &e))?;
    on_event(Event::Note(format!("removed {}", dir.display())));
    Ok(())
}

/// Creates the plan's databases, adding each to the record as soon as it exists.
pub async fn create_databases(
    server: &PgServer,
    plan: &Plan,
    record: &mut Record,
    on_event: &mut impl FnMut(Event),
) -> Result<(), ClusterError> {
    let mut admin = Admin::connect(&server.admin_url()).await?;
    let pg = record.postgres.get_or_insert_with(|| PgRecord {
        admin_url: server.admin_url(),
        databases: Vec::new(),
    });
    for name in plan.databases() {
        admin.create(&name).await?;
        pg.databases.push(name.clone());
        on_event(Event::Note(format!(
            "created database {name} on {}",
            redact(&server.admin_url())
        )));
    }
    record.write(&plan.dir)?;
    Ok(())
}

/// The cluster directory (and its parents), private to its owner.
pub fn create_dir(dir: &Path) -> Result<(), ClusterError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ClusterError::io("create", dir, &e))
}

/// A fresh wallet per miner, all sealed with one random passphrase kept in a 0600 file.
/// Returns the miners' addresses, in plan order.
pub fn create_wallets(plan: &Plan) -> Result<Vec<String>, ClusterError> {
    if plan.miners.is_empty() {
        return Ok(Vec::new());
    }
    create_dir(&plan.wallets_dir())?;
    let passphrase = random_passphrase();
    let path = plan.passphrase_path();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| ClusterError::io("create", &path, &e))?;
    file.write_all(passphrase.as_bytes())
        .map_err(|e| ClusterError::io("write", &path, &e))?;
    plan.miners
        .iter()
        .map(|miner| {
            let file = KeyFile::seal(&PrivateKey::generate(), &passphrase)?;
            file.write_new(&miner.wallet)?;
            Ok(file.address)
        })
        .collect()
}

/// 16 random bytes in hex.
fn random_passphrase() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator");
    hex::encode(bytes)
}
