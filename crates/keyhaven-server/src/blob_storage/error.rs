//! What can go wrong with Blob Storage. No message ever holds a SAS token or a URL's query.

/// A Blob Storage failure.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum StorageError {
    /// The container or folder named by the caller cannot be used (a bad URL, plain HTTP off loopback, no token).
    #[error("{0}")]
    BadLocation(String),
    /// The storage endpoint could not be reached, or the connection broke.
    #[error("Blob Storage at {host} could not be reached: {reason}")]
    Unreachable {
        /// The endpoint's host (never its path or query).
        host: String,
        /// Why, without the URL.
        reason: String,
    },
    /// The storage service refused an operation.
    #[error("Blob Storage refused {operation} with {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Refused {
        /// `Put Block`, `Put Block List`, `Get Blob`, …
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// Azure's `x-ms-error-code`, when given.
        code: Option<String>,
    },
    /// The backup's blob is not in the container.
    #[error("No Keyhaven backup was found in folder '{0}' of the container.")]
    NotFound(String),
    /// The backup does not fit the block list of one blob.
    #[error("The backup is larger than one blob can hold ({0} bytes).")]
    TooLarge(u64),
    /// A local file could not be written or read.
    #[error("{0}")]
    Local(String),
}

impl StorageError {
    /// Whether the caller named something unusable (400) rather than storage failing (the job fails).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, StorageError::BadLocation(_))
    }

    /// A short machine-readable code for job errors.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::BadLocation(_) => "BadParameter",
            StorageError::Unreachable { .. } => "StorageUnreachable",
            StorageError::Refused { status: 403, .. } => "StorageAccessDenied",
            StorageError::Refused { .. } => "StorageRequestFailed",
            StorageError::NotFound(_) => "BackupNotFound",
            StorageError::TooLarge(_) => "BackupTooLarge",
            StorageError::Local(_) => "InternalServerError",
        }
    }

    /// A request that failed before an answer: the error and its causes, never its URL.
    pub(crate) fn unreachable(host: &str, e: reqwest::Error) -> StorageError {
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        StorageError::Unreachable {
            host: host.to_string(),
            reason,
        }
    }
}
