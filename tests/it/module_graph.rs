//! Issue 23's layering, kept: no import cycle between the top-level
//! modules of `src/`, and the store, trees and the installer never name
//! the daemon. The graph is read from the sources as
//! `notes/module_cycles.py` reads them: a module is `src/X.rs` or
//! `src/X/` (the CLI and the binaries excepted), an edge is a
//! `crate::x` path or a name in a `use crate::{…}` group, comment lines
//! and a file's `#[cfg(test)] mod tests` are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules of `src/` and their files.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut mods = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("read src/") {
        let path = entry.expect("read src/ entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name")
            .to_owned();
        if path.is_dir() {
            if name != "bin" {
                let mut files = Vec::new();
                rust_files(&path, &mut files);
                mods.insert(name, files);
            }
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "lib" && stem != "main" {
                mods.insert(stem.to_owned(), vec![path]);
            }
        }
    }
    mods
}

fn is_ident(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// The text the graph is read from: before `#[cfg(test)] mod tests`,
/// without comment lines.
fn code(text: &str) -> String {
    let mut cut = text.len();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let at = from + at;
        let rest = text[at + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod tests") {
            cut = at;
            break;
        }
        from = at + 1;
    }
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level names `text` imports: `crate::x` and the names of
/// `use crate::{x::…, y, …}` groups.
fn named(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    for (at, _) in text.match_indices("use crate::{") {
        let rest = &text[at + "use crate::{".len()..];
        let group = &rest[..rest.find(';').unwrap_or(rest.len())];
        let chars: Vec<char> = group.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if !is_ident(chars[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let before_ok = start == 0
                || matches!(chars[start - 1], ',' | '{')
                || chars[start - 1].is_whitespace();
            let after: String = chars[i..].iter().collect();
            let after_ok = after.is_empty()
                || after.starts_with("::")
                || matches!(after.trim_start().chars().next(), Some(',' | '}'));
            if before_ok && after_ok {
                names.insert(chars[start..i].iter().collect());
            }
        }
    }
    names
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let mut graph = Graph::new();
    for (module, files) in &mods {
        if module == "cli" {
            continue;
        }
        let edges = graph.entry(module.clone()).or_default();
        for file in files {
            let text = std::fs::read_to_string(file).expect("read a source file");
            for name in named(&code(&text)) {
                if &name != module && mods.contains_key(&name) && name != "cli" {
                    edges.insert(name);
                }
            }
        }
    }
    graph
}

/// Tarjan's strongly connected components of `graph`.
fn components(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        next: usize,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut s = State {
        graph,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = graph();
    // The reader finds edges: a module known to import another does.
    assert!(
        graph["build"].contains("rockspec"),
        "the module graph reader found no build -> rockspec edge: {graph:?}"
    );
    let cycles: Vec<String> = components(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut c| {
            c.sort();
            let edges: Vec<String> = c
                .iter()
                .flat_map(|m| {
                    graph[m]
                        .iter()
                        .filter(|w| c.contains(w))
                        .map(move |w| format!("{m} -> {w}"))
                })
                .collect();
            format!("{{{}}} by {}", c.join(", "), edges.join("; "))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules of src/: {}",
        cycles.join(" | ")
    );
}

#[test]
fn store_trees_and_installer_never_name_the_daemon() {
    let graph = graph();
    for module in ["store", "tree", "install"] {
        assert!(
            graph.contains_key(module),
            "src/{module} is no longer a top-level module"
        );
        assert!(
            !graph[module].contains("daemon"),
            "src/{module} names crate::daemon"
        );
    }
}

#[test]
fn a_cycle_is_found_and_named() {
    // The check itself: a two-module cycle is one component of two.
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("a".into());
    graph.entry("c".into()).or_default().insert("a".into());
    let mut big: Vec<Vec<String>> = components(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    assert_eq!(big.len(), 1);
    big[0].sort();
    assert_eq!(big[0], ["a", "b"]);
    let text = "use crate::{build::x, store, units::Bytes};\n// crate::daemon\nfn f() { crate::tree::y(); }\n#[cfg(test)]\nmod tests { use crate::gc; }";
    let names = named(&code(text));
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["build", "store", "tree", "units"]
    );
}
