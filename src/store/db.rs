//! The records under `db/`: item records, realisations and tree registrations,
//! encoded with bincode 2.0.1's standard configuration.
//!
//! The byte layout is written out in store-format/v1/db.md so that the format
//! never depends on the crate: integers are varints (< 251: one byte; else a
//! marker 251/252/253 and 2/4/8 little-endian bytes), strings and byte vectors
//! are a varint length and the bytes, `Option` is a 0/1 byte, enum variants are
//! a varint index, digests are 32 raw bytes. Every record starts with
//! `format_version` (a varint, 1 here), which is read first, so a record of an
//! unknown version is refused by name instead of decoded as garbage.
//!
//! Pure: encoding and decoding only; the files are written by `Store`.

use serde::{Deserialize, Serialize};

use super::content_hash::{ContentHash, FileHash, RecipeKey};
use crate::rock_id::RockId;

/// The record format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Largest record: the reader refuses more (so a corrupt length cannot
/// allocate gigabytes), and the writer refuses to write more (so nothing
/// it writes is a record the reader then refuses). One constant for both.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// What an item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A built rock (index 0).
    Rock,
    /// A profile generation of a tree (index 1).
    Profile,
    /// A toolchain (index 2).
    Toolchain,
    /// Anything added with `store add` (index 3).
    Data,
}

impl ItemKind {
    /// Parses the lower-case name used on the command line.
    pub fn parse(text: &str) -> Option<ItemKind> {
        match text {
            "rock" => Some(ItemKind::Rock),
            "profile" => Some(ItemKind::Profile),
            "toolchain" => Some(ItemKind::Toolchain),
            "data" => Some(ItemKind::Data),
            _ => None,
        }
    }

    /// The name [`ItemKind::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Rock => "rock",
            ItemKind::Profile => "profile",
            ItemKind::Toolchain => "toolchain",
            ItemKind::Data => "data",
        }
    }
}

/// `db/items/<item name>`: what an admitted item is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The full content hash of the item's tree.
    pub hash: ContentHash,
    /// Rock (or other) name.
    pub name: String,
    /// Version, e.g. `1.0-1`.
    pub version: String,
    /// What the item holds.
    pub kind: ItemKind,
    /// The recipe this item was built from, if it was built.
    pub recipe_key: Option<RecipeKey>,
    /// Item names of the items this one needs, sorted and unique.
    pub references: Vec<String>,
    /// Total bytes of regular files.
    pub size: u64,
    /// Number of regular files.
    pub file_count: u64,
    /// Seconds since the Unix epoch when the record was written.
    pub created: u64,
    /// Uid of the process that admitted the item.
    pub creator_uid: u32,
}

/// `db/realisations/<recipe key hex>`: this recipe was built into that item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Realisation {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The recipe.
    pub recipe_key: RecipeKey,
    /// Name of the item it produced.
    pub item: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

/// `db/sources/<recipe key hex>`: the source a realisation was built from,
/// as fetched (written with the realisation of a build that fetched one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The recipe.
    pub recipe_key: RecipeKey,
    /// The URL the source was fetched from.
    pub url: String,
    /// blake3 of the fetched file's bytes.
    pub blake3: FileHash,
}

/// `db/facts/<recipe key hex>`: what a realisation's recipe was built for
/// — the rock, the Lua ABI, the platform — so a binary cache can say it
/// (written with the realisation by whoever built; removed with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeFacts {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The recipe.
    pub recipe_key: RecipeKey,
    /// The rock, stored as its text form `name version`.
    pub rock: RockId,
    /// The Lua ABI (`5.4`, `5.1-luajit-2.1`).
    pub lua_abi: String,
    /// The platform (`linux-x86_64`).
    pub platform: String,
}

/// `db/trees/<id>`: a registered tree, a GC root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeRegistration {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Absolute path of the tree, as bytes.
    pub path: Vec<u8>,
    /// Uid of the user who registered it.
    pub uid: u32,
    /// Seconds since the Unix epoch.
    pub registered: u64,
}

/// `db/roots/<uid>/<id>`: a registered tree's roots as its user's
/// rockstore last reported them (every generation and its profile item),
/// written at each change of the tree's generations. GC of a daemon store
/// reads these, never the tree itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeRoots {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Absolute path of the tree, as bytes.
    pub path: Vec<u8>,
    /// Uid of the user who reported them.
    pub uid: u32,
    /// Seconds since the Unix epoch.
    pub recorded: u64,
    /// Each generation's number and profile item name, ascending.
    pub generations: Vec<(u64, String)>,
}

/// A record file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Written by another format version.
    #[error("record format version {found} is not supported (this rockstore reads version {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// Not a valid encoding.
    #[error("record is corrupt")]
    Corrupt(#[source] bincode::error::DecodeError),
    /// Valid record followed by extra bytes.
    #[error("record has {0} trailing bytes")]
    Trailing(usize),
    /// A record larger than a reader takes: never written.
    #[error("a record of {size} bytes is larger than a record may be ({MAX_RECORD_BYTES} bytes)")]
    TooLarge {
        /// Its encoded size.
        size: usize,
    },
}

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_RECORD_BYTES>,
> {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// Encodes a record. Encoding our own plain structs into a Vec cannot fail.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(record, config()).unwrap_or_default()
}

/// Encodes a record that is to be written, refusing one the reader would
/// refuse ([`MAX_RECORD_BYTES`]).
pub fn encode_checked<T: Serialize>(record: &T) -> Result<Vec<u8>, RecordError> {
    let bytes = encode(record);
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge { size: bytes.len() });
    }
    Ok(bytes)
}

/// Decodes a record, checking its version first and refusing trailing bytes.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RecordError> {
    let (version, _): (u32, usize) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(RecordError::Corrupt)?;
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion { found: version });
    }
    let (record, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(RecordError::Corrupt)?;
    if used != bytes.len() {
        return Err(RecordError::Trailing(bytes.len() - used));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_layout_is_as_documented() {
        // A realisation with a 300-second timestamp: 300 needs the u16 marker.
        let r = Realisation {
            format_version: 1,
            recipe_key: RecipeKey([0xab; 32]),
            item: "x".into(),
            created: 300,
        };
        let bytes = encode(&r);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..33], &[0xab; 32]);
        assert_eq!(&bytes[33..35], &[1, b'x']);
        assert_eq!(&bytes[35..], &[251, 0x2c, 0x01]);
        let back: Realisation = decode(&bytes).expect("decodes");
        assert_eq!(back, r);
    }

    #[test]
    fn refuses_other_versions_and_trailing_bytes() {
        let r = Realisation {
            format_version: 2,
            recipe_key: RecipeKey([0; 32]),
            item: "x".into(),
            created: 0,
        };
        assert!(matches!(
            decode::<Realisation>(&encode(&r)),
            Err(RecordError::UnsupportedVersion { found: 2 })
        ));
        let mut ok = encode(&Realisation {
            format_version: 1,
            ..r
        });
        ok.push(0);
        assert!(matches!(
            decode::<Realisation>(&ok),
            Err(RecordError::Trailing(1))
        ));
    }

    #[test]
    fn what_the_writer_takes_the_reader_reads() {
        let roots = |n: u64| TreeRoots {
            format_version: 1,
            path: b"/t".to_vec(),
            uid: 1000,
            recorded: 0,
            generations: (0..n)
                .map(|g| (g, format!("{:052}-profile-{g}", 0)))
                .collect(),
        };
        let fits = encode_checked(&roots(1000)).expect("small");
        assert!(decode::<TreeRoots>(&fits).is_ok());
        // 50,000 generations: refused by the writer, as by the reader.
        let big = roots(50_000);
        assert!(matches!(
            encode_checked(&big),
            Err(RecordError::TooLarge { .. })
        ));
        assert!(matches!(
            decode::<TreeRoots>(&encode(&big)),
            Err(RecordError::Corrupt(_))
        ));
    }
}
