//! Azure's secure key release policy: its grammar (parsed and checked once, when a policy is written) and its
//! evaluation against the claims of a verified attestation token.
//!
//! ```json
//! { "version": "1.0.0",
//!   "anyOf": [ { "authority": "https://attest.example",
//!                "allOf": [ { "claim": "x-ms-attestation-type", "equals": "sevsnpvm" },
//!                           { "anyOf": [ { "claim": "x-ms-compliance-status", "equals": "azure-compliant-cvm" } ] } ] } ] }
//! ```
//!
//! A policy is an `anyOf` list of authorities; each names an `authority` (matched against the token's issuer) and
//! one `anyOf` or `allOf` list of conditions. A condition is a nested `anyOf`/`allOf`, or a claim condition:
//! `claim` (a dotted path into the claims, e.g. `x-ms-isolation-tee.x-ms-attestation-type`) with one operator —
//! `equals`, `notEquals`, `less`, `lessOrEquals`, `greater`, `greaterOrEquals`, `exists` — or the older form
//! `{"claim", "condition": "equals", "value"}`. Member names are matched without regard to case; `version` is
//! `1.0.0`, `0.2` or absent.

use serde_json::{Map, Value};

/// Nesting deeper than this is refused (a policy is a small document).
const MAX_DEPTH: usize = 16;
/// Conditions in a whole policy, at most.
const MAX_CONDITIONS: usize = 256;

/// A parsed release policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReleasePolicy {
    authorities: Vec<AuthorityRule>,
}

#[derive(Debug, Clone, PartialEq)]
struct AuthorityRule {
    authority: String,
    condition: Condition,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    AnyOf(Vec<Condition>),
    AllOf(Vec<Condition>),
    Claim {
        path: String,
        op: Operator,
        value: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equals,
    NotEquals,
    Less,
    LessOrEquals,
    Greater,
    GreaterOrEquals,
    Exists,
}

impl Operator {
    const ALL: [(&'static str, Operator); 7] = [
        ("equals", Operator::Equals),
        ("notequals", Operator::NotEquals),
        ("less", Operator::Less),
        ("lessorequals", Operator::LessOrEquals),
        ("greater", Operator::Greater),
        ("greaterorequals", Operator::GreaterOrEquals),
        ("exists", Operator::Exists),
    ];

    fn named(name: &str) -> Option<Operator> {
        let lower = name.to_ascii_lowercase();
        Self::ALL.iter().find(|(n, _)| *n == lower).map(|(_, o)| *o)
    }
}

/// A member of `obj` by name, without regard to case.
fn member<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

impl ReleasePolicy {
    /// Parses and checks a policy document; the error says what is wrong, for the writer.
    pub(crate) fn parse(data: &[u8]) -> Result<ReleasePolicy, String> {
        let doc: Value = serde_json::from_slice(data)
            .map_err(|e| format!("the release policy is not valid JSON ({e})"))?;
        let obj = doc
            .as_object()
            .ok_or("the release policy must be a JSON object")?;
        for k in obj.keys() {
            if !["version", "anyof"].contains(&k.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "the release policy has an unknown member '{k}' (expected 'version' and 'anyOf')"
                ));
            }
        }
        match member(obj, "version") {
            None => {}
            Some(Value::String(v)) if v == "1.0.0" || v == "0.2" => {}
            Some(v) => {
                return Err(format!(
                    "the release policy's version {v} is not supported (use \"1.0.0\")"
                ))
            }
        }
        let list = member(obj, "anyOf")
            .and_then(Value::as_array)
            .ok_or("the release policy needs an 'anyOf' list of authorities")?;
        if list.is_empty() {
            return Err("the release policy's 'anyOf' list of authorities is empty".into());
        }
        let mut budget = MAX_CONDITIONS;
        let mut authorities = Vec::new();
        for (i, a) in list.iter().enumerate() {
            let a = a
                .as_object()
                .ok_or_else(|| format!("anyOf[{i}] must be an object with 'authority'"))?;
            let authority = member(a, "authority")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| {
                    format!("anyOf[{i}] needs an 'authority' (the attestation issuer's URL)")
                })?
                .to_string();
            let mut lists = a.iter().filter(|(k, _)| {
                k.eq_ignore_ascii_case("anyOf") || k.eq_ignore_ascii_case("allOf")
            });
            let (Some((k, v)), None) = (lists.next(), lists.next()) else {
                return Err(format!(
                    "anyOf[{i}] (authority '{authority}') needs exactly one 'anyOf' or 'allOf' list of conditions"
                ));
            };
            if let Some(other) = a.keys().find(|k| {
                !["authority", "anyof", "allof"].contains(&k.to_ascii_lowercase().as_str())
            }) {
                return Err(format!("anyOf[{i}] has an unknown member '{other}'"));
            }
            let condition = list_condition(k, v, &format!("anyOf[{i}].{k}"), 1, &mut budget)?;
            authorities.push(AuthorityRule {
                authority,
                condition,
            });
        }
        Ok(ReleasePolicy { authorities })
    }

    /// Whether the claims of a token from `issuer` satisfy the policy; otherwise what is missing.
    pub(crate) fn evaluate(&self, issuer: &str, claims: &Value) -> Result<(), String> {
        let mut reasons = Vec::new();
        for rule in &self.authorities {
            if !same_authority(&rule.authority, issuer) {
                continue;
            }
            match rule.condition.holds(claims) {
                Ok(()) => return Ok(()),
                Err(why) => reasons.push(why),
            }
        }
        if reasons.is_empty() {
            return Err(format!(
                "the policy names no authority matching the token's issuer '{issuer}'"
            ));
        }
        Err(reasons.join("; "))
    }
}

/// An authority URL and a token issuer name the same authority: equal but for case and a trailing slash.
pub fn same_authority(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

fn list_condition(
    key: &str,
    v: &Value,
    at: &str,
    depth: usize,
    budget: &mut usize,
) -> Result<Condition, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: conditions are nested too deeply"));
    }
    let items = v
        .as_array()
        .ok_or_else(|| format!("{at} must be a list of conditions"))?;
    if items.is_empty() {
        return Err(format!("{at} is an empty list of conditions"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, c) in items.iter().enumerate() {
        out.push(condition(c, &format!("{at}[{i}]"), depth + 1, budget)?);
    }
    Ok(if key.eq_ignore_ascii_case("anyOf") {
        Condition::AnyOf(out)
    } else {
        Condition::AllOf(out)
    })
}

fn condition(c: &Value, at: &str, depth: usize, budget: &mut usize) -> Result<Condition, String> {
    *budget = budget
        .checked_sub(1)
        .ok_or_else(|| format!("the release policy has more than {MAX_CONDITIONS} conditions"))?;
    let obj = c
        .as_object()
        .ok_or_else(|| format!("{at} must be a condition object"))?;
    if let Some((k, v)) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("anyOf") || k.eq_ignore_ascii_case("allOf"))
    {
        if obj.len() != 1 {
            return Err(format!("{at}: '{k}' cannot be combined with other members"));
        }
        return list_condition(k, v, &format!("{at}.{k}"), depth, budget);
    }
    let path = member(obj, "claim")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{at} needs a 'claim' (or an 'anyOf'/'allOf' list)"))?
        .to_string();
    // The older form: {"claim", "condition": "equals", "value"}.
    if let Some(name) = member(obj, "condition") {
        let name = name
            .as_str()
            .ok_or_else(|| format!("{at}.condition must be an operator name"))?;
        let op = Operator::named(name).ok_or_else(|| format!("{at}: unknown operator '{name}'"))?;
        let value = member(obj, "value")
            .cloned()
            .ok_or_else(|| format!("{at} needs a 'value' for its condition"))?;
        if obj.len() != 3 {
            return Err(format!(
                "{at} has members besides 'claim', 'condition' and 'value'"
            ));
        }
        return claim_condition(path, op, value, at);
    }
    let mut ops = obj.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("claim"));
    let (Some((name, value)), None) = (ops.next(), ops.next()) else {
        return Err(format!(
            "{at} needs exactly one operator besides 'claim' (equals, notEquals, less, lessOrEquals, greater, \
             greaterOrEquals, exists)"
        ));
    };
    let op = Operator::named(name).ok_or_else(|| format!("{at}: unknown operator '{name}'"))?;
    claim_condition(path, op, value.clone(), at)
}

fn claim_condition(
    path: String,
    op: Operator,
    value: Value,
    at: &str,
) -> Result<Condition, String> {
    match op {
        Operator::Exists if !value.is_boolean() => {
            return Err(format!("{at}: 'exists' takes true or false"))
        }
        Operator::Less | Operator::LessOrEquals | Operator::Greater | Operator::GreaterOrEquals
            if number(&value).is_none() =>
        {
            return Err(format!("{at}: a comparison needs a number"))
        }
        _ if value.is_object() || value.is_array() || value.is_null() => {
            return Err(format!(
                "{at}: the value must be a string, number or boolean"
            ))
        }
        _ => {}
    }
    Ok(Condition::Claim { path, op, value })
}

/// A number, or a string holding one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The claim at a dotted path: a member named by the whole path first, else a member named by a prefix ending
/// at a dot, and the rest of the path inside it (claim names may themselves hold dots).
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.match_indices('.').find_map(|(i, _)| {
        claims
            .get(&path[..i])
            .and_then(|inner| claim(inner, &path[i + 1..]))
    })
}

/// Whether a claim equals a policy value: the same JSON value, or the same text (a boolean or number claim
/// against its string spelling, booleans without regard to case).
fn equals(found: &Value, want: &Value) -> bool {
    if found == want {
        return true;
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match (text(found), text(want)) {
        (Some(a), Some(b)) if found.is_boolean() || want.is_boolean() => a.eq_ignore_ascii_case(&b),
        (Some(a), Some(b)) => {
            a == b || matches!((number(found), number(want)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

impl Condition {
    fn holds(&self, claims: &Value) -> Result<(), String> {
        match self {
            Condition::AllOf(list) => list.iter().try_for_each(|c| c.holds(claims)),
            Condition::AnyOf(list) => {
                let mut why = Vec::new();
                for c in list {
                    match c.holds(claims) {
                        Ok(()) => return Ok(()),
                        Err(e) => why.push(e),
                    }
                }
                Err(format!("none of [{}]", why.join(", ")))
            }
            Condition::Claim { path, op, value } => {
                let found = claim(claims, path);
                let ok = match (op, found) {
                    (Operator::Exists, f) => f.is_some() == (value.as_bool() == Some(true)),
                    (_, None) => false,
                    (Operator::Equals, Some(f)) => equals(f, value),
                    (Operator::NotEquals, Some(f)) => !equals(f, value),
                    (o, Some(f)) => match (number(f), number(value)) {
                        (Some(a), Some(b)) => match o {
                            Operator::Less => a < b,
                            Operator::LessOrEquals => a <= b,
                            Operator::Greater => a > b,
                            _ => a >= b,
                        },
                        _ => false,
                    },
                };
                if ok {
                    return Ok(());
                }
                let op_name = Operator::ALL
                    .iter()
                    .find(|(_, o)| o == op)
                    .map_or("?", |(n, _)| n);
                Err(match found {
                    None if *op != Operator::Exists => format!("claim '{path}' is absent"),
                    _ => format!("claim '{path}' does not satisfy {op_name} {value}"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: Value) -> Result<ReleasePolicy, String> {
        ReleasePolicy::parse(v.to_string().as_bytes())
    }

    const AUTH: &str = "https://attest.example";

    #[test]
    fn grammar_accepts_both_forms_and_refuses_what_is_wrong() {
        let good = policy(
            json!({"version": "1.0.0", "anyOf": [{"authority": AUTH, "allOf": [
            {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
            {"anyOf": [{"claim": "a.b", "greater": 3}, {"claim": "c", "exists": true}]},
            {"claim": "x-ms-sgx-is-debuggable", "condition": "equals", "value": "false"}]}]}),
        );
        assert!(good.is_ok(), "{good:?}");
        for (bad, says) in [
            (json!([]), "JSON object"),
            (json!({"anyOf": []}), "empty"),
            (
                json!({"version": "2.0", "anyOf": [{"authority": AUTH, "allOf": [{"claim": "a", "equals": 1}]}]}),
                "version",
            ),
            (
                json!({"anyOf": [{"allOf": [{"claim": "a", "equals": 1}]}]}),
                "authority",
            ),
            (json!({"anyOf": [{"authority": AUTH}]}), "exactly one"),
            (
                json!({"anyOf": [{"authority": AUTH, "allOf": [{"claim": "a", "matches": 1}]}]}),
                "unknown operator",
            ),
            (
                json!({"anyOf": [{"authority": AUTH, "allOf": [{"claim": "a", "greater": "x"}]}]}),
                "number",
            ),
            (
                json!({"anyOf": [{"authority": AUTH, "allOf": [{"equals": 1}]}]}),
                "claim",
            ),
            (
                json!({"anyOf": [{"authority": AUTH, "allOf": []}]}),
                "empty",
            ),
            (
                json!({"anyOf": [{"authority": AUTH, "allOf": [{"claim": "a", "equals": 1}]}], "extra": 1}),
                "unknown member",
            ),
        ] {
            let err = policy(bad.clone()).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert!(ReleasePolicy::parse(b"{not json")
            .unwrap_err()
            .contains("JSON"));
    }

    #[test]
    fn evaluation_follows_the_operators_and_the_authority() {
        let p = policy(json!({"anyOf": [{"authority": AUTH, "allOf": [
            {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
            {"claim": "x-ms-isolation-tee.svn", "greaterOrEquals": 2},
            {"claim": "debuggable", "equals": "false"},
            {"claim": "x-ms-policy-hash", "exists": false}]}]}))
        .unwrap();
        let claims = json!({"x-ms-attestation-type": "sevsnpvm", "x-ms-isolation-tee": {"svn": 3},
                            "debuggable": false});
        assert_eq!(p.evaluate("https://attest.example/", &claims), Ok(()));
        assert_eq!(p.evaluate("https://ATTEST.example", &claims), Ok(()));
        assert!(p
            .evaluate("https://other.example", &claims)
            .unwrap_err()
            .contains("no authority"));
        let mut c = claims.clone();
        c["x-ms-attestation-type"] = json!("sgx");
        assert!(p
            .evaluate(AUTH, &c)
            .unwrap_err()
            .contains("x-ms-attestation-type"));
        let mut c = claims.clone();
        c["x-ms-isolation-tee"]["svn"] = json!(1);
        assert!(p.evaluate(AUTH, &c).is_err());
        let mut c = claims.clone();
        c["debuggable"] = json!(true);
        assert!(p.evaluate(AUTH, &c).is_err());
        let mut c = claims.clone();
        c["x-ms-policy-hash"] = json!("h");
        assert!(p.evaluate(AUTH, &c).is_err());
        let mut c = claims;
        c.as_object_mut().unwrap().remove("x-ms-attestation-type");
        assert!(p.evaluate(AUTH, &c).unwrap_err().contains("absent"));
    }

    #[test]
    fn any_of_needs_one_and_dotted_names_resolve() {
        let p = policy(json!({"anyOf": [{"authority": AUTH, "anyOf": [
            {"claim": "a", "equals": 1}, {"claim": "x.y.z", "notEquals": "no"}]}]}))
        .unwrap();
        assert_eq!(p.evaluate(AUTH, &json!({"a": 1})), Ok(()));
        assert_eq!(p.evaluate(AUTH, &json!({"x.y": {"z": "yes"}})), Ok(()));
        assert_eq!(p.evaluate(AUTH, &json!({"x": {"y": {"z": "yes"}}})), Ok(()));
        assert!(p
            .evaluate(AUTH, &json!({"a": 2, "x": {"y": {"z": "no"}}}))
            .is_err());
    }
}
