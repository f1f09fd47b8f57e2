//! Getting bytes from URLs: `http(s)://` (reqwest with rustls), `file://`
//! and plain paths, with timeouts, retries of transient failures, and a
//! per-user download cache addressed by content hash.
//!
//! Cache layout (`<cache>/`, default `$XDG_CACHE_HOME/rockstore`):
//! `blobs/<blake3 hex>` holds downloaded bytes; `urls/<blake3 hex of URL>`
//! holds the blob's hash and the URL. A blob is re-hashed when read, so a
//! damaged cache costs a download, never a wrong build. Rockspecs, rocks
//! and source archives are immutable by name on a rocks server, so they are
//! reused for ever; manifests are reused for [`MANIFEST_MAX_AGE`], as
//! LuaRocks' `cache_timeout`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::fs_atomic::write_replace;

/// How long a downloaded manifest is trusted (LuaRocks' `cache_timeout`).
pub const MANIFEST_MAX_AGE: Duration = Duration::from_secs(60);
/// The largest download accepted (luarocks.org's biggest rocks are tens of MB).
const MAX_DOWNLOAD: u64 = 1 << 30;

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
    /// No answer within the timeout.
    #[error("{url} did not answer within {secs} s")]
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
    #[error("{url} is larger than {} MiB; refusing it", MAX_DOWNLOAD >> 20)]
    TooLarge {
        /// The URL.
        url: String,
    },
}

impl FetchError {
    /// True when the resource does not exist (as opposed to an unreachable
    /// server), so callers may try the next fallback name.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FetchError::NotFound { .. })
    }
}

/// How long a cached copy may be reused.
#[derive(Debug, Clone, Copy)]
pub enum Freshness {
    /// Never changes under its URL (rockspecs, rocks, source archives).
    Immutable,
    /// May change: reuse a copy younger than this.
    MaxAge(Duration),
}

/// Fetches URLs; one per command run.
pub struct Fetcher {
    cache: Option<PathBuf>,
    timeout: Duration,
    retries: u32,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    /// The cache directory, created and opened on first use.
    cache_handle: OnceLock<Option<Dir>>,
}

impl Fetcher {
    /// A fetcher caching under `cache` (none: no cache) with a per-request
    /// `timeout`.
    pub fn new(cache: Option<PathBuf>, timeout: Duration) -> Fetcher {
        Fetcher {
            cache,
            timeout,
            retries: 2,
            client: OnceLock::new(),
            cache_handle: OnceLock::new(),
        }
    }

    /// Fetches `url` (http, https, file or a plain path).
    pub fn fetch(&self, url: &str, freshness: Freshness) -> Result<Vec<u8>, FetchError> {
        if let Some(path) = local_path(url) {
            return std::fs::read(&path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    FetchError::NotFound {
                        url: url.to_owned(),
                    }
                } else {
                    FetchError::Local { path, source }
                }
            });
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(FetchError::Protocol {
                url: url.to_owned(),
            });
        }
        if let Some(bytes) = self.cached(url, freshness) {
            return Ok(bytes);
        }
        if let Freshness::MaxAge(max) = freshness {
            // A recent 404 stands, as LuaRocks' cache_fail_timeout: the
            // manifest fallbacks (.zip, plain, .json) are not asked again.
            if self.recent_miss(url, max) {
                return Err(FetchError::NotFound {
                    url: url.to_owned(),
                });
            }
        }
        let bytes = match self.download(url) {
            Err(e) if e.is_not_found() && matches!(freshness, Freshness::MaxAge(_)) => {
                self.remember_miss(url);
                return Err(e);
            }
            other => other?,
        };
        self.remember(url, &bytes);
        Ok(bytes)
    }

    fn client(&self, url: &str) -> Result<&reqwest::blocking::Client, FetchError> {
        let client = self.client.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .connect_timeout(self.timeout)
                .timeout(self.timeout)
                .user_agent(concat!("rockstore/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        });
        client.as_ref().map_err(|e| FetchError::Transfer {
            url: url.to_owned(),
            problem: format!("the HTTP client could not start: {e}"),
        })
    }

    fn download(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            match self.download_once(url) {
                Err(e) if attempt < self.retries && transient(&e) => {
                    attempt += 1;
                    // Back off a little before asking a struggling server again.
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                other => return other,
            }
        }
    }

    fn download_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let network = |source: reqwest::Error| {
            if source.is_timeout() {
                FetchError::Timeout {
                    url: url.to_owned(),
                    secs: self.timeout.as_secs(),
                }
            } else {
                FetchError::Network {
                    url: url.to_owned(),
                    source,
                }
            }
        };
        let response = self.client(url)?.get(url).send().map_err(network)?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            404 | 410 => {
                return Err(FetchError::NotFound {
                    url: url.to_owned(),
                })
            }
            _ => {
                return Err(FetchError::Status {
                    url: url.to_owned(),
                    status,
                })
            }
        }
        let mut bytes = Vec::new();
        response
            .take(MAX_DOWNLOAD + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.into_inner() {
                Some(inner) => match inner.downcast::<reqwest::Error>() {
                    Ok(re) => network(*re),
                    Err(other) => FetchError::Transfer {
                        url: url.to_owned(),
                        problem: other.to_string(),
                    },
                },
                None => FetchError::Transfer {
                    url: url.to_owned(),
                    problem: "the answer was cut short".to_owned(),
                },
            })?;
        if bytes.len() as u64 > MAX_DOWNLOAD {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
            });
        }
        Ok(bytes)
    }

    fn cache_dir(&self) -> Option<&Dir> {
        self.cache_handle
            .get_or_init(|| {
                let root = self.cache.as_ref()?;
                for sub in ["blobs", "urls", "misses"] {
                    std::fs::create_dir_all(root.join(sub)).ok()?;
                }
                Dir::open_ambient_dir(root, ambient_authority()).ok()
            })
            .as_ref()
    }

    fn cached(&self, url: &str, freshness: Freshness) -> Option<Vec<u8>> {
        let dir = self.cache_dir()?;
        let index = format!("urls/{}", blake3::hash(url.as_bytes()).to_hex());
        if let Freshness::MaxAge(max) = freshness {
            let modified = dir.metadata(&index).ok()?.modified().ok()?.into_std();
            let age = SystemTime::now().duration_since(modified).ok()?;
            if age > max {
                return None;
            }
        }
        let entry = dir.read_to_string(&index).ok()?;
        let (hash, cached_url) = entry.split_once('\n')?;
        if cached_url.trim_end() != url {
            return None;
        }
        let bytes = dir.read(format!("blobs/{hash}")).ok()?;
        (blake3::hash(&bytes).to_hex().as_str() == hash).then_some(bytes)
    }

    /// Best effort: a cache that cannot be written only costs a download.
    fn remember(&self, url: &str, bytes: &[u8]) {
        let Some(dir) = self.cache_dir() else {
            return;
        };
        let hash = blake3::hash(bytes).to_hex();
        let index = blake3::hash(url.as_bytes()).to_hex();
        let _ = (|| -> std::io::Result<()> {
            let blobs = dir.open_dir("blobs")?;
            if blobs.metadata(hash.as_str()).is_err() {
                write_replace(&blobs, &hash, bytes, 0o644)?;
            }
            let urls = dir.open_dir("urls")?;
            write_replace(&urls, &index, format!("{hash}\n{url}\n").as_bytes(), 0o644)
        })();
    }
}

impl Fetcher {
    fn miss_name(url: &str) -> String {
        format!("misses/{}", blake3::hash(url.as_bytes()).to_hex())
    }

    fn recent_miss(&self, url: &str, max: Duration) -> bool {
        let Some(dir) = self.cache_dir() else {
            return false;
        };
        let name = Fetcher::miss_name(url);
        let fresh = dir
            .metadata(&name)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t.into_std()).ok())
            .is_some_and(|age| age <= max);
        fresh && dir.read_to_string(&name).is_ok_and(|u| u.trim_end() == url)
    }

    fn remember_miss(&self, url: &str) {
        if let Some(dir) = self.cache_dir() {
            if let Ok(misses) = dir.open_dir("misses") {
                let name = blake3::hash(url.as_bytes()).to_hex();
                let _ = write_replace(&misses, &name, format!("{url}\n").as_bytes(), 0o644);
            }
        }
    }
}

fn transient(error: &FetchError) -> bool {
    match error {
        FetchError::Timeout { .. } | FetchError::Network { .. } | FetchError::Transfer { .. } => {
            true
        }
        FetchError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

/// The filesystem path a `file://` URL or plain path stands for.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") {
        return None;
    }
    Some(Path::new(url).to_path_buf())
}

/// Joins a server URL (or directory) and a file name.
pub fn join(base: &str, file: &str) -> String {
    format!("{}/{file}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_joins() {
        assert_eq!(local_path("file:///a/b"), Some(PathBuf::from("/a/b")));
        assert_eq!(local_path("/a/b"), Some(PathBuf::from("/a/b")));
        assert_eq!(local_path("http://x/y"), None);
        assert_eq!(join("http://h/r/", "m"), "http://h/r/m");
    }

    #[test]
    fn cache_returns_what_was_stored_and_rejects_damage() {
        let tmp = tempfile::tempdir().expect("tmp");
        let fetcher = Fetcher::new(Some(tmp.path().to_path_buf()), Duration::from_secs(5));
        let url = "http://127.0.0.1:9/x.tar.gz";
        assert!(fetcher.cached(url, Freshness::Immutable).is_none());
        fetcher.remember(url, b"bytes");
        assert_eq!(
            fetcher.cached(url, Freshness::Immutable).as_deref(),
            Some(&b"bytes"[..])
        );
        assert!(fetcher
            .cached(url, Freshness::MaxAge(Duration::from_secs(60)))
            .is_some());
        let blob = tmp
            .path()
            .join("blobs")
            .join(blake3::hash(b"bytes").to_hex().as_str());
        let mut perms = std::fs::metadata(&blob).expect("blob").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
        std::fs::set_permissions(&blob, perms).expect("chmod");
        std::fs::write(&blob, b"other").expect("damage");
        assert!(fetcher.cached(url, Freshness::Immutable).is_none());
    }
}
