//! The tables about this node rather than the chain: `mining_stats` (one row per block a
//! miner submitted here) and `nodes` (peers known, redialed at start). Written outside chain
//! transactions; losing a row loses statistics or a peer address, never consensus state.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};

use super::SqlStore;
use super::StoreError;
use super::entities::{mining_stats, nodes};
use super::rows::hash_from;
use crate::primitives::{Address, BlockHash, Height};

/// A block a miner submitted to this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiningRecord {
    pub block_hash: BlockHash,
    pub height: Height,
    pub miner_address: Address,
    pub block_time: u32,
    /// Unix seconds when the node accepted it.
    pub accepted_at: u64,
    /// From handing out the template to receiving the solved block.
    pub template_to_submit_ms: Option<u64>,
}

/// A peer as remembered in `nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownPeer {
    pub peer_id: String,
    pub multiaddrs: Vec<String>,
    pub rest_url: Option<String>,
    pub node_id: Option<String>,
    pub last_seen: u64,
    pub failures: u32,
    pub banned_until: Option<u64>,
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SqlStore {
    pub async fn record_mined_block(&self, record: &MiningRecord) -> Result<(), StoreError> {
        let row = mining_stats::ActiveModel {
            block_hash: Set(record.block_hash.as_bytes().to_vec()),
            height: Set(i64::from(record.height.get())),
            miner_address: Set(record.miner_address.to_string()),
            block_time: Set(i64::from(record.block_time)),
            accepted_at: Set(signed(record.accepted_at)),
            template_to_submit_ms: Set(record.template_to_submit_ms.map(signed)),
            ..Default::default()
        };
        mining_stats::Entity::insert(row)
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// The newest `limit` mining records, newest first.
    pub async fn recent_mined_blocks(
        &self,
        limit: u64,
    ) -> Result<Vec<(BlockHash, String, Option<i64>)>, StoreError> {
        let rows = mining_stats::Entity::find()
            .order_by_desc(mining_stats::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    hash_from(&r.block_hash, "mining_stats")?,
                    r.miner_address,
                    r.template_to_submit_ms,
                ))
            })
            .collect()
    }

    /// Remembers a peer, or refreshes what is known of it.
    pub async fn remember_peer(&self, peer: &KnownPeer, now: u64) -> Result<(), StoreError> {
        let row = nodes::ActiveModel {
            peer_id: Set(peer.peer_id.clone()),
            multiaddrs: Set(peer.multiaddrs.join(" ")),
            rest_url: Set(peer.rest_url.clone()),
            node_id: Set(peer.node_id.clone()),
            first_seen: Set(signed(now)),
            last_seen: Set(signed(peer.last_seen)),
            last_connected: Set(None),
            failures: Set(i32::try_from(peer.failures).unwrap_or(i32::MAX)),
            banned_until: Set(peer.banned_until.map(signed)),
        };
        let on_conflict = OnConflict::column(nodes::Column::PeerId)
            .update_columns([
                nodes::Column::Multiaddrs,
                nodes::Column::RestUrl,
                nodes::Column::NodeId,
                nodes::Column::LastSeen,
                nodes::Column::Failures,
                nodes::Column::BannedUntil,
            ])
            .to_owned();
        nodes::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Every remembered peer, most recently seen first.
    pub async fn known_peers(&self) -> Result<Vec<KnownPeer>, StoreError> {
        let rows = nodes::Entity::find()
            .order_by_desc(nodes::Column::LastSeen)
            .all(self.connection())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| KnownPeer {
                peer_id: r.peer_id,
                multiaddrs: r.multiaddrs.split_whitespace().map(str::to_owned).collect(),
                rest_url: r.rest_url,
                node_id: r.node_id,
                last_seen: u64::try_from(r.last_seen).unwrap_or_default(),
                failures: u32::try_from(r.failures).unwrap_or_default(),
                banned_until: r.banned_until.and_then(|b| u64::try_from(b).ok()),
            })
            .collect())
    }
}
