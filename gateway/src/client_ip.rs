//! The client's address: the socket peer, unless the peer is one of our own proxies, in which
//! case `X-Forwarded-For` is read from the right, skipping our proxies, and the first other
//! address is the client. A client can prepend anything to the header, so only the entries
//! our proxies appended are believed.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses and CIDR ranges; the error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpAddr>()
                    .map(IpNet::from)
                    .or_else(|_| e.parse::<IpNet>())
                    .map_err(|_| {
                        format!("trusted_proxies: '{e}' is not an IP address or CIDR range")
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request that arrived from `peer`.
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer
            .map(|p| p.ip().to_canonical())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let proxy: SocketAddr = "10.1.1.1:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let spoofed = headers("1.2.3.4, 203.0.113.7, 10.2.2.2");
        assert_eq!(
            trusted.client_ip(Some(proxy), &spoofed),
            "203.0.113.7".parse::<IpAddr>().unwrap(),
            "the rightmost untrusted hop, not what the client prepended"
        );
        assert_eq!(
            trusted.client_ip(Some(stranger), &spoofed),
            "198.51.100.9".parse::<IpAddr>().unwrap(),
            "an untrusted peer's header is ignored"
        );
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        assert_eq!(
            trusted.client_ip(Some(v6), &headers("[2001:db8::5]:443")),
            "2001:db8::5".parse::<IpAddr>().unwrap()
        );
        let mapped: SocketAddr = "[::ffff:10.1.1.1]:1".parse().unwrap();
        assert_eq!(
            trusted.client_ip(Some(mapped), &headers("garbage")),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }
}
