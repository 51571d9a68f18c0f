//! The token endpoint's protections. Every token request would otherwise run argon2id (19 MiB, tens of
//! milliseconds) on the blocking pool, unbounded:
//!
//! - **Failures** ([`failures`]): failed attempts are counted per (client id, source address) and per source address
//!   in fixed windows; past a limit the pair, or the whole source, is answered 429 with `Retry-After` until its
//!   window ends, without any secret being checked. The real client is locked out only by failures from its own
//!   address: counting per client id alone would let anyone lock any client out.
//! - **Verified credentials** ([`verified`]): a credential verified within the last minute (by default) is answered
//!   without another argon2 run, once the principal and the secret are found still live.
//! - **Concurrency**: at most a few secret checks (by default one per core) run at once; a request that cannot
//!   start one within a short wait is answered 503 with `Retry-After`.

mod failures;
mod verified;

pub(crate) use failures::{Lockout, Source};

use failures::Subject;
use keyhaven_core::{Authenticated, Keyhaven};
use keyhaven_crypto::MacKey;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Entries each failure table keeps at most (about 5 MiB each when full).
const FAILURE_TABLE_CAPACITY: usize = 65_536;

/// The knobs (see `Config`).
#[derive(Debug, Clone)]
pub(crate) struct TokenLimitSettings {
    /// Failed requests per client id and source address in a window (0: no limit).
    pub failure_limit: u32,
    /// Failed requests per source address in a window, whatever the client ids (0: no limit).
    pub source_failure_limit: u32,
    pub failure_window: Duration,
    /// Secret checks running at once (at least 1).
    pub verify_concurrency: usize,
    /// How long a request waits to start a secret check before it is answered 503.
    pub verify_wait: Duration,
    /// How long a verified credential is remembered (zero: not at all).
    pub cache_ttl: Duration,
}

/// What the endpoint did, since the start (shown by `/healthz` to management callers).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenStats {
    /// Client secrets checked with argon2id.
    pub secret_verifications: u64,
    /// Requests answered from a remembered verification.
    pub cached_verifications: u64,
    /// Requests whose credentials were wrong.
    pub failures: u64,
    /// Requests refused (429) because of earlier failures.
    pub locked_out: u64,
    /// Requests refused (503) because too many secret checks were running.
    pub busy: u64,
}

#[derive(Default)]
struct Counters {
    secret_verifications: AtomicU64,
    cached_verifications: AtomicU64,
    failures: AtomicU64,
    locked_out: AtomicU64,
    busy: AtomicU64,
}

/// Why a token request gets no token.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Locked out by earlier failures (429).
    Locked(Lockout),
    /// Too many secret checks running (503).
    Busy { retry_after_secs: u64 },
    /// The client id or secret is wrong, or the secret has expired (401).
    Invalid,
    /// The check could not be made (500).
    Failed(String),
}

struct Ledger {
    failures: failures::Failures,
    verified: verified::Verified,
    counters: Counters,
}

/// A request's credentials as the protections know them.
struct Attempt {
    subject: Subject,
    cache_key: [u8; 32],
}

/// The token endpoint's protections (one per server).
pub(crate) struct TokenLimits {
    ledger: Arc<Ledger>,
    checks: Arc<Semaphore>,
    wait: Duration,
}

fn fresh_key() -> Result<MacKey, keyhaven_crypto::CryptoError> {
    Ok(MacKey::new(&keyhaven_crypto::random_bytes::<32>()?))
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl TokenLimits {
    pub fn new(s: &TokenLimitSettings) -> Result<Self, keyhaven_crypto::CryptoError> {
        Ok(TokenLimits {
            ledger: Arc::new(Ledger {
                failures: failures::Failures::new(
                    s.failure_limit,
                    s.source_failure_limit,
                    s.failure_window,
                    FAILURE_TABLE_CAPACITY,
                    fresh_key()?,
                ),
                verified: verified::Verified::new(s.cache_ttl, fresh_key()?),
                counters: Counters::default(),
            }),
            checks: Arc::new(Semaphore::new(s.verify_concurrency.max(1))),
            wait: s.verify_wait,
        })
    }

    /// Says whose credentials these are, through the protections: a locked-out pair or source is refused first; a
    /// credential verified lately and still live is accepted without argon2; otherwise the secret is checked when a
    /// turn comes. The check and its accounting finish even if the client goes away meanwhile.
    pub async fn authenticate(
        &self,
        kh: &Arc<Keyhaven>,
        client_id: String,
        secret: Zeroizing<String>,
        source: Source,
    ) -> Result<Authenticated, Refused> {
        let sh = &self.ledger;
        let attempt = Attempt {
            subject: sh.failures.subject(&client_id, source),
            cache_key: sh.verified.key_of(&client_id, &secret),
        };
        sh.admit(&attempt)?;
        if let Some(who) = sh.live(kh, &attempt) {
            return Ok(who);
        }
        let permit =
            match tokio::time::timeout(self.wait, self.checks.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    count(&sh.counters.busy);
                    return Err(Refused::Busy {
                        retry_after_secs: 1,
                    });
                }
            };
        // While this request waited, the same credentials may have been verified, or failures locked it out.
        if let Some(who) = sh.live(kh, &attempt) {
            return Ok(who);
        }
        sh.admit(&attempt)?;
        let (kh, sh) = (kh.clone(), sh.clone());
        tokio::task::spawn_blocking(move || {
            let _turn = permit;
            count(&sh.counters.secret_verifications);
            match kh.authenticate_client(&client_id, &secret) {
                Ok(who) => {
                    sh.failures.succeeded(&attempt.subject);
                    sh.verified.insert(attempt.cache_key, who.clone());
                    Ok(who)
                }
                Err(keyhaven_core::Error::Unauthorized(_)) => {
                    count(&sh.counters.failures);
                    sh.failures.failed(&attempt.subject);
                    Err(Refused::Invalid)
                }
                Err(e) => Err(Refused::Failed(e.to_string())),
            }
        })
        .await
        .unwrap_or_else(|e| Err(Refused::Failed(e.to_string())))
    }

    pub fn stats(&self) -> TokenStats {
        let c = &self.ledger.counters;
        TokenStats {
            secret_verifications: c.secret_verifications.load(Ordering::Relaxed),
            cached_verifications: c.cached_verifications.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            locked_out: c.locked_out.load(Ordering::Relaxed),
            busy: c.busy.load(Ordering::Relaxed),
        }
    }
}

impl Ledger {
    /// Refuses a request from a locked-out pair or source.
    fn admit(&self, a: &Attempt) -> Result<(), Refused> {
        self.failures.check(&a.subject).map_err(|l| {
            count(&self.counters.locked_out);
            Refused::Locked(l)
        })
    }

    /// The principal of a lately verified credential, if the principal and the secret are still live (checked as
    /// every request's token is: a removed secret or deleted principal stops working at once on this node).
    fn live(&self, kh: &Keyhaven, a: &Attempt) -> Option<Authenticated> {
        let who = self.verified.get(&a.cache_key)?;
        if kh.caller(&who.object_id, &who.secret_id).is_err() {
            self.verified.remove(&a.cache_key);
            return None;
        }
        count(&self.counters.cached_verifications);
        Some(who)
    }
}
