//! `GET /events`: the node's events as Server-Sent Events, one JSON object each, with the
//! event type as the SSE event name and an increasing `id`. A client that reconnects with
//! `Last-Event-ID` first gets the kept events it missed; a client that missed more than the
//! node keeps, or read too slowly, gets a `lagged` event saying how many it lost.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use crate::events::{Backlog, Sequenced};

#[utoipa::path(get, path = "/events", tag = "node", params(("Last-Event-ID" = Option<u64>, Header, description = "the id of the last event seen, to resume after it")), responses((status = 200, body = String, content_type = "text/event-stream")))]
pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (backlog, live) = match last_event_id(&headers) {
        Some(last_id) => state.node.resume_events(last_id),
        None => (
            Backlog {
                lost: Some(0),
                events: Vec::new(),
            },
            state.node.subscribe(),
        ),
    };
    let gap = (backlog.lost != Some(0)).then(|| lagged(backlog.lost));
    let replay = gap
        .into_iter()
        .chain(backlog.events.iter().map(frame))
        .collect::<Vec<_>>();
    let live = BroadcastStream::new(live).map(|item| match item {
        Ok(event) => frame(&event),
        Err(BroadcastStreamRecvError::Lagged(missed)) => lagged(Some(missed)),
    });
    let stream = tokio_stream::iter(replay).chain(live).map(Ok);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The id a reconnecting client sends; anything that is not a number counts as none.
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn frame(sequenced: &Sequenced) -> Event {
    let event = &sequenced.event;
    Event::default()
        .id(sequenced.id.to_string())
        .event(event.kind())
        .json_data(event.as_ref())
        .unwrap_or_else(|_| Event::default())
}

/// `{"missed": N}`, or `{"missed": null}` when the count is unknown (an id of another run).
fn lagged(missed: Option<u64>) -> Event {
    Event::default()
        .event("lagged")
        .data(json!({ "missed": missed }).to_string())
}
