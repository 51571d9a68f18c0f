//! TLS: the server certificate, from one of two sources.
//!
//! - **The local CA** (the default): made on first start in DIR/tls, with X.509 name constraints that limit it to
//!   the deployment's names (the DNS suffix, `localhost`, the public host and `tls-names`; loopback and the
//!   configured IP addresses). It signs a short-lived server certificate (`tls-leaf-days`, 30 by default) at each
//!   start, and a new one when a third of its lifetime is left, without a restart. A CA made before name
//!   constraints existed is kept as long as it is valid (clients trust it); the server warns at each start how to
//!   replace it.
//! - **The operator's files** (`tls-cert`, `tls-key`): checked at start (they must parse and match), served
//!   instead of the local CA's, and loaded again when either file changes.
//!
//! A background task checks every [`CHECK_EVERY`]; handshakes take the current certificate from the resolver.

use crate::ServerError;
use keyhaven_crypto::PermittedNames;
use keyhaven_model::{Clock, SystemClock};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How often the certificate's renewal (or the operator's files) is checked.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);
/// After a failed renewal, the next attempt waits this long (seconds).
const RETRY_AFTER_SECS: i64 = 600;
/// The local CA's lifetime (days).
const CA_DAYS: i64 = 3650;

/// Where the server certificate comes from.
#[derive(Clone)]
pub struct TlsSettings {
    /// The operator's certificate chain (PEM, the server certificate first); with `key`, replaces the local CA.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Lifetime of the server certificates the local CA signs, in days.
    pub leaf_days: u32,
    /// The clock that dates and renews the local CA's server certificates (`None`: the system clock). Tests
    /// move it to see a renewal without waiting weeks.
    pub clock: Option<Arc<dyn Clock>>,
}

impl Default for TlsSettings {
    fn default() -> TlsSettings {
        TlsSettings {
            cert: None,
            key: None,
            leaf_days: 30,
            clock: None,
        }
    }
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("leaf_days", &self.leaf_days)
            .field("clock", &self.clock.as_ref().map(|_| "injected"))
            .finish()
    }
}

impl TlsSettings {
    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        if self.cert.is_some() != self.key.is_some() {
            return Err(ServerError::Config(
                "tls-cert and tls-key go together: give both or neither".into(),
            ));
        }
        if !(1..=397).contains(&self.leaf_days) {
            return Err(ServerError::Config(
                "tls-leaf-days must be between 1 and 397".into(),
            ));
        }
        Ok(())
    }
}

/// The names the server answers to.
pub(crate) struct Names<'a> {
    pub dns_suffix: &'a str,
    pub public_host: &'a str,
    pub extra: &'a [String],
}

/// The prepared TLS configuration and what keeps its certificate current.
pub(crate) struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    pub resolver: Arc<Resolver>,
}

/// Prepares the server certificate (creating the local CA on first start when no files are configured) and
/// returns the rustls configuration.
pub(crate) fn prepare(
    dir: &Path,
    names: &Names<'_>,
    settings: &TlsSettings,
) -> Result<Tls, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let clock: Arc<dyn Clock> = settings.clock.clone().unwrap_or(Arc::new(SystemClock));
    let (source, current, refresh) = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let stamp = stamp(cert, key);
            let current = load_files(cert, key, &provider, clock.now())
                .map_err(|e| ServerError::Tls(e.to_string()))?;
            tracing::info!(cert = %cert.display(), "serving the configured certificate");
            (
                Source::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                current,
                Refresh {
                    renew_at: i64::MAX,
                    retry_after: 0,
                    stamp,
                },
            )
        }
        _ => {
            let local = Local::open(dir, names, settings.leaf_days, clock.now())?;
            let (current, renew_at) = local
                .issue(&provider, clock.now())
                .map_err(|e| ServerError::Tls(e.to_string()))?;
            (
                Source::Local(local),
                current,
                Refresh {
                    renew_at,
                    retry_after: 0,
                    stamp: None,
                },
            )
        }
    };
    let resolver = Arc::new(Resolver {
        current: RwLock::new(Arc::new(current)),
        source,
        provider: provider.clone(),
        clock,
        refresh: Mutex::new(refresh),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(cfg),
        resolver,
    })
}

/// Keeps the certificate current until `stop`: renews the local CA's, reloads changed files.
pub(crate) async fn maintain(resolver: Arc<Resolver>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let r = resolver.clone();
                let _ = tokio::task::spawn_blocking(move || r.refresh()).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// A problem with a certificate source, worded for the operator.
#[derive(Debug)]
struct TlsProblem(String);

impl std::fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

enum Source {
    Local(Local),
    Files { cert: PathBuf, key: PathBuf },
}

struct Refresh {
    /// When the local CA's certificate is renewed (Unix seconds).
    renew_at: i64,
    /// No renewal attempt before this (after a failure).
    retry_after: i64,
    /// The files' modification times and sizes when last read.
    stamp: Option<Stamp>,
}

type Stamp = [(SystemTime, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Option<Stamp> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| Ok((m.modified()?, m.len())))
            .ok()
    };
    Some([one(cert)?, one(key)?])
}

/// Hands each handshake the current certificate.
pub(crate) struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
    source: Source,
    provider: Arc<CryptoProvider>,
    clock: Arc<dyn Clock>,
    refresh: Mutex<Refresh>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().clone())
    }
}

impl Resolver {
    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, k: CertifiedKey) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(k);
    }

    /// Renews or reloads the certificate when due (blocking: signs, reads files).
    pub(crate) fn refresh(&self) {
        let mut r = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        match &self.source {
            Source::Local(local) => {
                if now < r.renew_at || now < r.retry_after {
                    return;
                }
                match local.issue(&self.provider, now) {
                    Ok((k, renew_at)) => {
                        self.set(k);
                        r.renew_at = renew_at;
                        tracing::info!("renewed the server certificate");
                    }
                    Err(e) => {
                        r.retry_after = now + RETRY_AFTER_SECS;
                        tracing::error!(
                            "renewing the server certificate failed (next attempt in {} min): {e}",
                            RETRY_AFTER_SECS / 60
                        );
                    }
                }
            }
            Source::Files { cert, key } => {
                let s = stamp(cert, key);
                if s.is_none() || s == r.stamp {
                    return;
                }
                r.stamp = s;
                match load_files(cert, key, &self.provider, now) {
                    Ok(k) => {
                        self.set(k);
                        tracing::info!(cert = %cert.display(), "reloaded the server certificate");
                    }
                    Err(e) => tracing::warn!(
                        "the changed certificate files were not loaded, the previous certificate is still served \
                         (they are read again when they change): {e}"
                    ),
                }
            }
        }
    }
}

/// Reads the operator's certificate chain and key, which must parse and belong together.
fn load_files(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
    now: i64,
) -> Result<CertifiedKey, TlsProblem> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| TlsProblem(format!("reading {}: {e}", p.display())))
    };
    let cert_pem = read(cert)?;
    let key_pem = zeroize::Zeroizing::new(read(key)?);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsProblem(format!(
                "{}: not a PEM certificate chain: {e}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsProblem(format!(
            "{}: no certificate (expected PEM, the server certificate first)",
            cert.display()
        )));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsProblem(format!(
            "{}: not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key.display()
        ))
    })?;
    let k = CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsProblem(format!(
            "{} is not the key of the certificate in {}",
            key.display(),
            cert.display()
        )),
        e => TlsProblem(format!("{} / {}: {e}", cert.display(), key.display())),
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(key).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
            tracing::warn!(
                key = %key.display(),
                "the server's private key may be read by any user of this machine; restrict it (chmod o-r)"
            );
        }
    }
    match keyhaven_crypto::certificate_validity(&cert_pem) {
        Ok((_, not_after)) if not_after <= now => tracing::warn!(
            cert = %cert.display(),
            "the configured server certificate has expired; clients will refuse it"
        ),
        Ok((not_before, _)) if not_before > now => tracing::warn!(
            cert = %cert.display(),
            "the configured server certificate is not valid yet"
        ),
        _ => {}
    }
    Ok(k)
}

/// The local CA and the names its server certificates carry.
struct Local {
    dir: PathBuf,
    ca: keyhaven_crypto::CertifiedKey,
    ca_not_after: i64,
    dns: Vec<String>,
    ips: Vec<String>,
    leaf_days: u32,
}

impl Local {
    /// Loads the CA from `dir`, or makes one (on first start, or when the one there has expired).
    fn open(dir: &Path, names: &Names<'_>, leaf_days: u32, now: i64) -> Result<Local, ServerError> {
        crate::private_files::create_private_dir(dir)?;
        let (dns, ips) = server_names(names);
        let permitted = permitted_names(&dns, &ips);
        let ca_path = dir.join("ca.pem");
        let ca_key_path = dir.join("ca-key.pem");
        let existing = if ca_path.exists() && ca_key_path.exists() {
            crate::root_key::refuse_loose_permissions(&ca_key_path)?;
            let ca = keyhaven_crypto::CertifiedKey {
                cert_pem: std::fs::read(&ca_path)
                    .map_err(ServerError::io("reading the CA certificate"))?,
                key_pem: zeroize::Zeroizing::new(
                    std::fs::read(&ca_key_path).map_err(ServerError::io("reading the CA key"))?,
                ),
            };
            let (_, not_after) = keyhaven_crypto::certificate_validity(&ca.cert_pem)
                .map_err(|e| ServerError::Tls(format!("{}: {e}", ca_path.display())))?;
            if not_after <= now + 86_400 {
                // An expired CA is of no use to any client: keep its files for the record, make a new one.
                for p in [&ca_path, &ca_key_path] {
                    let old = p.with_extension(format!("pem.expired-{now}"));
                    std::fs::rename(p, &old)
                        .map_err(ServerError::io(format!("moving aside {}", p.display())))?;
                }
                tracing::error!(
                    "the local CA in {} has expired (or expires within a day); a new one was made: clients must \
                     trust the new {} (the old files were renamed *.expired-{now})",
                    ca_path.display(),
                    ca_path.display()
                );
                None
            } else {
                Some((ca, not_after))
            }
        } else {
            None
        };
        let (ca, ca_not_after) = match existing {
            Some((ca, not_after)) => {
                match keyhaven_crypto::name_constraints(&ca.cert_pem)? {
                    Some(_) => {}
                    None => tracing::warn!(
                        "the local CA in {path} has no name constraints: it can sign for any name, and every \
                         client that trusts it trusts that. It is kept so that those clients keep working. To \
                         replace it by a CA limited to this deployment's names, stop the server, move \
                         {path} and {key} away, start again and have clients trust the new {path} (or configure \
                         tls-cert and tls-key)",
                        path = ca_path.display(),
                        key = ca_key_path.display()
                    ),
                }
                if not_after - now < 90 * 86_400 {
                    tracing::warn!(
                        "the local CA in {} expires in {} days; server certificates cannot outlive it",
                        ca_path.display(),
                        (not_after - now) / 86_400
                    );
                }
                (ca, not_after)
            }
            None => {
                let ca = keyhaven_crypto::issue_ca("Keyhaven local CA", Some(&permitted), now)?;
                crate::private_files::write_private(&ca_key_path, &ca.key_pem)?;
                crate::private_files::write_atomic(&ca_path, &ca.cert_pem, 0o644)?;
                (ca, now + CA_DAYS * 86_400)
            }
        };
        Ok(Local {
            dir: dir.to_path_buf(),
            ca,
            ca_not_after,
            dns,
            ips,
            leaf_days,
        })
    }

    /// A new server certificate, checked against the CA as a client would (name constraints included), and when
    /// to renew it: with a third of its lifetime left.
    fn issue(
        &self,
        provider: &CryptoProvider,
        now: i64,
    ) -> Result<(CertifiedKey, i64), TlsProblem> {
        let not_after = (now + i64::from(self.leaf_days) * 86_400).min(self.ca_not_after);
        let leaf = keyhaven_crypto::issue_server_certificate(
            &self.ca, &self.dns, &self.ips, now, not_after,
        )
        .map_err(|e| TlsProblem(format!("issuing the server certificate: {e}")))?;
        if let Err(e) = keyhaven_crypto::verify_issued(&self.ca.cert_pem, &leaf.cert_pem, now) {
            let e = match e {
                keyhaven_crypto::CryptoError::Malformed(reason) => reason,
                e => e.to_string(),
            };
            let constraints = keyhaven_crypto::name_constraints(&self.ca.cert_pem)
                .ok()
                .flatten()
                .unwrap_or_default();
            return Err(TlsProblem(format!(
                "the local CA ({}) cannot vouch for this server's names [{}]: {e}. The CA is limited to the names \
                 it was made for ({constraints}); configure names within them, bring your own certificate \
                 (tls-cert, tls-key), or have a new CA made: stop the server, move ca.pem and ca-key.pem away, \
                 start again, and have clients trust the new ca.pem",
                self.dir.join("ca.pem").display(),
                self.dns
                    .iter()
                    .chain(&self.ips)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Err(e) =
            crate::private_files::write_atomic(&self.dir.join("server.pem"), &leaf.cert_pem, 0o644)
        {
            tracing::warn!("writing server.pem: {e}");
        }
        let mut chain_pem = leaf.cert_pem.clone();
        chain_pem.extend_from_slice(&self.ca.cert_pem);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsProblem(format!("server certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(&leaf.key_pem)
            .map_err(|e| TlsProblem(format!("server key: {e}")))?;
        let k = CertifiedKey::from_der(chain, key, provider)
            .map_err(|e| TlsProblem(format!("server certificate: {e}")))?;
        Ok((k, renew_at(now, not_after)))
    }
}

/// When a certificate issued at `now` and valid until `not_after` is renewed: with a third of its life left.
fn renew_at(now: i64, not_after: i64) -> i64 {
    not_after - (not_after - now).max(0) / 3
}

/// The server certificate's DNS names and IP addresses.
fn server_names(names: &Names<'_>) -> (Vec<String>, Vec<String>) {
    let suffix = names.dns_suffix;
    let mut dns = vec![
        "localhost".to_string(),
        suffix.to_string(),
        format!("*.{suffix}"),
    ];
    if suffix != "vault.localhost" {
        dns.extend([
            "vault.localhost".to_string(),
            "*.vault.localhost".to_string(),
        ]);
    }
    let mut ips = vec!["127.0.0.1".to_string(), "::1".to_string()];
    for n in std::iter::once(names.public_host).chain(names.extra.iter().map(String::as_str)) {
        let n = n.trim();
        if n.is_empty() {
            continue;
        }
        if let Ok(ip) = n
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let ip = ip.to_string();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        } else {
            let d = n.to_ascii_lowercase();
            if !dns.contains(&d) {
                dns.push(d);
            }
        }
    }
    (dns, ips)
}

/// The local CA's permitted subtrees: the server's DNS names (each with the names under it), loopback, and the
/// configured addresses.
fn permitted_names(dns: &[String], ips: &[String]) -> PermittedNames {
    let mut p = PermittedNames::default();
    for d in dns {
        let d = d.trim_start_matches("*.").to_string();
        if !p.dns.contains(&d) {
            p.dns.push(d);
        }
    }
    p.ip_ranges.push((IpAddr::from([127, 0, 0, 0]), 8));
    p.ip_ranges
        .push((IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128));
    for ip in ips {
        if let Ok(a) = ip.parse::<IpAddr>() {
            if a.is_loopback() {
                continue;
            }
            let bits = if a.is_ipv4() { 32 } else { 128 };
            p.ip_ranges.push((a, bits));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renewal_comes_with_a_third_of_the_lifetime_left() {
        let day = 86_400;
        assert_eq!(renew_at(0, 30 * day), 20 * day);
        assert_eq!(renew_at(100, 100), 100);
    }

    #[test]
    fn names_and_constraints_cover_the_configuration() {
        let extra = vec![
            "kv.example.com".to_string(),
            "192.0.2.7".to_string(),
            "*.apps.example.com".to_string(),
        ];
        let (dns, ips) = server_names(&Names {
            dns_suffix: "kv.example.com",
            public_host: "login.example.com",
            extra: &extra,
        });
        assert_eq!(
            dns,
            [
                "localhost",
                "kv.example.com",
                "*.kv.example.com",
                "vault.localhost",
                "*.vault.localhost",
                "login.example.com",
                "*.apps.example.com"
            ]
        );
        assert_eq!(ips, ["127.0.0.1", "::1", "192.0.2.7"]);
        let p = permitted_names(&dns, &ips);
        assert_eq!(
            p.dns,
            [
                "localhost",
                "kv.example.com",
                "vault.localhost",
                "login.example.com",
                "apps.example.com"
            ]
        );
        assert_eq!(
            p.ip_ranges,
            [
                ("127.0.0.0".parse().unwrap(), 8),
                ("::1".parse().unwrap(), 128),
                ("192.0.2.7".parse().unwrap(), 32)
            ]
        );
    }
}
