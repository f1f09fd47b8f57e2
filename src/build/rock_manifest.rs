//! A rock's `rock_manifest`: the md5 of every file of the rock directory
//! (rockspec, `lua/`, `lib/`, `bin/`, `doc/`, …), as a Lua table shaped like
//! the directory, keys sorted, written as LuaRocks' `persist` writes it.
//! LuaRocks uses it to know what a rock deploys; we write it into every
//! built item so `pack` yields a rock LuaRocks installs.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use md5::{Digest, Md5};

use crate::manifest::tree::quote;

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

/// The md5 of everything `reader` holds from where it stands, which is
/// then rewound to its start.
pub fn md5_hex_of<R: std::io::Read + std::io::Seek>(reader: &mut R) -> std::io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    reader.rewind()?;
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The md5 of `bytes` in hex, as rockspecs' `source.md5` states it.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}
