//! Per-vault request throttling by cost class, as Azure Key Vault does it: in each window (10 s, as Azure) a vault
//! takes at most `limit` data-plane requests of every kind together, and within those at most a smaller budget of
//! each expensive kind — secret set, key import and certificate import together; key creation; hardware-protected
//! key creation. Past either, `429 Too Many Requests` with `Retry-After` (seconds until the window ends); a refused
//! request counts toward nothing, as in Azure.
//!
//! The defaults are Azure's published service limits per vault per 10 s: 4,000 transactions; 300 secret sets, key
//! imports and certificate imports together; 20 software-key creations (every type and size); 10 HSM-key
//! creations. Azure weighs RSA-3072 and RSA-4096 keys only in the *use* of a key (1,000 and 500 operations per
//! 10 s, against 4,000 for RSA-2048); their creation shares the 20 of every other key.
//!
//! Which class a request is in is decided in one place, [`cost_class`].

use axum::http::Method;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The budgets of the expensive classes, per vault per window; 0 leaves a class to the overall limit alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleBudgets {
    /// Secret set, key import and certificate import, together (Azure: 300).
    pub create_import: u32,
    /// Key creation and rotation, and certificate creation, with software-protected keys (Azure: 20).
    pub key_create: u32,
    /// The same with keys asked to be hardware-protected (`RSA-HSM`, `EC-HSM`, `oct-HSM`) (Azure: 10).
    pub hsm_key_create: u32,
}

impl Default for ThrottleBudgets {
    fn default() -> Self {
        ThrottleBudgets {
            create_import: 300,
            key_create: 20,
            hsm_key_create: 10,
        }
    }
}

/// What a data-plane request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CostClass {
    /// Everything else (reads, updates, deletes, cryptographic operations, backups): the overall limit only.
    Standard,
    /// Secret set, key import, certificate import.
    CreateImport,
    /// New key material: key create and rotate, certificate create.
    KeyCreate,
    /// New key material asked to be hardware-protected.
    HsmKeyCreate,
}

impl CostClass {
    const ALL: [CostClass; 4] = [
        CostClass::Standard,
        CostClass::CreateImport,
        CostClass::KeyCreate,
        CostClass::HsmKeyCreate,
    ];

    fn index(self) -> usize {
        match self {
            CostClass::Standard => 0,
            CostClass::CreateImport => 1,
            CostClass::KeyCreate => 2,
            CostClass::HsmKeyCreate => 3,
        }
    }
}

/// The class of a data-plane request, from its method, its path segments (empty ones dropped) and its body.
/// The body is looked at only for key and certificate creation (the key type: `-HSM` or not); one that does not
/// parse counts as a software key (the handler refuses it anyway).
pub(crate) fn cost_class(method: &Method, segs: &[&str], body: &[u8]) -> CostClass {
    match (method, segs) {
        (&Method::PUT, ["secrets", _]) => CostClass::CreateImport,
        (&Method::PUT, ["keys", _]) => CostClass::CreateImport,
        (&Method::POST, ["certificates", _, "import"]) => CostClass::CreateImport,
        (&Method::POST, ["keys", _, "create"]) => key_creation(asks_for_hsm_key(body, false)),
        (&Method::POST, ["keys", _, "rotate"]) => CostClass::KeyCreate,
        (&Method::POST, ["certificates", n, "create"]) if !matches!(*n, "issuers" | "contacts") => {
            key_creation(asks_for_hsm_key(body, true))
        }
        _ => CostClass::Standard,
    }
}

fn key_creation(hsm: bool) -> CostClass {
    if hsm {
        CostClass::HsmKeyCreate
    } else {
        CostClass::KeyCreate
    }
}

/// Whether a key-create body (`{"kty": …}`) or certificate-create body (`{"policy": {"key_props": {"kty": …}}}`)
/// asks for an `-HSM` key type.
fn asks_for_hsm_key(body: &[u8], certificate: bool) -> bool {
    #[derive(Deserialize)]
    struct Key {
        kty: Option<String>,
    }
    #[derive(Deserialize)]
    struct Policy {
        key_props: Option<Key>,
    }
    #[derive(Deserialize)]
    struct Certificate {
        policy: Option<Policy>,
    }
    let kty = if certificate {
        serde_json::from_slice::<Certificate>(body)
            .ok()
            .and_then(|c| c.policy?.key_props?.kty)
    } else {
        serde_json::from_slice::<Key>(body).ok().and_then(|k| k.kty)
    };
    kty.is_some_and(|t| t.to_ascii_uppercase().ends_with("-HSM"))
}

/// A vault's counts in its current window.
struct Window {
    start: Instant,
    counts: [u32; CostClass::ALL.len()],
}

/// Past this many vaults counted, windows that have ended are forgotten.
const FORGET_AFTER_VAULTS: usize = 4096;

pub(crate) struct Throttle {
    limit: u32,
    window: Duration,
    budgets: ThrottleBudgets,
    vaults: Mutex<HashMap<String, Window>>,
}

impl Throttle {
    /// `limit` 0 turns throttling off altogether (every class).
    pub fn new(limit: u32, window: Duration, budgets: ThrottleBudgets) -> Self {
        Throttle {
            limit,
            window,
            budgets,
            vaults: Mutex::new(HashMap::new()),
        }
    }

    fn budget(&self, class: CostClass) -> u32 {
        match class {
            CostClass::Standard => self.limit,
            CostClass::CreateImport => self.budgets.create_import,
            CostClass::KeyCreate => self.budgets.key_create,
            CostClass::HsmKeyCreate => self.budgets.hsm_key_create,
        }
    }

    /// Counts a request of `class`; `Err(retry_after_secs)` when the vault is over its overall limit or over the
    /// class's budget (and then nothing is counted).
    pub fn admit(&self, vault: &str, class: CostClass) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut m) = self.vaults.lock() else {
            return Ok(());
        };
        if m.len() >= FORGET_AFTER_VAULTS {
            let window = self.window;
            m.retain(|_, w| now.duration_since(w.start) < window);
        }
        let w = m.entry(vault.to_string()).or_insert(Window {
            start: now,
            counts: [0; CostClass::ALL.len()],
        });
        if now.duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                counts: [0; CostClass::ALL.len()],
            };
        }
        let over = |c: CostClass| {
            let budget = self.budget(c);
            budget > 0 && w.counts[c.index()] >= budget
        };
        if over(CostClass::Standard) || (class != CostClass::Standard && over(class)) {
            let left = self.window.saturating_sub(now.duration_since(w.start));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        w.counts[CostClass::Standard.index()] += 1;
        if class != CostClass::Standard {
            w.counts[class.index()] += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(limit: u32, ms: u64, budgets: ThrottleBudgets) -> Throttle {
        Throttle::new(limit, Duration::from_millis(ms), budgets)
    }

    #[test]
    fn limits_per_vault_and_window() {
        let t = throttle(2, 200, ThrottleBudgets::default());
        let s = CostClass::Standard;
        assert!(t.admit("a", s).is_ok());
        assert!(t.admit("a", s).is_ok());
        assert!(t.admit("a", s).is_err());
        assert!(t.admit("b", s).is_ok(), "vaults are counted separately");
        std::thread::sleep(Duration::from_millis(220));
        assert!(t.admit("a", s).is_ok(), "a new window");
        let off = throttle(0, 1000, ThrottleBudgets::default());
        for _ in 0..1000 {
            assert!(off.admit("a", CostClass::HsmKeyCreate).is_ok());
        }
    }

    #[test]
    fn a_class_has_its_own_budget_inside_the_overall_one() {
        let budgets = ThrottleBudgets {
            create_import: 3,
            key_create: 2,
            hsm_key_create: 0,
        };
        let t = throttle(10, 60_000, budgets);
        for _ in 0..3 {
            t.admit("v", CostClass::CreateImport).unwrap();
        }
        let retry = t.admit("v", CostClass::CreateImport).unwrap_err();
        assert!((1..=60).contains(&retry), "{retry}");
        // Other classes go on; a refused request counted nowhere.
        t.admit("v", CostClass::Standard).unwrap();
        t.admit("v", CostClass::KeyCreate).unwrap();
        t.admit("v", CostClass::KeyCreate).unwrap();
        assert!(t.admit("v", CostClass::KeyCreate).is_err());
        // 3 + 1 + 2 counted overall; a class without a budget is held by the overall limit only.
        for _ in 0..4 {
            t.admit("v", CostClass::HsmKeyCreate).unwrap();
        }
        assert!(t.admit("v", CostClass::Standard).is_err());
        assert!(t.admit("v", CostClass::HsmKeyCreate).is_err());
    }

    #[test]
    fn classes_by_operation() {
        let c = |m: Method, path: &str, body: &str| {
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            cost_class(&m, &segs, body.as_bytes())
        };
        assert_eq!(c(Method::GET, "/secrets/a", ""), CostClass::Standard);
        assert_eq!(c(Method::PUT, "/secrets/a", "{}"), CostClass::CreateImport);
        assert_eq!(c(Method::PATCH, "/secrets/a", "{}"), CostClass::Standard);
        assert_eq!(c(Method::PUT, "/keys/a", "{}"), CostClass::CreateImport);
        assert_eq!(
            c(Method::POST, "/certificates/a/import", "{}"),
            CostClass::CreateImport
        );
        assert_eq!(
            c(
                Method::POST,
                "/keys/a/create",
                r#"{"kty":"RSA","key_size":4096}"#
            ),
            CostClass::KeyCreate
        );
        assert_eq!(
            c(Method::POST, "/keys/a/create", r#"{"kty":"EC-HSM"}"#),
            CostClass::HsmKeyCreate
        );
        assert_eq!(
            c(Method::POST, "/keys/a/create", "nonsense"),
            CostClass::KeyCreate
        );
        assert_eq!(c(Method::POST, "/keys/a/rotate", ""), CostClass::KeyCreate);
        assert_eq!(
            c(
                Method::POST,
                "/certificates/a/create",
                r#"{"policy":{"key_props":{"kty":"RSA-HSM"}}}"#
            ),
            CostClass::HsmKeyCreate
        );
        assert_eq!(
            c(Method::POST, "/certificates/a/create", r#"{"policy":{}}"#),
            CostClass::KeyCreate
        );
        assert_eq!(c(Method::POST, "/keys/a/sign", "{}"), CostClass::Standard);
        assert_eq!(c(Method::POST, "/backup", ""), CostClass::Standard);
    }
}
