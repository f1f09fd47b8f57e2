//! Platforms and platform overrides, as LuaRocks applies them when it loads
//! a rockspec: for each active platform, from the most general to the most
//! specific (`unix` before `linux`), `t.platforms[p]` is deep-merged into
//! `t` (arrays merge by index), then `t.platforms` is dropped.

use std::fmt;

use crate::lua::{Table, Value};

/// LuaRocks' fixed merge order, general to specific.
pub const PLATFORM_ORDER: &[&str] = &[
    "unix",
    "bsd",
    "solaris",
    "netbsd",
    "openbsd",
    "freebsd",
    "linux",
    "macosx",
    "cygwin",
    "msys",
    "haiku",
    "windows",
    "win32",
    "mingw32",
    "msys2_mingw_w64",
];

/// The set of platform names active on one system (`linux` → `unix`,
/// `linux`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platforms {
    system: String,
    active: Vec<&'static str>,
}

impl Platforms {
    /// The platforms of the machine rockstore runs on.
    pub fn host() -> Platforms {
        let system = match std::env::consts::OS {
            "macos" => "macosx",
            "windows" => "windows",
            other => other,
        };
        Platforms::for_system(system)
    }

    /// The platforms LuaRocks activates for a system name (an unknown
    /// system counts as plain `unix`, as in LuaRocks).
    pub fn for_system(system: &str) -> Platforms {
        let active: &[&'static str] = match system {
            "freebsd" => &["unix", "bsd", "freebsd"],
            "openbsd" => &["unix", "bsd", "openbsd"],
            "netbsd" => &["unix", "bsd", "netbsd"],
            "solaris" => &["unix", "solaris"],
            "windows" | "win32" => &["windows", "win32"],
            "cygwin" => &["unix", "cygwin"],
            "macosx" | "macos" => &["unix", "bsd", "macosx", "macos"],
            "haiku" => &["unix", "haiku"],
            "linux" => &["unix", "linux"],
            "mingw" | "mingw32" => &["windows", "win32", "mingw32", "mingw"],
            "msys" => &["unix", "cygwin", "msys"],
            "msys2_mingw_w64" => &[
                "windows",
                "win32",
                "mingw32",
                "mingw",
                "msys",
                "msys2_mingw_w64",
            ],
            _ => &["unix"],
        };
        Platforms {
            system: system.to_owned(),
            active: active.to_vec(),
        }
    }

    /// Is `name` one of the active platforms?
    pub fn is_active(&self, name: &str) -> bool {
        self.active.contains(&name)
    }

    /// The active platform names, most general first.
    pub fn active(&self) -> &[&'static str] {
        &self.active
    }

    /// The system name (`linux`, `macosx`, …).
    pub fn system(&self) -> &str {
        &self.system
    }

    /// Applies `t.platforms` to `t` in LuaRocks' order and removes it.
    pub fn apply_overrides(&self, table: &mut Table) {
        if let Some(Value::Table(overrides)) = table.remove("platforms") {
            for name in PLATFORM_ORDER.iter().filter(|p| self.is_active(p)) {
                if let Some(Value::Table(specific)) = overrides.get(name) {
                    table.deep_merge(specific);
                }
            }
        }
    }

    /// The `supported_platforms` rule: a list of names, each possibly
    /// negated with `!`. A negated active platform excludes; when any entry
    /// is positive, one of them must be active.
    pub fn supports(&self, supported: &[String]) -> bool {
        let mut any_positive = false;
        let mut matched_positive = false;
        for entry in supported {
            match entry.strip_prefix('!') {
                Some(negated) => {
                    if self.is_active(negated) {
                        return false;
                    }
                }
                None => {
                    any_positive = true;
                    matched_positive |= self.is_active(entry);
                }
            }
        }
        !any_positive || matched_positive
    }
}

impl fmt::Display for Platforms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.system)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua::Key;

    fn strings(items: &[&str]) -> Value {
        Value::Table(
            items
                .iter()
                .map(|s| Value::String((*s).into()))
                .enumerate()
                .map(|(i, v)| (Key::Integer(i as i64 + 1), v))
                .collect(),
        )
    }

    #[test]
    fn overrides_merge_general_to_specific_by_index() {
        let mut deps = match strings(&["a >= 1", "b"]) {
            Value::Table(t) => t,
            _ => unreachable!(),
        };
        let mut platforms = Table::new();
        platforms.insert("linux", strings(&["c"]));
        platforms.insert("unix", strings(&["d", "e", "f"]));
        platforms.insert("windows", strings(&["w"]));
        deps.insert("platforms", Value::Table(platforms));
        Platforms::for_system("linux").apply_overrides(&mut deps);
        assert_eq!(Value::Table(deps), strings(&["c", "e", "f"]));
    }

    #[test]
    fn supported_platforms_with_negation() {
        let linux = Platforms::for_system("linux");
        let list = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(linux.supports(&list(&[])));
        assert!(linux.supports(&list(&["!windows"])));
        assert!(!linux.supports(&list(&["!unix"])));
        assert!(linux.supports(&list(&["unix", "windows"])));
        assert!(!linux.supports(&list(&["windows", "macosx"])));
    }
}
