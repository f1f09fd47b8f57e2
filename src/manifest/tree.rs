//! Writing a rocks tree's manifest (`lib/luarocks/rocks-5.x/manifest`) as
//! LuaRocks writes it, so `luarocks list --tree`, `luarocks show` and
//! `luarocks.loader` read a rockstore tree like their own:
//!
//! ```text
//! commands = { ["cmd"] = { "rock/1.0-1" } }        -- providers
//! modules = { ["mod"] = { "rock/1.0-1", … } }      -- first owns the plain file
//! dependencies = { ["rock"] = { ["1.0-1"] = { {name=, constraints={{op=, version={slots…, string=, revision=}}}} } } }
//! repository = { ["rock"] = { ["1.0-1"] = { { arch = "installed",
//!     commands = {…}, modules = {…}, dependencies = { ["dep"] = "ver" } } } } }
//! ```
//! Provider lists are sorted by rock name, then newest version first.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::rockspec::{Dependency, Version};

/// One installed rock as the manifest describes it.
#[derive(Debug, Clone, Default)]
pub struct InstalledRock {
    /// Rock name.
    pub name: String,
    /// Version with revision (`1.0-1`).
    pub version: String,
    /// Module name → file path under the tree's `lua/` or `lib/` dir.
    pub modules: BTreeMap<String, String>,
    /// Command → file path under the rock's `bin/`.
    pub commands: BTreeMap<String, String>,
    /// Direct dependencies as the rockspec states them.
    pub dependencies: Vec<Dependency>,
    /// The resolved closure: dependency name → installed version.
    pub resolved: BTreeMap<String, String>,
}

/// A tree manifest.
#[derive(Debug, Clone, Default)]
pub struct TreeManifest {
    /// The installed rocks.
    pub rocks: Vec<InstalledRock>,
}

/// A Lua string literal for `s`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\{:03}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn version_table(v: &Version) -> String {
    let mut out = String::from("{ ");
    for slot in v.slots() {
        let _ = write!(out, "{}, ", number(*slot));
    }
    let _ = write!(out, "string = {}", quote(v.as_str()));
    if let Some(r) = v.revision() {
        let _ = write!(out, ", revision = {}", number(r));
    }
    out.push_str(" }");
    out
}

fn dependency_table(d: &Dependency) -> String {
    let mut out = format!("{{ name = {}", quote(&d.name));
    if let Some(ns) = &d.namespace {
        let _ = write!(out, ", namespace = {}", quote(ns));
    }
    out.push_str(", constraints = { ");
    for c in &d.constraints {
        let _ = write!(
            out,
            "{{ op = {}, version = {}",
            quote(c.op.as_str()),
            version_table(&c.version)
        );
        if c.no_upgrade {
            out.push_str(", no_upgrade = true");
        }
        out.push_str(" }, ");
    }
    out.push_str("} }");
    out
}

fn string_map(m: &BTreeMap<String, String>) -> String {
    let mut out = String::from("{ ");
    for (k, v) in m {
        let _ = write!(out, "[{}] = {}, ", quote(k), quote(v));
    }
    out.push('}');
    out
}

impl TreeManifest {
    /// Sorted by rock name, then newest version first.
    fn sorted(&self) -> Vec<&InstalledRock> {
        let mut rocks: Vec<(Version, &InstalledRock)> = self
            .rocks
            .iter()
            .map(|r| (Version::parse(&r.version), r))
            .collect();
        rocks.sort_by(|(va, a), (vb, b)| a.name.cmp(&b.name).then_with(|| vb.sort_order(va)));
        rocks.into_iter().map(|(_, r)| r).collect()
    }

    /// The manifest's Lua text.
    pub fn render(&self) -> String {
        let rocks = self.sorted();
        let mut providers: [BTreeMap<&str, Vec<String>>; 2] = Default::default();
        for rock in &rocks {
            let id = format!("{}/{}", rock.name, rock.version);
            for (slot, names) in [(0, &rock.commands), (1, &rock.modules)] {
                for name in names.keys() {
                    let list = providers[slot].entry(name.as_str()).or_default();
                    if !list.contains(&id) {
                        list.push(id.clone());
                    }
                }
            }
        }
        let mut out = String::new();
        for (slot, global) in [(0, "commands"), (1, "modules")] {
            let _ = writeln!(out, "{global} = {{");
            for (name, list) in &providers[slot] {
                let items: Vec<String> = list.iter().map(|s| quote(s)).collect();
                let _ = writeln!(out, "   [{}] = {{ {} }},", quote(name), items.join(", "));
            }
            out.push_str("}\n");
        }
        let mut by_name: BTreeMap<&str, Vec<&InstalledRock>> = BTreeMap::new();
        for rock in &rocks {
            by_name.entry(rock.name.as_str()).or_default().push(rock);
        }
        out.push_str("dependencies = {\n");
        for (name, versions) in &by_name {
            let _ = writeln!(out, "   [{}] = {{", quote(name));
            for rock in versions {
                let deps: Vec<String> = rock.dependencies.iter().map(dependency_table).collect();
                let _ = writeln!(
                    out,
                    "      [{}] = {{ {} }},",
                    quote(&rock.version),
                    deps.join(", ")
                );
            }
            out.push_str("   },\n");
        }
        out.push_str("}\nrepository = {\n");
        for (name, versions) in &by_name {
            let _ = writeln!(out, "   [{}] = {{", quote(name));
            for rock in versions {
                let _ = writeln!(
                    out,
                    "      [{}] = {{ {{ arch = \"installed\", commands = {}, modules = {}, dependencies = {} }} }},",
                    quote(&rock.version),
                    string_map(&rock.commands),
                    string_map(&rock.modules),
                    string_map(&rock.resolved),
                );
            }
            out.push_str("   },\n");
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::RepositoryManifest;

    #[test]
    fn rendered_manifest_reads_back() {
        let rock = |name: &str, version: &str| InstalledRock {
            name: name.into(),
            version: version.into(),
            modules: [(name.to_owned(), format!("{name}.lua"))].into(),
            dependencies: vec![Dependency::parse("lua >= 5.1").expect("dep")],
            ..InstalledRock::default()
        };
        let manifest = TreeManifest {
            rocks: vec![
                rock("b", "1.0-1"),
                rock("a", "1.0-1"),
                rock("a", "2.0rc1-1"),
            ],
        };
        let text = manifest.render();
        assert!(
            text.contains(r#"["a"] = { "a/2.0rc1-1", "a/1.0-1" }"#),
            "{text}"
        );
        let read = RepositoryManifest::from_lua("manifest", text.as_bytes()).expect("reads");
        assert_eq!(read.repository["a"]["1.0-1"].arches, ["installed"]);
        assert_eq!(read.version_count(), 3);
    }
}
