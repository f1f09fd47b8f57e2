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

use crate::lua::value::{Table, Value};
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
    /// Dependencies met by a rock in another tree (deps mode `all` or
    /// `order`).
    pub met_elsewhere: Vec<String>,
}

/// A tree manifest.
#[derive(Debug, Clone, Default)]
pub struct TreeManifest {
    /// The installed rocks.
    pub rocks: Vec<InstalledRock>,
}

fn str_value(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Value::Integer(n as i64)
    } else {
        Value::Number(n)
    }
}

fn sequence(values: impl IntoIterator<Item = Value>) -> Value {
    let mut t = Table::new();
    for v in values {
        t.push(v);
    }
    Value::Table(t)
}

fn version_value(v: &Version) -> Value {
    let mut t = Table::new();
    for slot in v.slots() {
        t.push(number_value(*slot));
    }
    t.insert("string", str_value(v.as_str()));
    if let Some(r) = v.revision() {
        t.insert("revision", number_value(r));
    }
    Value::Table(t)
}

fn dependency_value(d: &Dependency) -> Value {
    let mut t = Table::new();
    t.insert("name", str_value(&d.name));
    if let Some(ns) = &d.namespace {
        t.insert("namespace", str_value(ns));
    }
    let constraints = d.constraints.iter().map(|c| {
        let mut ct = Table::new();
        ct.insert("op", str_value(c.op.as_str()));
        ct.insert("version", version_value(&c.version));
        if c.no_upgrade {
            ct.insert("no_upgrade", Value::Boolean(true));
        }
        Value::Table(ct)
    });
    t.insert("constraints", sequence(constraints));
    Value::Table(t)
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    let mut t = Table::new();
    for (k, v) in m {
        t.insert(k, str_value(v));
    }
    Value::Table(t)
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
        let mut globals = Table::new();
        for (slot, global) in [(0, "commands"), (1, "modules")] {
            let mut t = Table::new();
            for (name, list) in &providers[slot] {
                t.insert(name, sequence(list.iter().map(|s| str_value(s))));
            }
            globals.insert(global, Value::Table(t));
        }
        let mut dependencies = Table::new();
        let mut repository = Table::new();
        for rock in &rocks {
            let deps = sequence(rock.dependencies.iter().map(dependency_value));
            let mut entry = Table::new();
            entry.insert("arch", str_value("installed"));
            entry.insert("commands", string_map(&rock.commands));
            entry.insert("modules", string_map(&rock.modules));
            entry.insert("dependencies", string_map(&rock.resolved));
            for (table, value) in [
                (&mut dependencies, deps),
                (&mut repository, sequence([Value::Table(entry)])),
            ] {
                let versions = match table.get_mut(&rock.name) {
                    Some(Value::Table(t)) => t,
                    _ => {
                        table.insert(&rock.name, Value::Table(Table::new()));
                        match table.get_mut(&rock.name) {
                            Some(Value::Table(t)) => t,
                            _ => continue,
                        }
                    }
                };
                versions.insert(&rock.version, value);
            }
        }
        // A dependency met in another tree (deps mode `all`, `order`): its
        // name keys an empty table, as LuaRocks' `scan_deps` leaves it when
        // it finds no rockspec of it here.
        for rock in &rocks {
            for name in &rock.met_elsewhere {
                if dependencies.get(name).is_none() {
                    dependencies.insert(name, Value::Table(Table::new()));
                }
            }
        }
        // LuaRocks' writer leaves `dependencies` out of an empty tree's
        // manifest (it has no rock to key it by).
        if !dependencies.is_empty() {
            globals.insert("dependencies", Value::Table(dependencies));
        }
        globals.insert("repository", Value::Table(repository));
        crate::lua::persist::save_from_table(&globals)
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
            text.contains("   a = {\n      \"a/2.0rc1-1\",\n      \"a/1.0-1\"\n   }"),
            "{text}"
        );
        let read = RepositoryManifest::from_lua("manifest", text.as_bytes()).expect("reads");
        assert_eq!(read.repository["a"]["1.0-1"].arches, ["installed"]);
        assert_eq!(read.version_count(), 3);
    }
}
