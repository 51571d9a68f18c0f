//! Every request's audit record: who (from the token, or the client id of a token request), from where, on which
//! vault, the action authorization decided on and its resource, the status, the outcome and the duration. Written
//! before the answer leaves; when it cannot be written the answer is 503 (fail closed), and while the log cannot
//! be written requests are refused before they do anything.

use super::error::ApiError;
use crate::audit::{AuditRecord, Caller, Outcome, ReceiptState};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyhaven_core::{Principal, Resource};
use keyhaven_store::receipt::Receipt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The client's address, set on every request by the listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// What handlers learn about a request that its audit record needs.
#[derive(Default, Clone)]
pub(crate) struct Facts {
    /// The authenticated caller (its first authorization decision is the record's operation).
    pub principal: Option<Principal>,
    /// The client id of a token request (no principal yet).
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub vault: Option<String>,
    /// An operation named by the route rather than by authorization (`token`).
    pub operation: Option<&'static str>,
    pub version: Option<String>,
}

/// A request's [`Facts`], shared between the audit layer and the handlers.
#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<Mutex<Facts>>);

impl Slot {
    pub fn update(&self, f: impl FnOnce(&mut Facts)) {
        if let Ok(mut facts) = self.0.lock() {
            f(&mut facts);
        }
    }
}

/// Notes the caller (and vault) of a request, if it is being audited.
pub(crate) fn note_caller(req_slot: Option<&Slot>, who: &Principal, vault: Option<&str>) {
    if let Some(slot) = req_slot {
        slot.update(|f| {
            f.principal = Some(who.clone());
            f.vault = vault.map(str::to_string);
        });
    }
}

fn unavailable() -> Response {
    ApiError {
        retry_after: Some(5),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request was refused: its audit record cannot be written. Retry later.",
        )
    }
    .into_response()
}

/// What the audit layer knows of a request before it runs.
#[derive(Clone)]
struct Base {
    request_id: String,
    source: Option<String>,
    method: String,
    started: Instant,
}

/// The receipt of a request that may change something: the copy of its record that its writes carry into their
/// commits (see [`crate::audit::AuditLog::keep_receipts`]). Made at the first write, when authorization has decided.
struct RequestReceipt {
    st: AppState,
    slot: Slot,
    base: Base,
    part: OnceLock<Option<Vec<u8>>>,
    /// The entries its part went to, from commits that are durable.
    at: Mutex<ReceiptState>,
}

impl Receipt for RequestReceipt {
    fn part(&self) -> Option<Vec<u8>> {
        self.part
            .get_or_init(|| {
                let facts = self.slot.0.lock().map(|f| f.clone()).unwrap_or_default();
                // Status 0: the answer is not known yet (recovery marks the record as such).
                let (rec, _) = record(&self.st, facts, self.base.clone(), 0);
                self.st.audit.receipt(&rec)
            })
            .clone()
    }

    fn committed(&self, key: &[u8], parts: usize) {
        if let Ok(mut at) = self.at.lock() {
            at.push((key.to_vec(), parts));
        }
    }
}

/// The audit layer: wraps every request.
pub(crate) async fn audit(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = keyhaven_crypto::random_uuid().unwrap_or_default();
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let base = Base {
        request_id,
        source: req.extensions().get::<Peer>().map(|p| p.0.ip().to_string()),
        method: req.method().to_string(),
        started,
    };
    // A request that may change something carries a copy of its record into its writes' commits.
    let receipt = (st.audit.keeps_receipts() && !matches!(base.method.as_str(), "GET" | "HEAD"))
        .then(|| {
            Arc::new(RequestReceipt {
                st: st.clone(),
                slot: slot.clone(),
                base: base.clone(),
                part: OnceLock::new(),
                at: Mutex::new(Vec::new()),
            })
        });
    let mut resp = if st.audit.enabled() && !st.audit.healthy() {
        unavailable()
    } else if let Some(r) = &receipt {
        keyhaven_store::receipt::carried(r.clone(), next.run(req)).await
    } else {
        next.run(req).await
    };
    let request_id = HeaderValue::from_str(&base.request_id).ok();
    if st.audit.enabled() {
        // The request is over: its facts are taken, not copied.
        let facts = slot
            .0
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        let (record, changes_nothing) = record(&st, facts, base, resp.status().as_u16());
        let receipt = receipt.and_then(|r| r.at.lock().ok().map(|mut at| std::mem::take(&mut *at)));
        if let Err(e) = st.audit.append(record, changes_nothing, receipt).await {
            tracing::error!(error = %e, "a request was refused: its audit record could not be written");
            resp = unavailable();
        }
    }
    if let Some(v) = request_id {
        resp.headers_mut().insert("x-ms-request-id", v);
    }
    resp
}

/// The request's record, and whether the request changed nothing (a read, or an allowed cryptographic operation:
/// its record need not wait for the disk, see `audit`).
fn record(st: &AppState, facts: Facts, base: Base, status: u16) -> (AuditRecord, bool) {
    let Facts {
        principal,
        client_id,
        object_id,
        vault,
        operation: fixed_op,
        version,
    } = facts;
    let Base {
        request_id,
        source,
        method,
        started,
    } = base;
    let decision = principal.as_ref().and_then(|p| p.decision());
    let result = if matches!(status, 401 | 403) || decision.as_ref().is_some_and(|d| !d.allowed) {
        Outcome::Denied
    } else if status >= 400 {
        Outcome::Failed
    } else {
        Outcome::Allowed
    };
    let caller = match (&principal, client_id) {
        (Some(p), _) => Some(Caller {
            client_id: p.client_id.clone(),
            object_id: Some(p.object_id.clone()),
        }),
        (None, Some(c)) => Some(Caller {
            client_id: c,
            object_id,
        }),
        (None, None) => None,
    };
    let (mut vault, mut kind, mut name) = (vault, None, None);
    if let Some(d) = &decision {
        match &d.resource {
            Resource::Deployment => {}
            Resource::Vault(v) => vault = Some(v.to_string()),
            Resource::Kind(v, k) => {
                vault = Some(v.to_string());
                kind = Some(k.as_str().to_string());
            }
            Resource::Object(v, k, n) => {
                vault = Some(v.to_string());
                kind = Some(k.as_str().to_string());
                name = Some(st.audit.name(v.as_str(), k.as_str(), n.as_str()));
            }
        }
    }
    let changes_nothing = matches!(method.as_str(), "GET" | "HEAD")
        || decision
            .as_ref()
            .is_some_and(|d| d.allowed && d.action.is_cryptographic());
    let record = AuditRecord {
        seq: 0,
        time: keyhaven_model::time::rfc3339_millis(now_ms()),
        request_id,
        principal: caller,
        source,
        method,
        vault,
        operation: fixed_op
            .map(str::to_string)
            .or_else(|| decision.as_ref().map(|d| d.action.as_str().to_string())),
        kind,
        name,
        version: version.filter(|_| decision.is_some()),
        status,
        result,
        duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        recovered: false,
        prev: String::new(),
    };
    (record, changes_nothing)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
