//! Where a bearer token may go. A token this client obtains for a Keyhaven server is sent only to that server's
//! own host and to its vaults, `https://{vault}.{dns suffix}`; a listing follows a `nextLink` only when it stays
//! on the vault being listed (same scheme, host and port).

use crate::ClientError;
use reqwest::Url;

/// The hosts of one Keyhaven server.
#[derive(Debug, Clone)]
pub(crate) struct OwnHosts<'a> {
    pub server: &'a Url,
    /// The vault DNS suffix (`vault.example.com`), when known.
    pub dns_suffix: Option<&'a str>,
}

impl OwnHosts<'_> {
    /// Whether `url` is the server's own host or one of its vaults (`{vault}.{dns suffix}`), over HTTPS.
    pub fn owns(&self, url: &Url) -> bool {
        if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        if Some(host) == self.server.host_str() {
            return true;
        }
        self.dns_suffix
            .is_some_and(|suffix| is_vault_host(host, suffix))
    }
}

/// `host` is `{label}.{suffix}` with one DNS label (a vault name) before the suffix.
pub(crate) fn is_vault_host(host: &str, suffix: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let suffix = suffix.trim_start_matches('.').to_ascii_lowercase();
    if suffix.is_empty() {
        return false;
    }
    match host
        .strip_suffix(suffix.as_str())
        .and_then(|l| l.strip_suffix('.'))
    {
        Some(label) => is_dns_label(label),
        None => false,
    }
}

/// Letters, digits and dashes, 1-63 characters: one DNS label (every vault name is one).
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Scheme, host and port are the same.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The URL a `nextLink` names, if it stays on `vault` (relative links resolve against it); an error otherwise.
pub(crate) fn next_link(vault: &Url, next: &str) -> Result<Url, ClientError> {
    let refuse = || ClientError::ForeignNextLink {
        next: next.split('?').next().unwrap_or(next).to_string(),
        vault: vault.origin().ascii_serialization(),
    };
    let url = vault.join(next).map_err(|_| refuse())?;
    if !same_origin(vault, &url) || !url.username().is_empty() || url.password().is_some() {
        return Err(refuse());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn next_links_stay_on_the_vault() {
        let vault = url("https://payments.vault.example.com:8443/");
        let ok = |n: &str| next_link(&vault, n).map(|u| u.to_string());
        assert_eq!(
            ok("https://payments.vault.example.com:8443/secrets?api-version=7.5&$skiptoken=abc")
                .ok()
                .as_deref(),
            Some("https://payments.vault.example.com:8443/secrets?api-version=7.5&$skiptoken=abc")
        );
        assert!(
            ok("https://PAYMENTS.vault.example.com:8443/keys?x=1").is_ok(),
            "host names compare without case"
        );
        assert!(ok("/secrets?$skiptoken=abc").is_ok(), "a relative link");
        let refused = [
            "https://evil.example.net:8443/secrets?$skiptoken=abc",
            "https://payments.vault.example.com:9443/secrets",
            "https://payments.vault.example.com/secrets",
            "http://payments.vault.example.com:8443/secrets",
            "https://other.vault.example.com:8443/secrets",
            "//evil.example.net/secrets",
            "https://payments.vault.example.com:8443@evil.example.net/secrets",
            "https://user@payments.vault.example.com:8443/secrets",
            "https://payments.vault.example.com.evil.example.net:8443/secrets",
        ];
        for n in refused {
            match next_link(&vault, n) {
                Err(ClientError::ForeignNextLink { next, vault }) => {
                    assert!(!next.contains("skiptoken"), "the query is left out");
                    assert_eq!(vault, "https://payments.vault.example.com:8443");
                }
                other => unreachable!("{n} was not refused: {other:?}"),
            }
        }
    }

    #[test]
    fn azure_next_links_with_the_default_port_spelled_out_are_followed() {
        let vault = url("https://myvault.vault.azure.net");
        assert!(next_link(
            &vault,
            "https://myvault.vault.azure.net:443/secrets?api-version=7.5&$skiptoken=x"
        )
        .is_ok());
    }

    #[test]
    fn own_hosts_are_the_server_and_its_vaults() {
        let server = url("https://kv.example.com:8443");
        let own = OwnHosts {
            server: &server,
            dns_suffix: Some("vault.example.com"),
        };
        assert!(own.owns(&url("https://kv.example.com:8443/secrets")));
        assert!(own.owns(&url("https://payments.vault.example.com:8443")));
        assert!(own.owns(&url("https://Payments.Vault.Example.com")));
        for foreign in [
            "https://myvault.vault.azure.net",
            "https://vault.example.com:8443",
            "https://a.b.vault.example.com:8443",
            "https://payments.vault.example.com.evil.net",
            "https://evilvault.example.com",
            "http://payments.vault.example.com:8443",
            "http://kv.example.com:8443",
            "https://user:pw@payments.vault.example.com",
            "https://127.0.0.1:8443",
        ] {
            assert!(!own.owns(&url(foreign)), "{foreign}");
        }
        let unknown_suffix = OwnHosts {
            server: &server,
            dns_suffix: None,
        };
        assert!(!unknown_suffix.owns(&url("https://payments.vault.example.com")));
    }
}
