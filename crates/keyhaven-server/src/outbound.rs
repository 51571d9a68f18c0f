//! Requests this server makes to others (Azure Blob Storage, attestation authorities' key sets): HTTPS with the
//! system's roots plus an operator's CA file, and plain HTTP only to a loopback address.

use crate::ServerError;
use reqwest::Url;
use std::net::IpAddr;
use std::path::Path;

/// Whether a URL's host is a loopback address (or `localhost`), where plain HTTP is allowed.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a).is_loopback(),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `builder` trusting, besides the system's roots, the certificates of `ca_file` (PEM); `knob` names the setting
/// in errors.
pub(crate) fn trusting(
    mut builder: reqwest::ClientBuilder,
    ca_file: Option<&Path>,
    knob: &str,
) -> Result<reqwest::ClientBuilder, ServerError> {
    let Some(path) = ca_file else {
        return Ok(builder);
    };
    let pem = std::fs::read(path).map_err(ServerError::io(format!(
        "reading {knob} {}",
        path.display()
    )))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        ServerError::Config(format!(
            "{knob} {} holds no PEM certificate: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(ServerError::Config(format!(
            "{knob} {} holds no PEM certificate",
            path.display()
        )));
    }
    for c in certs {
        builder = builder.add_root_certificate(c);
    }
    Ok(builder)
}
