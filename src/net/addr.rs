//! Which addresses a fetched document may come from.
//!
//! A URL that someone other than the operator chose (a client metadata document, a `jwks_uri`
//! on another host) must not make brain-mcp reach into the network it runs in: the CIMD draft
//! says the server "MUST validate that the Client ID Metadata Document URL does not resolve to
//! special-use IP addresses as defined in RFC 6890". We refuse every address that the IANA
//! special-purpose registries (RFC 6890 and its updates) do not mark globally reachable, plus
//! multicast, which TCP cannot use anyway.
//!
//! The check runs on the parsed [`IpAddr`] that the resolver returned and that we then
//! connect to, never on the host text: `0x7f.1`, `2130706433` or `017700000001` (inet_aton's
//! hexadecimal, decimal and octal forms of 127.0.0.1) reach us as `127.0.0.1`, and there is no
//! second lookup between the check and the connect for a DNS-rebinding answer to exploit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-use range `ip` falls in, named for the log; `None` for a globally reachable
/// unicast address.
pub fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

/// IPv4 special-purpose address registry (RFC 6890 §2.2.2, RFC 6598, RFC 7526, RFC 8190).
const V4: &[([u8; 4], u32, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\" 0.0.0.0/8"),
    ([10, 0, 0, 0], 8, "private 10.0.0.0/8"),
    (
        [100, 64, 0, 0],
        10,
        "shared address space (CGNAT) 100.64.0.0/10",
    ),
    ([127, 0, 0, 0], 8, "loopback 127.0.0.0/8"),
    ([169, 254, 0, 0], 16, "link-local 169.254.0.0/16"),
    ([172, 16, 0, 0], 12, "private 172.16.0.0/12"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments 192.0.0.0/24"),
    ([192, 0, 2, 0], 24, "documentation 192.0.2.0/24"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast 192.88.99.0/24"),
    ([192, 168, 0, 0], 16, "private 192.168.0.0/16"),
    ([198, 18, 0, 0], 15, "benchmarking 198.18.0.0/15"),
    ([198, 51, 100, 0], 24, "documentation 198.51.100.0/24"),
    ([203, 0, 113, 0], 24, "documentation 203.0.113.0/24"),
    ([224, 0, 0, 0], 4, "multicast 224.0.0.0/4"),
    ([240, 0, 0, 0], 4, "reserved 240.0.0.0/4 (and broadcast)"),
];

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4.iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map(|(_, _, name)| *name)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

/// IPv6 special-purpose address registry (RFC 6890 §2.2.3 and its updates: RFC 6666,
/// RFC 8215, RFC 9602, RFC 9637), plus the deprecated site-local range (RFC 3879) and
/// multicast. Prefixes that embed an IPv4 address are handled in [`special_v6`].
const V6: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified ::"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback ::1"),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use NAT64 64:ff9b:1::/48",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only 100::/64"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments 2001::/23 (Teredo, ORCHID, ...)",
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation 2001:db8::/32",
    ),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation 3fff::/20"),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "SRv6 SIDs 5f00::/16"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local fc00::/7"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local fe80::/10"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local fec0::/10"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast ff00::/8"),
];

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(name) = V6
        .iter()
        .find(|(net, bits, _)| in_v6(ip, *net, *bits))
        .map(|(_, _, name)| *name)
    {
        return Some(name);
    }
    let s = ip.segments();
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::ffff:a.b.c.d (IPv4-mapped) reaches the IPv4 address itself on a dual-stack socket.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return special_v4(low_v4)
            .map(|_| "IPv4-mapped ::ffff:0:0/96 of a special-use IPv4 address");
    }
    // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291 §2.5.5.1): nothing legitimate uses it.
    if in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96) {
        return Some("IPv4-compatible ::/96");
    }
    // 64:ff9b::a.b.c.d (NAT64, RFC 6052): the translator connects to the embedded address.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return special_v4(low_v4).map(|_| "NAT64 64:ff9b::/96 of a special-use IPv4 address");
    }
    // 2002:a.b.c.d::/48 (6to4, RFC 3056): the relay reaches the embedded address.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return special_v4(v4).map(|_| "6to4 2002::/16 of a special-use IPv4 address");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn special(s: &str) -> Option<&'static str> {
        special_use(s.parse().unwrap())
    }

    #[test]
    fn every_special_use_ipv4_range_is_refused_at_both_ends() {
        let cases = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ];
        for (lo, hi) in cases {
            assert!(special(lo).is_some(), "{lo}");
            assert!(special(hi).is_some(), "{hi}");
        }
        assert_eq!(
            special("169.254.169.254"),
            Some("link-local 169.254.0.0/16")
        );
    }

    #[test]
    fn neighbours_of_the_ranges_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(special(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_special_use_ipv6_range_is_refused() {
        for ip in [
            "::",
            "::1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:ffff::1",
            "2001:1ff:ffff::1",
            "2001:db8::1",
            "3fff:fff::1",
            "5f00::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(special(ip).is_some(), "{ip}");
        }
        for ip in [
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2003::1",
        ] {
            assert_eq!(special(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_embedded_in_ipv6_is_judged_by_the_ipv4_address() {
        // IPv4-mapped.
        assert!(special("::ffff:127.0.0.1").is_some());
        assert!(special("::ffff:10.1.2.3").is_some());
        assert!(special("::ffff:169.254.169.254").is_some());
        assert_eq!(special("::ffff:8.8.8.8"), None);
        // IPv4-compatible: refused whatever it embeds.
        assert!(special("::127.0.0.1").is_some());
        assert!(special("::8.8.8.8").is_some());
        // NAT64 and 6to4.
        assert!(special("64:ff9b::127.0.0.1").is_some());
        assert!(special("64:ff9b::10.0.0.1").is_some());
        assert_eq!(special("64:ff9b::8.8.8.8"), None);
        assert!(special("2002:7f00:1::1").is_some());
        assert!(special("2002:c0a8:101::1").is_some());
        assert_eq!(special("2002:808:808::1"), None);
    }

    #[test]
    fn inet_aton_spellings_are_parsed_before_the_check_and_never_reach_it() {
        // Rust's parser takes only the dotted-quad form; a host written in another form is
        // a name, resolved by the system resolver, and the check sees the address it
        // resolved to. So these are not addresses here, and cannot slip through as such.
        for s in [
            "0x7f.1",
            "2130706433",
            "017700000001",
            "127.1",
            "0177.0.0.1",
        ] {
            assert!(s.parse::<IpAddr>().is_err(), "{s}");
        }
    }
}
