use crate::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Azure's limit on tags per object.
pub const MAX_TAGS: usize = 15;
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;

/// The lifecycle attributes every object version carries. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Whether the version may be used at all; a disabled version's value is refused.
    pub enabled: bool,
    /// Not before: the version may not be used before this time. `None`: no lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry: the version may not be used at or after this time. `None`: it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// When the version was created.
    pub created: i64,
    /// When the version or its attributes last changed; equal to `created` until then.
    pub updated: i64,
}

impl Attributes {
    /// The attributes of a version created at `now`: enabled, without `nbf` or `exp`.
    pub fn new(now: i64) -> Self {
        Attributes {
            enabled: true,
            nbf: None,
            exp: None,
            created: now,
            updated: now,
        }
    }

    /// Why the value of this version may not be used at `now`, if it may not.
    pub fn unusable_reason(&self, now: i64) -> Option<&'static str> {
        if !self.enabled {
            Some("disabled")
        } else if self.nbf.is_some_and(|nbf| now < nbf) {
            Some("not yet valid")
        } else if self.exp.is_some_and(|exp| now >= exp) {
            Some("expired")
        } else {
            None
        }
    }
}

/// A change to attributes: absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributesPatch {
    /// The new `enabled`, if it changes.
    pub enabled: Option<bool>,
    /// The new `nbf`, if it changes: `Some(None)` removes it.
    pub nbf: Option<Option<i64>>,
    /// The new `exp`, if it changes: `Some(None)` removes it.
    pub exp: Option<Option<i64>>,
}

impl AttributesPatch {
    /// Checks the patch on its own: when it sets both `nbf` and `exp`, `exp` must be later. It does not compare
    /// one it sets with the other it keeps.
    pub fn validate(&self) -> Result<(), Invalid> {
        if let (Some(Some(nbf)), Some(Some(exp))) = (self.nbf, self.exp) {
            if exp <= nbf {
                return Err(Invalid::new(
                    "The expiry time (exp) must be later than the not-before time (nbf).",
                ));
            }
        }
        Ok(())
    }

    /// Applies the patch to `attrs` (without validating it) and sets `updated` to `now`, even when nothing else
    /// changes.
    pub fn apply(&self, attrs: &mut Attributes, now: i64) {
        if let Some(e) = self.enabled {
            attrs.enabled = e;
        }
        if let Some(n) = self.nbf {
            attrs.nbf = n;
        }
        if let Some(x) = self.exp {
            attrs.exp = x;
        }
        attrs.updated = now;
    }
}

/// Object tags: at most 15, names up to 512 and values up to 256 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// Checks Azure's limits: at most [`MAX_TAGS`] tags, names of 1–512 and values of at most 256 characters
    /// (counted in characters, not bytes).
    pub fn new(map: BTreeMap<String, String>) -> Result<Self, Invalid> {
        if map.len() > MAX_TAGS {
            return Err(Invalid::new(format!(
                "{} tags were given; an object can have at most {MAX_TAGS} tags.",
                map.len()
            )));
        }
        for (k, v) in &map {
            if k.is_empty() || k.chars().count() > MAX_TAG_NAME {
                return Err(Invalid::new(format!(
                    "A tag name must be 1-{MAX_TAG_NAME} characters long."
                )));
            }
            if v.chars().count() > MAX_TAG_VALUE {
                return Err(Invalid::new(format!(
                    "The value of tag '{k}' is longer than {MAX_TAG_VALUE} characters."
                )));
            }
        }
        Ok(Tags(map))
    }

    /// The tags by name.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<String, String>> for Tags {
    type Error = Invalid;
    fn try_from(m: BTreeMap<String, String>) -> Result<Self, Invalid> {
        Tags::new(m)
    }
}
impl From<Tags> for BTreeMap<String, String> {
    fn from(t: Tags) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usability() {
        let mut a = Attributes::new(100);
        assert_eq!(a.unusable_reason(100), None);
        a.nbf = Some(200);
        assert_eq!(a.unusable_reason(100), Some("not yet valid"));
        a.nbf = None;
        a.exp = Some(150);
        assert_eq!(a.unusable_reason(150), Some("expired"));
        a.enabled = false;
        assert_eq!(a.unusable_reason(100), Some("disabled"));
    }

    #[test]
    fn tag_limits() {
        let many: BTreeMap<_, _> = (0..16)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert!(Tags::new(many).is_err());
        let one: BTreeMap<_, _> = [("k".to_string(), "v".repeat(257))].into();
        assert!(Tags::new(one).is_err());
    }
}
