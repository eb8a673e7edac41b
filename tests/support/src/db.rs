//! Fresh databases for tests: a SQLite file in a temporary directory, or a PostgreSQL
//! database with a unique name, created for one test and dropped after it (even on failure).
//!
//! PostgreSQL is looked for on the unix socket, then on 127.0.0.1:5432 (override with
//! `CHAINCORE_TEST_PG_ADMIN_URL`). When none answers, PostgreSQL tests skip with a loud
//! message, unless `CHAINCORE_REQUIRE_POSTGRES=1`, which makes them fail.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

const ADMIN_URLS: [&str; 2] = [
    "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres",
    "postgres://postgres@127.0.0.1:5432/postgres",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for the lifetime of this value.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Drop { admin_url: String, name: String },
}

impl TestDb {
    /// A database of `backend`, or `None` if PostgreSQL is absent and not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/chain.db?mode=rwc", dir.path().display());
        TestDb {
            url,
            backend: Backend::Sqlite,
            cleanup: Cleanup::Dir(dir),
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let (admin_url, admin) = postgres_admin().await?;
        let name = format!(
            "chaincore_test_{}_{}",
            std::process::id(),
            fastrand::u64(..)
        );
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        let url = replace_database(&admin_url, &name);
        Some(TestDb {
            url,
            backend: Backend::Postgres,
            cleanup: Cleanup::Drop { admin_url, name },
        })
    }
}

/// The first PostgreSQL server that answers (its admin URL and a connection), or `None`,
/// skipping loudly, unless `CHAINCORE_REQUIRE_POSTGRES=1`, which makes it panic.
pub async fn postgres_admin() -> Option<(String, DatabaseConnection)> {
    let candidates: Vec<String> = match std::env::var("CHAINCORE_TEST_PG_ADMIN_URL") {
        Ok(url) => vec![url],
        Err(_) => ADMIN_URLS.iter().map(|s| (*s).to_owned()).collect(),
    };
    for url in candidates {
        if let Ok(admin) = Database::connect(url.as_str()).await {
            return Some((url, admin));
        }
    }
    let required = std::env::var("CHAINCORE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "CHAINCORE_REQUIRE_POSTGRES=1 but no PostgreSQL server answers"
    );
    eprintln!(
        "\n*** SKIPPED: no PostgreSQL server answers; set CHAINCORE_REQUIRE_POSTGRES=1 to fail instead ***\n"
    );
    None
}

/// Bytes a test database takes on disk: the SQLite file and its write-ahead log, or
/// PostgreSQL's own measure of the database.
pub async fn database_bytes(db: &TestDb) -> u64 {
    match &db.cleanup {
        Cleanup::Dir(dir) => sqlite_bytes(dir.path()),
        Cleanup::Drop { .. } => {
            use sea_orm::{ConnectionTrait, Statement};
            let conn = Database::connect(db.url.as_str()).await.expect("connect");
            // Statistics and free space settle at a checkpoint.
            conn.execute_unprepared("CHECKPOINT").await.ok();
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT pg_database_size(current_database()) AS bytes",
                ))
                .await
                .expect("query the size")
                .expect("a row");
            let bytes: i64 = row.try_get("", "bytes").expect("a size");
            u64::try_from(bytes).expect("a size is positive")
        }
    }
}

/// Bytes of the SQLite database `chain.db` in `dir`, with its write-ahead log.
pub fn sqlite_bytes(dir: &std::path::Path) -> u64 {
    ["chain.db", "chain.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

fn replace_database(admin_url: &str, name: &str) -> String {
    let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Drop { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("warning: could not drop test database: {dropped:?}");
        }
    }
}

/// Declares one `#[tokio::test]` per backend for an async test body taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Postgres).await;
                }
            )*
        }
    };
}
