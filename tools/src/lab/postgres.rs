//! A PostgreSQL server of the lab's (or a test's) own, to stop and start while a node uses
//! it: the machine's shared server is never stopped. `initdb` in a temporary directory, run as the
//! `postgres` user (the server refuses root) on a port of its own, stopped when dropped.
//!
//! Needs root (to become `postgres`) and the server binaries (`/usr/lib/postgresql/*/bin`).
//! Without them [`PgServer::start`] gives `None` (tests skip), unless
//! `CHAINCORE_REQUIRE_POSTGRES=1`, which makes it panic.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running (or stopped) private PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PgServer {
    /// Creates and starts a server, or `None` (skip) when this machine cannot.
    pub fn start() -> Option<PgServer> {
        let required = std::env::var("CHAINCORE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let Some(bin) = server_binaries().filter(|_| nix::unistd::geteuid().is_root()) else {
            assert!(
                !required,
                "CHAINCORE_REQUIRE_POSTGRES=1 but no PostgreSQL server can be started here \
                 (needs root and /usr/lib/postgresql/*/bin)"
            );
            #[allow(clippy::print_stderr, reason = "a skip must be loud")]
            {
                eprintln!(
                    "\n*** SKIPPED: a private PostgreSQL server needs root and its binaries ***\n"
                );
            }
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("chaincore-pg-")
            .tempdir()
            .expect("a temporary directory");
        chown_postgres(dir.path());
        let port = free_port();
        let server = PgServer { bin, dir, port };
        server.as_postgres(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        server.resume();
        Some(server)
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The URL of database `name` through the server's unix socket, which a process in
    /// another network namespace (a lab node) reaches too.
    pub fn socket_url(&self, database: &str) -> String {
        let dir = self.dir.path().display().to_string().replace('/', "%2F");
        format!("postgres://postgres@{dir}:{}/{database}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs one SQL statement as the superuser, on database `name`.
    pub fn sql(&self, name: &str, statement: &str) -> String {
        self.as_postgres(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                name,
                "-tA",
                "-c",
                statement,
            ],
        )
    }

    /// Stops the server at once, as a crash or `pg_ctl stop -m immediate` would: every
    /// connection drops, nothing is checkpointed.
    pub fn stop_immediately(&self) {
        self.as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Starts the (stopped) server again, and waits until it takes connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
    }

    /// Starts the server unless it is running (after an outage the timeline did not end).
    pub fn resume_if_stopped(&self) {
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "status"])
            .output();
        if status.is_ok_and(|o| !o.status.success()) {
            self.resume();
        }
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> String {
        let output = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest installed server's binaries.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn chown_postgres(path: &Path) {
    let status = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {}", path.display());
}

/// A port free now on 127.0.0.1 (the kernel's choice, released for the server to take).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("an address").port()
}
