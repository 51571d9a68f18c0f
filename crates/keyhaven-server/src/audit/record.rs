//! One audit record: a JSON line per request, chained to the line before it by that line's SHA-256.

use serde::{Deserialize, Serialize};

/// How a request ended, for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done (authorization allowed it, and it succeeded).
    Allowed,
    /// Refused for want of a valid token or a role (401, 403).
    Denied,
    /// Refused or failed otherwise (bad request, not found, server error…).
    Failed,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    /// The application (client) id: the token's, or the one a token request gave.
    pub client_id: String,
    /// The principal's object id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
}

/// One line of the audit log. Field order is the line's order; `prev` comes last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Position in the log, from 1, continuing across files.
    pub seq: u64,
    /// When the request ended (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// The request's id (also its `x-ms-request-id` header).
    pub request_id: String,
    /// Who made the request, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Caller>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The vault the request was for, when it was for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    /// The action authorization decided on (Azure's data action), or `token` for the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The kind of object acted on (`secret`, `key`, `certificate`), when the action was on a kind or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's name (or its keyed hash, `hmac:…`, when so configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The object version the request named, when authorization decided on the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// How the request ended.
    pub result: Outcome,
    /// How long the request took, in milliseconds (to the microsecond); for a recovered record, until its first
    /// write was submitted.
    pub duration_ms: f64,
    /// Written at start-up from the copy that the change's own commit kept in the store: the server stopped after
    /// the change was made and before its record was on disk. Its `status` is 0 (the answer is not known) and its
    /// `version` absent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// The SHA-256 (hex) of the previous line, or of nothing for the very first line.
    pub prev: String,
}

/// The SHA-256 of an empty input: the `prev` of the first line of a log.
pub const GENESIS: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl AuditRecord {
    /// The record's line without its number and chain hash: from the `,` after `"seq":N` to the `,` before
    /// `"prev"`. Made outside the writer's lock, which then only numbers and chains it ([`line`]).
    pub(super) fn middle(&mut self) -> std::io::Result<Vec<u8>> {
        const HEAD: &[u8] = b"{\"seq\":0";
        const TAIL: &[u8] = b"\"prev\":\"\"}";
        let (seq, prev) = (self.seq, std::mem::take(&mut self.prev));
        self.seq = 0;
        let bytes = serde_json::to_vec(&*self);
        self.seq = seq;
        self.prev = prev;
        let mut bytes = bytes.map_err(std::io::Error::other)?;
        if !(bytes.starts_with(HEAD)
            && bytes.ends_with(TAIL)
            && bytes.len() > HEAD.len() + TAIL.len())
        {
            return Err(std::io::Error::other(
                "an audit record did not serialize as expected",
            ));
        }
        bytes.truncate(bytes.len() - TAIL.len());
        bytes.drain(..HEAD.len());
        Ok(bytes)
    }
}

/// The line of record number `seq` whose [`AuditRecord::middle`] is `middle`, chained to the line whose hash is
/// `prev`: byte for byte what serializing the record with that `seq` and `prev` gives.
#[cfg(test)]
pub(super) fn line(seq: u64, middle: &[u8], prev: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(line_len(seq, middle, prev));
    line_into(&mut line, seq, middle, prev);
    line
}

/// [`line`], appended to `out`.
pub(super) fn line_into(out: &mut Vec<u8>, seq: u64, middle: &[u8], prev: &str) {
    use std::io::Write;
    out.extend_from_slice(b"{\"seq\":");
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "{seq}");
    out.extend_from_slice(middle);
    out.extend_from_slice(b"\"prev\":\"");
    out.extend_from_slice(prev.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// The length of [`line`].
pub(super) fn line_len(seq: u64, middle: &[u8], prev: &str) -> usize {
    const FIXED: usize = "{\"seq\":".len() + "\"prev\":\"".len() + "\"}".len();
    let digits = seq.checked_ilog10().map_or(1, |d| d as usize + 1);
    FIXED + digits + middle.len() + prev.len()
}
