//! What the battery (`battery.rs`) reads of a side: every file under a
//! tree by its bytes, and every name under a working directory.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::text;

/// Every file under `dir` (through links), by its bytes' hash; `bin/`
/// wrappers (they name the interpreter and config differently) and
/// `.rockstore/` aside.
pub(crate) fn files(dir: &Path, out: &mut BTreeMap<String, String>, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".rockstore" {
            continue;
        }
        let path = entry.path();
        let rel = format!("{prefix}{name}");
        if path.is_dir() {
            files(&path, out, &format!("{rel}/"));
        } else if let Ok(bytes) = std::fs::read(&path) {
            // A wrapper names its tree, and LuaRocks' also its config
            // directory (`LUAROCKS_SYSCONFDIR=…`, which rockstore's leaves
            // out): both must have one, for the same rock.
            let shown = if rel.starts_with("bin/") && text(&bytes).contains("luarocks.loader") {
                let context = text(&bytes)
                    .split("add_context(")
                    .nth(1)
                    .and_then(|c| c.split(')').next())
                    .unwrap_or_default()
                    .to_owned();
                format!("wrapper for {context}")
            } else if rel.ends_with("/manifest") {
                // LuaRocks' tree manifest keeps an empty `dependencies = {}`
                // once a remove emptied the tree, and has none after a
                // purge (which writes it anew): the same table to every
                // reader, so an empty one is left out on both sides.
                let t = text(&bytes).replace("dependencies = {}\n", "");
                blake3::hash(t.as_bytes()).to_hex().to_string()
            } else {
                blake3::hash(&bytes).to_hex().to_string()
            };
            out.insert(rel, shown);
        }
    }
}

/// Every name under `dir`, recursively, `/` after a directory's.
pub(crate) fn names(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(format!("{rel}/"));
            names(&entry.path(), &format!("{rel}/"), out);
        } else {
            out.push(rel);
        }
    }
}
