//! Per-request middleware: a per-IP rate limit, the admin-route guard, and request metrics.
//!
//! The rate limit is a token bucket per client IP (refilled at `rate` tokens a second, holding
//! at most `2 × rate`), kept in a bounded map so that many clients cannot grow it without end.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::AdminAllow;
use crate::telemetry;

/// Clients tracked at once; beyond that the fullest buckets (idle clients) are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Token buckets by client IP.
#[derive(Debug)]
pub(super) struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `per_second` requests a second per IP; `None` for 0 (no limit).
    pub(super) fn new(per_second: u32) -> Option<Arc<Self>> {
        (per_second > 0).then(|| {
            Arc::new(Self {
                rate: f64::from(per_second),
                buckets: Mutex::new(HashMap::new()),
            })
        })
    }

    /// Takes a token for `ip`; `false` when its bucket is empty.
    fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let burst = 2.0 * self.rate;
        let mut buckets = self.buckets.lock().expect("not poisoned");
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&ip) {
            let idle = now - std::time::Duration::from_secs_f64(burst / self.rate);
            buckets.retain(|_, b| b.refilled > idle);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(super) async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if limiter.allow(client.ip().to_canonical()) {
        next.run(request).await
    } else {
        ApiError::RateLimited.into_response()
    }
}

pub(super) async fn admin_only(
    State(allow): State<Arc<AdminAllow>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if allow.allows(client.ip()) {
        next.run(request).await
    } else {
        ApiError::Forbidden.into_response()
    }
}

/// Creates the request series of every route at zero (status 200), so that they exist
/// before the first request; other statuses appear when first answered.
pub(super) fn register_routes<'a>(routes: impl IntoIterator<Item = &'a str>) {
    for route in routes {
        let route = route.to_owned();
        metrics::counter!(telemetry::HTTP_REQUESTS, "route" => route.clone(), "status" => "200")
            .absolute(0);
        let _ = metrics::histogram!(telemetry::HTTP_LATENCY, "route" => route);
    }
}

/// Counts requests by route and status and records their latency.
pub(super) async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(telemetry::HTTP_REQUESTS, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(telemetry::HTTP_LATENCY, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limiter = RateLimiter::new(5).unwrap();
        let ip = IpAddr::from([10, 0, 0, 1]);
        let allowed = (0..20).filter(|_| limiter.allow(ip)).count();
        assert_eq!(allowed, 10, "a burst of twice the rate");
        assert!(
            limiter.allow(IpAddr::from([10, 0, 0, 2])),
            "other clients are not affected"
        );
        assert!(RateLimiter::new(0).is_none());
    }
}
