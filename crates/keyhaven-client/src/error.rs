/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("{0}")]
    Config(String),
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("{code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Protocol(String),
    /// A URL outside this server's hosts (its own host and `{vault}.{dns suffix}`): no token is sent there.
    #[error("{url} is not a vault of {server}: {reason}")]
    ForeignHost {
        url: String,
        server: String,
        reason: String,
    },
    /// A listing's `nextLink` points away from the vault being listed: it is not followed.
    #[error(
        "refusing to follow the nextLink {next}: it leaves the vault {vault} (scheme, host or port differ), \
         and the vault's token is only sent to the vault"
    )]
    ForeignNextLink { next: String, vault: String },
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
