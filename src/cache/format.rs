//! The binary cache's files (store-format/v1/cache.md). Pure: names
//! and documents, no I/O.
//!
//! ```text
//! <root>/rockstore-cache-info                 "rockstore cache 1\npriority: N\n"
//! <root>/blob/<2 hex>/<64 hex>.zst            zstd of the item's archive, named by its content hash
//! <root>/real/<recipe key hex>/<signer>.json  one signed realisation per signer
//! ```
//! A blob verifies itself by its name. A realisation says what a recipe
//! built: the item, its content hash and size, the rock, the Lua ABI and
//! the platform, signed by its signer over a versioned, domain-separated
//! fingerprint of exactly those fields.

use serde::{Deserialize, Serialize};

use crate::store::content_hash::{ContentHash, RecipeKey};

/// The info file at a cache's root.
pub const INFO_FILE: &str = "rockstore-cache-info";
/// Its first line: the format and version.
pub const INFO_MAGIC: &str = "rockstore cache 1";
/// The version of realisation documents this build writes and reads.
pub const REALISATION_FORMAT: u32 = 1;
/// What opens every fingerprint (and versions it).
pub const FINGERPRINT_DOMAIN: &str = "rockstore-realisation-1";

/// Where the blob of the item with content hash `hash` lives.
pub fn blob_path(hash: &ContentHash) -> String {
    let hex = hash.to_hex();
    format!("blob/{}/{hex}.zst", &hex[..2])
}

/// Where `signer`'s realisation of recipe `key` lives.
pub fn realisation_path(key: &RecipeKey, signer: &str) -> String {
    // A signer is a key's name, checked when the key was parsed or made
    // (`keys::valid_name`): never `/` or `..`, so never another path.
    debug_assert!(super::keys::valid_name(signer), "{signer:?}");
    format!("real/{}/{signer}.json", key.to_hex())
}

/// The info file's text.
pub fn info_text(priority: u32) -> String {
    format!("{INFO_MAGIC}\npriority: {priority}\n")
}

/// Why an info file is not one this rockstore reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    /// Another format's, or no info file at all.
    #[error("its {INFO_FILE} does not begin `{INFO_MAGIC}`: it is not a rockstore cache")]
    NotInfo,
    /// A later version of the format.
    #[error("it is a rockstore cache of format {0}; this rockstore reads format 1 (upgrade rockstore to use it)")]
    Version(String),
    /// A priority that is not a number.
    #[error("its {INFO_FILE} gives the priority `{0}`, not a number")]
    Priority(String),
}

/// The priority an info file gives (lower is asked first; default 50),
/// or why this rockstore cannot read the cache.
pub fn parse_info(text: &str) -> Result<u32, InfoError> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first != INFO_MAGIC {
        return Err(match first.strip_prefix("rockstore cache ") {
            Some(version) => InfoError::Version(crate::printable::printable(version).into_owned()),
            None => InfoError::NotInfo,
        });
    }
    let mut priority = 50;
    for line in lines {
        if let Some(p) = line.strip_prefix("priority:") {
            priority = p.trim().parse().map_err(|_| {
                InfoError::Priority(crate::printable::printable(p.trim()).into_owned())
            })?;
        }
    }
    Ok(priority)
}

/// A signed realisation, as `real/<key>/<signer>.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealisationDoc {
    /// [`REALISATION_FORMAT`].
    pub format: u32,
    /// The recipe key, hex.
    pub recipe_key: String,
    /// The item's name (`<short hash>-<name>-<version>`).
    pub item: String,
    /// The item's content hash, `blake3:<hex>`.
    pub hash: String,
    /// Bytes of the item's regular files.
    pub size: u64,
    /// Bytes of its blob (what a download costs).
    pub blob_size: u64,
    /// The rock, `name version`.
    pub rock: String,
    /// The Lua ABI it was built for (`5.4`, or `5.1-luajit-2.1`).
    pub lua_abi: String,
    /// The platform (`linux-x86_64`).
    pub platform: String,
    /// The signature, `signer:base64` (over [`fingerprint`]).
    pub signature: String,
}

/// The bytes a signature covers: the domain, then each field as a
/// little-endian u64 length and its bytes, in the order of the document.
pub fn fingerprint(doc: &RealisationDoc) -> Vec<u8> {
    let mut out = Vec::new();
    let size = doc.size.to_string();
    let blob_size = doc.blob_size.to_string();
    for field in [
        FINGERPRINT_DOMAIN,
        doc.recipe_key.as_str(),
        doc.item.as_str(),
        doc.hash.as_str(),
        size.as_str(),
        blob_size.as_str(),
        doc.rock.as_str(),
        doc.lua_abi.as_str(),
        doc.platform.as_str(),
    ] {
        out.extend_from_slice(&(field.len() as u64).to_le_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn names_and_info() {
        let h = ContentHash([0xab; 32]);
        assert_eq!(blob_path(&h), format!("blob/ab/{}.zst", "ab".repeat(32)));
        assert_eq!(
            realisation_path(&RecipeKey([1; 32]), "ci"),
            format!("real/{}/ci.json", "01".repeat(32))
        );
        assert_eq!(parse_info(&info_text(30)), Ok(30));
        assert_eq!(parse_info("rockstore cache 1\n"), Ok(50));
        assert_eq!(parse_info("something else\n"), Err(InfoError::NotInfo));
        assert_eq!(
            parse_info("rockstore cache 2\npriority: 10\n"),
            Err(InfoError::Version("2".into()))
        );
        assert_eq!(
            parse_info("rockstore cache 1\npriority: soon\n"),
            Err(InfoError::Priority("soon".into()))
        );
    }

    /// An unsigned realisation for the tests.
    pub(crate) fn sample_doc() -> RealisationDoc {
        RealisationDoc {
            format: 1,
            recipe_key: "ab".repeat(32),
            item: "x-lpeg-1.0-1".into(),
            hash: format!("blake3:{}", "cd".repeat(32)),
            size: 10,
            blob_size: 5,
            rock: "lpeg 1.0-1".into(),
            lua_abi: "5.4".into(),
            platform: "linux-x86_64".into(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_fingerprint_changes_with_every_field() {
        let doc = sample_doc();
        let base = fingerprint(&doc);
        for change in [
            |d: &mut RealisationDoc| d.item.push('x'),
            |d: &mut RealisationDoc| d.lua_abi = "5.3".into(),
            |d: &mut RealisationDoc| d.platform = "linux-aarch64".into(),
            |d: &mut RealisationDoc| d.size += 1,
            |d: &mut RealisationDoc| d.recipe_key = "ef".repeat(32),
        ] {
            let mut other = doc.clone();
            change(&mut other);
            assert_ne!(fingerprint(&other), base);
        }
        // The signature is not part of what is signed.
        let mut signed = doc.clone();
        signed.signature = "k:AAAA".into();
        assert_eq!(fingerprint(&signed), base);
    }
}
