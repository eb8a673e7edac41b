//! Peers: who is connected (`/peers`), what to share (`/getpeers`), and the admin routes
//! `/addpeer` and `/discover_peers`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use crate::api_types::peers::{
    BannedView, Discovered, Done, GetPeers, PeerList, PeerView, SharedPeer, Slots,
};
use crate::network::{NetworkHandle, NetworkView, PeerTarget, behaviour};

/// The network's view, or an empty one when no network runs.
fn view(state: &AppState) -> NetworkView {
    state
        .network
        .as_ref()
        .map(NetworkHandle::view)
        .unwrap_or_default()
}

#[utoipa::path(get, path = "/peers", tag = "peers", responses((status = 200, body = PeerList)))]
pub(super) async fn peers(State(state): State<AppState>) -> Json<PeerList> {
    let view = view(&state);
    let peers: Vec<PeerView> = view
        .peers
        .into_iter()
        .map(|p| PeerView {
            peer_id: p.peer_id,
            address: p.address,
            listen_addrs: p.listen_addrs,
            direction: p.direction.into(),
            rest_url: p.rest_url,
            node_id: p.node_id,
            height: p.height,
            score: p.score,
            ping_ms: p.ping_ms,
        })
        .collect();
    let banned = view
        .banned
        .into_iter()
        .map(|b| BannedView {
            peer_id: b.peer_id,
            seconds_left: b.seconds_left,
        })
        .collect();
    let inbound = peers.iter().filter(|p| p.direction == "inbound").count();
    let slots = Slots {
        inbound,
        max_inbound: behaviour::MAX_INBOUND,
        outbound: peers.len() - inbound,
        max_outbound: behaviour::MAX_OUTBOUND,
    };
    Json(PeerList {
        count: peers.len(),
        peers,
        slots,
        banned,
    })
}

#[utoipa::path(get, path = "/getpeers", tag = "peers", responses((status = 200, body = GetPeers)))]
pub(super) async fn getpeers(State(state): State<AppState>) -> Json<GetPeers> {
    let NetworkView {
        peer_id,
        listen_addrs,
        peers,
        ..
    } = view(&state);
    let peers = peers
        .into_iter()
        .map(|p| SharedPeer {
            peer_id: p.peer_id,
            // An inbound connection's address is an ephemeral port: share where it listens.
            addrs: if p.listen_addrs.is_empty() {
                vec![p.address]
            } else {
                p.listen_addrs
            },
            rest_url: p.rest_url,
        })
        .collect();
    Json(GetPeers {
        peer_id,
        listen_addrs,
        rest_url: state.node.info().rest_url.clone(),
        peers,
    })
}

/// The two forms of `/addpeer`'s body, as the document states them (`oneOf`); the handler
/// reads [`AddPeer`].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code, reason = "the document's shape of `AddPeer`")]
pub(super) enum PeerForm {
    /// A node's REST URL.
    Url { peer_url: String },
    /// A libp2p multiaddr ending in `/p2p/<peer id>`.
    Multiaddr { multiaddr: String },
}

/// `{"peer_url": "http://host:port"}` or `{"multiaddr": "/ip4/.../tcp/.../p2p/..."}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AddPeer {
    peer_url: Option<String>,
    multiaddr: Option<String>,
}

fn target(request: AddPeer) -> ApiResult<PeerTarget> {
    match (request.peer_url, request.multiaddr) {
        (Some(url), None) => PeerTarget::rest_url(&url)
            .map_err(|_| ApiError::bad("invalid-url", "peer_url must be an http(s) URL")),
        (None, Some(addr)) => PeerTarget::multiaddr(&addr).map_err(|_| {
            ApiError::bad(
                "invalid-multiaddr",
                "multiaddr must look like /ip4/1.2.3.4/tcp/8000",
            )
        }),
        _ => Err(ApiError::bad(
            "invalid-body",
            "give exactly one of peer_url or multiaddr",
        )),
    }
}

#[utoipa::path(post, path = "/addpeer", tag = "peers", request_body = PeerForm, responses((status = 200, body = Done), (status = 400), (status = 403), (status = 503)))]
pub(super) async fn addpeer(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AddPeer>,
) -> ApiResult<Json<Done>> {
    let target = target(request)?;
    let network = state.network.as_ref().ok_or(ApiError::NetworkUnavailable)?;
    network
        .add_peer(target)
        .await
        .map_err(|e| ApiError::bad("peer-unreachable", e.to_string()))?;
    Ok(Json(Done {
        status: "ok".into(),
    }))
}

#[utoipa::path(post, path = "/discover_peers", tag = "peers", responses((status = 200, body = Discovered), (status = 403)))]
pub(super) async fn discover_peers(State(state): State<AppState>) -> ApiResult<Json<Discovered>> {
    let network = state.network.as_ref().ok_or(ApiError::NetworkUnavailable)?;
    let discovered = network.discover().await;
    Ok(Json(Discovered {
        status: "ok".into(),
        discovered: discovered.iter().map(ToString::to_string).collect(),
    }))
}
