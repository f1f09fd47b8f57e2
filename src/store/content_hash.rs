//! `ContentHash` and `RecipeKey`: the 32-byte blake3 digests that name items and
//! recipes, and their text forms.
//!
//! Text forms (store-format/v1/content-hash.md):
//! - item directory names use the *short form*: the first 20 bytes in lower-case
//!   RFC 4648 base32 without padding — exactly 32 characters, as long as Nix's;
//! - records, `store info` and `--json` use the full form `blake3:<64 hex>`.
//!
//! Pure: no I/O.

use std::fmt;

/// Length in bytes of every digest the store uses.
pub const DIGEST_LEN: usize = 32;
/// Bytes of the digest that the short (base32) form encodes.
pub const SHORT_BYTES: usize = 20;
/// Characters in the short form.
pub const SHORT_LEN: usize = 32;

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A digest given as text that does not parse. The text is kept
/// escaped ([`crate::printable`]): it comes from anywhere (a cache's
/// document, a lock file) and is quoted in the message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestParseError {
    /// Neither `blake3:` + 64 hex digits nor 64 bare hex digits.
    #[error("`{0}` is not a blake3 digest (expected `blake3:` followed by 64 hex digits)")]
    NotHex(String),
    /// Not 32 characters of the base32 alphabet `a-z2-7`.
    #[error("`{0}` is not a short item hash (expected 32 characters of a-z and 2-7)")]
    NotBase32(String),
}

/// blake3 over the canonical serialization of an item's tree: the name of an item.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; DIGEST_LEN]);

/// blake3 over everything that decides a build's output; known before building.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipeKey(pub [u8; DIGEST_LEN]);

macro_rules! digest_text_forms {
    ($ty:ident) => {
        impl $ty {
            /// The full text form, `blake3:<64 lower-case hex digits>`.
            pub fn to_prefixed_hex(&self) -> String {
                format!("blake3:{}", hex(&self.0))
            }

            /// 64 lower-case hex digits, as used in file names under `db/`.
            pub fn to_hex(&self) -> String {
                hex(&self.0)
            }

            /// Parses `blake3:<hex>` or bare 64-digit hex.
            pub fn parse_hex(text: &str) -> Result<Self, DigestParseError> {
                let digits = text.strip_prefix("blake3:").unwrap_or(text);
                parse_hex32(digits).map(Self).ok_or_else(|| {
                    DigestParseError::NotHex(crate::printable::printable(text).into_owned())
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_prefixed_hex())
            }
        }

        // Binary formats (bincode records) get the 32 raw bytes; text formats
        // (JSON) get the `blake3:<hex>` form people can read and paste.
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_prefixed_hex())
                } else {
                    serde::Serialize::serialize(&self.0, s)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let text = <String as serde::Deserialize>::deserialize(d)?;
                    Self::parse_hex(&text).map_err(serde::de::Error::custom)
                } else {
                    <[u8; DIGEST_LEN] as serde::Deserialize>::deserialize(d).map(Self)
                }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self.to_prefixed_hex())
            }
        }
    };
}
/// blake3 over a file's bytes (a fetched source archive).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileHash(pub [u8; DIGEST_LEN]);

digest_text_forms!(ContentHash);
digest_text_forms!(RecipeKey);
digest_text_forms!(FileHash);

impl ContentHash {
    /// The short form used in item directory names (32 base32 characters).
    pub fn to_short(&self) -> String {
        base32(&self.0[..SHORT_BYTES])
    }
}

/// Checks that `text` is a complete short form (used for db file names).
pub fn parse_short(text: &str) -> Result<String, DigestParseError> {
    if text.len() == SHORT_LEN && text.bytes().all(|b| BASE32_ALPHABET.contains(&b)) {
        Ok(text.to_owned())
    } else {
        Err(DigestParseError::NotBase32(
            crate::printable::printable(text).into_owned(),
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn parse_hex32(text: &str) -> Option<[u8; DIGEST_LEN]> {
    let bytes = text.as_bytes();
    if bytes.len() != DIGEST_LEN * 2 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; DIGEST_LEN];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// RFC 4648 base32, lower case, no padding; bits taken most significant first.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32_ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, lower-cased, without padding.
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"fo"), "mzxq");
        assert_eq!(base32(b"foo"), "mzxw6");
        assert_eq!(base32(b"foob"), "mzxw6yq");
        assert_eq!(base32(b"fooba"), "mzxw6ytb");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn short_form_is_32_chars_and_hex_round_trips() {
        let h = ContentHash(*blake3::hash(b"x").as_bytes());
        assert_eq!(h.to_short().len(), SHORT_LEN);
        assert_eq!(ContentHash::parse_hex(&h.to_prefixed_hex()), Ok(h));
        assert_eq!(ContentHash::parse_hex(&h.to_hex()), Ok(h));
        assert!(ContentHash::parse_hex("blake3:zz").is_err());
        assert!(parse_short(&h.to_short()).is_ok());
        assert!(parse_short("ABC").is_err());
    }
}
