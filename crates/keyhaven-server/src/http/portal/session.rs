//! Portal sessions: a signed-in principal is remembered under a random token that only its browser holds (an
//! `HttpOnly; Secure; SameSite=Strict` cookie); the server keeps a digest of the token, never the token or the
//! client secret. A session ends at Sign out, after [`IDLE_TIMEOUT`] without a request, or [`MAX_AGE`] after
//! sign-in, whichever comes first. Every session has its own CSRF token for its forms.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyhaven_core::Authenticated;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie (`__Host-`: Secure, no Domain, Path `/`, so no other host or path can set it).
pub(crate) const COOKIE: &str = "__Host-keyhaven-portal";
/// The cookie holding the sign-in form's CSRF token before there is a session.
pub(crate) const SIGNIN_COOKIE: &str = "__Host-keyhaven-signin";
/// A session unused for this long is over.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// No session lasts longer than this.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the least recently used one makes room).
const MAX_SESSIONS: usize = 10_000;

/// What a live session knows.
#[derive(Clone)]
pub(crate) struct SessionInfo {
    pub client_id: String,
    pub object_id: String,
    pub secret_id: String,
    pub csrf: String,
}

struct Entry {
    info: SessionInfo,
    started: Instant,
    last_seen: Instant,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) < IDLE_TIMEOUT
            && now.saturating_duration_since(self.started) < MAX_AGE
    }
}

/// The live sessions of this server.
#[derive(Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<[u8; 32], Entry>>,
}

/// A fresh random token: 32 bytes, base64url.
pub(crate) fn random_token() -> Result<String, keyhaven_crypto::CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(keyhaven_crypto::random_bytes::<32>()?))
}

fn digest(token: &str) -> [u8; 32] {
    keyhaven_crypto::sha256(token.as_bytes())
}

impl Sessions {
    /// Starts a session for a client that has just proved its secret; returns the cookie's token.
    pub fn create(
        &self,
        who: &Authenticated,
        now: Instant,
    ) -> Result<(String, SessionInfo), keyhaven_crypto::CryptoError> {
        let token = random_token()?;
        let info = SessionInfo {
            client_id: who.client_id.clone(),
            object_id: who.object_id.clone(),
            secret_id: who.secret_id.clone(),
            csrf: random_token()?,
        };
        if let Ok(mut t) = self.table.lock() {
            t.retain(|_, e| e.live(now));
            if t.len() >= MAX_SESSIONS {
                if let Some(oldest) = t.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k) {
                    t.remove(&oldest);
                }
            }
            t.insert(
                digest(&token),
                Entry {
                    info: info.clone(),
                    started: now,
                    last_seen: now,
                },
            );
        }
        Ok((token, info))
    }

    /// The session of `token` if it is live (and marks it used at `now`); an expired one is removed.
    pub fn touch(&self, token: &str, now: Instant) -> Option<SessionInfo> {
        let mut t = self.table.lock().ok()?;
        let key = digest(token);
        let live = t.get(&key).map(|e| e.live(now))?;
        if !live {
            t.remove(&key);
            return None;
        }
        let e = t.get_mut(&key)?;
        e.last_seen = now;
        Some(e.info.clone())
    }

    /// Ends the session of `token` (Sign out).
    pub fn end(&self, token: &str) {
        if let Ok(mut t) = self.table.lock() {
            t.remove(&digest(token));
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for `name`: `HttpOnly; Secure; SameSite=Strict`, for the whole host; `max_age` of zero
/// removes it, none makes a cookie that ends with the browser session.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Authenticated {
        Authenticated {
            client_id: "c".into(),
            object_id: "o".into(),
            secret_id: "s".into(),
        }
    }

    #[test]
    fn a_session_lives_while_used_and_ends_when_idle() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let (token, info) = s.create(&client(), t0).unwrap();
        assert_eq!(info.client_id, "c");
        let later = t0 + IDLE_TIMEOUT - Duration::from_secs(1);
        assert!(
            s.touch(&token, later).is_some(),
            "used within the idle timeout"
        );
        let idle = later + IDLE_TIMEOUT;
        assert!(
            s.touch(&token, idle).is_none(),
            "idle for the whole timeout"
        );
        assert!(
            s.touch(&token, later).is_none(),
            "an ended session stays ended"
        );
    }

    #[test]
    fn a_session_ends_at_its_maximum_age_however_busy() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let (token, _) = s.create(&client(), t0).unwrap();
        let mut now = t0;
        while now < t0 + MAX_AGE - IDLE_TIMEOUT {
            now += IDLE_TIMEOUT / 2;
            assert!(s.touch(&token, now).is_some());
        }
        assert!(s.touch(&token, t0 + MAX_AGE).is_none());
    }

    #[test]
    fn sign_out_ends_only_that_session() {
        let s = Sessions::default();
        let now = Instant::now();
        let (a, ia) = s.create(&client(), now).unwrap();
        let (b, ib) = s.create(&client(), now).unwrap();
        assert_ne!(a, b);
        assert_ne!(ia.csrf, ib.csrf);
        s.end(&a);
        assert!(s.touch(&a, now).is_none());
        assert!(s.touch(&b, now).is_some());
        assert!(s.touch("not-a-token", now).is_none());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=1; __Host-keyhaven-portal=tok".parse().unwrap(),
        );
        h.append(
            http::header::COOKIE,
            "x__Host-keyhaven-signin=no".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Some("tok"));
        assert_eq!(cookie(&h, SIGNIN_COOKIE), None);
        let c = set_cookie(COOKIE, "v", None);
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict"));
    }
}
