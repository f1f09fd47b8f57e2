//! [`RockId`]: which rock, by name and version (with revision), the pair
//! LuaRocks writes `name version` (`lpeg 1.0.2-1`). Code that means a rock
//! passes this value and compares it as a value; the text form is made in
//! one place ([`std::fmt::Display`]) and read back in one place
//! ([`RockId::parse`]), for the formats that store it as text (a binary
//! cache's realisation, `--dry-run --json`). Pure: no I/O.
//!
//! It owns no rule about what a name or version may be: rockspecs and
//! manifests have checked those before a `RockId` is made.

use std::fmt;

/// A rock's name and version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RockId {
    /// The rock's name.
    pub name: String,
    /// Its version, with revision (`1.0.2-1`).
    pub version: String,
}

impl RockId {
    /// The rock `name` at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> RockId {
        RockId {
            name: name.into(),
            version: version.into(),
        }
    }

    /// Reads `name version` (split at the first space, as the text form is
    /// written); `None` without a space.
    pub fn parse(text: &str) -> Option<RockId> {
        let (name, version) = text.split_once(' ')?;
        Some(RockId::new(name, version))
    }
}

impl fmt::Display for RockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// As its text form, so a document that held `"name version"` holds the
/// same bytes.
impl serde::Serialize for RockId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Serialises rocks as `[name, version]` pairs, for documents that have
/// always written them so (`adopt --json`): the same bytes as a list of
/// `(String, String)`.
pub fn as_pairs<S: serde::Serializer>(rocks: &[RockId], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(rocks.iter().map(|r| (&r.name, &r.version)))
}

impl<'de> serde::Deserialize<'de> for RockId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RockId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not `name version`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_reads_back_as_the_same_rock() {
        let id = RockId::new("lpeg", "1.0.2-1");
        assert_eq!(id.to_string(), "lpeg 1.0.2-1");
        assert_eq!(RockId::parse("lpeg 1.0.2-1"), Some(id.clone()));
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, "\"lpeg 1.0.2-1\"");
        assert_eq!(serde_json::from_str::<RockId>(&json).ok(), Some(id));
    }

    #[test]
    fn as_pairs_writes_what_a_list_of_name_version_tuples_wrote() {
        #[derive(serde::Serialize)]
        struct Typed {
            #[serde(serialize_with = "as_pairs")]
            rocks: Vec<RockId>,
        }
        #[derive(serde::Serialize)]
        struct Pairs {
            rocks: Vec<(String, String)>,
        }
        let typed = Typed {
            rocks: vec![
                RockId::new("a", "1.0-1"),
                RockId::new("lua-cjson", "2.1.0.10-1"),
            ],
        };
        let pairs = Pairs {
            rocks: vec![
                ("a".into(), "1.0-1".into()),
                ("lua-cjson".into(), "2.1.0.10-1".into()),
            ],
        };
        let json = serde_json::to_string_pretty(&typed).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::to_string_pretty(&pairs).unwrap_or_default()
        );
        assert!(json.contains("\"lua-cjson\",\n"), "{json}");
    }

    #[test]
    fn text_without_a_version_is_no_rock() {
        assert_eq!(RockId::parse("lpeg"), None);
        assert!(serde_json::from_str::<RockId>("\"lpeg\"").is_err());
    }
}
