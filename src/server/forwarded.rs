//! Where a request really comes from when proxies stand between the client and the daemon:
//! `X-Forwarded-For` and `X-Forwarded-Proto` are believed only from a peer in
//! `[server] trusted_proxies`, and from anyone else ignored (a client can send any header).
//!
//! The client address is the right-most address of `X-Forwarded-For` that is not a trusted
//! proxy: each trusted proxy appends the address it was connected from, so walking from the
//! right past the trusted ones finds the first address no trusted party vouches for beyond;
//! what lies left of it was written by the client itself (MDN "X-Forwarded-For", "Selecting an
//! IP address"). A header that cannot be read up to that point is ignored as a whole: the
//! request is then the proxy's own. The request is over TLS when every hop
//! `X-Forwarded-Proto` lists is `https` (absent: the connection to the daemon decides).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address and transport, as far as trusted parties say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Client {
    pub(super) ip: IpAddr,
    pub(super) secure_transport: bool,
}

/// The client of a request from `peer` (over TLS when `tls`), given its headers and the
/// trusted proxies.
pub(super) fn client(peer: IpAddr, tls: bool, headers: &HeaderMap, trusted: &[IpNet]) -> Client {
    let peer = peer.to_canonical();
    let direct = Client {
        ip: peer,
        secure_transport: tls,
    };
    if !is_trusted(peer, trusted) {
        return direct;
    }
    let ip = match forwarded_for(headers, trusted) {
        Ok(ip) => ip.unwrap_or(peer),
        Err(Malformed) => {
            tracing::debug!("X-Forwarded-For from a trusted proxy is malformed: ignored");
            peer
        }
    };
    Client {
        ip,
        secure_transport: forwarded_proto(headers).unwrap_or(tls),
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

struct Malformed;

/// The right-most untrusted address of `X-Forwarded-For` (every line, in order), or the
/// left-most when all are trusted; `None` without the header.
fn forwarded_for(headers: &HeaderMap, trusted: &[IpNet]) -> Result<Option<IpAddr>, Malformed> {
    let mut lines = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        lines.push(value.to_str().map_err(|_| Malformed)?);
    }
    let mut client = None;
    for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        let ip = address(entry.trim()).ok_or(Malformed)?;
        client = Some(ip);
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    Ok(client)
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, or with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// `Some(true)` when every hop `X-Forwarded-Proto` lists is `https`, `Some(false)` when any is
/// something else (or unreadable), `None` without the header.
fn forwarded_proto(headers: &HeaderMap) -> Option<bool> {
    let mut seen = false;
    let mut all_https = true;
    for value in headers.get_all("x-forwarded-proto") {
        seen = true;
        match value.to_str() {
            Ok(line) => {
                all_https &= line
                    .split(',')
                    .all(|hop| hop.trim().eq_ignore_ascii_case("https"));
            }
            Err(_) => all_https = false,
        }
    }
    seen.then_some(all_https)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: [u8; 4] = [10, 0, 0, 5];

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn from(peer: [u8; 4], tls: bool, pairs: &[(&str, &[u8])]) -> Client {
        client(IpAddr::from(peer), tls, &headers(pairs), &trusted())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let c = from(
            [198, 51, 100, 9],
            false,
            &[
                ("x-forwarded-for", b"203.0.113.1"),
                ("x-forwarded-proto", b"https"),
            ],
        );
        assert_eq!(c.ip, ip("198.51.100.9"));
        assert!(!c.secure_transport);
        assert!(from([198, 51, 100, 9], true, &[("x-forwarded-proto", b"http")]).secure_transport);
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        // The client wrote the first two; the proxies appended the rest.
        let c = from(
            PEER,
            false,
            &[(
                "x-forwarded-for",
                b"1.1.1.1, 203.0.113.1, 198.51.100.2, 10.1.1.1",
            )],
        );
        assert_eq!(c.ip, ip("198.51.100.2"));
        // Several header lines are one list, in order.
        let c = from(
            PEER,
            false,
            &[
                ("x-forwarded-for", b"1.1.1.1, 203.0.113.1"),
                ("x-forwarded-for", b"10.2.2.2"),
            ],
        );
        assert_eq!(c.ip, ip("203.0.113.1"));
        // Every address trusted: the furthest one.
        assert_eq!(
            from(PEER, false, &[("x-forwarded-for", b"10.9.9.9,10.1.1.1")]).ip,
            ip("10.9.9.9")
        );
        // Ports and IPv6, and an IPv4-mapped peer counts as its IPv4 address.
        assert_eq!(
            from(PEER, false, &[("x-forwarded-for", b"[2001:db8::7]:4711")]).ip,
            ip("2001:db8::7")
        );
        assert_eq!(
            from(PEER, false, &[("x-forwarded-for", b"192.0.2.9:80")]).ip,
            ip("192.0.2.9")
        );
        let mapped = client(
            ip("::ffff:10.0.0.5"),
            false,
            &headers(&[("x-forwarded-for", b"192.0.2.9")]),
            &trusted(),
        );
        assert_eq!(mapped.ip, ip("192.0.2.9"));
        assert_eq!(from(PEER, false, &[]).ip, ip("10.0.0.5"));
    }

    #[test]
    fn a_malformed_header_is_ignored_up_to_the_client() {
        for bad in [
            &b"not-an-address"[..],
            b"203.0.113.1, ",
            b"",
            b"203.0.113.1,,10.1.1.1",
            b"203.0.113.1/24",
            b"\xff\xfe",
        ] {
            let c = from(PEER, false, &[("x-forwarded-for", bad)]);
            assert_eq!(c.ip, ip("10.0.0.5"), "{:?}", String::from_utf8_lossy(bad));
        }
        // Garbage the client wrote left of the client's address does not matter.
        assert_eq!(
            from(
                PEER,
                false,
                &[("x-forwarded-for", b"<script>, 203.0.113.1")]
            )
            .ip,
            ip("203.0.113.1")
        );
    }

    #[test]
    fn forwarded_proto_from_a_trusted_proxy() {
        let proto = |value: &[u8], tls: bool| {
            from(PEER, tls, &[("x-forwarded-proto", value)]).secure_transport
        };
        assert!(proto(b"https", false));
        assert!(proto(b"HTTPS", false));
        assert!(proto(b"https, https", false));
        assert!(!proto(b"http", true), "the client's hop was plain");
        assert!(!proto(b"https, http", false));
        assert!(!proto(b"ftp", false));
        assert!(!proto(b"\xff", true));
        assert!(
            from(PEER, true, &[]).secure_transport,
            "absent: the connection"
        );
        assert!(!from(PEER, false, &[]).secure_transport);
    }
}
