//! Getting bytes from URLs: `http(s)://` (reqwest with rustls), `file://`
//! and plain paths, with a total deadline per request, retries only of
//! failures a retry can fix (a 5xx or 429 answer, a transfer cut short),
//! and a per-user download cache addressed by content hash.
//!
//! Downloads stream to a file as they arrive; the size cap is enforced as
//! bytes come in, so memory stays flat whatever a server sends. A server
//! that trickles its answer is stopped at the deadline (`--timeout`,
//! LuaRocks' 30 s), checked after every read; one read may block at most
//! the timeout, so a server that stalls right at the deadline costs at
//! most twice it.
//!
//! Cache layout (`<cache>/`, default `$XDG_CACHE_HOME/rockstore`):
//! `blobs/<blake3 hex>` holds downloaded bytes; `urls/<blake3 hex of URL>`
//! holds the blob's hash and the URL; `partial/` holds downloads still
//! arriving (renamed into `blobs/` when complete). A blob is re-hashed when read, so a
//! damaged cache costs a download, never a wrong build. Rockspecs, rocks
//! and source archives are immutable by name on a rocks server, so they are
//! reused for ever; manifests are reused for [`MANIFEST_MAX_AGE`], as
//! LuaRocks' `cache_timeout`.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cap_std::fs::Dir;

use crate::reporter::{Event, Reporter};

mod cache;
mod error;

pub use error::FetchError;

/// How long a downloaded manifest is trusted (LuaRocks' `cache_timeout`).
pub const MANIFEST_MAX_AGE: Duration = Duration::from_secs(60);
/// The largest download accepted (luarocks.org's biggest rocks are tens of MB).
pub const MAX_DOWNLOAD: u64 = 1 << 30;
/// The largest file [`Fetcher::fetch`] reads into memory (rockspecs,
/// manifests: luarocks.org's whole manifest is a few MB).
pub const MAX_IN_MEMORY: u64 = 64 << 20;

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
    /// `--verify`: every rock and rockspec fetched must carry a good gpg
    /// signature beside it (`URL.asc`), as LuaRocks checks them.
    verify_signatures: bool,
    /// `rocks_servers`' mirror groups, each in order (see
    /// [`Fetcher::with_mirrors`]).
    mirrors: Vec<Vec<String>>,
    /// Where the mirror fallback's warnings go.
    warn: Option<std::sync::Arc<dyn Reporter>>,
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
            verify_signatures: false,
            mirrors: Vec::new(),
            warn: None,
        }
    }

    /// This fetcher, falling back along `rocks_servers`' mirror groups as
    /// LuaRocks' `download_with_mirrors`: a rock or rockspec whose URL lies
    /// under mirror *i* of a group and cannot be had there is fetched from
    /// mirrors *i+1…* in turn, each try warned as LuaRocks warns it.
    pub fn with_mirrors(
        mut self,
        groups: Vec<Vec<String>>,
        warn: std::sync::Arc<dyn Reporter>,
    ) -> Fetcher {
        self.mirrors = groups;
        self.warn = Some(warn);
        self
    }

    /// Tells the warning `text` where the mirror fallback's warnings go,
    /// at once (a manifest's failure then comes before the fallback it
    /// leads to, as LuaRocks prints them); `false` when nothing receives
    /// them.
    pub fn warning(&self, text: &str) -> bool {
        match &self.warn {
            Some(warn) => {
                warn.report(Event::Warning(text));
                true
            }
            None => false,
        }
    }

    /// The mirror group a server URL (a group's mirror) belongs to.
    pub fn mirror_group(&self, server: &str) -> Option<&[String]> {
        let trimmed = server.trim_end_matches('/');
        self.mirrors
            .iter()
            .find(|g| {
                g.first()
                    .is_some_and(|m| m.trim_end_matches('/') == trimmed)
            })
            .map(Vec::as_slice)
    }

    /// The same file on the mirrors after the one `url` lies under, in
    /// order (only rocks and rockspecs: LuaRocks falls back for what it
    /// downloads from a server, not for a manifest, which each mirror is
    /// asked for in turn).
    fn later_mirrors(&self, url: &str) -> Vec<String> {
        let file = url.rsplit('/').next().unwrap_or(url);
        if !(file.ends_with(".rockspec") || file.ends_with(".rock")) {
            return Vec::new();
        }
        for group in &self.mirrors {
            for (i, mirror) in group.iter().enumerate() {
                let base = format!("{}/", mirror.trim_end_matches('/'));
                if let Some(rest) = url.strip_prefix(&base) {
                    return group[i + 1..]
                        .iter()
                        .map(|m| format!("{}/{rest}", m.trim_end_matches('/')))
                        .collect();
                }
            }
        }
        Vec::new()
    }

    /// This fetcher, checking the signature of every rock and rockspec it
    /// fetches when `on` (LuaRocks' `--verify`).
    pub fn verifying(mut self, on: bool) -> Fetcher {
        self.verify_signatures = on;
        self
    }

    /// `--verify`: `gpg --verify URL.asc` against `bytes`, for a rock or a
    /// rockspec (manifests and source archives carry no signature; the
    /// rockspec's md5 covers a source).
    fn check_signature(&self, url: &str, bytes: &[u8]) -> Result<(), FetchError> {
        let file = url.rsplit('/').next().unwrap_or(url);
        if !self.verify_signatures || !(file.ends_with(".rockspec") || file.ends_with(".rock")) {
            return Ok(());
        }
        let failed = |why: String| FetchError::Signature {
            url: url.to_owned(),
            why,
        };
        let signature = self
            .fetch_capped(&format!("{url}.asc"), Freshness::Immutable, MAX_IN_MEMORY)
            .and_then(|mut f| {
                let mut sig = Vec::new();
                f.file
                    .read_to_end(&mut sig)
                    .map_err(|source| FetchError::Transfer {
                        url: format!("{url}.asc"),
                        problem: source.to_string(),
                    })?;
                Ok(sig)
            })
            .map_err(|e| failed(format!("no signature: {e}")))?;
        let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
        let (data, sig) = (dir.path().join("signed"), dir.path().join("signed.asc"));
        std::fs::write(&data, bytes)
            .and_then(|()| std::fs::write(&sig, &signature))
            .map_err(|e| failed(e.to_string()))?;
        let out = std::process::Command::new("gpg")
            .arg("--verify")
            .arg(&sig)
            .arg(&data)
            .output()
            .map_err(|e| failed(format!("cannot run gpg: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        Err(failed(
            said.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("gpg refused it")
                .trim()
                .to_owned(),
        ))
    }

    /// Fetches `url` (http, https, file or a plain path) into memory:
    /// for rockspecs and manifests, at most [`MAX_IN_MEMORY`] bytes.
    pub fn fetch(&self, url: &str, freshness: Freshness) -> Result<Vec<u8>, FetchError> {
        let first = self.fetch_here(url, freshness);
        let Err(error) = first else {
            return first;
        };
        for other in self.later_mirrors(url) {
            if let Some(warn) = &self.warn {
                warn.report(Event::Warning(&format!(
                    "Failed downloading. Attempting mirror at {other}"
                )));
            }
            if let Ok(bytes) = self.fetch_here(&other, freshness) {
                return Ok(bytes);
            }
        }
        Err(error)
    }

    /// [`Fetcher::fetch`] from `url` alone.
    fn fetch_here(&self, url: &str, freshness: Freshness) -> Result<Vec<u8>, FetchError> {
        let mut fetched = self.fetch_capped(url, freshness, MAX_IN_MEMORY)?;
        if fetched.len > MAX_IN_MEMORY {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit: MAX_IN_MEMORY,
            });
        }
        let mut bytes = Vec::with_capacity(fetched.len as usize);
        (&mut fetched.file)
            .take(MAX_IN_MEMORY + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| FetchError::Local {
                path: PathBuf::from(url),
                source,
            })?;
        if bytes.len() as u64 > MAX_IN_MEMORY {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit: MAX_IN_MEMORY,
            });
        }
        self.check_signature(url, &bytes)?;
        Ok(bytes)
    }

    /// Fetches `url` as an open file (a cached blob, a local file, or a
    /// temporary file), at most [`MAX_DOWNLOAD`] bytes, never held in memory.
    pub fn fetch_file(&self, url: &str, freshness: Freshness) -> Result<Fetched, FetchError> {
        if self.verify_signatures {
            // Checked in full first; sources (the only large files) are
            // not signed kinds, so this reads only rocks twice.
            let file = url.rsplit('/').next().unwrap_or(url);
            if file.ends_with(".rockspec") || file.ends_with(".rock") {
                self.fetch(url, freshness)?;
            }
        }
        self.fetch_capped(url, freshness, MAX_DOWNLOAD)
    }

    /// [`Fetcher::fetch_file`] with a smaller cap, enforced as bytes arrive.
    fn fetch_capped(
        &self,
        url: &str,
        freshness: Freshness,
        cap: u64,
    ) -> Result<Fetched, FetchError> {
        if let Some(path) = local_path(url) {
            use std::os::unix::fs::OpenOptionsExt;
            // Non-blocking, so that a FIFO named as a source fails the
            // regular-file check below instead of waiting for a writer.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&path)
                .map_err(|source| {
                    if source.kind() == std::io::ErrorKind::NotFound {
                        FetchError::NotFound {
                            url: url.to_owned(),
                        }
                    } else {
                        FetchError::Local {
                            path: path.clone(),
                            source,
                        }
                    }
                })?;
            let meta = file.metadata().map_err(|source| FetchError::Local {
                path: path.clone(),
                source,
            })?;
            if !meta.is_file() {
                return Err(FetchError::Local {
                    path,
                    source: std::io::Error::other("not a regular file"),
                });
            }
            return Ok(Fetched {
                file,
                len: meta.len(),
            });
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(FetchError::Protocol {
                url: url.to_owned(),
            });
        }
        if let Some(fetched) = self.cached(url, freshness) {
            return Ok(fetched);
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
        match self.download(url, cap) {
            Err(e) if e.is_not_found() && matches!(freshness, Freshness::MaxAge(_)) => {
                self.remember_miss(url);
                Err(e)
            }
            other => other,
        }
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

    fn download(&self, url: &str, cap: u64) -> Result<Fetched, FetchError> {
        let mut attempt = 0;
        loop {
            match self.download_once(url, cap) {
                Err(e) if attempt < self.retries && retry_may_help(&e) => {
                    attempt += 1;
                    // Back off a little before asking a struggling server again.
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                other => return other,
            }
        }
    }

    /// Where a download is written while it arrives: the cache's
    /// `partial/` (then renamed into `blobs/` by its hash when complete),
    /// else the temporary directory; with the cache root when it is one.
    fn download_target(
        &self,
        url: &str,
    ) -> Result<(tempfile::NamedTempFile, PathBuf, Option<PathBuf>), FetchError> {
        let cache = self
            .cache
            .as_ref()
            .filter(|_| self.cache_dir().is_some())
            .cloned();
        let dir = cache
            .as_ref()
            .map_or_else(std::env::temp_dir, |c| c.join("partial"));
        tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(&dir)
            .map(|f| (f, dir.clone(), cache))
            .map_err(|source| FetchError::Save {
                url: url.to_owned(),
                dir,
                source,
            })
    }

    fn download_once(&self, url: &str, cap: u64) -> Result<Fetched, FetchError> {
        let deadline = Instant::now() + self.timeout;
        let timeout = || FetchError::Timeout {
            url: url.to_owned(),
            secs: self.timeout.as_secs(),
        };
        let network = |source: reqwest::Error| {
            if source.is_timeout() {
                timeout()
            } else {
                FetchError::Network {
                    url: url.to_owned(),
                    source,
                }
            }
        };
        let mut response = self.client(url)?.get(url).send().map_err(network)?;
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
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: cap,
        };
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(too_large());
        }
        let (mut out, dir, cache) = self.download_target(url)?;
        let save = |source| FetchError::Save {
            url: url.to_owned(),
            dir: dir.clone(),
            source,
        };
        let mut hasher = blake3::Hasher::new();
        let mut len: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(url, e, &network)),
            };
            len += n as u64;
            if len > cap {
                return Err(too_large());
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(save)?;
            if Instant::now() > deadline {
                return Err(timeout());
            }
        }
        let hash = hasher.finalize().to_hex();
        let mut file = if let Some(cache) = cache {
            let blob = cache.join("blobs").join(hash.as_str());
            let file = out.persist(&blob).map_err(|e| save(e.error))?;
            self.remember_url(url, hash.as_str());
            file
        } else {
            // No cache: an unnamed temporary file, gone when closed.
            out.into_file()
        };
        file.rewind().map_err(save)?;
        Ok(Fetched { file, len })
    }
}

/// A fetched file, open at its start.
#[derive(Debug)]
pub struct Fetched {
    /// The bytes.
    pub file: std::fs::File,
    /// How many.
    pub len: u64,
}

/// A body read that failed: the deadline, or a transfer cut short.
fn read_error(
    url: &str,
    e: std::io::Error,
    network: &dyn Fn(reqwest::Error) -> FetchError,
) -> FetchError {
    let cut_short = |why: String| FetchError::Transfer {
        url: url.to_owned(),
        problem: format!("the answer was cut short ({why})"),
    };
    match e.into_inner() {
        Some(inner) => match inner.downcast::<reqwest::Error>() {
            Ok(re) if re.is_timeout() => network(*re),
            Ok(re) => {
                let mut why = re.to_string();
                let mut source = std::error::Error::source(&*re);
                while let Some(cause) = source {
                    why = format!("{why}: {cause}");
                    source = cause.source();
                }
                cut_short(why)
            }
            Err(other) => cut_short(other.to_string()),
        },
        None => FetchError::Transfer {
            url: url.to_owned(),
            problem: "the answer was cut short".to_owned(),
        },
    }
}

/// Whether asking again may succeed: a server that said it is struggling
/// (5xx, 429) or a transfer cut short. Not a timeout (the deadline is
/// spent; asking again would multiply it), not a refused connection or a
/// name that does not resolve (the same answer would come back).
fn retry_may_help(error: &FetchError) -> bool {
    match error {
        FetchError::Transfer { .. } => true,
        FetchError::Status { status, .. } => *status >= 500 || *status == 429,
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
        let hash = blake3::hash(b"bytes").to_hex();
        let blobs = tmp.path().join("blobs");
        fetcher.cache_dir().expect("cache");
        std::fs::write(blobs.join(hash.as_str()), b"bytes").expect("blob");
        fetcher.remember_url(url, hash.as_str());
        let mut cached = fetcher.cached(url, Freshness::Immutable).expect("cached");
        let mut bytes = Vec::new();
        cached.file.read_to_end(&mut bytes).expect("read");
        assert_eq!(bytes, b"bytes");
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
