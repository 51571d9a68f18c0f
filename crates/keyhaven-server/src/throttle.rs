//! Per-vault request throttling, as Azure Key Vault does it: at most `limit` data-plane requests per vault in
//! each window; past that, `429 Too Many Requests` with `Retry-After` (seconds until the window ends).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct Throttle {
    limit: u32,
    window: Duration,
    vaults: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Throttle {
    /// `limit` 0 turns throttling off.
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            vaults: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request; `Err(retry_after_secs)` when the vault is over its limit.
    pub fn admit(&self, vault: &str) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut m) = self.vaults.lock() else {
            return Ok(());
        };
        let entry = m.entry(vault.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_vault_and_window() {
        let t = Throttle::new(2, Duration::from_millis(200));
        assert!(t.admit("a").is_ok());
        assert!(t.admit("a").is_ok());
        assert!(t.admit("a").is_err());
        assert!(t.admit("b").is_ok(), "vaults are counted separately");
        std::thread::sleep(Duration::from_millis(220));
        assert!(t.admit("a").is_ok(), "a new window");
        assert!(Throttle::new(0, Duration::from_secs(1)).admit("a").is_ok());
    }
}
