/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cryptography: {0}")]
    Crypto(#[from] keyhaven_crypto::CryptoError),
    #[error("storage: {0}")]
    Store(#[from] keyhaven_store::StoreError),
    #[error("{0}")]
    Domain(#[from] keyhaven_core::Error),
}

impl ServerError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let what = what.into();
        move |source| ServerError::Io { what, source }
    }
}
