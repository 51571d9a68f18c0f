//! The connection URL: libpq's URL form, one host or several (`postgres://user@h1:5432,h2:5433/db?options`).
//! Parsed once; its `Debug` and `Display` never show the password.

use crate::PostgresError;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The port PostgreSQL listens on unless told otherwise.
const DEFAULT_PORT: u16 = 5432;
/// Where Debian's PostgreSQL puts its socket, used when a URL names no host (as libpq does).
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// One server named in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAddr {
    /// A host name or address, and a port.
    Tcp(String, u16),
    /// A directory holding the server's Unix socket, and the port that names the socket.
    Unix(PathBuf, u16),
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAddr::Tcp(h, p) if h.contains(':') => write!(f, "[{h}]:{p}"),
            HostAddr::Tcp(h, p) => write!(f, "{h}:{p}"),
            HostAddr::Unix(d, p) => write!(f, "{}/.s.PGSQL.{p}", d.display()),
        }
    }
}

/// A parsed `postgres://` (or `postgresql://`) URL.
#[derive(Clone)]
pub struct PostgresUrl {
    pub(crate) config: tokio_postgres::Config,
    hosts: Vec<HostAddr>,
    redacted: String,
}

impl PostgresUrl {
    /// Parses a libpq-style URL. Every libpq URL parameter tokio-postgres knows is accepted (`user`, `password`,
    /// `dbname`, `options`, `application_name`, `connect_timeout`, ...); `sslmode=require` is refused for now
    /// (connections are not encrypted: see docs/postgres.md).
    pub fn parse(url: &str) -> Result<PostgresUrl, PostgresError> {
        let redacted = redact(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(PostgresError::InvalidUrl(format!(
                "{redacted}: expected postgres://user@host:port/database"
            )));
        }
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| PostgresError::InvalidUrl(format!("{redacted}: {e}")))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(PostgresError::InvalidUrl(format!(
                "{redacted}: sslmode=require is not supported yet; use a trusted network or a local TLS tunnel"
            )));
        }
        if config.get_application_name().is_none() {
            config.application_name("keyhaven");
        }
        let ports = config.get_ports();
        let named = config.get_hosts();
        if ports.len() > 1 && ports.len() != named.len() {
            return Err(PostgresError::InvalidUrl(format!(
                "{redacted}: {} ports for {} hosts",
                ports.len(),
                named.len()
            )));
        }
        let port_of = |i: usize| match ports.len() {
            0 => DEFAULT_PORT,
            1 => ports[0],
            _ => ports[i],
        };
        let mut hosts: Vec<HostAddr> = named
            .iter()
            .enumerate()
            .map(|(i, h)| match h {
                tokio_postgres::config::Host::Tcp(name) => HostAddr::Tcp(name.clone(), port_of(i)),
                tokio_postgres::config::Host::Unix(dir) => HostAddr::Unix(dir.clone(), port_of(i)),
            })
            .collect();
        if hosts.is_empty() {
            hosts.push(HostAddr::Unix(DEFAULT_SOCKET_DIR.into(), port_of(0)));
        }
        Ok(PostgresUrl {
            config,
            hosts,
            redacted,
        })
    }

    /// The servers, in the URL's order (the order of preference for a primary).
    pub fn hosts(&self) -> &[HostAddr] {
        &self.hosts
    }
}

impl FromStr for PostgresUrl {
    type Err = PostgresError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PostgresUrl::parse(s)
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted)
    }
}

/// The URL with any password (in the user part or as a `password=` parameter) replaced by `***`.
fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => return url.to_string(),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hosts) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{hosts}", &userinfo[..colon]),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_several_hosts_and_defaults() -> Result<(), PostgresError> {
        let u = PostgresUrl::parse("postgres://kh@db.example:6432/vault")?;
        assert_eq!(u.hosts(), [HostAddr::Tcp("db.example".into(), 6432)]);
        assert_eq!(u.config.get_dbname(), Some("vault"));
        assert_eq!(u.config.get_user(), Some("kh"));
        assert_eq!(u.config.get_application_name(), Some("keyhaven"));
        let u = PostgresUrl::parse("postgresql://kh@h1:5433,h2:5434/vault")?;
        assert_eq!(
            u.hosts(),
            [
                HostAddr::Tcp("h1".into(), 5433),
                HostAddr::Tcp("h2".into(), 5434)
            ]
        );
        let u = PostgresUrl::parse("postgres://kh@h1,h2/vault?application_name=node-a")?;
        assert_eq!(
            u.hosts(),
            [
                HostAddr::Tcp("h1".into(), 5432),
                HostAddr::Tcp("h2".into(), 5432)
            ]
        );
        assert_eq!(u.config.get_application_name(), Some("node-a"));
        let u = PostgresUrl::parse("postgres:///vault")?;
        assert_eq!(
            u.hosts(),
            [HostAddr::Unix("/var/run/postgresql".into(), 5432)]
        );
        Ok(())
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for bad in [
            "mysql://kh:s3cret@h/db",
            "postgres://kh:s3cret@h/db?nonsense=1",
            "postgres://kh:s3cret@h/db?sslmode=require",
        ] {
            let e = PostgresUrl::parse(bad).err().map(|e| e.to_string());
            let e = e.unwrap_or_default();
            assert!(!e.is_empty(), "{bad} is refused");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn passwords_are_redacted() -> Result<(), PostgresError> {
        let u = PostgresUrl::parse("postgres://kh:s3cret@h1:1,h2:2/db?password=other&user=kh")?;
        let shown = format!("{u} {u:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(
            u.to_string(),
            "postgres://kh:***@h1:1,h2:2/db?password=***&user=kh"
        );
        Ok(())
    }
}
