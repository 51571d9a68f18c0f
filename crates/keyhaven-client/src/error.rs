/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A local problem before or around a call: a bad URL or CA file, an HTTP client that cannot be built, a
    /// credential, backup or restore file that cannot be read or written.
    #[error("{0}")]
    Config(String),
    /// The request did not get an answer (DNS, TCP, TLS, timeout, or the connection broke mid-answer).
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// The URL called (without its query).
        url: String,
        /// The transport error with its chain of causes.
        reason: String,
    },
    /// No token: the token endpoint refused the credential (its `error_description`, if it gave one) or did not
    /// answer with a token.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The server answered with an error status.
    #[error("{code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The envelope's error code (`SecretNotFound`, `Forbidden`, …), or the status number when the body
        /// was not Azure's envelope.
        code: String,
        /// The envelope's message, or the first 500 characters of the body.
        message: String,
    },
    /// The server's answer is not what the API defines (a body that does not decode, a byte field that is not
    /// base64url), or a request body could not be encoded. The message says where an answer stopped matching,
    /// never what it held.
    #[error("{0}")]
    Protocol(String),
    /// A URL outside this server's hosts (its own host and `{vault}.{dns suffix}`): no token is sent there.
    #[error("{url} is not a vault of {server}: {reason}")]
    ForeignHost {
        /// The URL refused.
        url: String,
        /// The server this client talks to.
        server: String,
        /// Why the URL is not one of the server's.
        reason: String,
    },
    /// A listing's `nextLink` points away from the vault being listed: it is not followed.
    #[error(
        "refusing to follow the nextLink {next}: it leaves the vault {vault} (scheme, host or port differ), \
         and the vault's token is only sent to the vault"
    )]
    ForeignNextLink {
        /// The `nextLink` refused.
        next: String,
        /// The vault being listed.
        vault: String,
    },
    /// An argument that cannot name an object (it would change the request's path).
    #[error("{0}")]
    InvalidArgument(String),
}

impl ClientError {
    pub(crate) fn connect(url: &str, e: reqwest::Error) -> Self {
        let mut reason = e.to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            reason = format!("{reason}: {s}");
            src = s.source();
        }
        ClientError::Connect {
            url: url.to_string(),
            reason,
        }
    }

    /// The HTTP status of an error answer from the server, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
