//! Base64url as Azure uses it: written without padding; read with or without padding, and also in the standard
//! alphabet (some clients send that).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// `bytes` in the URL-safe alphabet, without padding, as Azure writes every byte field.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url or standard base64, padded or not, ignoring surrounding whitespace; `None` if `s` is
/// neither.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lenient_decoding() {
        assert_eq!(super::decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(super::decode("/+8="), Some(vec![0xff, 0xef]));
        assert_eq!(super::decode("not base64!"), None);
    }
}
