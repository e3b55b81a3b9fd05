//! How hard one client may hit the API (`RATE_LIMIT`) and which peers may tell tally who the
//! client is (`TRUSTED_PROXIES`).
//!
//! Both are checked here, before the server binds, like every other setting: a limit of
//! `0/10s` would refuse every request and a typo in a proxy network would silently let any
//! client choose its own address, so either stops tally with one line instead. The types
//! live in config because they are the checked settings; the web layer
//! (`src/web/rate_limit.rs`, `src/web/client_ip.rs`) applies them.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use super::error::ConfigError;
use crate::cli::Settings;

/// The limit when `RATE_LIMIT` is unset: 30 requests per 10 seconds, what Abacus allows.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    requests: 30,
    window: Duration::from_secs(10),
};

const RATE_LIMIT_ACCEPTED: &str =
    "N/duration with N above zero and a duration above zero, such as 30/10s or 100/1m, or off";

const TRUSTED_PROXIES_ACCEPTED: &str =
    "a comma-separated list of IP addresses and CIDR networks, such as 10.0.0.0/8,::1";

/// At most `requests` requests per `window` from one client. Both are above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    requests: u32,
    window: Duration,
}

impl RateLimit {
    /// `None` when either is zero: such a limit would refuse everything.
    pub fn new(requests: u32, window: Duration) -> Option<RateLimit> {
        (requests > 0 && !window.is_zero()).then_some(RateLimit { requests, window })
    }

    pub fn requests(&self) -> u32 {
        self.requests
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

/// `30/10s`, the form `RATE_LIMIT` takes.
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.requests,
            humantime::format_duration(self.window)
        )
    }
}

/// `RATE_LIMIT`: `None` for `off`.
pub(super) fn parse_rate_limit(settings: &Settings) -> Result<Option<RateLimit>, ConfigError> {
    let Some(value) = non_empty(&settings.rate_limit) else {
        return Ok(Some(DEFAULT_RATE_LIMIT));
    };
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value
        .split_once('/')
        .and_then(|(requests, window)| {
            let requests = requests.trim().parse::<u32>().ok()?;
            let window = humantime::parse_duration(window.trim()).ok()?;
            RateLimit::new(requests, window)
        })
        .map(Some)
        .ok_or_else(|| ConfigError::invalid("RATE_LIMIT", value, RATE_LIMIT_ACCEPTED))
}

/// The peers whose `X-Forwarded-For` and `Forwarded` headers tally believes. Empty by
/// default: then every client is its TCP peer. Cheap to clone, since every request reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[Network]>);

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies. IPv4 addresses mapped into IPv6
    /// (`::ffff:10.0.0.1`, what a dual-stack socket reports) are taken as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `10.0.0.0/8,::1`, the form `TRUSTED_PROXIES` takes; `none` when empty.
impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (index, network) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{network}")?;
        }
        Ok(())
    }
}

/// A comma-separated list of addresses and networks; empty items (a trailing comma) are
/// skipped. The error is the first item that is neither.
impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Network::from_str(item).map_err(|()| item.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(|networks| TrustedProxies(networks.into()))
    }
}

/// `TRUSTED_PROXIES`.
pub(super) fn parse_trusted_proxies(settings: &Settings) -> Result<TrustedProxies, ConfigError> {
    let Some(value) = non_empty(&settings.trusted_proxies) else {
        return Ok(TrustedProxies::default());
    };
    value.parse().map_err(|item: String| {
        ConfigError::new(
            "TRUSTED_PROXIES",
            format!(
                "{item:?} in {value:?} is not an IP address or network; accepted: {TRUSTED_PROXIES_ACCEPTED}"
            ),
        )
    })
}

/// An IP network: the address with its host bits cleared, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn new(address: IpAddr, prefix: u8) -> Network {
        // `::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8, which is how `contains` sees
        // mapped addresses.
        let (address, prefix) = match address {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (address, prefix),
            },
            _ => (address, prefix),
        };
        let address = match address {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & v4_mask(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & v6_mask(prefix))),
        };
        Network { address, prefix }
    }

    /// `ip` must be canonical (see [`TrustedProxies::contains`]).
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                ip.to_bits() & v4_mask(self.prefix) == network.to_bits()
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                ip.to_bits() & v6_mask(self.prefix) == network.to_bits()
            }
            _ => false,
        }
    }
}

/// `1.2.3.4` (a /32), `10.0.0.0/8`, `::1` (a /128) or `fd00::/8`. Host bits are cleared,
/// so `10.1.2.3/8` is `10.0.0.0/8`.
impl FromStr for Network {
    type Err = ();

    fn from_str(text: &str) -> Result<Network, ()> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address).map_err(|_| ())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would also take `+8`.
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse::<u8>().map_err(|_| ())?
            }
            Some(_) => return Err(()),
        };
        if prefix > max {
            return Err(());
        }
        Ok(Network::new(address, prefix))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// An empty value counts as unset, as for every setting.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, rejected, settings};

    fn with_rate_limit(value: &str) -> Settings {
        Settings {
            rate_limit: Some(value.into()),
            ..settings()
        }
    }

    fn with_trusted_proxies(value: &str) -> Settings {
        Settings {
            trusted_proxies: Some(value.into()),
            ..settings()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn rate_limit_defaults_to_30_per_10_seconds_and_can_be_off() {
        let config = Config::from_settings(&settings()).expect("defaults are valid");
        assert_eq!(config.rate_limit, Some(DEFAULT_RATE_LIMIT));
        assert_eq!(DEFAULT_RATE_LIMIT.to_string(), "30/10s");
        for unset in ["", "  "] {
            let config = Config::from_settings(&with_rate_limit(unset)).expect("valid");
            assert_eq!(config.rate_limit, Some(DEFAULT_RATE_LIMIT), "{unset:?}");
        }
        for off in ["off", "OFF", " Off "] {
            let config = Config::from_settings(&with_rate_limit(off)).expect("valid");
            assert_eq!(config.rate_limit, None, "{off:?}");
        }
    }

    #[test]
    fn rate_limit_takes_requests_per_duration() {
        for (value, requests, window) in [
            ("30/10s", 30, Duration::from_secs(10)),
            ("3/1s", 3, Duration::from_secs(1)),
            (" 100 / 1m ", 100, Duration::from_secs(60)),
            ("5/500ms", 5, Duration::from_millis(500)),
        ] {
            let config = Config::from_settings(&with_rate_limit(value)).expect(value);
            assert_eq!(
                config.rate_limit,
                RateLimit::new(requests, window),
                "{value}"
            );
        }
    }

    #[test]
    fn bad_rate_limits_are_rejected() {
        for value in [
            "0/10s", "x/10s", "30/0s", "30", "-1/10s", "30/", "/10s", "30/10", "30/x", "on",
        ] {
            let err = rejected(&with_rate_limit(value));
            assert_eq!(err.variable, "RATE_LIMIT", "{value}");
            assert!(err.to_string().contains("30/10s"), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks_of_both_families() {
        let config = Config::from_settings(&settings()).expect("defaults are valid");
        assert!(config.trusted_proxies.is_empty());
        assert!(!config.trusted_proxies.contains(ip("127.0.0.1")));
        let s = with_trusted_proxies(" 10.0.0.0/8, ::1,192.168.1.7,fd00::/8,");
        let proxies = Config::from_settings(&s).expect("valid").trusted_proxies;
        assert_eq!(
            proxies.to_string(),
            "10.0.0.0/8,::1/128,192.168.1.7/32,fd00::/8"
        );
        for inside in [
            "10.0.0.1",
            "10.255.255.255",
            "::1",
            "192.168.1.7",
            "fd12:3456::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(proxies.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.168.1.8", "::2", "fe80::1", "127.0.0.1"] {
            assert!(!proxies.contains(ip(outside)), "{outside}");
        }
    }

    #[test]
    fn networks_clear_host_bits_and_accept_the_extreme_prefixes() {
        let proxies: TrustedProxies = "10.1.2.3/8,0.0.0.0/0,::ffff:172.16.0.0/108"
            .parse()
            .expect("valid");
        assert_eq!(proxies.to_string(), "10.0.0.0/8,0.0.0.0/0,172.16.0.0/12");
        assert!(
            proxies.contains(ip("203.0.113.9")),
            "0.0.0.0/0 is every IPv4"
        );
        assert!(!proxies.contains(ip("2001:db8::1")), "but no IPv6");
        let every_v6: TrustedProxies = "::/0".parse().expect("valid");
        assert!(every_v6.contains(ip("2001:db8::1")));
        assert!(!every_v6.contains(ip("203.0.113.9")));
    }

    #[test]
    fn bad_trusted_proxies_are_rejected_naming_the_item() {
        for (value, item) in [
            ("10.0.0.0/33", "10.0.0.0/33"),
            ("10.0.0.0/8,proxy.local", "proxy.local"),
            ("::1/129", "::1/129"),
            ("10.0.0.0/", "10.0.0.0/"),
            ("10.0.0.0/+8", "10.0.0.0/+8"),
            ("10.0.0.0/8/8", "10.0.0.0/8/8"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("10.0.0.0 - 10.0.0.9", "10.0.0.0 - 10.0.0.9"),
        ] {
            let err = rejected(&with_trusted_proxies(value));
            assert_eq!(err.variable, "TRUSTED_PROXIES", "{value}");
            let line = err.to_string();
            assert!(line.contains(&format!("{item:?}")), "{line}");
            assert!(line.contains("10.0.0.0/8,::1"), "{line}");
        }
    }
}
