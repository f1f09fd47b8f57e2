//! Dependency strings (`"luasocket >= 3.0, < 4"`, `"user/rock ~> 1"`) as
//! `queries.from_dep_string` reads them, and the patterns the rockspec
//! schema checks them against.
//!
//! Grammar: optional leading whitespace, a name `[A-Za-z0-9._-]*` — with an
//! optional `namespace/` before it from format 3.0 — that holds at least one
//! letter or digit, optional whitespace, then constraint text up to the
//! first `/` (LuaRocks silently ignores anything after one).

use std::fmt;

use super::version::{parse_constraints, Constraint, ConstraintError, Op, Version};
use crate::rock_id::RockId;
use crate::rockspec::version::is_lua_space;

/// A parsed dependency.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The rock name as written (LuaRocks 3.8 keeps its case).
    pub name: String,
    /// The namespace (`user` in `user/rock`), if any.
    pub namespace: Option<String>,
    /// The constraints, all of which must hold.
    pub constraints: Vec<Constraint>,
}

/// Why a dependency string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// No rock name could be found.
    #[error("failed to extract dependency name from '{0}'")]
    NoName(String),
    /// The constraints did not parse.
    #[error("could not parse the constraints of '{dependency}'")]
    Constraint {
        /// The whole dependency string.
        dependency: String,
        /// What was wrong.
        #[source]
        source: ConstraintError,
    },
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

/// Splits off the `[ns/]name` part as LuaRocks' pattern does; returns the
/// name text and where the constraint text starts (after whitespace), and
/// where that pattern says it ends (at the first `/`).
fn split_name(s: &str, allow_namespace: bool) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    let start = b.iter().take_while(|&&c| is_lua_space(c)).count();
    let mut end = start + b[start..].iter().take_while(|&&c| is_name_byte(c)).count();
    let run = &b[start..end];
    let mut matched = false;
    if allow_namespace
        && b.get(end) == Some(&b'/')
        && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        end += 1 + b[end + 1..]
            .iter()
            .take_while(|&&c| is_name_byte(c))
            .count();
        matched = true;
    } else if run.iter().any(u8::is_ascii_alphanumeric) {
        matched = if allow_namespace {
            true
        } else {
            // Without a namespace the name must *start* with a letter or digit.
            run.first().is_some_and(u8::is_ascii_alphanumeric)
        };
    }
    if !matched {
        return None;
    }
    let rest = end + b[end..].iter().take_while(|&&c| is_lua_space(c)).count();
    Some((&s[start..end], rest))
}

/// Does `s` match the schema's dependency pattern (anchored at both ends:
/// no `/` after the name)? Format 1.0 allows no namespace.
pub fn is_valid_dependency_string(s: &str, allow_namespace: bool) -> bool {
    match split_name(s, allow_namespace) {
        Some((_, rest)) => !s[rest..].contains('/'),
        None => false,
    }
}

impl Dependency {
    /// Parses as `queries.from_dep_string`.
    pub fn parse(s: &str) -> Result<Dependency, DependencyError> {
        let (ns_name, rest) =
            split_name(s, true).ok_or_else(|| DependencyError::NoName(s.to_owned()))?;
        let rest = &s[rest..];
        let constraint_text = match rest.find('/') {
            Some(slash) => &rest[..slash],
            None => rest,
        };
        let constraints =
            parse_constraints(constraint_text).map_err(|source| DependencyError::Constraint {
                dependency: s.to_owned(),
                source,
            })?;
        // util.split_namespace: `^([^/]+)/([^/]+)$`.
        let (name, namespace) = match ns_name.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                (name.to_owned(), Some(ns.to_owned()))
            }
            _ => (ns_name.to_owned(), None),
        };
        Ok(Dependency {
            name,
            namespace,
            constraints,
        })
    }

    /// The dependency on exactly `rock` (`name == version`), made from
    /// the value rather than from its text.
    pub fn exactly(rock: &RockId) -> Dependency {
        Dependency {
            name: rock.name.clone(),
            namespace: None,
            constraints: vec![Constraint {
                op: Op::Eq,
                version: Version::parse(&rock.version),
                no_upgrade: false,
            }],
        }
    }

    /// Does `version` satisfy every constraint?
    pub fn matches(&self, version: &Version) -> bool {
        super::version::matches_all(&self.constraints, version)
    }

    /// The JSON form of `rockstore rockspec --json`.
    pub fn to_json(&self) -> serde_json::Value {
        let constraints: Vec<serde_json::Value> = self
            .constraints
            .iter()
            .map(|c| {
                let mut o = serde_json::Map::new();
                o.insert("op".into(), c.op.as_str().into());
                o.insert("version".into(), c.version.as_str().into());
                if c.no_upgrade {
                    o.insert("no_upgrade".into(), true.into());
                }
                serde_json::Value::Object(o)
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "namespace": self.namespace,
            "constraints": constraints,
        })
    }
}

impl fmt::Display for Dependency {
    /// As LuaRocks prints a query: `ns/name op ver, op ver`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)?;
        for (i, c) in self.constraints.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_a_rock_is_what_its_text_parses_to() {
        let rock = RockId::new("lua-cjson", "2.1.0.10-1");
        let made = Dependency::exactly(&rock);
        let read = Dependency::parse("lua-cjson == 2.1.0.10-1").expect("parses");
        assert_eq!(made.to_string(), read.to_string());
        assert_eq!((&made.name, &made.namespace), (&read.name, &read.namespace));
        for v in ["2.1.0.10-1", "2.1.0.10", "2.1.0.10-2", "2.1.0.9-1"] {
            let v = Version::parse(v);
            assert_eq!(
                Dependency::exactly(&rock).matches(&v),
                read.matches(&v),
                "{v}"
            );
        }
    }

    #[test]
    fn names_namespaces_and_constraints() {
        let d = Dependency::parse("  lua >= 5.1, < 5.5").expect("parses");
        assert_eq!(d.name, "lua");
        assert_eq!(d.constraints.len(), 2);
        let d = Dependency::parse("user/rock ~> 1").expect("parses");
        assert_eq!(
            (d.name.as_str(), d.namespace.as_deref()),
            ("rock", Some("user"))
        );
        let d = Dependency::parse("lua>=5.1").expect("parses");
        assert_eq!(d.to_string(), "lua >= 5.1");
        let d = Dependency::parse("foo >= 1/2").expect("the text after / is ignored");
        assert_eq!(d.to_string(), "foo >= 1");
        assert!(Dependency::parse("").is_err());
        assert!(Dependency::parse(">= 1").is_err());
    }

    #[test]
    fn schema_patterns_per_format() {
        assert!(is_valid_dependency_string("lua >= 5.1", false));
        assert!(!is_valid_dependency_string("user/rock", false));
        assert!(is_valid_dependency_string("user/rock", true));
        assert!(!is_valid_dependency_string("foo >= 1/2", true));
        assert!(!is_valid_dependency_string("-foo", false));
        assert!(is_valid_dependency_string("-foo", true));
    }
}
