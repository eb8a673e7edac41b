//! The JSON shapes of peers: `/peers`, `/getpeers`, the admin peer routes.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct PeerView {
    pub peer_id: String,
    pub address: String,
    pub listen_addrs: Vec<String>,
    pub direction: String,
    pub rest_url: Option<String>,
    pub node_id: Option<String>,
    pub height: Option<u32>,
    pub score: f64,
    pub ping_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct PeerList {
    pub count: usize,
    pub peers: Vec<PeerView>,
    /// How many peers connected to us and how many we dialed, with the limits of each.
    pub slots: Slots,
    /// Peers kept out for misbehaving, with the seconds their ban has left.
    pub banned: Vec<BannedView>,
}

/// Inbound and outbound peers are limited apart, so a flood of inbound connections never
/// stops the node from dialing out.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct Slots {
    pub inbound: usize,
    pub max_inbound: u32,
    pub outbound: usize,
    pub max_outbound: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct BannedView {
    pub peer_id: String,
    pub seconds_left: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct SharedPeer {
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub rest_url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct GetPeers {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub rest_url: String,
    pub peers: Vec<SharedPeer>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct Done {
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct Discovered {
    pub status: String,
    pub discovered: Vec<String>,
}
