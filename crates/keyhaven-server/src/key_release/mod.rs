//! The attestation authorities secure key release trusts (`[[key-release-authority]]`): each an issuer and its
//! JWKS, from a file or a URL. A release's token is checked here (issuer, signature, lifetime) and the domain
//! then checks it against the key's policy ([`keyhaven_core::AttestationVerifier`]).
//!
//! Keys are cached per authority. A token signed with a key the cache does not hold makes the authority's JWKS be
//! read again (the file re-read, the URL fetched), at most once per [`REFRESH_AFTER`], so a rotated authority key
//! is picked up and an unknown `kid` cannot make the server fetch in a loop.

mod key_set;

use crate::ServerError;
use key_set::{KeySet, MAX_JWKS_BYTES};
use keyhaven_core::{same_authority, AttestationError, AttestationVerifier, VerifiedAttestation};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How soon an authority's keys may be read again for an unknown `kid`.
const REFRESH_AFTER: Duration = Duration::from_secs(10);
/// Clock skew allowed on a token's `exp` and `nbf`.
const LEEWAY_SECS: i64 = 60;

/// One `[[key-release-authority]]` of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyReleaseAuthority {
    /// The authority's issuer, as its tokens' `iss` and release policies' `authority` name it (a URL).
    pub issuer: String,
    /// A file holding its JWKS.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The URL of its JWKS (HTTPS; plain HTTP only to a loopback address).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Extra CA certificates (PEM) to trust for `jwks-url`, besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl KeyReleaseAuthority {
    /// Checks one entry; the error names it.
    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        let err =
            |m: &str| ServerError::Config(format!("key-release-authority '{}': {m}", self.issuer));
        let url = Url::parse(self.issuer.trim()).map_err(|_| {
            err("issuer must be the authority's URL, as its tokens' iss claim gives it")
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(err("issuer must be an http(s) URL"));
        }
        match (&self.jwks_file, &self.jwks_url) {
            (Some(_), None) => {}
            (None, Some(u)) => {
                let u = Url::parse(u.trim()).map_err(|_| err("jwks-url is not a URL"))?;
                match u.scheme() {
                    "https" => {}
                    "http" if crate::outbound::is_loopback(&u) => {}
                    _ => {
                        return Err(err(
                            "jwks-url must be https (plain http only to a loopback address)",
                        ))
                    }
                }
            }
            _ => return Err(err("give exactly one of jwks-file and jwks-url")),
        }
        if self.ca_file.is_some() && self.jwks_url.is_none() {
            return Err(err("ca-file applies only with jwks-url"));
        }
        Ok(())
    }
}

enum Source {
    File(PathBuf),
    Url(Url, reqwest::Client),
}

struct Cached {
    keys: KeySet,
    /// When the keys were last read (or a read was attempted).
    read_at: Option<Instant>,
    /// Why the last read failed, if it did.
    error: Option<String>,
}

struct Authority {
    issuer: String,
    source: Source,
    cache: RwLock<Cached>,
    /// Held while the keys are being read again, so that concurrent requests wait for one read, not start many.
    refreshing: tokio::sync::Mutex<()>,
}

/// The configured attestation authorities and their cached keys.
pub(crate) struct Authorities {
    list: Vec<Authority>,
}

impl Authorities {
    /// The authorities of the configuration; a JWKS file is read now (a bad one stops start-up), a URL at first
    /// use.
    pub(crate) fn new(config: &[KeyReleaseAuthority]) -> Result<Authorities, ServerError> {
        let mut list = Vec::new();
        for a in config {
            a.validate()?;
            let (source, cached) = match (&a.jwks_file, &a.jwks_url) {
                (Some(path), _) => {
                    let keys = read_file(path).map_err(|e| {
                        ServerError::Config(format!("key-release-authority '{}': {e}", a.issuer))
                    })?;
                    let cached = Cached {
                        keys,
                        read_at: Some(Instant::now()),
                        error: None,
                    };
                    (Source::File(path.clone()), cached)
                }
                (None, Some(url)) => {
                    let url = Url::parse(url.trim())
                        .map_err(|_| ServerError::Config("jwks-url is not a URL".into()))?;
                    let b = reqwest::Client::builder()
                        .connect_timeout(Duration::from_secs(10))
                        .timeout(Duration::from_secs(20))
                        .redirect(reqwest::redirect::Policy::none());
                    let client = crate::outbound::trusting(b, a.ca_file.as_deref(), "ca-file")?
                        .build()
                        .map_err(|e| ServerError::Config(format!("the JWKS client: {e}")))?;
                    let cached = Cached {
                        keys: KeySet::default(),
                        read_at: None,
                        error: None,
                    };
                    (Source::Url(url, client), cached)
                }
                (None, None) => continue,
            };
            if list
                .iter()
                .any(|x: &Authority| same_authority(&x.issuer, &a.issuer))
            {
                return Err(ServerError::Config(format!(
                    "key-release-authority '{}' is configured twice",
                    a.issuer
                )));
            }
            list.push(Authority {
                issuer: a.issuer.trim().to_string(),
                source,
                cache: RwLock::new(cached),
                refreshing: tokio::sync::Mutex::new(()),
            });
        }
        Ok(Authorities { list })
    }

    fn authority(&self, issuer: &str) -> Option<&Authority> {
        self.list.iter().find(|a| same_authority(&a.issuer, issuer))
    }

    /// Makes sure the keys a token needs are cached, reading its authority's JWKS again when its `kid` is not
    /// known (at most once per [`REFRESH_AFTER`]). Nothing is decided here: [`AttestationVerifier::verify`] does.
    pub(crate) async fn prepare(&self, token: &str) {
        let (Ok(header), Ok(claims)) = (
            keyhaven_crypto::release::jws_header(token),
            keyhaven_crypto::release::jws_unverified_claims(token),
        ) else {
            return;
        };
        let Some(a) = claims["iss"].as_str().and_then(|i| self.authority(i)) else {
            return;
        };
        let kid = header["kid"].as_str();
        let needed = || {
            a.cache.read().is_ok_and(|c| {
                let recent = c.read_at.is_some_and(|t| t.elapsed() < REFRESH_AFTER);
                !c.keys.knows(kid) && !recent
            })
        };
        if !needed() {
            return;
        }
        let _one_read = a.refreshing.lock().await;
        // Another request may have read the keys while this one waited.
        if !needed() {
            return;
        }
        let result = match &a.source {
            Source::File(path) => read_file(path),
            Source::Url(url, client) => fetch(client, url).await,
        };
        if let Ok(mut c) = a.cache.write() {
            c.read_at = Some(Instant::now());
            match result {
                Ok(keys) => {
                    c.keys = keys;
                    c.error = None;
                }
                Err(e) => {
                    tracing::warn!(issuer = %a.issuer, error = %e, "reading an attestation authority's keys failed");
                    c.error = Some(e);
                }
            }
        }
    }
}

fn read_file(path: &std::path::Path) -> Result<KeySet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    KeySet::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

async fn fetch(client: &reqwest::Client, url: &Url) -> Result<KeySet, String> {
    let shown = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    );
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("fetching {shown}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("fetching {shown}: status {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("fetching {shown}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("{shown}: the JWKS is over {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    KeySet::parse(&body).map_err(|e| format!("{shown}: {e}"))
}

impl AttestationVerifier for Authorities {
    fn verify(&self, token: &str, now: i64) -> Result<VerifiedAttestation, AttestationError> {
        let malformed =
            |e: keyhaven_crypto::CryptoError| AttestationError::Malformed(e.to_string());
        let header = keyhaven_crypto::release::jws_header(token).map_err(malformed)?;
        let unverified =
            keyhaven_crypto::release::jws_unverified_claims(token).map_err(malformed)?;
        let issuer = unverified["iss"]
            .as_str()
            .ok_or_else(|| AttestationError::Malformed("it has no 'iss' claim".into()))?;
        let shown_issuer: String = issuer.chars().take(200).collect();
        let a = self
            .authority(issuer)
            .ok_or(AttestationError::UntrustedIssuer(shown_issuer))?;
        let kid = header["kid"].as_str();
        let cache = a
            .cache
            .read()
            .map_err(|_| AttestationError::KeysUnavailable("the key cache is unusable".into()))?;
        if cache.keys.keys.is_empty() {
            return Err(AttestationError::KeysUnavailable(
                cache.error.clone().unwrap_or_else(|| "not read yet".into()),
            ));
        }
        if !cache.keys.knows(kid) {
            return Err(AttestationError::UnknownKey(
                kid.unwrap_or_default().chars().take(100).collect(),
            ));
        }
        let mut claims = None;
        for key in cache.keys.candidates(kid) {
            match keyhaven_crypto::release::verify_jws(token, key) {
                Ok(c) => {
                    claims = Some(c);
                    break;
                }
                Err(keyhaven_crypto::CryptoError::Malformed(m)) if kid.is_some() => {
                    return Err(AttestationError::Malformed(m))
                }
                Err(_) => {}
            }
        }
        let claims = claims.ok_or(AttestationError::BadSignature)?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| AttestationError::Malformed("it has no numeric 'exp' claim".into()))?;
        if exp + LEEWAY_SECS <= now {
            return Err(AttestationError::Expired);
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
            if nbf - LEEWAY_SECS > now {
                return Err(AttestationError::NotYetValid);
            }
        }
        Ok(VerifiedAttestation {
            issuer: a.issuer.clone(),
            claims,
        })
    }
}
