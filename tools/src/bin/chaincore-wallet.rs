//! `chaincore-wallet`: a key file and the payments it signs (see `chaincore_tools::wallet`).
//!
//! ```text
//! chaincore-wallet create  --wallet alice.json
//! chaincore-wallet info    --wallet alice.json
//! chaincore-wallet balance --wallet alice.json --node http://localhost:5000
//! chaincore-wallet send    --wallet alice.json --node http://localhost:5000 --to 1Bob... --amount 10.0 --fee 0.5 --wait
//! chaincore-wallet history --wallet alice.json --node http://localhost:5000 [--all]
//! chaincore-wallet utxos   --wallet alice.json --node http://localhost:5000
//! chaincore-wallet generate --wallet alice.json --node http://localhost:5000 --blocks 11   (dev chains)
//! chaincore-wallet export  --wallet alice.json > alice.key        (the secret key, hex)
//! chaincore-wallet import  --wallet restored.json < alice.key
//! ```
//!
//! The passphrase comes from `CHAINCORE_WALLET_PASSPHRASE` when set, else from a prompt.
//!
//! Exit codes: 0 done; 1 the node refused, or `--wait` ran out; 2 bad arguments (an invalid
//! address, a negative or over-precise amount); 3 no node answers; 4 insufficient funds;
//! 5 the wallet file exists already, cannot be read, or the passphrase is wrong; 6 a merkle
//! proof the node sent does not hold. No command but `create` and `import` writes a file, and
//! those two never overwrite one.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user"
)]

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chaincore::primitives::{Address, Amount, PrivateKey};
use chaincore_tools::rest::{NodeClient, RestError};
use chaincore_tools::wallet::{KeyFile, KeyFileError, PaymentError, Remote, build_payment, select};
use clap::{Args, Parser, Subcommand};

/// A ChainCore wallet: one key, encrypted in a file, and the payments it makes.
#[derive(Debug, Parser)]
#[command(name = "chaincore-wallet", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new wallet file (mode 0600, never overwriting one).
    Create(FileArgs),
    /// Show the wallet's address and public key (no passphrase needed).
    Info(FileArgs),
    /// Show confirmed, immature, spendable and pending amounts.
    Balance(NodeArgs),
    /// Pay an address: select coins, sign, submit, print the txid.
    Send(SendArgs),
    /// List the wallet's confirmed transactions, newest first, checking their merkle proofs.
    History(HistoryArgs),
    /// List the wallet's unspent outputs.
    Utxos(NodeArgs),
    /// Have a dev node mine blocks paying this wallet, at once (the node's `/generate`:
    /// for its administrators, refused on main).
    Generate(GenerateArgs),
    /// Print the secret key (hex) on stdout, after the passphrase.
    Export(FileArgs),
    /// Create a wallet file from a secret key (hex) read on stdin.
    Import(FileArgs),
}

#[derive(Debug, Args)]
struct FileArgs {
    /// The wallet file (`alice.json` means ./alice.json).
    #[arg(long)]
    wallet: PathBuf,
}

#[derive(Debug, Args)]
struct NodeArgs {
    #[command(flatten)]
    file: FileArgs,
    /// The node's REST URL.
    #[arg(long, default_value = "http://localhost:5000")]
    node: String,
}

#[derive(Debug, Args)]
struct SendArgs {
    #[command(flatten)]
    on: NodeArgs,
    /// The payee's address.
    #[arg(long)]
    to: String,
    /// Coins to send, as a decimal (`10.0`, `0.00000001`).
    #[arg(long, allow_hyphen_values = true)]
    amount: String,
    /// Fee in coins, as a decimal.
    #[arg(long, default_value = "0.0001", allow_hyphen_values = true)]
    fee: String,
    /// Wait until the payment is in a block.
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 300)]
    wait_secs: u64,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    on: NodeArgs,
    /// How many blocks, 1 to 1,000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    blocks: u32,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    #[command(flatten)]
    on: NodeArgs,
    /// Transactions per page (at most 100).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// Start below this cursor (`HEIGHT:POSITION`, printed after a page).
    #[arg(long)]
    before: Option<String>,
    /// Page through the whole history.
    #[arg(long)]
    all: bool,
    /// Skip the merkle-proof checks.
    #[arg(long)]
    no_verify: bool,
}

/// A failure, and the exit code it ends the program with.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    fn usage(message: impl Into<String>) -> Self {
        Self::new(2, message)
    }
}

impl From<KeyFileError> for Failure {
    fn from(error: KeyFileError) -> Self {
        Self::new(5, error.to_string())
    }
}

impl From<RestError> for Failure {
    fn from(error: RestError) -> Self {
        let code = if error.is_unreachable() { 3 } else { 1 };
        Self::new(code, error.to_string())
    }
}

impl From<PaymentError> for Failure {
    fn from(error: PaymentError) -> Self {
        let code = if matches!(error, PaymentError::Insufficient { .. }) {
            4
        } else {
            2
        };
        Self::new(code, error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn execute(command: Command) -> Result<(), Failure> {
    match command {
        Command::Create(args) => create(&args.wallet, PrivateKey::generate(), "created"),
        Command::Import(args) => create(&args.wallet, read_secret_key()?, "imported"),
        Command::Info(args) => info(&args.wallet),
        Command::Export(args) => export(&args.wallet),
        Command::Balance(args) => balance(&args).await,
        Command::Utxos(args) => utxos(&args).await,
        Command::Send(args) => send(&args).await,
        Command::History(args) => history(&args).await,
        Command::Generate(args) => generate(&args).await,
    }
}

fn create(path: &Path, key: PrivateKey, verb: &str) -> Result<(), Failure> {
    if path.exists() {
        return Err(KeyFileError::Exists {
            path: path.display().to_string(),
        }
        .into());
    }
    let passphrase = new_passphrase(path)?;
    let file = KeyFile::seal(&key, &passphrase)?;
    file.write_new(path)?;
    println!("{verb} {}", path.display());
    println!("address {}", file.address);
    Ok(())
}

fn info(path: &Path) -> Result<(), Failure> {
    let file = KeyFile::read(path)?;
    println!("wallet      {}", path.display());
    println!("address     {}", file.address);
    println!("public key  {}", file.public_key);
    println!(
        "encryption  {} with {} (m={} KiB, t={}, p={})",
        file.cipher, file.kdf.name, file.kdf.m_cost_kib, file.kdf.t_cost, file.kdf.p_cost
    );
    Ok(())
}

fn export(path: &Path) -> Result<(), Failure> {
    let file = KeyFile::read(path)?;
    let key = file.unlock(&passphrase(path)?, path)?;
    eprintln!("warning: anyone with this key can spend the wallet's coins");
    println!("{}", hex::encode(key.to_bytes()));
    Ok(())
}

/// A secret key as 64 hex digits on the first line of stdin.
fn read_secret_key() -> Result<PrivateKey, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read the key from stdin: {e}")))?;
    let bytes: [u8; 32] = hex::decode(line.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Failure::usage("stdin does not hold a secret key: expected 64 hex digits")
        })?;
    PrivateKey::from_bytes(&bytes).map_err(|e| Failure::usage(e.to_string()))
}

/// The wallet file's address and a client for `--node`.
fn open(args: &NodeArgs) -> Result<(KeyFile, Address, Remote), Failure> {
    let node = NodeClient::new(&args.node).map_err(|e| Failure::usage(e.to_string()))?;
    let file = KeyFile::read(&args.file.wallet)?;
    let address = file.address(&args.file.wallet)?;
    Ok((file, address, Remote::new(node)))
}

async fn balance(args: &NodeArgs) -> Result<(), Failure> {
    let (_, address, remote) = open(args)?;
    let b = remote.balance(&address).await?;
    let units =
        |u: u64| Amount::from_units(u).map_or_else(|_| format!("{u} units"), |a| a.to_string());
    println!("address    {address}");
    println!(
        "confirmed  {:>20}  ({} coins at height {})",
        units(b.confirmed_units),
        b.utxo_count,
        b.height
    );
    println!("immature   {:>20}", units(b.immature_units));
    println!(
        "spendable  {:>20}",
        units(b.confirmed_units.saturating_sub(b.immature_units))
    );
    println!("pending    {:>20}", signed(b.pending_units));
    Ok(())
}

async fn utxos(args: &NodeArgs) -> Result<(), Failure> {
    let (_, address, remote) = open(args)?;
    let utxos = remote.utxos(&address).await?;
    println!(
        "{:<68} {:>20} {:>8} {:>6} spendable",
        "outpoint", "amount", "height", "conf."
    );
    for u in &utxos {
        let amount = Amount::from_units(u.amount_units)
            .map_or_else(|_| u.amount_units.to_string(), |a| a.to_string());
        let kind = match (u.is_coinbase, u.mature) {
            (_, true) => "yes",
            (true, false) => "no (immature coinbase)",
            (false, false) => "no",
        };
        println!(
            "{:<68} {amount:>20} {:>8} {:>6} {kind}",
            format!("{}:{}", u.txid, u.vout),
            u.height,
            u.confirmations
        );
    }
    println!("{} unspent outputs", utxos.len());
    Ok(())
}

async fn generate(args: &GenerateArgs) -> Result<(), Failure> {
    let (_, address, remote) = open(&args.on)?;
    let generated = remote.generate(&address, args.blocks).await?;
    for hash in &generated.blocks {
        println!("{hash}");
    }
    println!(
        "mined {} blocks paying {address}; height {}",
        generated.blocks.len(),
        generated.height
    );
    Ok(())
}

async fn send(args: &SendArgs) -> Result<(), Failure> {
    let to: Address = args
        .to
        .parse()
        .map_err(|e| Failure::usage(format!("--to {:?} is not a valid address: {e}", args.to)))?;
    let amount = parse_amount("--amount", &args.amount)?;
    let fee = parse_amount("--fee", &args.fee)?;
    let path = &args.on.file.wallet;
    let (file, address, remote) = open(&args.on)?;
    let genesis = remote.genesis().await?;
    let selection = select(&remote.coins(&address).await?, amount, fee)?;
    let key = file.unlock(&passphrase(path)?, path)?;
    let tx = build_payment(&selection, &key, &to, amount, &genesis);
    let txid = remote.submit(&tx).await?;
    println!(
        "sent {amount} to {to} with fee {fee} ({} inputs, change {})",
        selection.inputs.len(),
        selection.change
    );
    println!("txid {txid}");
    if args.wait {
        match remote
            .wait_confirmed(&txid, Duration::from_secs(args.wait_secs))
            .await?
        {
            Some(height) => println!("confirmed in block {height}"),
            None => {
                return Err(Failure::new(
                    1,
                    format!("{txid} is not confirmed after {} s", args.wait_secs),
                ));
            }
        }
    }
    Ok(())
}

async fn history(args: &HistoryArgs) -> Result<(), Failure> {
    let (_, address, remote) = open(&args.on)?;
    let mut before = args.before.clone();
    let mut failed = Vec::new();
    println!(
        "{:>8} {:<64} {:>21} {:>6} merkle proof",
        "height", "txid", "net", "conf."
    );
    loop {
        let page = remote
            .history(&address, args.limit, before.as_deref())
            .await?;
        for entry in &page.transactions {
            let check = if args.no_verify {
                "not checked".to_owned()
            } else {
                match remote.inclusion_claim(&entry.txid).await?.verify() {
                    Ok(()) => "ok".to_owned(),
                    Err(error) => {
                        failed.push(format!("{}: {error}", entry.txid));
                        format!("FAILED: {error}")
                    }
                }
            };
            println!(
                "{:>8} {:<64} {:>21} {:>6} {check}",
                entry.height,
                entry.txid,
                signed(entry.net_units),
                entry.confirmations
            );
        }
        before = page.next;
        match &before {
            Some(cursor) if args.all => continue,
            Some(cursor) => println!("more: --before {cursor}"),
            None => {}
        }
        break;
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            6,
            format!(
                "the node's merkle proof does not hold for {}",
                failed.join("; ")
            ),
        ))
    }
}

/// `text` as an exact amount of coins, or a usage error naming `flag`.
fn parse_amount(flag: &str, text: &str) -> Result<Amount, Failure> {
    text.trim()
        .parse()
        .map_err(|e| Failure::usage(format!("{flag} {text:?}: {e}")))
}

/// Base units as signed coins: `+10.00000000`, `-0.50000000`.
fn signed(units: i64) -> String {
    let sign = if units < 0 { '-' } else { '+' };
    let magnitude = Amount::from_units(units.unsigned_abs())
        .map_or_else(|_| units.unsigned_abs().to_string(), |a| a.to_string());
    format!("{sign}{magnitude}")
}

/// The variable that supplies the passphrase without a prompt (for scripts and tests).
const PASSPHRASE_VAR: &str = "CHAINCORE_WALLET_PASSPHRASE";

/// The passphrase to unlock `path`.
fn passphrase(path: &Path) -> Result<String, Failure> {
    if let Ok(passphrase) = std::env::var(PASSPHRASE_VAR) {
        return Ok(passphrase);
    }
    prompt(&format!("passphrase for {}: ", path.display()))
}

/// A passphrase for a new file: from the variable, or typed twice.
fn new_passphrase(path: &Path) -> Result<String, Failure> {
    if let Ok(passphrase) = std::env::var(PASSPHRASE_VAR) {
        return Ok(passphrase);
    }
    let first = prompt(&format!("new passphrase for {}: ", path.display()))?;
    let second = prompt("repeat it: ")?;
    if first != second {
        return Err(Failure::usage(
            "the two passphrases differ; nothing was written",
        ));
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<String, Failure> {
    if !std::io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_err() {
        return Err(Failure::usage(format!(
            "no terminal to ask for the passphrase: set {PASSPHRASE_VAR}"
        )));
    }
    rpassword::prompt_password(text)
        .map_err(|e| Failure::usage(format!("cannot read the passphrase: {e}")))
}
