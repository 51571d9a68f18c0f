//! Client secrets recently verified, so that a client asking again within a minute gets its token without another
//! argon2 run. Entries are keyed by an HMAC of the client id and secret under a key made at start (the secret is
//! never stored), and hold who was verified. An entry is only a hint: the caller checks that the principal and the
//! secret are still live before using it, so a removed secret or deleted principal stops working at once.

use keyhaven_core::Authenticated;
use keyhaven_crypto::MacKey;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Verified credentials kept at most (only valid credentials get in; when full, ended entries go, then all).
const CAPACITY: usize = 16_384;

pub(crate) struct Verified {
    ttl: Duration,
    key: MacKey,
    entries: Mutex<HashMap<[u8; 32], (Authenticated, Instant)>>,
}

impl Verified {
    /// `ttl` zero: nothing is remembered.
    pub fn new(ttl: Duration, key: MacKey) -> Self {
        Verified {
            ttl,
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The entry's key: HMAC(client id ‖ secret), lengths prefixed.
    pub fn key_of(&self, client_id: &str, secret: &str) -> [u8; 32] {
        self.key.tag(&[
            &(client_id.len() as u64).to_be_bytes(),
            client_id.as_bytes(),
            secret.as_bytes(),
        ])
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<Authenticated> {
        if !self.enabled() {
            return None;
        }
        let mut m = self.entries.lock().ok()?;
        match m.get(key) {
            Some((who, at)) if at.elapsed() < self.ttl => Some(who.clone()),
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: [u8; 32], who: Authenticated) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= CAPACITY {
                let ttl = self.ttl;
                m.retain(|_, (_, at)| at.elapsed() < ttl);
                if m.len() >= CAPACITY {
                    m.clear();
                }
            }
            m.insert(key, (who, Instant::now()));
        }
    }

    pub fn remove(&self, key: &[u8; 32]) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Authenticated {
        Authenticated {
            client_id: "c".into(),
            object_id: "o".into(),
            secret_id: "s".into(),
        }
    }

    #[test]
    fn keyed_by_client_and_secret_and_expiring() {
        let v = Verified::new(Duration::from_millis(50), MacKey::new(b"k"));
        let k = v.key_of("c", "s3cret");
        assert_ne!(k, v.key_of("c", "s3cres"));
        assert_ne!(k, v.key_of("cs", "3cret"), "lengths are bound");
        assert_ne!(
            k,
            Verified::new(Duration::from_secs(1), MacKey::new(b"other")).key_of("c", "s3cret"),
            "another key, other entries"
        );
        v.insert(k, who());
        assert_eq!(v.get(&k), Some(who()));
        assert_eq!(v.get(&v.key_of("c", "wrong")), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(v.get(&k), None, "expired");
        v.insert(k, who());
        v.remove(&k);
        assert_eq!(v.get(&k), None);
        let off = Verified::new(Duration::ZERO, MacKey::new(b"k"));
        off.insert(k, who());
        assert_eq!(off.get(&k), None);
    }
}
