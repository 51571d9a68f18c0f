use crate::Invalid;
use std::fmt;
use zeroize::Zeroizing;

/// Azure's limit on a secret value, in bytes.
pub const MAX_SECRET_VALUE_BYTES: usize = 25_600;

/// A secret value in memory: zeroized on drop, redacted in `Debug`, no `Display`, no `Serialize`. The only way to
/// read it is [`SecretValue::expose`], which makes every place that does so easy to find.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Takes a new value from a caller. Fails if it is longer than [`MAX_SECRET_VALUE_BYTES`] bytes of UTF-8;
    /// the refused value is zeroized all the same.
    pub fn new(value: String) -> Result<Self, Invalid> {
        let value = Zeroizing::new(value);
        if value.len() > MAX_SECRET_VALUE_BYTES {
            return Err(Invalid::new(format!(
                "The secret value is {} bytes; the largest allowed is {MAX_SECRET_VALUE_BYTES} bytes.",
                value.len()
            )));
        }
        Ok(SecretValue(value))
    }

    /// Rebuilds a value read back from storage or a backup (not subject to the size check of new input).
    pub fn from_stored(bytes: Zeroizing<Vec<u8>>) -> Result<Self, Invalid> {
        match std::str::from_utf8(&bytes) {
            Ok(s) => Ok(SecretValue(Zeroizing::new(s.to_owned()))),
            Err(_) => Err(Invalid::new("stored secret value is not UTF-8")),
        }
    }

    /// The value in the clear. Each call site is a place where the value leaves this wrapper's protection: it
    /// must not reach a log or an error message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value's length in bytes (of UTF-8), not characters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretValue::new("hunter2".into()).map_err(|e| e.0);
        assert_eq!(format!("{v:?}"), "Ok(SecretValue(<redacted>))");
    }

    #[test]
    fn size_limit() {
        assert!(SecretValue::new("x".repeat(MAX_SECRET_VALUE_BYTES)).is_ok());
        assert!(SecretValue::new("x".repeat(MAX_SECRET_VALUE_BYTES + 1)).is_err());
    }
}
