//! The wire: gossip topics, and the sync protocol's requests and responses.
//!
//! Protocol names and topics carry the network's name, so `dev`, `test` and `main` nodes never
//! talk across networks. Sync messages are bincode (standard configuration, with a size
//! limit) around the canonical encodings of headers and blocks; every length is bounded, and
//! a reader refuses any frame larger than its limit before reading it.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::gossipsub::IdentTopic;
use libp2p::request_response;
use serde::{Deserialize, Serialize};

use crate::consensus::Network;

/// Most headers in one response (Bitcoin's `getheaders` answers 2,000).
pub const MAX_HEADERS: usize = 2_000;
/// Most blocks asked for at once.
pub const MAX_BLOCKS_PER_REQUEST: usize = 128;
/// A blocks response stops adding blocks once it holds this many bytes (it always holds at
/// least one); the asker asks again for the rest.
pub const SOFT_RESPONSE_BYTES: usize = 4 << 20;
/// The largest request frame: a locator or a list of hashes.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The largest response frame: the soft limit plus one block of the largest size any
/// network allows, plus framing.
pub const MAX_RESPONSE_BYTES: usize = SOFT_RESPONSE_BYTES + (1 << 20) + 64 * 1024;
/// Most hashes in a locator.
pub const MAX_LOCATOR: usize = 101;
/// Most txids in a mempool listing (1.6 MB): the oldest of a larger pool, parents first.
pub const MAX_MEMPOOL_TXIDS: usize = 50_000;
/// Most transactions asked for at once.
pub const MAX_TXS_PER_REQUEST: usize = 256;

pub fn blocks_topic(network: Network) -> IdentTopic {
    IdentTopic::new(format!("chaincore/{network}/blocks/1"))
}

pub fn txs_topic(network: Network) -> IdentTopic {
    IdentTopic::new(format!("chaincore/{network}/txs/1"))
}

pub fn sync_protocol(network: Network) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!("/chaincore/{network}/sync/1.0.0"))
        .expect("starts with a slash")
}

pub fn kad_protocol(network: Network) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!("/chaincore/{network}/kad/1.0.0"))
        .expect("starts with a slash")
}

pub fn identify_protocol(network: Network) -> String {
    format!("/chaincore/{network}/1.0.0")
}

/// What peers tell each other when they meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub genesis: [u8; 32],
    pub tip: [u8; 32],
    pub height: u32,
    /// Work of the tip's chain, 32 bytes big-endian.
    pub chain_work: [u8; 32],
    /// Where this node's REST API answers, if it shares it.
    pub rest_url: Option<String>,
    pub node_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// My status; answer with yours.
    Status(Status),
    /// Main-chain headers after the first of these hashes you have on your main chain.
    Headers { locator: Vec<[u8; 32]> },
    /// These blocks (at most [`MAX_BLOCKS_PER_REQUEST`]).
    Blocks(Vec<[u8; 32]>),
    /// The txids in your mempool, parents first (Bitcoin's BIP 35 `mempool`).
    Mempool,
    /// These mempool transactions, by txid (at most [`MAX_TXS_PER_REQUEST`]).
    Transactions(Vec<[u8; 32]>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Status(Status),
    /// 80-byte headers, oldest first.
    Headers(Vec<Vec<u8>>),
    /// Canonically encoded blocks, in the order asked (unknown ones left out).
    Blocks(Vec<Vec<u8>>),
    /// Mempool txids, parents first (at most [`MAX_MEMPOOL_TXIDS`]).
    Mempool(Vec<[u8; 32]>),
    /// Canonically encoded transactions, in the order asked (unknown ones left out).
    Transactions(Vec<Vec<u8>>),
    /// The request was refused (too large, or malformed).
    Refused(String),
}

/// Length-prefixed bincode frames with a size limit per direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RESPONSE_BYTES>()
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = usize::try_from(u32::from_be_bytes(length)).unwrap_or(usize::MAX);
    if length > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes over the {limit} limit"),
        ));
    }
    let mut frame = vec![0u8; length];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let length = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.close().await
}

fn decode<M: for<'de> Deserialize<'de>>(frame: &[u8]) -> io::Result<M> {
    let (message, read) = bincode::serde::decode_from_slice(frame, config())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    if read != frame.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "trailing bytes in a frame",
        ));
    }
    Ok(message)
}

fn encode<M: Serialize>(message: &M) -> io::Result<Vec<u8>> {
    bincode::serde::encode_to_vec(message, config())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request> {
        decode(&read_frame(io, MAX_REQUEST_BYTES).await?)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        decode(&read_frame(io, MAX_RESPONSE_BYTES).await?)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()> {
        write_frame(io, &encode(&request)?).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()> {
        write_frame(io, &encode(&response)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let status = Status {
            genesis: [1; 32],
            tip: [2; 32],
            height: 7,
            chain_work: [3; 32],
            rest_url: Some("http://127.0.0.1:5000".into()),
            node_id: "core0".into(),
        };
        for request in [
            Request::Status(status.clone()),
            Request::Headers {
                locator: vec![[9; 32]],
            },
            Request::Blocks(vec![[8; 32]; 3]),
            Request::Mempool,
            Request::Transactions(vec![[7; 32]; 2]),
        ] {
            assert_eq!(
                decode::<Request>(&encode(&request).unwrap()).unwrap(),
                request
            );
        }
        for response in [
            Response::Blocks(vec![vec![1, 2, 3]]),
            Response::Mempool(vec![[6; 32]; MAX_MEMPOOL_TXIDS]),
            Response::Transactions(vec![vec![4, 5]]),
        ] {
            assert_eq!(
                decode::<Response>(&encode(&response).unwrap()).unwrap(),
                response
            );
        }
        assert!(decode::<Request>(&[0xff, 0xff, 0xff]).is_err());
        let mut with_trailing = encode(&Request::Blocks(vec![])).unwrap();
        with_trailing.push(0);
        assert!(decode::<Request>(&with_trailing).is_err());
    }

    #[test]
    fn names_carry_the_network() {
        assert_eq!(
            blocks_topic(Network::Dev).to_string(),
            "chaincore/dev/blocks/1"
        );
        assert_eq!(
            sync_protocol(Network::Main).as_ref(),
            "/chaincore/main/sync/1.0.0"
        );
        assert_eq!(
            kad_protocol(Network::Test).as_ref(),
            "/chaincore/test/kad/1.0.0"
        );
    }
}
