//! `GET /`: the explorer page, its script and its style, embedded in the binary (no CDN, no
//! files to install).

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("explorer/index.html");
const SCRIPT: &str = include_str!("explorer/app.js");
const STYLE: &str = include_str!("explorer/app.css");

#[utoipa::path(get, path = "/", tag = "node", responses((status = 200, body = String, content_type = "text/html")))]
pub(super) async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}

pub(super) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

pub(super) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}
