//! The per-user download cache (its layout is in the [`super`] module
//! doc): opening it, looking a URL up in it (each blob re-hashed as it is
//! read), remembering a URL's blob and a URL that was not found, and
//! sweeping the partial downloads a killed process left.

use std::io::Seek;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::{Fetched, Fetcher, Freshness};
use crate::fs_atomic::write_replace;

impl Fetcher {
    pub(super) fn cache_dir(&self) -> Option<&Dir> {
        self.cache_handle
            .get_or_init(|| {
                let root = self.cache.as_ref()?;
                for sub in ["blobs", "urls", "misses", "partial"] {
                    std::fs::create_dir_all(root.join(sub)).ok()?;
                }
                let dir = Dir::open_ambient_dir(root, ambient_authority()).ok()?;
                sweep_stale_downloads(&dir);
                Some(dir)
            })
            .as_ref()
    }

    /// The cache directory, when it is usable (files derived from
    /// downloads, such as manifest indexes, live under it).
    pub fn cache_root(&self) -> Option<&Path> {
        self.cache_dir()?;
        self.cache.as_deref()
    }

    /// The blake3 hash of what `url` last downloaded to, when that was
    /// less than `max_age` ago; the blob itself is not read (what is
    /// derived from it is named by this hash and checks itself).
    pub fn cached_hash(&self, url: &str, max_age: Duration) -> Option<[u8; 32]> {
        let dir = self.cache_dir()?;
        let index = format!("urls/{}", blake3::hash(url.as_bytes()).to_hex());
        let modified = dir.metadata(&index).ok()?.modified().ok()?.into_std();
        if SystemTime::now().duration_since(modified).ok()? > max_age {
            return None;
        }
        let entry = dir.read_to_string(&index).ok()?;
        let (hash, cached_url) = entry.split_once('\n')?;
        if cached_url.trim_end() != url {
            return None;
        }
        Some(*blake3::Hash::from_hex(hash).ok()?.as_bytes())
    }

    /// The cached blob for `url`, re-hashed as it is read (streaming), so
    /// a damaged cache costs a download, never a wrong build.
    pub(super) fn cached(&self, url: &str, freshness: Freshness) -> Option<Fetched> {
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
        if cached_url.trim_end() != url
            || hash.len() != 64
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        let mut file = dir.open(format!("blobs/{hash}")).ok()?.into_std();
        let mut hasher = blake3::Hasher::new();
        let len = std::io::copy(&mut file, &mut hasher).ok()?;
        if hasher.finalize().to_hex().as_str() != hash {
            return None;
        }
        file.rewind().ok()?;
        Some(Fetched { file, len })
    }

    /// Best effort: a cache that cannot be written only costs a download.
    pub(super) fn remember_url(&self, url: &str, hash: &str) {
        let Some(dir) = self.cache_dir() else {
            return;
        };
        let index = blake3::hash(url.as_bytes()).to_hex();
        let _ = (|| -> std::io::Result<()> {
            let urls = dir.open_dir("urls")?;
            write_replace(&urls, &index, format!("{hash}\n{url}\n").as_bytes(), 0o644)
        })();
    }
}

/// Partial downloads older than this were left by a killed process.
const STALE_DOWNLOAD: Duration = Duration::from_secs(24 * 3600);

/// Best effort: removes the `partial/` downloads a killed process left.
/// A live download is younger than the stale age (its deadline is
/// `--timeout`), so it is never touched. `partial/` holds nothing else, so
/// this reads no more than the leftovers.
fn sweep_stale_downloads(cache: &Dir) {
    let Ok(partial) = cache.open_dir("partial") else {
        return;
    };
    let Ok(entries) = partial.entries() else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t.into_std()).ok())
            .is_some_and(|age| age > STALE_DOWNLOAD);
        if stale {
            let _ = partial.remove_file(&name);
        }
    }
}

impl Fetcher {
    fn miss_name(url: &str) -> String {
        format!("misses/{}", blake3::hash(url.as_bytes()).to_hex())
    }

    pub(super) fn recent_miss(&self, url: &str, max: Duration) -> bool {
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

    pub(super) fn remember_miss(&self, url: &str) {
        if let Some(dir) = self.cache_dir() {
            if let Ok(misses) = dir.open_dir("misses") {
                let name = blake3::hash(url.as_bytes()).to_hex();
                let _ = write_replace(&misses, &name, format!("{url}\n").as_bytes(), 0o644);
            }
        }
    }
}
