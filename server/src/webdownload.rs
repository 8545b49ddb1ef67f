//! The `web-download` import's guard against server-side request forgery. Glance filters the
//! URI by scheme, host and port (`[import_filtering_opts]`: http and https, ports 80 and 443);
//! Glint does that and also refuses every address a client should not reach through the
//! server (loopback, private, link-local such as the cloud metadata service, unique-local,
//! unspecified), checked on the addresses the name resolves to at connect time and again on
//! every redirect. Operators list exceptions (`host` or `host:port`) with
//! `--web-download-allow`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The filtering rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    /// `host` or `host:port` entries fetched whatever their address and port.
    allowed: Arc<Vec<String>>,
}

const PORTS: [u16; 2] = [80, 443];

fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // shared 100.64/10
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

impl Guard {
    pub(crate) fn new(allowed: &[String]) -> Guard {
        Guard {
            allowed: Arc::new(
                allowed
                    .iter()
                    .map(|a| a.trim().to_ascii_lowercase())
                    .collect(),
            ),
        }
    }

    fn allows_host(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|a| a == &host || port.is_some_and(|p| *a == format!("{host}:{p}")))
    }

    /// Checks a URI before (and on every redirect of) a download: scheme, port and, for an
    /// address written in the URI, the address. Names are checked when they resolve.
    pub(crate) fn check(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("the scheme '{}' is not allowed", url.scheme()));
        }
        let host = url.host_str().ok_or("the URI has no host")?;
        let port = url.port_or_known_default();
        if self.allows_host(host, port) {
            return Ok(());
        }
        if !port.is_some_and(|p| PORTS.contains(&p)) {
            return Err(format!("port {} is not allowed", port.unwrap_or(0)));
        }
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>()
            && internal(ip)
        {
            return Err(format!("{ip} is an internal address"));
        }
        Ok(())
    }

    /// An HTTP client that applies the guard to every connection and redirect.
    pub(crate) fn client(&self) -> Result<reqwest::Client, reqwest::Error> {
        crate::install_tls_provider();
        let redirects = self.clone();
        reqwest::Client::builder()
            .dns_resolver(Arc::new(self.clone()))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if let Err(why) = redirects.check(attempt.url()) {
                    attempt.error(format!("a redirect does not pass filtering: {why}"))
                } else {
                    attempt.follow()
                }
            }))
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
    }
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = guard.allows_host(&host, None)
                || guard
                    .allowed
                    .iter()
                    .any(|a| a.starts_with(&format!("{host}:")));
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allowed || !internal(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(guard: &Guard, uri: &str) -> Result<(), String> {
        guard.check(&Url::parse(uri).map_err(|e| e.to_string())?)
    }

    #[test]
    fn only_public_http_on_standard_ports_passes() {
        let g = Guard::new(&[]);
        assert!(check(&g, "https://cloud-images.example.org/jammy.img").is_ok());
        assert!(check(&g, "http://203.0.113.7/disk.qcow2").is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://example.org/x",
            "http://example.org:22/x",
            "http://127.0.0.1/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[fd00::1]/x",
            "http://0.0.0.0/x",
            "http://100.64.0.1/x",
        ] {
            assert!(check(&g, bad).is_err(), "{bad} passed");
        }
        let g = Guard::new(&["127.0.0.1:8080".to_string(), "images.internal".to_string()]);
        assert!(check(&g, "http://127.0.0.1:8080/x").is_ok());
        assert!(check(&g, "http://127.0.0.1:8081/x").is_err());
        assert!(check(&g, "http://images.internal:9000/x").is_ok());
    }
}
