//! The manifest index: what a rocks server's manifest lists (rock names,
//! their versions, each version's arches), parsed once and kept as a
//! compact file beside the download cache, named by the blake3 hash of the
//! manifest's bytes. `search`, `install` and `--dry-run` read it instead of
//! evaluating megabytes of Lua again.
//!
//! The byte layout is specified in `store-format/v1/manifest-index.md`
//! (with a vector `tests/it/warm.rs` checks):
//! ```text
//! magic      8   "RSMIDX\0\x01"
//! manifest  32   blake3 of the manifest file's bytes
//! arches     u32 count, then each: u32 length, UTF-8 bytes
//! rocks      u32 count, then each, names in strictly increasing byte order:
//!              u32 length, name bytes, u32 version count, then each
//!              version, in strictly increasing byte order:
//!                u32 length, version bytes, u32 arch count, that many u32
//!                indexes into the arches (manifest order)
//! checksum  32   blake3 of every byte before it
//! ```
//! Integers are little-endian. The order is the order of the parsed
//! manifest's maps (`BTreeMap` by bytes), so a search over the index sees
//! exactly what a search over the parsed manifest sees.
//!
//! A file that fails any check (magic, manifest hash, checksum, bounds,
//! UTF-8, order, trailing bytes) is not an index: the caller parses the
//! manifest again and writes a new one.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::repository::Entries;

/// The first bytes of every index file (format 1).
pub const MAGIC: [u8; 8] = *b"RSMIDX\0\x01";

/// Why bytes are not an index of the manifest asked for.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Shorter than its fields say, or bytes after the checksum.
    #[error("manifest index is truncated or has trailing bytes")]
    Length,
    /// Not format 1.
    #[error("not a manifest index of format 1")]
    Magic,
    /// Made from other manifest bytes.
    #[error("manifest index was made from another manifest")]
    OtherManifest,
    /// The checksum does not match: damaged.
    #[error("manifest index checksum mismatch")]
    Checksum,
    /// A string is not UTF-8, an arch index is out of range, or names or
    /// versions are not strictly increasing.
    #[error("manifest index is malformed: {0}")]
    Malformed(&'static str),
}

/// One rock's entries in [`ManifestIndex`]: its name and its versions.
#[derive(Debug, Clone)]
struct Rock {
    name: Range<u32>,
    versions: Range<u32>,
}

/// One version: its text and its arches (indexes into `arch_refs`).
#[derive(Debug, Clone)]
struct VersionAt {
    text: Range<u32>,
    arches: Range<u32>,
}

/// A decoded index: the file's bytes and where each string sits in them.
#[derive(Debug, Clone)]
pub struct ManifestIndex {
    bytes: Vec<u8>,
    arches: Vec<String>,
    rocks: Vec<Rock>,
    versions: Vec<VersionAt>,
    arch_refs: Vec<u32>,
}

/// rock name → version text → entries, as the parsed manifest holds them.
pub type Repository = BTreeMap<String, BTreeMap<String, Entries>>;

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// The index file of `repository`, parsed from manifest bytes hashing to
/// `manifest_hash`.
pub fn encode(repository: &Repository, manifest_hash: &[u8; 32]) -> Vec<u8> {
    let mut arches: Vec<&str> = Vec::new();
    let mut arch_of: BTreeMap<&str, usize> = BTreeMap::new();
    for entries in repository.values().flat_map(BTreeMap::values) {
        for a in &entries.arches {
            arch_of.entry(a.as_str()).or_insert_with(|| {
                arches.push(a.as_str());
                arches.len() - 1
            });
        }
    }
    let mut out = Vec::with_capacity(64 + repository.len() * 64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(manifest_hash);
    put_u32(&mut out, arches.len());
    for a in &arches {
        put_str(&mut out, a);
    }
    put_u32(&mut out, repository.len());
    for (name, versions) in repository {
        put_str(&mut out, name);
        put_u32(&mut out, versions.len());
        for (version, entries) in versions {
            put_str(&mut out, version);
            put_u32(&mut out, entries.arches.len());
            for a in &entries.arches {
                put_u32(&mut out, arch_of.get(a.as_str()).copied().unwrap_or(0));
            }
        }
    }
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

/// Reads fields off the index bytes, every read bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<Range<usize>, IndexError> {
        let end = self.at.checked_add(n).ok_or(IndexError::Length)?;
        if end > self.bytes.len() {
            return Err(IndexError::Length);
        }
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        let r = self.take(4)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[r]);
        Ok(u32::from_le_bytes(b))
    }

    /// A length-prefixed UTF-8 string's range.
    fn string(&mut self) -> Result<Range<u32>, IndexError> {
        let len = self.u32()? as usize;
        let r = self.take(len)?;
        std::str::from_utf8(&self.bytes[r.clone()])
            .map_err(|_| IndexError::Malformed("a string is not UTF-8"))?;
        Ok(r.start as u32..r.end as u32)
    }
}

impl ManifestIndex {
    /// Decodes index file bytes made from the manifest hashing to
    /// `manifest_hash`, checking every rule of the format.
    pub fn decode(bytes: Vec<u8>, manifest_hash: &[u8; 32]) -> Result<ManifestIndex, IndexError> {
        if bytes.len() < MAGIC.len() + 32 + 32 || bytes.len() > u32::MAX as usize {
            return Err(IndexError::Length);
        }
        if bytes[..8] != MAGIC {
            return Err(IndexError::Magic);
        }
        if bytes[8..40] != manifest_hash[..] {
            return Err(IndexError::OtherManifest);
        }
        let body = bytes.len() - 32;
        if blake3::hash(&bytes[..body]).as_bytes()[..] != bytes[body..] {
            return Err(IndexError::Checksum);
        }
        let mut c = Cursor {
            bytes: &bytes[..body],
            at: 40,
        };
        let arch_count = c.u32()? as usize;
        let mut arches = Vec::with_capacity(arch_count.min(1 << 16));
        for _ in 0..arch_count {
            let r = c.string()?;
            arches.push(
                String::from_utf8_lossy(&bytes[r.start as usize..r.end as usize]).into_owned(),
            );
        }
        let rock_count = c.u32()? as usize;
        // Each rock takes at least 8 bytes: a bound before allocating.
        let mut rocks = Vec::with_capacity(rock_count.min(body / 8));
        let mut versions = Vec::new();
        let mut arch_refs = Vec::new();
        let text = |r: &Range<u32>| &bytes[r.start as usize..r.end as usize];
        for _ in 0..rock_count {
            let name = c.string()?;
            if let Some(prev) = rocks.last() {
                let prev: &Rock = prev;
                if text(&prev.name) >= text(&name) {
                    return Err(IndexError::Malformed("rock names out of order"));
                }
            }
            let count = c.u32()? as usize;
            let first = versions.len() as u32;
            for i in 0..count {
                let version = c.string()?;
                if i > 0 {
                    let prev: &VersionAt = &versions[versions.len() - 1];
                    if text(&prev.text) >= text(&version) {
                        return Err(IndexError::Malformed("versions out of order"));
                    }
                }
                let n = c.u32()? as usize;
                let start = arch_refs.len() as u32;
                for _ in 0..n {
                    let a = c.u32()?;
                    if a as usize >= arches.len() {
                        return Err(IndexError::Malformed("an arch index is out of range"));
                    }
                    arch_refs.push(a);
                }
                versions.push(VersionAt {
                    text: version,
                    arches: start..arch_refs.len() as u32,
                });
            }
            rocks.push(Rock {
                name,
                versions: first..versions.len() as u32,
            });
        }
        if c.at != body {
            return Err(IndexError::Length);
        }
        Ok(ManifestIndex {
            bytes,
            arches,
            rocks,
            versions,
            arch_refs,
        })
    }

    /// The index of `repository` (as [`encode`] then [`ManifestIndex::decode`]).
    pub fn of(repository: &Repository, manifest_hash: &[u8; 32]) -> ManifestIndex {
        let bytes = encode(repository, manifest_hash);
        // What encode wrote always decodes; an empty index otherwise.
        ManifestIndex::decode(bytes, manifest_hash).unwrap_or_else(|_| ManifestIndex {
            bytes: Vec::new(),
            arches: Vec::new(),
            rocks: Vec::new(),
            versions: Vec::new(),
            arch_refs: Vec::new(),
        })
    }

    /// The file's bytes, as [`encode`] made them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn str_at(&self, r: &Range<u32>) -> &str {
        // Checked to be UTF-8 when decoded.
        std::str::from_utf8(&self.bytes[r.start as usize..r.end as usize]).unwrap_or_default()
    }

    /// Every rock name, in byte order.
    pub fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        self.rocks
            .iter()
            .enumerate()
            .map(|(i, r)| (i, self.str_at(&r.name)))
    }

    /// The position of rock `name`, found by binary search.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.rocks
            .binary_search_by(|r| self.str_at(&r.name).as_bytes().cmp(name.as_bytes()))
            .ok()
    }

    /// The versions of the rock at `rock` (from [`ManifestIndex::names`] or
    /// [`ManifestIndex::find`]), in byte order, each with its arches in
    /// manifest order.
    pub fn versions(
        &self,
        rock: usize,
    ) -> impl Iterator<Item = (&str, impl Iterator<Item = &str>)> {
        let range = self
            .rocks
            .get(rock)
            .map_or(0..0, |r| r.versions.start as usize..r.versions.end as usize);
        self.versions[range].iter().map(move |v| {
            let refs = &self.arch_refs[v.arches.start as usize..v.arches.end as usize];
            (
                self.str_at(&v.text),
                refs.iter().map(move |a| self.arches[*a as usize].as_str()),
            )
        })
    }

    /// Number of (rock, version) pairs.
    pub fn version_count(&self) -> usize {
        self.versions.len()
    }
}

/// Where the index of a manifest hashing to `manifest_hash` (read as
/// `reader`: `lua`, `zip` or `json`) lives under the cache directory.
pub fn cache_path(cache: &Path, manifest_hash: &[u8; 32], reader: &str) -> PathBuf {
    cache.join("indexes").join(format!(
        "{}.{reader}.1",
        blake3::Hash::from_bytes(*manifest_hash).to_hex()
    ))
}

/// The cached index, when there is a good one.
pub fn read_cached(cache: &Path, manifest_hash: &[u8; 32], reader: &str) -> Option<ManifestIndex> {
    let bytes = std::fs::read(cache_path(cache, manifest_hash, reader)).ok()?;
    ManifestIndex::decode(bytes, manifest_hash).ok()
}

/// Best effort: an index that cannot be written costs a parse next time.
/// Temp + rename, not synced (a cache).
pub fn write_cached(cache: &Path, index: &ManifestIndex, manifest_hash: &[u8; 32], reader: &str) {
    let path = cache_path(cache, manifest_hash, reader);
    let Some(dir) = path.parent() else {
        return;
    };
    let _ = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let temp = dir.join(crate::fs_atomic::unique_name(".tmp"));
        std::fs::write(&temp, index.bytes())?;
        std::fs::rename(&temp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    })();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> Repository {
        let mut r = Repository::new();
        let e = |a: &[&str]| Entries {
            arches: a.iter().map(|s| (*s).to_owned()).collect(),
        };
        r.entry("lpeg".into())
            .or_default()
            .insert("1.0.2-1".into(), e(&["src", "rockspec"]));
        r.entry("lpeg".into())
            .or_default()
            .insert("1.1.0-1".into(), e(&["rockspec"]));
        r.entry("a-b".into())
            .or_default()
            .insert("scm-1".into(), e(&["rockspec", "all"]));
        r
    }

    #[test]
    fn decodes_what_it_encodes_and_refuses_damage() {
        let hash = *blake3::hash(b"manifest").as_bytes();
        let bytes = encode(&repo(), &hash);
        let index = ManifestIndex::decode(bytes.clone(), &hash).expect("decode");
        let names: Vec<&str> = index.names().map(|(_, n)| n).collect();
        assert_eq!(names, ["a-b", "lpeg"]);
        let lpeg = index.find("lpeg").expect("lpeg");
        let versions: Vec<(String, Vec<String>)> = index
            .versions(lpeg)
            .map(|(v, a)| (v.to_owned(), a.map(str::to_owned).collect()))
            .collect();
        assert_eq!(
            versions,
            [
                (
                    "1.0.2-1".to_owned(),
                    vec!["src".to_owned(), "rockspec".to_owned()]
                ),
                ("1.1.0-1".to_owned(), vec!["rockspec".to_owned()])
            ]
        );
        assert_eq!(index.find("lpe"), None);
        assert_eq!(index.version_count(), 3);
        let other = *blake3::hash(b"other").as_bytes();
        assert!(matches!(
            ManifestIndex::decode(bytes.clone(), &other),
            Err(IndexError::OtherManifest)
        ));
        let mut flipped = bytes.clone();
        flipped[50] ^= 1;
        assert!(matches!(
            ManifestIndex::decode(flipped, &hash),
            Err(IndexError::Checksum)
        ));
        assert!(ManifestIndex::decode(bytes[..bytes.len() - 1].to_vec(), &hash).is_err());
    }
}
