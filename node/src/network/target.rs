//! Peers as an operator names them: the one parser of `--bootstrap-nodes` entries and of
//! `/addpeer`'s fields. It checks shape and length only; nothing here dials or resolves.

use std::str::FromStr;

use libp2p::Multiaddr;

use super::NetworkError;

/// A peer to connect to, as an operator names it. The one parser of peer names: the
/// `--bootstrap-nodes` entries ([`PeerTarget::from_str`]) and `/addpeer`'s fields
/// ([`PeerTarget::rest_url`], [`PeerTarget::multiaddr`]) all come through here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerTarget {
    /// A node's REST URL, whose `/getpeers` gives its peer id and addresses.
    RestUrl(String),
    /// A libp2p multiaddr (ending in `/p2p/<peer id>` or not).
    Multiaddr(Multiaddr),
}

/// The longest peer name taken.
const MAX_TARGET_LEN: usize = 2048;

impl PeerTarget {
    /// An `http://` or `https://` URL of at most 2048 bytes, without spaces.
    pub fn rest_url(text: &str) -> Result<Self, NetworkError> {
        let valid = (text.starts_with("http://") || text.starts_with("https://"))
            && text.len() <= MAX_TARGET_LEN
            && !text.contains(char::is_whitespace);
        valid
            .then(|| PeerTarget::RestUrl(text.to_owned()))
            .ok_or_else(|| NetworkError::BadUrl(text.to_owned()))
    }

    /// A multiaddr libp2p reads, of at most 2048 bytes.
    pub fn multiaddr(text: &str) -> Result<Self, NetworkError> {
        if text.len() > MAX_TARGET_LEN {
            return Err(NetworkError::BadTarget(text.to_owned()));
        }
        text.parse()
            .map(PeerTarget::Multiaddr)
            .map_err(|error| NetworkError::BadMultiaddr(text.to_owned(), error))
    }
}

/// A `--bootstrap-nodes` entry: a REST URL, `host:port` as people type it (taken as
/// `http://host:port`), or a multiaddr.
impl FromStr for PeerTarget {
    type Err = NetworkError;

    fn from_str(entry: &str) -> Result<Self, NetworkError> {
        let entry = entry.trim();
        if entry.starts_with("http://") || entry.starts_with("https://") {
            PeerTarget::rest_url(entry)
        } else if entry.starts_with('/') {
            PeerTarget::multiaddr(entry)
        } else if !entry.is_empty() && !entry.contains(char::is_whitespace) {
            PeerTarget::rest_url(&format!("http://{entry}"))
        } else {
            Err(NetworkError::BadTarget(entry.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_entries_are_urls_host_ports_or_multiaddrs() {
        let rest = |url: &str| Some(PeerTarget::RestUrl(url.into()));
        assert_eq!(
            "http://localhost:5000".parse().ok(),
            rest("http://localhost:5000")
        );
        assert_eq!("localhost:5000".parse().ok(), rest("http://localhost:5000"));
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/8000".parse().unwrap();
        assert_eq!(
            "/ip4/127.0.0.1/tcp/8000".parse().ok(),
            Some(PeerTarget::Multiaddr(addr))
        );
        for bad in ["", "a b", "/not/a/multiaddr", "http://a b"] {
            assert!(bad.parse::<PeerTarget>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addpeer_fields_are_held_to_their_own_kind() {
        assert!(PeerTarget::rest_url("ftp://x").is_err());
        assert!(PeerTarget::rest_url(&format!("http://{}", "a".repeat(3000))).is_err());
        assert!(PeerTarget::multiaddr("http://x").is_err());
        assert!(PeerTarget::multiaddr("/ip4/1.2.3.4/tcp/1").is_ok());
    }
}
