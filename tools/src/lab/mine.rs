//! Mining for the lab and the tests, over REST: a template from `/mine_block`, block times
//! kept on the schedule (so dev difficulty stays trivial however fast blocks come), a nonce
//! from the portable solver, and `/submit_block`.

use chaincore::consensus::Network;
use chaincore::consensus::pow::solve_header;
use chaincore::primitives::{Address, Block, BlockHeader, Transaction, decode, encode};
use serde_json::{Value, json};

use crate::rest::{NodeClient, RestError, SubmitResult, TemplateView};

/// A block the lab mined, as the node took it.
#[derive(Clone, Debug)]
pub struct MinedBlock {
    pub hash: String,
    pub height: Option<u32>,
    /// Transactions besides the coinbase.
    pub transactions: usize,
    pub size: usize,
}

/// Why a template could not be turned into a block.
#[derive(Debug, thiserror::Error)]
pub enum MineError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("the template's {0} does not decode")]
    Template(&'static str),
    #[error("no nonce meets the target")]
    NoNonce,
    #[error("the node answered {0:?} to the block it templated")]
    NotAccepted(String),
}

/// The block a template describes, unsolved.
pub fn block_from_template(template: &TemplateView) -> Result<Block, MineError> {
    let bytes = |text: &str, what| hex::decode(text).map_err(|_| MineError::Template(what));
    let header: BlockHeader = decode(&bytes(&template.header_hex, "header")?)
        .map_err(|_| MineError::Template("header"))?;
    let coinbase: Transaction = decode(&bytes(&template.coinbase_hex, "coinbase")?)
        .map_err(|_| MineError::Template("coinbase"))?;
    let mut transactions = vec![coinbase];
    for tx in &template.transactions_hex {
        transactions.push(
            decode(&bytes(tx, "transactions")?).map_err(|_| MineError::Template("transactions"))?,
        );
    }
    Ok(Block {
        header,
        transactions,
    })
}

/// Sets `block`'s time one spacing after its parent's (unless that is more than an hour
/// ahead of now), then finds a nonce.
///
/// Block 1 anchors the difficulty schedule (aserti3-2d), so a chain whose every block is
/// one spacing after its parent stays at the easiest target however fast it is mined;
/// starting from the genesis time (in the past) leaves room for millions of blocks before
/// the schedule reaches the clock.
pub fn solve(block: &mut Block, parent_time: u32, network: Network) -> bool {
    let spacing = network.params().target_spacing;
    let on_schedule = parent_time.saturating_add(spacing);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let latest = u32::try_from(now + 3_600).unwrap_or(u32::MAX);
    if on_schedule <= latest {
        block.header.time = on_schedule;
    }
    solve_header(&mut block.header, 1 << 32)
}

/// Mines one dev block paying `payout` on `node`.
pub async fn mine_on(node: &NodeClient, payout: &Address) -> Result<MinedBlock, MineError> {
    let template: TemplateView = node
        .post("/mine_block", &json!({"miner_address": payout.to_string()}))
        .await?;
    let parent: Value = node
        .get(&format!("/block/{}", template.previous_block_hash))
        .await?;
    let parent_time = parent["time"]
        .as_u64()
        .and_then(|t| u32::try_from(t).ok())
        .ok_or(MineError::Template("parent time"))?;
    let mut block = block_from_template(&template)?;
    if !solve(&mut block, parent_time, Network::Dev) {
        return Err(MineError::NoNonce);
    }
    let bytes = encode(&block);
    let reply: SubmitResult = node
        .post("/submit_block", &json!({"block_hex": hex::encode(&bytes)}))
        .await?;
    if reply.status != "accepted" {
        return Err(MineError::NotAccepted(reply.status));
    }
    Ok(MinedBlock {
        hash: reply.hash,
        height: reply.height,
        transactions: block.transactions.len() - 1,
        size: bytes.len(),
    })
}
