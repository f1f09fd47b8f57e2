//! A rock's `rock_manifest`: the md5 of every file of the rock directory
//! (rockspec, `lua/`, `lib/`, `bin/`, `doc/`, …), as a Lua table shaped like
//! the directory, keys sorted, written as LuaRocks' `persist` writes it.
//! LuaRocks uses it to know what a rock deploys; we write it into every
//! built item so `pack` yields a rock LuaRocks installs.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::lua::persist::quote;
pub use crate::md5sum::{md5_hex, md5_hex_of};

enum Node {
    File(String),
    Dir(BTreeMap<String, Node>),
}

fn walk(dir: &Path) -> std::io::Result<BTreeMap<String, Node>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        let node = if kind.is_dir() {
            Node::Dir(walk(&entry.path())?)
        } else {
            // Links are hashed through, as LuaRocks' md5sum reads them.
            let bytes = std::fs::read(entry.path())?;
            Node::File(md5_hex(&bytes))
        };
        out.insert(name, node);
    }
    Ok(out)
}

fn key(name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        name.to_owned()
    } else {
        format!("[{}]", quote(name))
    }
}

fn render(out: &mut String, entries: &BTreeMap<String, Node>, indent: usize) {
    let pad = "   ".repeat(indent);
    let mut first = true;
    for (name, node) in entries {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        match node {
            Node::File(md5) => {
                let _ = write!(out, "{pad}{} = {}", key(name), quote(md5));
            }
            Node::Dir(children) => {
                let _ = writeln!(out, "{pad}{} = {{", key(name));
                render(out, children, indent + 1);
                let _ = write!(out, "\n{pad}}}");
            }
        }
    }
}

/// The `rock_manifest` text for the rock directory `dir` (which must not
/// contain one yet).
pub fn generate(dir: &Path) -> std::io::Result<String> {
    let mut entries = walk(dir)?;
    entries.remove("rock_manifest");
    let mut out = String::from("rock_manifest = {\n");
    render(&mut out, &entries, 1);
    out.push_str("\n}\n");
    Ok(out)
}
