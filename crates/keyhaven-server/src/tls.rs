//! TLS: a local CA made on first start (kept in DIR/tls), and a server certificate it signs at each start for
//! the configured names.

use crate::ServerError;
use keyhaven_crypto::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Loads the CA from `dir` (creating it on first start), issues the server certificate and returns the rustls
/// configuration.
pub fn prepare(
    dir: &Path,
    dns_suffix: &str,
    extra_names: &[String],
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    crate::bootstrap::create_private_dir(dir)?;
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");
    let ca = if ca_path.exists() && ca_key_path.exists() {
        CertifiedKey {
            cert_pem: std::fs::read(&ca_path)
                .map_err(ServerError::io("reading the CA certificate"))?,
            key_pem: zeroize::Zeroizing::new(
                std::fs::read(&ca_key_path).map_err(ServerError::io("reading the CA key"))?,
            ),
        }
    } else {
        let ca = keyhaven_crypto::issue_ca("Keyhaven local CA")?;
        crate::bootstrap::write_private(&ca_key_path, &ca.key_pem)?;
        crate::bootstrap::write_atomic(&ca_path, &ca.cert_pem, 0o644)?;
        ca
    };
    let mut dns = vec![
        "localhost".to_string(),
        dns_suffix.to_string(),
        format!("*.{dns_suffix}"),
    ];
    if dns_suffix != "vault.localhost" {
        dns.extend([
            "vault.localhost".to_string(),
            "*.vault.localhost".to_string(),
        ]);
    }
    let mut ips = vec!["127.0.0.1".to_string(), "::1".to_string()];
    for n in extra_names {
        if n.parse::<std::net::IpAddr>().is_ok() {
            ips.push(n.clone());
        } else {
            dns.push(n.to_ascii_lowercase());
        }
    }
    let leaf = keyhaven_crypto::issue_server_certificate(&ca, &dns, &ips)?;
    crate::bootstrap::write_atomic(&dir.join("server.pem"), &leaf.cert_pem, 0o644)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&leaf.cert_pem)
        .chain(CertificateDer::pem_slice_iter(&ca.cert_pem))
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("server certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&leaf.key_pem)
        .map_err(|e| ServerError::Tls(format!("server key: {e}")))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ServerError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| ServerError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
