//! A cap on the inbound connections one IP address may hold, so that one host cannot take
//! every inbound slot by itself (however many identities it makes up). Addresses named in
//! the configuration are exempt: a test network or a lab that puts many honest nodes
//! behind one address says so. It only counts and refuses; it judges no peer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, behaviour::ConnectionEstablished, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// The cap, and who is exempt from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerIpLimit {
    pub max_inbound: u32,
    pub exempt: Vec<IpAddr>,
}

impl Default for PerIpLimit {
    fn default() -> Self {
        Self {
            max_inbound: DEFAULT_MAX_INBOUND_PER_IP,
            exempt: Vec::new(),
        }
    }
}

/// Inbound connections one address may hold by default: room for a few nodes on one host
/// (a local cluster), far below the inbound slots.
pub const DEFAULT_MAX_INBOUND_PER_IP: u32 = 16;

/// The connection refused: its address already holds its share.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already holds {max} inbound connections")]
pub struct PerIpExceeded {
    pub ip: IpAddr,
    pub max: u32,
}

/// The behaviour: counts established inbound connections per address.
#[derive(Debug, Default)]
pub struct Behaviour {
    limit: PerIpLimit,
    inbound: HashMap<IpAddr, u32>,
    by_connection: HashMap<ConnectionId, IpAddr>,
}

impl Behaviour {
    pub fn new(limit: PerIpLimit) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Whether one more inbound connection from `ip` is allowed.
    fn admits(&self, ip: IpAddr) -> Result<(), PerIpExceeded> {
        let ip = ip.to_canonical();
        let held = self.inbound.get(&ip).copied().unwrap_or(0);
        if held < self.limit.max_inbound || self.limit.exempt.contains(&ip) {
            Ok(())
        } else {
            Err(PerIpExceeded {
                ip,
                max: self.limit.max_inbound,
            })
        }
    }

    fn opened(&mut self, connection: ConnectionId, ip: IpAddr) {
        let ip = ip.to_canonical();
        *self.inbound.entry(ip).or_default() += 1;
        self.by_connection.insert(connection, ip);
    }

    fn closed(&mut self, connection: ConnectionId) {
        let Some(ip) = self.by_connection.remove(&connection) else {
            return;
        };
        if let Some(held) = self.inbound.get_mut(&ip) {
            *held -= 1;
            if *held == 0 {
                self.inbound.remove(&ip);
            }
        }
    }
}

/// The IP address a multiaddr starts with, if any.
pub(super) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if let Some(ip) = ip_of(remote_addr) {
            self.admits(ip).map_err(ConnectionDenied::new)?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                connection_id,
                endpoint: ConnectedPoint::Listener { send_back_addr, .. },
                ..
            }) => {
                if let Some(ip) = ip_of(send_back_addr) {
                    self.opened(connection_id, ip);
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.closed(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_gets_its_share_and_no_more_until_one_closes() {
        let mut limit = Behaviour::new(PerIpLimit {
            max_inbound: 2,
            exempt: Vec::new(),
        });
        let (a, b, c) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        limit.opened(a, ip(1));
        limit.opened(b, ip(1));
        assert!(limit.admits(ip(1)).is_err(), "two are its share");
        assert!(
            limit.admits(ip(2)).is_ok(),
            "another address is counted apart"
        );
        limit.opened(c, ip(2));
        limit.closed(a);
        assert!(limit.admits(ip(1)).is_ok(), "one closed: room again");
        limit.closed(a);
        assert!(
            limit.admits(ip(1)).is_ok(),
            "closing twice frees nothing more"
        );
        assert_eq!(limit.inbound.get(&ip(1)), Some(&1));
    }

    #[test]
    fn an_exempt_address_is_not_capped() {
        let mut limit = Behaviour::new(PerIpLimit {
            max_inbound: 1,
            exempt: vec![ip(9)],
        });
        limit.opened(ConnectionId::new_unchecked(1), ip(9));
        limit.opened(ConnectionId::new_unchecked(2), ip(9));
        assert!(limit.admits(ip(9)).is_ok());
    }

    #[test]
    fn an_ipv4_client_on_a_dual_stack_socket_counts_as_itself() {
        let mut limit = Behaviour::new(PerIpLimit {
            max_inbound: 1,
            exempt: Vec::new(),
        });
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        limit.opened(ConnectionId::new_unchecked(1), mapped);
        assert!(limit.admits(ip(1)).is_err());
    }

    #[test]
    fn the_address_of_a_tcp_multiaddr_is_its_ip() {
        let addr: Multiaddr = "/ip4/10.0.0.7/tcp/8000".parse().unwrap();
        assert_eq!(ip_of(&addr), Some(ip(7)));
        let none: Multiaddr = "/dns4/example.com/tcp/8000".parse().unwrap();
        assert_eq!(ip_of(&none), None);
    }
}
