//! Where a webhook may be sent. A subscription's URL is the caller's choice, so without a
//! guard it would let anyone make our servers call the cloud metadata endpoint, the
//! database or anything else on the private network. Only public unicast addresses are
//! reachable, checked when the URL is saved and again after every DNS resolution at send
//! time (the name may resolve elsewhere by then); the sender then connects to the address
//! that was checked, never resolving again. Operators allow-list their own targets
//! (`CRM_WEBHOOKS__ALLOW_TARGETS`).

use ipnet::IpNet;
use reqwest::Url;
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

/// How long a target's name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a URL may not be a webhook target; the text is meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefused {
    #[error("must be an http or https URL")]
    Scheme,
    #[error("must name a host")]
    NoHost,
    #[error("host '{0}' does not resolve; check the URL")]
    Unresolvable(String),
    #[error(
        "resolves to {0}, a private, loopback, link-local or reserved address; webhooks are sent to public addresses only"
    )]
    Forbidden(IpAddr),
}

/// True for addresses on the public internet: not private, loopback, link-local, CGNAT,
/// multicast, unspecified, documentation or otherwise reserved (v4 inside v6 is judged as v4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_any(ip: IpAddr, nets: &[&str]) -> bool {
    nets.iter().any(|n| {
        n.parse::<IpNet>()
            .expect("the built-in ranges parse")
            .contains(&ip)
    })
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const NOT_PUBLIC: [&str; 16] = [
        "0.0.0.0/8",          // "this network", unspecified
        "10.0.0.0/8",         // private
        "100.64.0.0/10",      // carrier-grade NAT
        "127.0.0.0/8",        // loopback
        "169.254.0.0/16",     // link-local, cloud metadata
        "172.16.0.0/12",      // private
        "192.0.0.0/24",       // IETF protocol assignments
        "192.0.2.0/24",       // documentation
        "192.88.99.0/24",     // 6to4 relay anycast
        "192.168.0.0/16",     // private
        "198.18.0.0/15",      // benchmarking
        "198.51.100.0/24",    // documentation
        "203.0.113.0/24",     // documentation
        "224.0.0.0/4",        // multicast
        "240.0.0.0/4",        // reserved
        "255.255.255.255/32", // broadcast
    ];
    !in_any(IpAddr::V4(ip), &NOT_PUBLIC)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the embedded v4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // Only global unicast (2000::/3) is public: this leaves out ::, ::1, the deprecated
    // v4-compatible ::/96, discard-only, unique-local fc00::/7, link-local fe80::/10,
    // site-local and multicast ff00::/8.
    if !in_any(IpAddr::V6(ip), &["2000::/3"]) {
        return false;
    }
    const NOT_PUBLIC: [&str; 4] = [
        "2001::/23",     // IETF protocol assignments, Teredo included
        "2001:db8::/32", // documentation
        "2002::/16",     // 6to4, which embeds any v4 address
        "3fff::/20",     // documentation
    ];
    !in_any(IpAddr::V6(ip), &NOT_PUBLIC)
}

/// The addresses webhooks may reach: public ones, and the operator's allow-list.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    /// A policy allowing the listed IPs and CIDRs besides public addresses.
    pub fn new(allow: &[String]) -> Result<Self, String> {
        let allowed = allow
            .iter()
            .map(|raw| raw.trim())
            .filter(|raw| !raw.is_empty())
            .map(|raw| {
                raw.parse::<IpNet>()
                    .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "webhooks allow_targets: '{raw}' is neither an IP address nor a CIDR (CRM_WEBHOOKS__ALLOW_TARGETS)"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    /// True when a webhook may be sent to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|n| n.contains(&ip)) || is_public(ip)
    }

    /// The address to connect to for `url`: its host resolved, every address it resolves to
    /// permitted (a name mixing public and private answers is refused).
    pub async fn resolve(&self, url: &Url) -> Result<SocketAddr, TargetRefused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetRefused::Scheme);
        }
        let port = url.port_or_known_default().ok_or(TargetRefused::Scheme)?;
        let host = url.host_str().ok_or(TargetRefused::NoHost)?;
        // A literal address needs no DNS (`host_str` keeps a v6 literal's brackets).
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let unresolvable = || TargetRefused::Unresolvable(host.to_owned());
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
                    .await
                    .map_err(|_| unresolvable())?
                    .map_err(|_| unresolvable())?
                    .collect()
            }
        };
        if let Some(bad) = addrs.iter().find(|a| !self.permits(a.ip())) {
            return Err(TargetRefused::Forbidden(bad.ip()));
        }
        addrs.first().copied().ok_or_else(|| {
            TargetRefused::Unresolvable(url.host_str().unwrap_or_default().to_owned())
        })
    }
}

/// A v4 address carried in v6 as the v4 address itself, so allow-lists written in v4 apply.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_private_loopback_link_local_cgnat_and_reserved_v4() {
        for s in [
            "10.0.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.10",
            "198.18.0.1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn refuses_non_global_v6_and_v4_hidden_in_v6() {
        for s in [
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "2002:a00:1::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_addresses() {
        let policy = TargetPolicy::new(&["127.0.0.1".into(), "10.1.0.0/16".into()]).unwrap();
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(policy.permits(ip("10.1.2.3")));
        assert!(!policy.permits(ip("127.0.0.2")));
        assert!(!policy.permits(ip("10.2.0.1")));
        assert!(!policy.permits(ip("::1")));
        assert!(TargetPolicy::new(&["not-an-ip".into()]).is_err());
    }

    #[tokio::test]
    async fn resolves_literal_hosts_without_dns_and_checks_them() {
        let policy = TargetPolicy::default();
        let refused = |s: &str| {
            let url = Url::parse(s).unwrap();
            let policy = policy.clone();
            async move { policy.resolve(&url).await.unwrap_err() }
        };
        assert_eq!(
            refused("http://169.254.169.254/latest").await,
            TargetRefused::Forbidden(ip("169.254.169.254"))
        );
        assert_eq!(
            refused("http://[::1]:8080/").await,
            TargetRefused::Forbidden(ip("::1"))
        );
        assert_eq!(refused("ftp://8.8.8.8/").await, TargetRefused::Scheme);
        assert!(matches!(
            refused("http://localhost/").await,
            TargetRefused::Forbidden(_) | TargetRefused::Unresolvable(_)
        ));
        let ok = policy
            .resolve(&Url::parse("https://8.8.8.8/hook").unwrap())
            .await
            .unwrap();
        assert_eq!(ok, "8.8.8.8:443".parse().unwrap());
    }
}
