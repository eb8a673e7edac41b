//! The cluster's PostgreSQL databases: found, created and dropped from the server's
//! maintenance database. It never touches a database the caller did not name, and the
//! caller names only databases its plan makes or its record says it created.
//!
//! Names reach SQL only after the plan has checked them (lower-case letters, digits, `_`).

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::plan::redact;

/// A failure talking to the server.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL at {url}: cannot {action}: {reason}")]
pub struct PgError {
    pub url: String,
    pub action: String,
    pub reason: String,
}

/// A connection to a server's maintenance database.
#[derive(Debug)]
pub struct Admin {
    url: String,
    connection: PgConnection,
}

impl Admin {
    pub async fn connect(admin_url: &str) -> Result<Self, PgError> {
        let connection = PgConnection::connect(admin_url)
            .await
            .map_err(|e| error(admin_url, "connect", &e))?;
        Ok(Self {
            url: admin_url.to_owned(),
            connection,
        })
    }

    /// Which of `names` exist on the server.
    pub async fn existing(&mut self, names: &[String]) -> Result<Vec<String>, PgError> {
        let mut found = Vec::new();
        for name in names {
            let row = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&mut self.connection)
                .await
                .map_err(|e| error(&self.url, "list databases", &e))?;
            if row.is_some() {
                found.push(name.clone());
            }
        }
        Ok(found)
    }

    pub async fn create(&mut self, name: &str) -> Result<(), PgError> {
        self.execute(
            &format!("CREATE DATABASE {name}"),
            &format!("create {name}"),
        )
        .await
    }

    /// Drops `name` if it exists, disconnecting whoever still uses it.
    pub async fn drop_database(&mut self, name: &str) -> Result<(), PgError> {
        self.execute(
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            &format!("drop {name}"),
        )
        .await
    }

    async fn execute(&mut self, sql: &str, action: &str) -> Result<(), PgError> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut self.connection)
            .await
            .map(drop)
            .map_err(|e| error(&self.url, action, &e))
    }
}

fn error(url: &str, action: &str, e: &sqlx::Error) -> PgError {
    PgError {
        url: redact(url),
        action: action.to_owned(),
        reason: e.to_string(),
    }
}
