//! Validated names: `PathComponent` (one entry name inside an item's tree) and
//! `ItemName` (the `<short hash>-<name>-<version>` directory name of an item).
//!
//! Parse, don't validate: once constructed these are known good, so the
//! canonical encoder and the store never see `..`, `/`, NUL or non-UTF-8.
//! The rules are store-format/v1/names.md; `vectors/names/` pins them.
//! Pure: no I/O.

use std::fmt;

use super::content_hash::{ContentHash, SHORT_LEN};

/// Longest entry name, in bytes (NAME_MAX on Linux).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Longest `name-version` label of an item.
pub const MAX_LABEL_LEN: usize = 200;

/// Why a name was refused. The variant names are the error kinds listed in
/// `vectors/names/invalid.txt`.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum NameError {
    /// The empty string.
    #[error("empty name")]
    Empty,
    /// `.` or `..`.
    #[error("`{0}` is not allowed as a name")]
    Dot(String),
    /// Contains `/`.
    #[error("name `{0}` contains `/`")]
    Slash(String),
    /// Contains a NUL byte.
    #[error("name `{0}` contains a NUL byte")]
    Nul(String),
    /// Not valid UTF-8.
    #[error("name `{0}` is not valid UTF-8")]
    NotUtf8(String),
    /// Longer than allowed.
    #[error("name `{0}…` is longer than {1} bytes")]
    TooLong(String, usize),
    /// A character outside the allowed set for item labels.
    #[error("`{0}` may only contain ASCII letters, digits and `+-._`, and must start with a letter or digit")]
    BadChar(String),
}

impl NameError {
    /// A stable identifier of the rule that was broken (used by the vectors).
    pub fn kind(&self) -> &'static str {
        match self {
            NameError::Empty => "empty",
            NameError::Dot(_) => "dot",
            NameError::Slash(_) => "slash",
            NameError::Nul(_) => "nul",
            NameError::NotUtf8(_) => "not-utf8",
            NameError::TooLong(..) => "too-long",
            NameError::BadChar(_) => "bad-char",
        }
    }
}

/// One directory-entry name inside an item: non-empty UTF-8, not `.`/`..`,
/// no `/` or NUL, at most 255 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathComponent(String);

impl PathComponent {
    /// Validates raw bytes as they come from the file system.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, NameError> {
        let lossy = || String::from_utf8_lossy(raw).into_owned();
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw == b"." || raw == b".." {
            return Err(NameError::Dot(lossy()));
        }
        if raw.contains(&b'/') {
            return Err(NameError::Slash(lossy()));
        }
        if raw.contains(&0) {
            return Err(NameError::Nul(lossy().replace('\0', "\\0")));
        }
        if raw.len() > MAX_COMPONENT_LEN {
            return Err(NameError::TooLong(
                lossy().chars().take(40).collect(),
                MAX_COMPONENT_LEN,
            ));
        }
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(PathComponent(s.to_owned())),
            Err(_) => Err(NameError::NotUtf8(lossy())),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PathComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PathComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Checks an item's `name` or `version` part: `[A-Za-z0-9][A-Za-z0-9+._-]*`.
pub fn validate_label_part(part: &str) -> Result<(), NameError> {
    let mut bytes = part.bytes();
    let Some(first) = bytes.next() else {
        return Err(NameError::Empty);
    };
    let ok_rest = |b: u8| b.is_ascii_alphanumeric() || b"+-._".contains(&b);
    if !first.is_ascii_alphanumeric() || !bytes.all(ok_rest) {
        return Err(NameError::BadChar(part.to_owned()));
    }
    if part.len() > MAX_LABEL_LEN {
        return Err(NameError::TooLong(
            part.chars().take(40).collect(),
            MAX_LABEL_LEN,
        ));
    }
    Ok(())
}

/// The directory name of an item under `store/`: `<short hash>-<name>-<version>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemName(String);

impl ItemName {
    /// Builds the name of an item from its hash, rock name and version.
    pub fn new(hash: &ContentHash, name: &str, version: &str) -> Result<Self, NameError> {
        validate_label_part(name)?;
        validate_label_part(version)?;
        let label_len = name.len() + 1 + version.len();
        if label_len > MAX_LABEL_LEN {
            return Err(NameError::TooLong(
                format!("{name}-{version}"),
                MAX_LABEL_LEN,
            ));
        }
        Ok(ItemName(format!("{}-{name}-{version}", hash.to_short())))
    }

    /// Parses a directory name found under `store/`; only the shape is checked.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let (short, rest) = split_short(text).ok_or_else(|| NameError::BadChar(text.to_owned()))?;
        super::content_hash::parse_short(short).map_err(|_| NameError::BadChar(text.to_owned()))?;
        validate_label_part(rest)?;
        Ok(ItemName(text.to_owned()))
    }

    /// The 32-character short hash this name starts with.
    pub fn short_hash(&self) -> &str {
        &self.0[..SHORT_LEN]
    }

    /// The whole directory name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn split_short(text: &str) -> Option<(&str, &str)> {
    if text.len() > SHORT_LEN + 1
        && text.as_bytes()[SHORT_LEN] == b'-'
        && text.is_char_boundary(SHORT_LEN)
    {
        Some((&text[..SHORT_LEN], &text[SHORT_LEN + 1..]))
    } else {
        None
    }
}

impl fmt::Display for ItemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ItemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_reject_each_rule() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "empty"),
            (b"..", "dot"),
            (b"a/b", "slash"),
            (b"a\0", "nul"),
            (b"\xff", "not-utf8"),
        ];
        for (raw, kind) in cases {
            let err = PathComponent::from_bytes(raw).expect_err("must be refused");
            assert_eq!(err.kind(), kind, "{raw:?}");
        }
        assert!(PathComponent::from_bytes("héllo .lua".as_bytes()).is_ok());
    }

    #[test]
    fn item_names_round_trip() {
        let h = ContentHash([7; 32]);
        let n = ItemName::new(&h, "luasocket", "3.1.0-1").expect("valid");
        assert_eq!(ItemName::parse(n.as_str()), Ok(n.clone()));
        assert_eq!(n.short_hash(), h.to_short());
        assert!(ItemName::new(&h, "-x", "1").is_err());
        assert!(ItemName::new(&h, "a b", "1").is_err());
    }
}
