/// A cryptographic failure. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: the ciphertext, its associated data or the key is not the one it was made with.
    #[error("authentication failed: the data was altered, truncated or sealed under another key or context")]
    Unauthentic,
    /// The input is not in the expected shape.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The underlying library reported an error.
    #[error("cryptographic library error: {0}")]
    Library(String),
}

impl CryptoError {
    pub(crate) fn openssl(e: openssl::error::ErrorStack) -> Self {
        CryptoError::Library(e.to_string())
    }
}
