//! `chaincore-migrate`: apply, roll back or list ChainCore's schema migrations by hand.
//! (The node applies them itself at start; this is for operators.)
//!
//! ```text
//! chaincore-migrate [--database-url URL] up | down [N] | status
//! ```

use std::process::ExitCode;

use chaincore_migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

const USAGE: &str = "usage: chaincore-migrate [--database-url URL] up | down [N] | status\n\
                     (the URL may also come from DATABASE_URL)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chaincore-migrate: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Vec<String>) -> Result<(), String> {
    let mut url = std::env::var("DATABASE_URL").ok();
    if args.first().map(String::as_str) == Some("--database-url") {
        if args.len() < 2 {
            return Err(USAGE.into());
        }
        url = Some(args.remove(1));
        args.remove(0);
    }
    let url = url.ok_or_else(|| format!("no database URL\n{USAGE}"))?;
    let db = Database::connect(&url)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up"] => Migrator::up(&db, None).await,
        ["down"] => Migrator::down(&db, Some(1)).await,
        ["down", n] => {
            Migrator::down(
                &db,
                Some(n.parse().map_err(|_| format!("not a count: {n}"))?),
            )
            .await
        }
        ["status"] => print_status(&db).await,
        _ => return Err(USAGE.into()),
    };
    result.map_err(|e| e.to_string())
}

#[allow(
    clippy::print_stdout,
    reason = "the status report is this command's output"
)]
async fn print_status(
    db: &sea_orm_migration::sea_orm::DatabaseConnection,
) -> Result<(), sea_orm_migration::DbErr> {
    for migration in Migrator::get_migration_with_status(db).await? {
        println!(
            "{:<10} {}",
            format!("{:?}", migration.status()),
            migration.name()
        );
    }
    Ok(())
}
