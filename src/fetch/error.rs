//! [`FetchError`]: why a URL could not be fetched.

use std::path::PathBuf;

/// Why a URL could not be fetched. Each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// HTTP 404/410, or a missing local file.
    #[error("{url} was not found (404)")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// Any other HTTP error status (after retries for 5xx).
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// No complete answer within the timeout.
    #[error("{url} did not answer in full within {secs} s (raise it with --timeout)")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// Connection or protocol failure.
    #[error("cannot download {url}")]
    Network {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// Reading a local file failed.
    #[error("cannot read {}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The transfer failed midway, or the HTTP client could not start.
    #[error("cannot download {url}: {problem}")]
    Transfer {
        /// The URL.
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// A URL scheme we cannot fetch.
    #[error("unsupported protocol in {url} (rockstore fetches http, https and file URLs)")]
    Protocol {
        /// The URL.
        url: String,
    },
    /// Larger than any rock should be.
    #[error("{url} is larger than {} MiB; refusing it", limit >> 20)]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap, in bytes.
        limit: u64,
    },
    /// `--verify`: the rock's or rockspec's gpg signature (`URL.asc`) is
    /// missing or does not verify.
    #[error("{url}: signature not verified ({why}); nothing was installed. Import the signer's key (gpg --import KEY) if you trust it, or leave out --verify")]
    Signature {
        /// The rock or rockspec.
        url: String,
        /// What gpg said, or why it could not be asked.
        why: String,
    },
    /// The download could not be written to disk.
    #[error("cannot save the download of {url} in {}", dir.display())]
    Save {
        /// The URL.
        url: String,
        /// Where it was being written.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    /// True when the resource does not exist (as opposed to an unreachable
    /// server), so callers may try the next fallback name.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FetchError::NotFound { .. })
    }
}
