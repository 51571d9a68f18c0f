/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A setting or a file read at start (the root key, its passphrase) is unusable, or start-up could not go on.
    #[error("configuration: {0}")]
    Config(String),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the server was doing (e.g. `reading /var/lib/keyhaven/root.key`).
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server's TLS certificate, key or configuration could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// A cryptographic step failed (generating or loading a key, issuing the TLS certificate).
    #[error("cryptography: {0}")]
    Crypto(#[from] keyhaven_crypto::CryptoError),
    /// Storage failed, e.g. the engine could not be opened.
    #[error("storage: {0}")]
    Store(#[from] keyhaven_store::StoreError),
    /// The domain could not open the store or set up the deployment (e.g. a record that fails authentication,
    /// a default location missing from the locations table).
    #[error("{0}")]
    Domain(#[from] keyhaven_core::Error),
}

impl ServerError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let what = what.into();
        move |source| ServerError::Io { what, source }
    }
}
