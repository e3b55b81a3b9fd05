//! Where the server listens (`HOST`, `PORT`), how long it waits on the store
//! (`STORE_TIMEOUT`) and what `tally healthcheck` asks (`HEALTHCHECK_URL`).
//!
//! The healthcheck URL lives here because its default is derived from the listening address:
//! a container's `HEALTHCHECK` runs `tally healthcheck` with the same environment as the server.

use std::{net::IpAddr, str::FromStr, time::Duration};

use super::{error::ConfigError, redaction::redact};

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 5000;
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn parse_host(host: Option<&str>) -> Result<IpAddr, ConfigError> {
    let host = host.unwrap_or(DEFAULT_HOST).trim();
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    IpAddr::from_str(host).map_err(|_| {
        ConfigError::invalid(
            "HOST",
            host,
            "an IP address such as 127.0.0.1, 0.0.0.0 or ::, or localhost",
        )
    })
}

/// This server's own `/healthz`, on loopback when it binds every address.
pub(super) fn own_healthz(host: IpAddr, port: u16) -> String {
    let host = match host {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{port}/healthz")
}

pub(super) fn parse_healthcheck_url(url: &str) -> Result<String, ConfigError> {
    reqwest::Url::parse(url.trim())
        .ok()
        .filter(|parsed| parsed.scheme() == "http" && parsed.has_host())
        .map(|_| url.trim().to_owned())
        .ok_or_else(|| {
            ConfigError::invalid(
                "HEALTHCHECK_URL",
                &redact(url),
                "an http:// URL such as http://127.0.0.1:5000/healthz",
            )
        })
}

#[cfg(test)]
mod tests {
    use crate::{
        cli::Settings,
        config::{Config, rejected},
    };

    #[test]
    fn healthcheck_asks_loopback_when_bound_to_every_address() {
        let s = Settings {
            host: Some("0.0.0.0".into()),
            port: Some("8080".into()),
            ..Settings::default()
        };
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.healthcheck_url, "http://127.0.0.1:8080/healthz");
        let s = Settings {
            healthcheck_url: Some("http://web:5000/healthz".into()),
            ..Settings::default()
        };
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.healthcheck_url, "http://web:5000/healthz");
        let s = Settings {
            healthcheck_url: Some("notaurl".into()),
            ..Settings::default()
        };
        assert_eq!(rejected(&s).variable, "HEALTHCHECK_URL");
    }
}
