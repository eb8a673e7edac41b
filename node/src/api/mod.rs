//! The REST API (axum): the Python system's routes with their key fields, Esplora-shaped
//! explorer routes, live events, metrics, the OpenAPI description and the explorer page.
//! docs/api.md is the user's reference.
//!
//! Handlers translate HTTP to calls on [`Node`] and back; they hold no state of their own.
//! Every error goes through [`error::ApiError`]; every body is limited to 2 MiB; admin
//! routes answer only the configured addresses; a per-IP rate limit guards the rest.

mod address_routes;
mod chain_routes;
mod contract;
mod dev_routes;
pub mod error;
mod events;
mod explorer;
mod extract;
mod limits;
mod mining_routes;
mod node_routes;
mod peer_routes;
mod tx_routes;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::AdminAllow;
use crate::network::NetworkHandle;
use crate::node::Node;
use error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub node: Arc<Node>,
    /// The peer-to-peer network, when it runs (not in the API's benchmarks).
    pub network: Option<NetworkHandle>,
    pub metrics: PrometheusHandle,
}

/// The routes outside the generated description: the explorer's files, and the
/// description itself (which `contract` adds to it).
const SCRIPT_ROUTE: &str = "/explorer/app.js";
const STYLE_ROUTE: &str = "/explorer/app.css";
const OPENAPI_ROUTE: &str = "/openapi.json";
const UNDOCUMENTED: [&str; 3] = [SCRIPT_ROUTE, STYLE_ROUTE, OPENAPI_ROUTE];

/// How the API guards itself.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Requests per second per client IP; 0: no limit.
    pub rate_limit: u32,
    pub admin_allow: AdminAllow,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ChainCore node API", description = "The REST API of a ChainCore node; see docs/api.md."),
    tags(
        (name = "node", description = "status and statistics"),
        (name = "blocks"),
        (name = "transactions"),
        (name = "addresses"),
        (name = "mining"),
        (name = "peers"),
        (name = "dev", description = "dev-chain controls: admin only, refused on main"),
    )
)]
struct ApiDoc;

/// The whole router, and the OpenAPI description generated from its handlers.
pub fn router(state: AppState, settings: &ApiSettings) -> Router {
    let (documented, openapi) = public_routes().split_for_parts();
    let (admin, admin_openapi) = admin_routes().split_for_parts();
    let admin_paths: Vec<String> = admin_openapi.paths.paths.keys().cloned().collect();
    let mut openapi = openapi;
    openapi.merge(admin_openapi);
    let document = describe(&openapi, &admin_paths);
    let admin = admin.layer(middleware::from_fn_with_state(
        Arc::new(settings.admin_allow.clone()),
        limits::admin_only,
    ));
    let mut app = documented
        .merge(admin)
        .route(SCRIPT_ROUTE, get(explorer::script))
        .route(STYLE_ROUTE, get(explorer::style))
        .route(
            OPENAPI_ROUTE,
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    (*document).clone(),
                )
            }),
        )
        .fallback(|| async { ApiError::NotFound("route".into()).into_response() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    if let Some(limiter) = limits::RateLimiter::new(settings.rate_limit) {
        app = app.layer(middleware::from_fn_with_state(limiter, limits::rate_limit));
    }
    app.layer(middleware::from_fn(limits::record_metrics))
}

/// The routes anyone may call.
fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(node_routes::status))
        .routes(routes!(node_routes::health))
        .routes(routes!(node_routes::stats))
        .routes(routes!(node_routes::metrics))
        .routes(routes!(events::events))
        .routes(routes!(explorer::index))
        .routes(routes!(chain_routes::blockchain))
        .routes(routes!(chain_routes::blocks_range))
        .routes(routes!(chain_routes::blocks_recent))
        .routes(routes!(chain_routes::tip_height))
        .routes(routes!(chain_routes::tip_hash))
        .routes(routes!(chain_routes::block_at_height))
        .routes(routes!(chain_routes::block))
        .routes(routes!(chain_routes::block_txs))
        .routes(routes!(chain_routes::blocks_tree))
        .routes(routes!(chain_routes::chain_tips))
        .routes(routes!(tx_routes::transaction))
        .routes(routes!(tx_routes::transaction_status))
        .routes(routes!(tx_routes::merkle_proof))
        .routes(routes!(tx_routes::transaction_pool))
        .routes(routes!(tx_routes::mempool))
        .routes(routes!(tx_routes::add_transaction))
        .routes(routes!(tx_routes::broadcast_transaction))
        .routes(routes!(address_routes::balance))
        .routes(routes!(address_routes::utxos))
        .routes(routes!(address_routes::transactions))
        .routes(routes!(address_routes::address))
        .routes(routes!(address_routes::address_txs))
        .routes(routes!(address_routes::address_utxo))
        .routes(routes!(mining_routes::mine_block))
        .routes(routes!(mining_routes::submit_block))
        .routes(routes!(peer_routes::peers))
        .routes(routes!(peer_routes::getpeers))
}

/// The routes only the admin addresses may call.
fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(peer_routes::addpeer))
        .routes(routes!(peer_routes::discover_peers))
        .routes(routes!(dev_routes::generate))
        .routes(routes!(dev_routes::invalidate_block))
        .routes(routes!(dev_routes::reconsider_block))
        .routes(routes!(dev_routes::test_transaction))
}

/// Registers every route with the metrics and returns the finished description (see
/// [`contract`]), as `/openapi.json` serves it.
fn describe(openapi: &utoipa::openapi::OpenApi, admin_paths: &[String]) -> Arc<String> {
    let routes = openapi.paths.paths.keys().map(String::as_str);
    limits::register_routes(routes.chain(UNDOCUMENTED));
    let document = serde_json::to_value(openapi).expect("the description serializes");
    Arc::new(
        serde_json::to_string_pretty(&contract::complete(document, admin_paths))
            .expect("the description serializes"),
    )
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
