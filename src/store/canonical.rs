//! The canonical encoding of an item's tree (store-format/v1/serialization.md)
//! and the content hash computed over it.
//!
//! ```text
//! stream    = magic node
//! magic     = "rockstore:tree:1"                    16 bytes, no terminator
//! node      = regular | executable | symlink | directory
//! regular   = 0x01 u64le(size) digest               digest = blake3(contents), 32 bytes
//! executable= 0x02 u64le(size) digest
//! symlink   = 0x03 u64le(len) target                target bytes, UTF-8, len >= 1
//! directory = 0x04 u64le(count) entry*              entries sorted bytewise by name
//! entry     = u64le(len) name node                  name: a PathComponent
//! ```
//! The content hash is `blake3(stream)`. Each file's contents are hashed on
//! their own (so files hash in parallel and a verifier can name the file that
//! changed); the stream carries those per-file digests, which makes the
//! content hash the root of a two-level Merkle tree. Nothing else is recorded:
//! no owners, times, hard links, or modes beyond the executable bit.
//!
//! Pure: no I/O. Reading a tree from disk lives in `admit`.

use std::collections::BTreeMap;

use super::content_hash::{ContentHash, DIGEST_LEN};
use super::item_name::{NameError, PathComponent};

/// The 16 magic bytes that open every stream (and version it).
pub const MAGIC: &[u8; 16] = b"rockstore:tree:1";

const TAG_REGULAR: u8 = 1;
const TAG_EXECUTABLE: u8 = 2;
const TAG_SYMLINK: u8 = 3;
const TAG_DIRECTORY: u8 = 4;

/// Deepest directory nesting accepted, so hostile trees cannot exhaust the stack.
pub const MAX_DEPTH: usize = 256;

/// One node of an item's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file, by size and blake3 digest of its contents.
    File {
        /// Whether the owner-executable bit was set (0555 in the store, else 0444).
        executable: bool,
        /// Length of the contents in bytes.
        size: u64,
        /// blake3 of the contents.
        digest: [u8; DIGEST_LEN],
    },
    /// A symbolic link and its target, as written.
    Symlink {
        /// The target; checked by [`check_symlink_target`].
        target: String,
    },
    /// A directory; `BTreeMap` over UTF-8 strings orders entries bytewise.
    Directory(BTreeMap<PathComponent, Node>),
}

/// The least a quota charges for any entry of an item (a block).
pub const INODE_CHARGE: u64 = 4096;

impl Node {
    /// An empty directory.
    pub fn empty_dir() -> Node {
        Node::Directory(BTreeMap::new())
    }

    /// Number of regular files and their total size, for item records.
    pub fn file_stats(&self) -> (u64, u64) {
        match self {
            Node::File { size, .. } => (1, *size),
            Node::Symlink { .. } => (0, 0),
            Node::Directory(entries) => entries.values().fold((0, 0), |(n, s), child| {
                let (cn, cs) = child.file_stats();
                (n + cn, s + cs)
            }),
        }
    }

    /// What the tree costs on a disk, as a quota charges it: every
    /// directory, link and file at least [`INODE_CHARGE`], files rounded
    /// up to it (a file system allocates whole blocks and an inode each,
    /// so 20,000 empty directories are not free).
    pub fn disk_charge(&self) -> u64 {
        match self {
            Node::File { size, .. } => size.div_ceil(INODE_CHARGE).max(1) * INODE_CHARGE,
            Node::Symlink { .. } => INODE_CHARGE,
            Node::Directory(entries) => entries.values().fold(INODE_CHARGE, |sum, child| {
                sum.saturating_add(child.disk_charge())
            }),
        }
    }

    /// Every node with its path from the root (`""` for the root), depth first
    /// in canonical order.
    pub fn walk(&self) -> Vec<(String, &Node)> {
        let mut out = Vec::new();
        walk_into(self, String::new(), &mut out);
        out
    }
}

fn walk_into<'a>(node: &'a Node, path: String, out: &mut Vec<(String, &'a Node)>) {
    out.push((path.clone(), node));
    if let Node::Directory(entries) = node {
        for (name, child) in entries {
            let child_path = if path.is_empty() {
                name.as_str().to_owned()
            } else {
                format!("{path}/{name}")
            };
            walk_into(child, child_path, out);
        }
    }
}

/// Serializes a tree into its canonical stream.
pub fn serialize(root: &Node) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(MAGIC);
    serialize_node(root, &mut out);
    out
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn serialize_node(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::File {
            executable,
            size,
            digest,
        } => {
            out.push(if *executable {
                TAG_EXECUTABLE
            } else {
                TAG_REGULAR
            });
            put_u64(out, *size);
            out.extend_from_slice(digest);
        }
        Node::Symlink { target } => {
            out.push(TAG_SYMLINK);
            put_bytes(out, target.as_bytes());
        }
        Node::Directory(entries) => {
            out.push(TAG_DIRECTORY);
            put_u64(out, entries.len() as u64);
            for (name, child) in entries {
                put_bytes(out, name.as_str().as_bytes());
                serialize_node(child, out);
            }
        }
    }
}

/// The content hash of a tree: blake3 over its canonical stream.
pub fn content_hash(root: &Node) -> ContentHash {
    hash_stream(&serialize(root))
}

/// blake3 over an already serialized stream.
pub fn hash_stream(stream: &[u8]) -> ContentHash {
    ContentHash(*blake3::hash(stream).as_bytes())
}

/// A stream that does not follow the grammar.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// The first 16 bytes are not [`MAGIC`].
    #[error("not a rockstore tree stream (bad magic or unknown format version)")]
    BadMagic,
    /// Ended in the middle of a node.
    #[error("stream ends early at byte {0}")]
    Truncated(usize),
    /// Bytes left after the root node.
    #[error("{0} trailing bytes after the root node")]
    Trailing(usize),
    /// A tag byte that is not 1–4.
    #[error("unknown node tag {tag:#04x} at byte {offset}")]
    BadTag {
        /// The tag found.
        tag: u8,
        /// Where it was found.
        offset: usize,
    },
    /// An entry name that breaks the name rules.
    #[error("bad entry name at byte {offset}: {source}")]
    BadName {
        /// Where the name starts.
        offset: usize,
        /// The rule it breaks.
        source: NameError,
    },
    /// Entries not in strictly increasing bytewise order (or duplicated).
    #[error("directory entries out of order at byte {0}")]
    Unsorted(usize),
    /// A symlink target that is empty or not UTF-8.
    #[error("bad symlink target at byte {0}")]
    BadTarget(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("directories nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Parses a canonical stream back into a tree, rejecting anything that is not
/// exactly what [`serialize`] would produce.
pub fn parse(stream: &[u8]) -> Result<Node, ParseError> {
    if stream.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(ParseError::BadMagic);
    }
    let mut reader = Reader {
        bytes: stream,
        pos: MAGIC.len(),
    };
    let root = reader.node(0)?;
    if reader.pos != stream.len() {
        return Err(ParseError::Trailing(stream.len() - reader.pos));
    }
    Ok(root)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ParseError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(ParseError::Truncated(self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u64(&mut self) -> Result<u64, ParseError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(buf))
    }

    fn len_prefixed(&mut self) -> Result<&[u8], ParseError> {
        let at = self.pos;
        let len = usize::try_from(self.u64()?).map_err(|_| ParseError::Truncated(at))?;
        self.take(len)
    }

    fn node(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let offset = self.pos;
        let tag = self.take(1)?[0];
        match tag {
            TAG_REGULAR | TAG_EXECUTABLE => {
                let size = self.u64()?;
                let mut digest = [0u8; DIGEST_LEN];
                digest.copy_from_slice(self.take(DIGEST_LEN)?);
                Ok(Node::File {
                    executable: tag == TAG_EXECUTABLE,
                    size,
                    digest,
                })
            }
            TAG_SYMLINK => {
                let at = self.pos;
                let raw = self.len_prefixed()?;
                match std::str::from_utf8(raw) {
                    Ok(t) if !t.is_empty() && !t.contains('\0') => Ok(Node::Symlink {
                        target: t.to_owned(),
                    }),
                    _ => Err(ParseError::BadTarget(at)),
                }
            }
            TAG_DIRECTORY => {
                let count = self.u64()?;
                let mut entries = BTreeMap::new();
                let mut last: Option<PathComponent> = None;
                for _ in 0..count {
                    let at = self.pos;
                    let name = PathComponent::from_bytes(self.len_prefixed()?)
                        .map_err(|source| ParseError::BadName { offset: at, source })?;
                    if last.as_ref().is_some_and(|prev| prev >= &name) {
                        return Err(ParseError::Unsorted(at));
                    }
                    let child = self.node(depth + 1)?;
                    last = Some(name.clone());
                    entries.insert(name, child);
                }
                Ok(Node::Directory(entries))
            }
            tag => Err(ParseError::BadTag { tag, offset }),
        }
    }
}

/// Where a symlink target leads, judged lexically (store-format/v1/model.md).
#[derive(Debug, PartialEq, Eq)]
pub enum LinkDestination<'a> {
    /// Stays inside the item.
    Inside,
    /// Leaves the item into the sibling item directory with this name.
    OtherItem(&'a str),
}

/// Why a symlink target is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    /// Absolute targets would depend on where the store is mounted.
    #[error("it is absolute; items must not depend on where they are installed")]
    Absolute,
    /// Empty target.
    #[error("its target is empty")]
    Empty,
    /// `..` after a normal component: with other links inside, `a/..` is not
    /// always the directory that holds `a`, so such targets cannot be checked.
    #[error(
        "it uses `..` after a directory name; write the target as ../…/name with all `..` first"
    )]
    DotDotAfterName,
    /// Climbs above the store's `store/` directory, or into `store/` without
    /// naming an item.
    #[error("it points outside the item")]
    Escapes,
}

/// Checks that a symlink at depth `link_depth` (the number of directories
/// between the item root and the link; 0 for a link in the root) stays inside
/// its item, or enters a sibling item directory. Targets must have the form
/// `(../)* name (/name)*` (`.` and empty components are ignored), so the
/// upward part passes only through real directories and the check is sound.
pub fn check_symlink_target(
    target: &str,
    link_depth: usize,
) -> Result<LinkDestination<'_>, LinkError> {
    if target.is_empty() {
        return Err(LinkError::Empty);
    }
    if target.starts_with('/') {
        return Err(LinkError::Absolute);
    }
    let mut ups = 0usize;
    let mut seen_name = false;
    let mut first_name_after_escape: Option<&str> = None;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." if seen_name => return Err(LinkError::DotDotAfterName),
            ".." => ups += 1,
            name => {
                if !seen_name && ups == link_depth + 1 {
                    first_name_after_escape = Some(name);
                }
                seen_name = true;
            }
        }
    }
    if ups <= link_depth {
        Ok(LinkDestination::Inside)
    } else if ups == link_depth + 1 {
        first_name_after_escape
            .map(LinkDestination::OtherItem)
            .ok_or(LinkError::Escapes)
    } else {
        Err(LinkError::Escapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8], executable: bool) -> Node {
        Node::File {
            executable,
            size: content.len() as u64,
            digest: *blake3::hash(content).as_bytes(),
        }
    }

    fn dir(entries: Vec<(&str, Node)>) -> Node {
        Node::Directory(
            entries
                .into_iter()
                .map(|(n, c)| (PathComponent::from_bytes(n.as_bytes()).expect("name"), c))
                .collect(),
        )
    }

    #[test]
    fn round_trip_and_sensitivity() {
        let a = dir(vec![
            ("a.lua", file(b"return 1", false)),
            ("bin", dir(vec![("x", file(b"#!", true))])),
        ]);
        let stream = serialize(&a);
        assert_eq!(parse(&stream), Ok(a.clone()));
        let exec_changed = dir(vec![
            ("a.lua", file(b"return 1", true)),
            ("bin", dir(vec![("x", file(b"#!", true))])),
        ]);
        assert_ne!(content_hash(&a), content_hash(&exec_changed));
        let link = dir(vec![("l", Node::Symlink { target: "a".into() })]);
        let link2 = dir(vec![("l", Node::Symlink { target: "b".into() })]);
        assert_ne!(content_hash(&link), content_hash(&link2));
    }

    #[test]
    fn parse_rejects_noncanonical_streams() {
        let mut s = serialize(&dir(vec![("b", file(b"", false)), ("a", file(b"", false))]));
        assert!(parse(&s).is_ok());
        // Swap the two one-byte names: now out of order.
        let first = s.iter().position(|&b| b == b'a').expect("a");
        let second = s.iter().position(|&b| b == b'b').expect("b");
        s.swap(first, second);
        assert!(matches!(parse(&s), Err(ParseError::Unsorted(_))));
        assert_eq!(parse(b"nope"), Err(ParseError::BadMagic));
        let mut t = serialize(&Node::empty_dir());
        t.push(0);
        assert_eq!(parse(&t), Err(ParseError::Trailing(1)));
    }

    #[test]
    fn symlink_targets() {
        assert_eq!(check_symlink_target("a/b", 0), Ok(LinkDestination::Inside));
        assert_eq!(check_symlink_target("../a", 1), Ok(LinkDestination::Inside));
        assert_eq!(
            check_symlink_target("./../x", 1),
            Ok(LinkDestination::Inside)
        );
        assert_eq!(
            check_symlink_target("../x", 0),
            Ok(LinkDestination::OtherItem("x"))
        );
        assert_eq!(
            check_symlink_target("../../../x/y", 2),
            Ok(LinkDestination::OtherItem("x"))
        );
        assert_eq!(check_symlink_target("..", 0), Err(LinkError::Escapes));
        assert_eq!(check_symlink_target("../../x", 0), Err(LinkError::Escapes));
        assert_eq!(
            check_symlink_target("/etc/passwd", 3),
            Err(LinkError::Absolute)
        );
        assert_eq!(
            check_symlink_target("a/../../x", 3),
            Err(LinkError::DotDotAfterName)
        );
        assert_eq!(check_symlink_target("", 0), Err(LinkError::Empty));
    }
}
