//! The manifest index: what a rocks server's manifest lists (rock names,
//! their versions, each version's arches), parsed once and kept as a
//! compact file beside the download cache, named by the blake3 hash of the
//! manifest's bytes. `search`, `install` and `--dry-run` read it instead of
//! evaluating megabytes of Lua again.
//!
//! The byte layout is specified in `store-format/v1/manifest-index.md`
//! (format 2, with a vector `tests/it/warm.rs` and
//! `store-format/check_vectors.py` check):
//! ```text
//! magic      8   "RSMIDX\0\x02"
//! manifest  32   blake3 of the manifest file's bytes
//! arches     u32 count, then each: u32 length, UTF-8 bytes
//! names      u32 count, count × (u32 start, u32 length, u32 block), then
//!            u32 pool length and the pool: every name's bytes
//! rocks      u32 length, then each rock's block, in name order:
//!              u32 version count, then each version, in strictly
//!              increasing byte order: u32 length, version bytes, u32 arch
//!              count, that many u32 indexes into the arches
//! checksum  32   blake3 of every byte before it
//! ```
//! Integers are little-endian. The order is the order of the parsed
//! manifest's maps (`BTreeMap` by bytes), so a search over the index sees
//! exactly what a search over the parsed manifest sees.
//!
//! Why a name table: a search asks for one name (or names containing a
//! word), and format 1 made every reader decode all 30,000 versions of a
//! real manifest to find a handful. Opening now checks the whole file's
//! checksum and the name table; one rock's block is decoded, and checked,
//! only when that rock is asked for. A file that fails a check on opening
//! is not an index (the caller parses the manifest again and writes a new
//! one); a block that fails when it is read is reported as
//! [`IndexError`], and the caller removes the file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::repository::Entries;

/// The first bytes of every index file (format 2).
pub const MAGIC: [u8; 8] = *b"RSMIDX\0\x02";

/// This format's version: the last part of an index file's name.
pub const FORMAT: u32 = 2;

/// Why bytes are not an index of the manifest asked for.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Shorter than its fields say, or bytes after the checksum.
    #[error("manifest index is truncated or has trailing bytes")]
    Length,
    /// Not format 2.
    #[error("not a manifest index of format 2")]
    Magic,
    /// Made from other manifest bytes.
    #[error("manifest index was made from another manifest")]
    OtherManifest,
    /// The checksum does not match: damaged.
    #[error("manifest index checksum mismatch")]
    Checksum,
    /// A string is not UTF-8, an arch index is out of range, names or
    /// versions are not strictly increasing, or a block is not where the
    /// name table says.
    #[error("manifest index is malformed: {0}")]
    Malformed(&'static str),
}

/// One entry of the name table: the name's range and the rock's block,
/// both as absolute offsets into the file.
#[derive(Debug, Clone)]
struct Rock {
    name: Range<u32>,
    block: Range<u32>,
}

/// An opened index: the file's bytes, its arches and its name table; the
/// versions stay encoded until asked for.
#[derive(Debug, Clone)]
pub struct ManifestIndex {
    bytes: Vec<u8>,
    arches: Vec<String>,
    rocks: Vec<Rock>,
    /// Where the name pool lies in `bytes`: every name, one after another
    /// in table order (checked when opened).
    pool: Range<u32>,
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
    // The blocks first, to know where each begins.
    let mut blocks = Vec::with_capacity(repository.len() * 48);
    let mut table = Vec::with_capacity(repository.len() * 12);
    let mut pool = Vec::with_capacity(repository.len() * 12);
    for (name, versions) in repository {
        put_u32(&mut table, pool.len());
        put_u32(&mut table, name.len());
        put_u32(&mut table, blocks.len());
        pool.extend_from_slice(name.as_bytes());
        put_u32(&mut blocks, versions.len());
        for (version, entries) in versions {
            put_str(&mut blocks, version);
            put_u32(&mut blocks, entries.arches.len());
            for a in &entries.arches {
                put_u32(&mut blocks, arch_of.get(a.as_str()).copied().unwrap_or(0));
            }
        }
    }
    let mut out = Vec::with_capacity(96 + table.len() + pool.len() + blocks.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(manifest_hash);
    put_u32(&mut out, arches.len());
    for a in &arches {
        put_str(&mut out, a);
    }
    put_u32(&mut out, repository.len());
    out.extend_from_slice(&table);
    put_u32(&mut out, pool.len());
    out.extend_from_slice(&pool);
    put_u32(&mut out, blocks.len());
    out.extend_from_slice(&blocks);
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

/// Reads fields off the index bytes, every read bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
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

    /// A length-prefixed UTF-8 string.
    fn string(&mut self) -> Result<&'a str, IndexError> {
        let len = self.u32()? as usize;
        let r = self.take(len)?;
        let bytes: &'a [u8] = self.bytes;
        std::str::from_utf8(&bytes[r]).map_err(|_| IndexError::Malformed("a string is not UTF-8"))
    }
}

/// One rock's versions, decoded from its block: each version's text and
/// its arches (indexes into the index's arches), in order.
#[derive(Debug)]
pub struct Versions<'a> {
    index: &'a ManifestIndex,
    list: Vec<(&'a str, Range<usize>)>,
    arch_refs: Vec<u32>,
}

impl<'a> Versions<'a> {
    /// Each version's text and its arches in manifest order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, impl Iterator<Item = &'a str> + '_)> {
        let arches = &self.index.arches;
        self.list.iter().map(move |(text, refs)| {
            (
                *text,
                self.arch_refs[refs.clone()]
                    .iter()
                    .map(move |a| arches[*a as usize].as_str()),
            )
        })
    }

    /// How many versions.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No versions.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl ManifestIndex {
    /// Opens index file bytes made from the manifest hashing to
    /// `manifest_hash`: checks the magic, the hash, the checksum, the
    /// arches and the name table. The rocks' blocks are checked as they
    /// are read ([`ManifestIndex::versions`]).
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
            arches.push(c.string()?.to_owned());
        }
        let rock_count = c.u32()? as usize;
        let table = c.take(rock_count.checked_mul(12).ok_or(IndexError::Length)?)?;
        let pool_len = c.u32()? as usize;
        let pool = c.take(pool_len)?;
        let pool_text = std::str::from_utf8(&bytes[pool.clone()])
            .map_err(|_| IndexError::Malformed("a name is not UTF-8"))?;
        let blocks_len = c.u32()? as usize;
        let blocks = c.take(blocks_len)?;
        if c.at != body {
            return Err(IndexError::Length);
        }
        let mut rocks: Vec<Rock> = Vec::with_capacity(rock_count);
        let mut t = Cursor {
            bytes: &bytes[table],
            at: 0,
        };
        let mut previous: Option<&str> = None;
        let mut starts = Vec::with_capacity(rock_count);
        for _ in 0..rock_count {
            let start = t.u32()? as usize;
            let len = t.u32()? as usize;
            let block = t.u32()? as usize;
            // Names follow one another in the pool, so that a search for
            // a word can run over the pool once.
            let expected_start = rocks
                .last()
                .map_or(pool.start, |r: &Rock| r.name.end as usize);
            if pool.start + start != expected_start {
                return Err(IndexError::Malformed("a name is out of place"));
            }
            let name = start
                .checked_add(len)
                .and_then(|end| pool_text.get(start..end))
                .ok_or(IndexError::Malformed("a name is out of bounds"))?;
            if previous.is_some_and(|p| p.as_bytes() >= name.as_bytes()) {
                return Err(IndexError::Malformed("rock names out of order"));
            }
            previous = Some(name);
            // Blocks follow one another from the first byte: each begins
            // past the previous one's count, and the last ends the section.
            let expected_min = starts.last().map_or(0, |s: &usize| s + 4);
            if (starts.is_empty() && block != 0) || block < expected_min || block >= blocks_len {
                return Err(IndexError::Malformed("a rock's block is out of place"));
            }
            starts.push(block);
            let at = pool.start + start;
            rocks.push(Rock {
                name: at as u32..(at + len) as u32,
                block: 0..0,
            });
        }
        if rock_count == 0 && blocks_len != 0 {
            return Err(IndexError::Length);
        }
        if rocks.last().map_or(pool.start, |r| r.name.end as usize) != pool.end {
            return Err(IndexError::Malformed(
                "the name pool has bytes no name uses",
            ));
        }
        for (i, rock) in rocks.iter_mut().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(blocks_len);
            rock.block = (blocks.start + starts[i]) as u32..(blocks.start + end) as u32;
        }
        Ok(ManifestIndex {
            bytes,
            arches,
            rocks,
            pool: pool.start as u32..pool.end as u32,
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
            pool: 0..0,
        })
    }

    /// The file's bytes, as [`encode`] made them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn name_at(&self, rock: &Rock) -> &str {
        // Checked to lie in the UTF-8 pool on char boundaries when opened.
        std::str::from_utf8(&self.bytes[rock.name.start as usize..rock.name.end as usize])
            .unwrap_or_default()
    }

    /// Every rock name, in byte order.
    pub fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        self.rocks
            .iter()
            .enumerate()
            .map(|(i, r)| (i, self.name_at(r)))
    }

    /// Every rock whose name contains `word`, in byte order: one pass of
    /// a substring search over the name pool (names lie there one after
    /// another), instead of a search started again for each name.
    pub fn names_containing(&self, word: &str) -> Vec<(usize, &str)> {
        if word.is_empty() {
            return self.names().collect();
        }
        // Checked to be UTF-8 when opened.
        let pool =
            std::str::from_utf8(&self.bytes[self.pool.start as usize..self.pool.end as usize])
                .unwrap_or_default();
        let base = self.pool.start as usize;
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(at) = pool.get(from..).and_then(|rest| rest.find(word)) {
            let at = from + at;
            // The rock whose name holds byte `at`: the last to start at or
            // before it (names cover the pool, so there is one).
            let Some(i) = self
                .rocks
                .partition_point(|r| r.name.start as usize - base <= at)
                .checked_sub(1)
            else {
                break;
            };
            let rock = &self.rocks[i];
            let end = rock.name.end as usize - base;
            if at + word.len() <= end {
                found.push((i, self.name_at(rock)));
            }
            // On to the next name: a match across two names is none, and a
            // name is listed once. (The name holding `at` ends after it.)
            if end <= at {
                break;
            }
            from = end;
        }
        found
    }

    /// The position of rock `name`, found by binary search.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.rocks
            .binary_search_by(|r| self.name_at(r).as_bytes().cmp(name.as_bytes()))
            .ok()
    }

    /// The versions of the rock at `rock` (from [`ManifestIndex::names`] or
    /// [`ManifestIndex::find`]), in byte order, each with its arches in
    /// manifest order; only this rock's block is decoded, and checked:
    /// bounds, UTF-8, order, arch indexes, and that it ends where the next
    /// begins.
    pub fn versions(&self, rock: usize) -> Result<Versions<'_>, IndexError> {
        let mut out = Versions {
            index: self,
            list: Vec::new(),
            arch_refs: Vec::new(),
        };
        let Some(r) = self.rocks.get(rock) else {
            return Ok(out);
        };
        let mut c = Cursor {
            bytes: &self.bytes[r.block.start as usize..r.block.end as usize],
            at: 0,
        };
        let count = c.u32()? as usize;
        // Each version takes at least 8 bytes: a bound before allocating.
        out.list.reserve(count.min(c.bytes.len() / 8));
        let mut previous: Option<&str> = None;
        for _ in 0..count {
            let text = c.string()?;
            if previous.is_some_and(|p| p.as_bytes() >= text.as_bytes()) {
                return Err(IndexError::Malformed("versions out of order"));
            }
            previous = Some(text);
            let n = c.u32()? as usize;
            let start = out.arch_refs.len();
            for _ in 0..n {
                let a = c.u32()?;
                if a as usize >= self.arches.len() {
                    return Err(IndexError::Malformed("an arch index is out of range"));
                }
                out.arch_refs.push(a);
            }
            out.list.push((text, start..out.arch_refs.len()));
        }
        if c.at != c.bytes.len() {
            return Err(IndexError::Malformed("a rock's block has bytes after it"));
        }
        Ok(out)
    }

    /// Number of (rock, version) pairs (decodes every block).
    pub fn version_count(&self) -> Result<usize, IndexError> {
        (0..self.rocks.len()).try_fold(0, |n, i| Ok(n + self.versions(i)?.len()))
    }
}

/// Where the index of a manifest hashing to `manifest_hash` (read as
/// `reader`: `lua`, `zip` or `json`) lives under the cache directory.
pub fn cache_path(cache: &Path, manifest_hash: &[u8; 32], reader: &str) -> PathBuf {
    cache.join("indexes").join(format!(
        "{}.{reader}.{FORMAT}",
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
            .expect("lpeg's block")
            .iter()
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
        assert_eq!(index.version_count().expect("every block"), 3);
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

    #[test]
    fn names_containing_a_word_are_those_a_filter_over_each_name_finds() {
        let mut r = Repository::new();
        // Matches that straddle two names ("a" + "ab…"), overlap a real
        // one ("aa" in "aab"), sit at a name's start or end, or repeat.
        for name in [
            "",
            "a",
            "aab",
            "b",
            "ba",
            "baa",
            "caaaa",
            "lpeg",
            "lpeg_patterns",
            "xlpeg",
        ] {
            r.entry(name.into()).or_default().insert(
                "1.0-1".into(),
                Entries {
                    arches: vec!["rockspec".into()],
                },
            );
        }
        let index = ManifestIndex::of(&r, &[0; 32]);
        for word in [
            "", "a", "aa", "ab", "ba", "b", "lpeg", "peg_", "g", "zz", "aaaa",
        ] {
            let by_filter: Vec<(usize, &str)> =
                index.names().filter(|(_, n)| n.contains(word)).collect();
            assert_eq!(index.names_containing(word), by_filter, "{word:?}");
        }
    }

    /// `bytes` with its checksum made again, as a buggy writer would.
    fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
        let body = bytes.len() - 32;
        let sum = blake3::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(sum.as_bytes());
        bytes
    }

    #[test]
    fn a_bad_block_is_found_when_its_rock_is_read_and_not_before() {
        let hash = *blake3::hash(b"manifest").as_bytes();
        let mut bytes = encode(&repo(), &hash);
        // lpeg's last arch index is the last u32 before the checksum.
        let at = bytes.len() - 36;
        bytes[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        let index = ManifestIndex::decode(resealed(bytes), &hash).expect("the name table is good");
        let a_b = index.find("a-b").expect("a-b");
        assert_eq!(index.versions(a_b).expect("a-b's block").len(), 1);
        let lpeg = index.find("lpeg").expect("lpeg");
        assert!(matches!(
            index.versions(lpeg),
            Err(IndexError::Malformed("an arch index is out of range"))
        ));
    }

    #[test]
    fn a_name_table_out_of_order_or_out_of_place_is_not_an_index() {
        let hash = *blake3::hash(b"manifest").as_bytes();
        let bytes = encode(&repo(), &hash);
        // The name table follows the arch count, the arches ("rockspec",
        // "all", "src", each with its length) and the rock count.
        let table = 40 + 4 + [3, 8, 3].iter().map(|n| 4 + n).sum::<usize>() + 4;
        // Swap the two entries: names out of order.
        let mut swapped = bytes.clone();
        let first: Vec<u8> = swapped[table..table + 12].to_vec();
        swapped.copy_within(table + 12..table + 24, table);
        swapped[table + 12..table + 24].copy_from_slice(&first);
        assert!(matches!(
            ManifestIndex::decode(resealed(swapped), &hash),
            Err(IndexError::Malformed(_))
        ));
        // The second rock's block pointed inside the first's count.
        let mut misplaced = bytes.clone();
        misplaced[table + 20..table + 24].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(
            ManifestIndex::decode(resealed(misplaced), &hash),
            Err(IndexError::Malformed("a rock's block is out of place"))
        ));
    }
}
