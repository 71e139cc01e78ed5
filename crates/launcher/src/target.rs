//! Where requests go: an `http://` URL parsed once, its host resolved once, and the safety rule
//! that only loopback hosts are accepted unless `--allow-remote` is given.

use std::net::{IpAddr, SocketAddr};

use http::Uri;

use crate::error::LaunchError;

/// A resolved HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The URL as given, for log lines.
    pub url: String,
    /// The address every new connection goes to.
    pub addr: SocketAddr,
    /// The `Host` header (`host[:port]` as in the URL).
    pub authority: String,
    /// Path and query as in the URL (`/` when empty).
    pub path: String,
}

/// What a URL's host is, as far as the loopback rule is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// An IP literal; loopback when in 127.0.0.0/8 or `::1`.
    Ip(IpAddr),
    /// `localhost`: accepted once every address it resolves to is loopback.
    Localhost,
    /// Any other name, which is never resolved without `--allow-remote`.
    Name,
}

impl Target {
    /// Parses `url` and resolves its host.
    ///
    /// # Errors
    /// [`LaunchError::InvalidUrl`] for anything but `http://host[:port][/path]`,
    /// [`LaunchError::RemoteTarget`] for a non-loopback host without `allow_remote`, and
    /// [`LaunchError::Resolve`] when the host does not resolve.
    pub async fn resolve(url: &str, allow_remote: bool) -> Result<Self, LaunchError> {
        let invalid = |reason: &str| LaunchError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(invalid("https is not supported; use http://")),
            _ => return Err(invalid("expected an http:// URL")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("the URL has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("the URL has no host"));
        }
        let port = authority.port_u16().unwrap_or(80);

        let refuse = || LaunchError::RemoteTarget {
            host: host.to_owned(),
        };
        let addr = match classify(host) {
            Host::Ip(ip) if ip.is_loopback() || allow_remote => SocketAddr::new(ip, port),
            Host::Localhost => lookup(host, port, true).await?,
            Host::Name if allow_remote => lookup(host, port, false).await?,
            Host::Ip(_) | Host::Name => return Err(refuse()),
        };

        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        Ok(Self {
            url: url.to_owned(),
            addr,
            authority: authority.as_str().to_owned(),
            path,
        })
    }

    /// The path of `suffix` under this target's path, e.g. `/prod` + `/rockets` →
    /// `/prod/rockets`. Any query of the base is dropped.
    pub fn join(&self, suffix: &str) -> String {
        let base = self
            .path
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        format!("{base}{suffix}")
    }
}

fn classify(host: &str) -> Host {
    match host.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) if host.eq_ignore_ascii_case("localhost") => Host::Localhost,
        Err(_) => Host::Name,
    }
}

/// Resolves a name; for `localhost` every address must be loopback and one is picked.
async fn lookup(host: &str, port: u16, must_be_loopback: bool) -> Result<SocketAddr, LaunchError> {
    let resolve_error = |source| LaunchError::Resolve {
        host: host.to_owned(),
        source,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(resolve_error)?
        .collect();
    if must_be_loopback && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(LaunchError::RemoteTarget {
            host: host.to_owned(),
        });
    }
    // Prefer IPv4, which is what servers bound to 127.0.0.1 listen on.
    let first = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied();
    first.ok_or_else(|| {
        resolve_error(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(url: &str) -> Result<Target, LaunchError> {
        Target::resolve(url, false).await
    }

    #[tokio::test]
    async fn loopback_urls_are_accepted() {
        let t = resolve("http://127.0.0.1:8088/messages").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8088".parse().unwrap());
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8088", "/messages")
        );
        let v6 = resolve("http://[::1]:9000/x?y=1").await.unwrap();
        assert_eq!(v6.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(v6.path, "/x?y=1");
        let other = resolve("http://127.3.4.5").await.unwrap();
        assert_eq!((other.addr.port(), other.path.as_str()), (80, "/"));
        assert!(
            resolve("http://localhost:8088/")
                .await
                .unwrap()
                .addr
                .ip()
                .is_loopback()
        );
    }

    #[tokio::test]
    async fn remote_hosts_are_refused_without_allow_remote() {
        for url in [
            "http://10.0.0.1/messages",
            "http://example.com/",
            "http://[2001:db8::1]/",
        ] {
            let err = resolve(url).await.unwrap_err();
            assert!(
                matches!(err, LaunchError::RemoteTarget { .. }),
                "{url}: {err}"
            );
            assert_eq!(err.exit_code(), 2);
        }
        // An IP literal needs no lookup, so this stays offline.
        let allowed = Target::resolve("http://10.0.0.1:81/m", true).await.unwrap();
        assert_eq!(allowed.addr, "10.0.0.1:81".parse().unwrap());
    }

    #[tokio::test]
    async fn malformed_urls_are_usage_errors() {
        for url in [
            "127.0.0.1:8088",
            "https://127.0.0.1/",
            "ftp://127.0.0.1/",
            "http://",
            "::",
        ] {
            let err = resolve(url).await.unwrap_err();
            assert!(
                matches!(err, LaunchError::InvalidUrl { .. }),
                "{url}: {err}"
            );
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[tokio::test]
    async fn paths_join_under_the_base() {
        let base = resolve("http://127.0.0.1:8088").await.unwrap();
        assert_eq!(base.join("/rockets"), "/rockets");
        let staged = resolve("http://127.0.0.1:8088/prod/").await.unwrap();
        assert_eq!(staged.join("/rockets/x"), "/prod/rockets/x");
    }
}
