//! The guard against server-side request forgery for every fetch the server makes on a user's
//! behalf (the `web-download` import, the legacy import task). Glance filters the URI by
//! scheme, host and port (`[import_filtering_opts]`: allowed and disallowed lists, http and
//! https on ports 80 and 443 by default); Glint does the same and also refuses every address a
//! client should not reach through the server (loopback, private, link-local such as the cloud
//! metadata service, unique-local, unspecified), checked on the addresses a name resolves to at
//! connect time and again on every redirect. A host the operator names in the allowed hosts,
//! or as an exception (`host` or `host:port`, `--web-download-allow`), may be internal.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Glance's `[import_filtering_opts]`: each `allowed` list, when not empty, is the only thing
/// let through; otherwise its `disallowed` list is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFilter {
    pub allowed_schemes: Vec<String>,
    pub disallowed_schemes: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub disallowed_hosts: Vec<String>,
    pub allowed_ports: Vec<u16>,
    pub disallowed_ports: Vec<u16>,
    /// `host` or `host:port` fetched whatever the lists and the address say.
    pub exceptions: Vec<String>,
    /// Seconds a fetch may wait for the source's next bytes.
    pub read_timeout: u64,
}

impl Default for ImportFilter {
    fn default() -> ImportFilter {
        ImportFilter {
            allowed_schemes: vec!["http".into(), "https".into()],
            disallowed_schemes: Vec::new(),
            allowed_hosts: Vec::new(),
            disallowed_hosts: Vec::new(),
            allowed_ports: vec![80, 443],
            disallowed_ports: Vec::new(),
            exceptions: Vec::new(),
            read_timeout: 60,
        }
    }
}

/// The filtering rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    filter: Arc<ImportFilter>,
}

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

fn normal(host: &str) -> String {
    host.trim()
        .trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn listed(list: &[String], host: &str) -> bool {
    list.iter().any(|h| normal(h) == host)
}

impl Guard {
    pub(crate) fn new(filter: &ImportFilter) -> Guard {
        let mut filter = filter.clone();
        for list in [
            &mut filter.allowed_schemes,
            &mut filter.disallowed_schemes,
            &mut filter.exceptions,
        ] {
            *list = list
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| !a.is_empty())
                .collect();
        }
        Guard {
            filter: Arc::new(filter),
        }
    }

    /// Whether the operator named this host as one to fetch from, internal or not.
    fn trusts(&self, host: &str, port: Option<u16>) -> bool {
        let host = normal(host);
        listed(&self.filter.allowed_hosts, &host)
            || self.filter.exceptions.iter().any(|a| {
                *a == host
                    || match port {
                        Some(p) => *a == format!("{host}:{p}"),
                        // At resolution the port is not known: any exception for the host.
                        None => a.starts_with(&format!("{host}:")),
                    }
            })
    }

    fn is_exception(&self, host: &str, port: Option<u16>) -> bool {
        let host = normal(host);
        self.filter
            .exceptions
            .iter()
            .any(|a| *a == host || port.is_some_and(|p| *a == format!("{host}:{p}")))
    }

    /// Checks a URI before (and on every redirect of) a fetch: scheme, host and port against
    /// the lists and, for an address written in the URI, the address. Names are checked when
    /// they resolve.
    pub(crate) fn check(&self, url: &Url) -> Result<(), String> {
        let f = &self.filter;
        let scheme = url.scheme();
        if !matches!(scheme, "http" | "https") {
            return Err(format!("the scheme '{scheme}' is not supported"));
        }
        let scheme_ok = match f.allowed_schemes.is_empty() {
            false => f.allowed_schemes.iter().any(|s| s == scheme),
            true => !f.disallowed_schemes.iter().any(|s| s == scheme),
        };
        if !scheme_ok {
            return Err(format!("the scheme '{scheme}' is not allowed"));
        }
        let host = url.host_str().ok_or("the URI has no host")?;
        let port = url.port_or_known_default();
        if self.is_exception(host, port) {
            return Ok(());
        }
        let name = normal(host);
        let host_ok = match f.allowed_hosts.is_empty() {
            false => listed(&f.allowed_hosts, &name),
            true => !listed(&f.disallowed_hosts, &name),
        };
        if !host_ok {
            return Err(format!("the host '{name}' is not allowed"));
        }
        let port_ok = port.is_some_and(|p| match f.allowed_ports.is_empty() {
            false => f.allowed_ports.contains(&p),
            true => !f.disallowed_ports.contains(&p),
        });
        if !port_ok {
            return Err(format!("port {} is not allowed", port.unwrap_or(0)));
        }
        if let Ok(ip) = name.parse::<IpAddr>()
            && internal(ip)
            && !self.trusts(host, port)
        {
            return Err(format!("{ip} is an internal address"));
        }
        Ok(())
    }

    /// Checks a URI as `check` does, then resolves its host: a name that does not resolve, or
    /// resolves only to addresses the guard refuses, fails here, before anything is started.
    /// (Resolution is checked again when connecting: a name may change its answer.)
    pub(crate) async fn check_resolving(&self, url: &Url) -> Result<(), String> {
        self.check(url)?;
        let host = url.host_str().ok_or("the URI has no host")?;
        let bare = host.trim_matches(['[', ']']);
        if bare.parse::<IpAddr>().is_ok() {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let lookup = tokio::net::lookup_host((bare, port));
        let found: Vec<SocketAddr> =
            match tokio::time::timeout(std::time::Duration::from_secs(10), lookup).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => return Err(format!("the host '{bare}' does not resolve: {e}")),
                Err(_) => return Err(format!("the host '{bare}' did not resolve in time")),
            };
        let trusted = self.trusts(bare, url.port_or_known_default());
        if found.is_empty() || (!trusted && found.iter().all(|a| internal(a.ip()))) {
            return Err(format!(
                "the host '{bare}' resolves only to internal addresses"
            ));
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
            .read_timeout(std::time::Duration::from_secs(
                self.filter.read_timeout.max(1),
            ))
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
            let allowed = guard.trusts(&host, None);
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
        let g = Guard::new(&ImportFilter::default());
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
        let g = Guard::new(&ImportFilter {
            exceptions: vec!["127.0.0.1:8080".into(), "images.internal".into()],
            ..ImportFilter::default()
        });
        assert!(check(&g, "http://127.0.0.1:8080/x").is_ok());
        assert!(check(&g, "http://127.0.0.1:8081/x").is_err());
        assert!(check(&g, "http://images.internal:9000/x").is_ok());
    }

    #[test]
    fn allowed_lists_win_over_disallowed_ones_as_in_glance() {
        // Allowed hosts: only these, and they may be internal.
        let g = Guard::new(&ImportFilter {
            allowed_hosts: vec!["10.0.0.5".into(), "Mirror.Example.org".into()],
            allowed_ports: vec![80, 8080],
            ..ImportFilter::default()
        });
        assert!(check(&g, "http://10.0.0.5:8080/x").is_ok());
        assert!(check(&g, "http://mirror.example.org/x").is_ok());
        assert!(check(&g, "http://10.0.0.6/x").is_err());
        assert!(check(&g, "http://example.org/x").is_err());
        assert!(
            check(&g, "https://mirror.example.org/x").is_err(),
            "443 not listed"
        );
        // Disallowed lists apply when no allowed list is given.
        let g = Guard::new(&ImportFilter {
            allowed_schemes: Vec::new(),
            disallowed_schemes: vec!["http".into()],
            disallowed_hosts: vec!["evil.example.org".into()],
            allowed_ports: Vec::new(),
            disallowed_ports: vec![8443],
            ..ImportFilter::default()
        });
        assert!(check(&g, "https://example.org:9000/x").is_ok());
        assert!(check(&g, "http://example.org/x").is_err());
        assert!(check(&g, "https://evil.example.org/x").is_err());
        assert!(check(&g, "https://example.org:8443/x").is_err());
        // Internal addresses stay refused unless named.
        assert!(check(&g, "https://127.0.0.1/x").is_err());
    }
}
