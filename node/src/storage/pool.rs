//! The connection pool under [`super::SqlStore`]: its options, the schema migration before
//! it opens, and the check that keeps a connection a transaction left behind out of it.
//!
//! It must not decide anything about the chain; it only makes sure that every connection
//! it hands out is one on which `begin` starts a real transaction and `commit` ends it.

use std::time::Duration;

use chaincore_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::Connection as _;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use super::StoreError;

/// How long a statement waits for a connection before the database counts as lost.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the pool for `url` (`sqlite://…` or `postgres://…`) after bringing the schema up
/// to date.
pub(super) async fn connect(url: &str) -> Result<DatabaseConnection, StoreError> {
    migrate(url).await?;
    Ok(Database::connect(options(url)).await?)
}

/// The pool's options for `url`.
pub(super) fn options(url: &str) -> ConnectOptions {
    let mut options = base_options(url);
    // A lost database must not hold the chain's writer (and everyone queued behind it)
    // for long: sqlx retries a refused connection until this timeout, then the node
    // drops its chain state and retries in the background (see `outage`).
    options.acquire_timeout(ACQUIRE_TIMEOUT);
    if url.starts_with("sqlite:") {
        // WAL: readers never block the writer; NORMAL sync is safe against process crashes.
        options
            .max_connections(8)
            .map_sqlx_sqlite_opts(|opts| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    // A page cache and memory map big enough for the hot tables: without them
                    // every statement re-reads pages through pread.
                    .pragma("cache_size", "-65536")
                    .pragma("mmap_size", "268435456")
                    .pragma("temp_store", "memory")
                    // Checkpoint the log every ~40 MB, not every 4 MB: a block's rows touch
                    // pages all over the random-key indexes (utxos, transactions), and
                    // each checkpoint rewrites them.
                    .pragma("wal_autocheckpoint", "10000")
            })
            .map_sqlx_sqlite_before_acquire(|conn, _| {
                Box::pin(async move { Ok(outside_transaction(conn.is_in_transaction())) })
            });
    } else {
        options
            .max_connections(16)
            .map_sqlx_postgres_before_acquire(|conn, _| {
                Box::pin(async move { Ok(outside_transaction(conn.is_in_transaction())) })
            });
    }
    options
}

/// Whether an idle connection may be handed out: not if sqlx still counts a transaction
/// open on it. An idle connection has none unless its last one ended behind sqlx's back.
/// SQLite rolls a whole transaction back by itself after some errors (`SQLITE_FULL` on a
/// full disk, `SQLITE_IOERR`, `SQLITE_NOMEM`); sqlx's `ROLLBACK` then fails and its depth
/// stays at 1. The next `begin` on that connection would issue `SAVEPOINT` instead of
/// `BEGIN`, its rollback would leave SQLite inside a transaction that holds a stale
/// snapshot (or the write lock), and the commit after that would only release a savepoint:
/// a commit that commits nothing. Such a connection is closed, and the pool opens a new
/// one.
fn outside_transaction(in_transaction: bool) -> bool {
    if in_transaction {
        tracing::warn!("closed a pooled database connection left inside a transaction");
        metrics::counter!(crate::telemetry::STORAGE_CONNECTIONS_DISCARDED).increment(1);
    }
    !in_transaction
}

/// Options every pool of ours starts from. No idle timeout and no maximum lifetime: with
/// either, sqlx runs a reaper task that a race in its idle count (sqlx#3645, unfixed in
/// 0.9.0) can send into a loop that never yields, seen here as a test process hanging at
/// exit with a core at 100%. A broken connection is still found and replaced on acquire.
fn base_options(url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>);
    options
}

/// Brings the schema up to date over a connection of its own, closed before the pool opens:
/// the migrator spreads its statements over a pool's connections, and a SQLite connection
/// opened before a table was rebuilt can keep preparing statements against the old table.
async fn migrate(url: &str) -> Result<(), StoreError> {
    let mut options = base_options(url);
    options.max_connections(1);
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    db.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

    use super::*;

    async fn one_connection_pool(url: &str, checked: bool) -> DatabaseConnection {
        let mut options = if checked {
            options(url)
        } else {
            base_options(url)
        };
        options.max_connections(1);
        Database::connect(options).await.expect("pool")
    }

    async fn rows(db: &DatabaseConnection) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get("", "n").expect("n")
    }

    /// Leaves the pool's connection as SQLite leaves it after rolling back a transaction
    /// by itself (on a full disk, say): no transaction open, sqlx counting one. Then a
    /// write is started and abandoned, and another is committed.
    async fn commit_after_a_transaction_ended_behind_sqlx(db: &DatabaseConnection) {
        let txn = db.begin().await.expect("begin");
        txn.execute_unprepared("ROLLBACK").await.expect("rollback");
        drop(txn); // sqlx's own ROLLBACK now fails: no transaction is active
        let abandoned = db.begin().await.expect("begin");
        abandoned
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .expect("insert");
        drop(abandoned);
        let txn = db.begin().await.expect("begin");
        txn.execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .expect("insert");
        txn.commit().await.expect("commit");
    }

    async fn committed_rows_seen_by_another_pool(checked: bool) -> i64 {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = one_connection_pool(&url, checked).await;
        db.execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .expect("table");
        commit_after_a_transaction_ended_behind_sqlx(&db).await;
        let other = one_connection_pool(&url, false).await;
        rows(&other).await
    }

    #[tokio::test]
    async fn a_commit_after_sqlite_rolled_back_by_itself_is_durable() {
        assert_eq!(committed_rows_seen_by_another_pool(true).await, 1);
    }

    /// The failure the check prevents, shown on a pool without it: the commit that
    /// succeeded released a savepoint inside a transaction that never ends.
    #[tokio::test]
    async fn without_the_check_that_commit_commits_nothing() {
        assert_eq!(committed_rows_seen_by_another_pool(false).await, 0);
    }
}
