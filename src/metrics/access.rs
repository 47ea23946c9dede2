//! Who may read `/metrics`: peers in an allow-list of networks (loopback by default), or
//! anyone presenting the configured bearer token. The peer is the TCP peer, never a header a
//! client could forge.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An address with a prefix length, e.g. `10.0.0.0/8` or `::1/128`; a bare address is a /32
/// (or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or network (like 127.0.0.1, ::1 or 10.0.0.0/8)")]
pub struct InvalidIpNet(String);

impl IpNet {
    pub fn parse(text: &str) -> Result<IpNet, InvalidIpNet> {
        let invalid = || InvalidIpNet(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(invalid)?,
        };
        Ok(IpNet { addr, prefix })
    }

    /// A comma-separated list; empty entries are ignored, so `""` allows no address.
    pub fn parse_list(text: &str) -> Result<Vec<IpNet>, InvalidIpNet> {
        text.split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(IpNet::parse)
            .collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(width - prefix.min(width));
    bits.checked_shr(host_bits).unwrap_or(0)
}

pub struct MetricsAccess {
    allow: Vec<IpNet>,
    /// SHA-256 of the token, so comparing takes the same time whatever its length.
    token_sha256: Option<[u8; 32]>,
}

impl MetricsAccess {
    pub fn new(allow: Vec<IpNet>, token: Option<&str>) -> MetricsAccess {
        MetricsAccess {
            allow,
            token_sha256: token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// Loopback only, no token: the default.
    pub fn loopback() -> MetricsAccess {
        let allow = ["127.0.0.0/8", "::1"]
            .iter()
            .filter_map(|net| IpNet::parse(net).ok())
            .collect();
        MetricsAccess::new(allow, None)
    }

    pub fn permits(&self, peer: Option<IpAddr>, authorization: Option<&[u8]>) -> bool {
        if let (Some(expected), Some(header)) = (&self.token_sha256, authorization) {
            let presented = header
                .strip_prefix(b"Bearer ")
                .or_else(|| header.strip_prefix(b"bearer "));
            if let Some(token) = presented {
                let digest: [u8; 32] = Sha256::digest(token).into();
                if bool::from(digest.ct_eq(expected)) {
                    return true;
                }
            }
        }
        peer.is_some_and(|ip| self.allow.iter().any(|net| net.contains(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_match_their_addresses_only() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("::1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("::1").unwrap().contains(ip("::1")));
        assert!(IpNet::parse("127.0.0.1")
            .unwrap()
            .contains(ip("::ffff:127.0.0.1")));
        for bad in ["", "10.0.0.0/33", "::/129", "host", "1.2.3.4/x"] {
            assert!(IpNet::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IpNet::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn a_token_opens_from_anywhere_and_only_the_right_one() {
        let access = MetricsAccess::new(vec![], Some("s3cret"));
        assert!(access.permits(Some(ip("203.0.113.9")), Some(b"Bearer s3cret")));
        assert!(!access.permits(Some(ip("203.0.113.9")), Some(b"Bearer s3cre")));
        assert!(!access.permits(Some(ip("203.0.113.9")), Some(b"s3cret")));
        assert!(!access.permits(Some(ip("203.0.113.9")), None));
        let loopback = MetricsAccess::loopback();
        assert!(loopback.permits(Some(ip("127.0.0.1")), None));
        assert!(!loopback.permits(Some(ip("192.168.1.1")), Some(b"Bearer ")));
    }
}
