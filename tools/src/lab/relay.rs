//! The delay relay: this machine's kernel has no `netem`, so latency comes from a small TCP
//! relay in each node's namespace. The namespace's nftables redirect ([`super::netns`])
//! hands it every connection the node opens to another node; it reads the original
//! destination (`SO_ORIGINAL_DST`), connects there itself (with a socket mark the redirect
//! lets pass) and copies both directions, holding each chunk until its release time.
//!
//! A chunk read at `t` is released at `max(previous release, t + delay ± jitter)`: the
//! jitter is drawn per chunk, uniformly, and bytes never overtake each other (TCP over a
//! reordering link would show the same bytes in the same order, later). Each connection
//! passes one relay, the dialler's, so every byte is delayed once in each direction.
//!
//! What it must not do: change a byte, or report the configured delay as the produced one.
//! It measures each chunk's hold, from the read to the end of its write, and writes the
//! histogram to its stats file every second and when it stops (SIGTERM).

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::netns::RELAY_MARK;

/// How the relay runs.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    pub listen: SocketAddr,
    pub delay: Duration,
    pub jitter: Duration,
    pub stats: PathBuf,
}

/// The holds a relay produced, in buckets of 100 µs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldHistogram {
    /// Bucket (hold ÷ 100 µs) → chunks.
    pub buckets: BTreeMap<u64, u64>,
    pub connections: u64,
    pub bytes: u64,
}

impl HoldHistogram {
    fn record(&mut self, hold: Duration, bytes: usize) {
        let bucket = u64::try_from(hold.as_micros() / 100).unwrap_or(u64::MAX);
        *self.buckets.entry(bucket).or_default() += 1;
        self.bytes += bytes as u64;
    }

    /// Adds another relay's holds.
    pub fn merge(&mut self, other: &HoldHistogram) {
        for (bucket, n) in &other.buckets {
            *self.buckets.entry(*bucket).or_default() += n;
        }
        self.connections += other.connections;
        self.bytes += other.bytes;
    }

    pub fn chunks(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The hold below which a share `q` (0..=1) of the chunks fell, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.chunks();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a rank"
        )]
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
                return Some((*bucket as f64 + 0.5) / 10.0);
            }
        }
        None
    }
}

/// Runs the relay until SIGTERM.
pub async fn serve(options: RelayOptions) -> io::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    let stats = Arc::new(Mutex::new(HoldHistogram::default()));
    let writer = tokio::spawn(write_stats_every_second(
        options.stats.clone(),
        Arc::clone(&stats),
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                let shape = Shape { delay: options.delay, jitter: options.jitter };
                tokio::spawn(relay(inbound, shape, Arc::clone(&stats)));
            }
            _ = term.recv() => break,
        }
    }
    writer.abort();
    write_stats(&options.stats, &stats)
}

async fn write_stats_every_second(path: PathBuf, stats: Arc<Mutex<HoldHistogram>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let _ = write_stats(&path, &stats);
    }
}

/// Writes the histogram through a temporary file, so a reader never sees half of it.
fn write_stats(path: &std::path::Path, stats: &Mutex<HoldHistogram>) -> io::Result<()> {
    let text = serde_json::to_string(&*stats.lock().expect("stats lock"))?;
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(partial, path)
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    delay: Duration,
    jitter: Duration,
}

impl Shape {
    fn sample(self) -> Duration {
        let jitter = self.jitter.as_secs_f64();
        let offset = (fastrand::f64() * 2.0 - 1.0) * jitter;
        Duration::from_secs_f64((self.delay.as_secs_f64() + offset).max(0.0))
    }
}

/// One redirected connection: dial its original destination and copy both ways.
async fn relay(inbound: TcpStream, shape: Shape, stats: Arc<Mutex<HoldHistogram>>) {
    let Ok(target) = original_destination(&inbound) else {
        return;
    };
    let Ok(outbound) = dial_marked(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    stats.lock().expect("stats lock").connections += 1;
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let there = tokio::spawn(copy_delayed(in_read, out_write, shape, Arc::clone(&stats)));
    let back = tokio::spawn(copy_delayed(out_read, in_write, shape, stats));
    let _ = tokio::join!(there, back);
}

fn original_destination(stream: &TcpStream) -> io::Result<SocketAddr> {
    let raw = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::OriginalDst)
        .map_err(io::Error::from)?;
    let ip = Ipv4Addr::from(u32::from_be(raw.sin_addr.s_addr));
    Ok(SocketAddr::V4(SocketAddrV4::new(
        ip,
        u16::from_be(raw.sin_port),
    )))
}

async fn dial_marked(target: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Mark, &RELAY_MARK)
        .map_err(io::Error::from)?;
    tokio::time::timeout(Duration::from_secs(10), socket.connect(target))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect"))?
}

/// Copies `from` to `to`, each chunk released at its time; shuts `to` down after the last.
async fn copy_delayed(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shape: Shape,
    stats: Arc<Mutex<HoldHistogram>>,
) {
    // Bounded: a slow reader on the far side holds back this side's reads (backpressure).
    let (tx, mut rx) = mpsc::channel::<(Instant, Instant, Vec<u8>)>(256);
    let reader = tokio::spawn(async move {
        let mut last_release = Instant::now();
        loop {
            let mut buffer = vec![0; 64 * 1024];
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buffer.truncate(n);
            let read_at = Instant::now();
            last_release = last_release.max(read_at + shape.sample());
            if tx.send((read_at, last_release, buffer)).await.is_err() {
                break;
            }
        }
    });
    while let Some((read_at, release, chunk)) = rx.recv().await {
        tokio::time::sleep_until(release).await;
        if to.write_all(&chunk).await.is_err() {
            break;
        }
        stats
            .lock()
            .expect("stats lock")
            .record(read_at.elapsed(), chunk.len());
    }
    reader.abort();
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_recorded_holds() {
        let mut h = HoldHistogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms), 10);
        }
        assert_eq!(h.chunks(), 100);
        assert_eq!(h.bytes, 1000);
        let p50 = h.quantile_ms(0.5).unwrap();
        assert!((50.0..=50.1).contains(&p50), "{p50}");
        assert!((99.0..=99.1).contains(&h.quantile_ms(0.99).unwrap()));
        let mut other = HoldHistogram::default();
        other.record(Duration::from_millis(500), 1);
        h.merge(&other);
        assert!((500.0..=500.1).contains(&h.quantile_ms(1.0).unwrap()));
        assert_eq!(HoldHistogram::default().quantile_ms(0.5), None);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let shape = Shape {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
        };
        for _ in 0..1000 {
            let d = shape.sample();
            assert!(
                d >= Duration::from_millis(40) && d <= Duration::from_millis(60),
                "{d:?}"
            );
        }
    }
}
