//! An 11-rock closure shaped like the real one of the issue (luasocket,
//! lua-cjson, luafilesystem, lpeg, luassert, say, inspect, penlight,
//! lua-term, dkjson under one top rock): the same module counts, C files
//! per C module, `bin/` scripts and dependency edges, with generated
//! contents, so the benchmarks need no network. Rock names carry a `w`
//! prefix so nobody mistakes them for the real rocks.
#![allow(dead_code)]

use std::fmt::Write;
use std::path::Path;

/// One C module: its name and how many C files it is built from.
struct CModule {
    name: &'static str,
    files: usize,
}

/// One rock of the closure.
struct Shape {
    name: &'static str,
    c: &'static [CModule],
    lua: &'static [&'static str],
    bins: &'static [&'static str],
    deps: &'static [&'static str],
}

const SHAPES: [Shape; 11] = [
    Shape {
        name: "wsocket",
        c: &[
            CModule {
                name: "socket.core",
                files: 9,
            },
            CModule {
                name: "mime.core",
                files: 2,
            },
            CModule {
                name: "socket.unix",
                files: 4,
            },
        ],
        lua: &[
            "ltn12",
            "mime",
            "socket",
            "socket.ftp",
            "socket.headers",
            "socket.http",
            "socket.smtp",
            "socket.tp",
            "socket.url",
        ],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wcjson",
        c: &[CModule {
            name: "cjson",
            files: 3,
        }],
        lua: &["cjson.util"],
        bins: &["json2lua", "lua2json"],
        deps: &[],
    },
    Shape {
        name: "wlfs",
        c: &[CModule {
            name: "lfs",
            files: 1,
        }],
        lua: &[],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wlpeg",
        c: &[CModule {
            name: "lpeg",
            files: 5,
        }],
        lua: &["re"],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wsay",
        c: &[],
        lua: &["say"],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wassert",
        c: &[],
        lua: &[
            "luassert.init",
            "luassert.assert",
            "luassert.assertions",
            "luassert.array",
            "luassert.compatibility",
            "luassert.modifiers",
            "luassert.namespaces",
            "luassert.spy",
            "luassert.stub",
            "luassert.mock",
            "luassert.match",
            "luassert.matchers.init",
            "luassert.matchers.core",
            "luassert.matchers.composite",
            "luassert.formatters.init",
            "luassert.formatters.binarystring",
            "luassert.state",
            "luassert.util",
            "luassert.languages.en",
            "luassert.languages.ar",
            "luassert.languages.de",
            "luassert.languages.fr",
            "luassert.languages.is",
            "luassert.languages.ja",
            "luassert.languages.nl",
            "luassert.languages.ru",
            "luassert.languages.ua",
            "luassert.languages.zh",
        ],
        bins: &[],
        deps: &["wsay >= 1.0"],
    },
    Shape {
        name: "winspect",
        c: &[],
        lua: &["inspect"],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wpenlight",
        c: &[],
        lua: &[
            "pl.init",
            "pl.app",
            "pl.array2d",
            "pl.class",
            "pl.compat",
            "pl.comprehension",
            "pl.config",
            "pl.data",
            "pl.Date",
            "pl.dir",
            "pl.file",
            "pl.func",
            "pl.import_into",
            "pl.input",
            "pl.lapp",
            "pl.lexer",
            "pl.List",
            "pl.luabalanced",
            "pl.Map",
            "pl.MultiMap",
            "pl.operator",
            "pl.OrderedMap",
            "pl.path",
            "pl.permute",
            "pl.pretty",
            "pl.seq",
            "pl.Set",
            "pl.sip",
            "pl.strict",
            "pl.stringio",
            "pl.stringx",
            "pl.tablex",
            "pl.template",
            "pl.test",
            "pl.text",
            "pl.types",
            "pl.url",
            "pl.utils",
            "pl.xml",
        ],
        bins: &[],
        deps: &["wlfs >= 1.0"],
    },
    Shape {
        name: "wterm",
        c: &[CModule {
            name: "term.core",
            files: 1,
        }],
        lua: &["term.init", "term.colors", "term.cursor"],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wdkjson",
        c: &[],
        lua: &["dkjson"],
        bins: &[],
        deps: &[],
    },
    Shape {
        name: "wtop",
        c: &[],
        lua: &["wtop"],
        bins: &["wtop"],
        deps: &[
            "wsocket >= 1.0",
            "wcjson",
            "wlfs",
            "wlpeg",
            "wassert",
            "winspect",
            "wpenlight",
            "wterm",
            "wdkjson",
        ],
    },
];

/// How many rocks the closure of [`TOP`] holds.
pub const ROCKS: usize = SHAPES.len();
/// The rock that needs every other.
pub const TOP: &str = "wtop";

/// Each rock with a C module, for the one-by-one rows.
pub fn names() -> Vec<&'static str> {
    SHAPES.iter().map(|s| s.name).collect()
}

/// C for file `i` of module `module`: some functions to compile (real
/// rocks' files are a few hundred lines), the last file opening it.
fn c_file(module: &str, i: usize, last: bool) -> String {
    let sym = module.replace('.', "_");
    let mut out = String::from("#include <lua.h>\n#include <lauxlib.h>\n#include <string.h>\n\n");
    for f in 0..40 {
        let _ = writeln!(
            out,
            "int {sym}_{i}_f{f}(const char *s, int n) {{\n  int h = {f};\n  for (int k = 0; k < n; k++) {{\n    h = h * 31 + s[k];\n    if (h % 7 == {r}) h ^= k << 3;\n  }}\n  return h + (int)strlen(s);\n}}\n",
            r = f % 7
        );
    }
    if last {
        let _ = write!(
            out,
            "static int name(lua_State *L) {{\n  lua_pushstring(L, \"{module}\");\n  return 1;\n}}\n\n\
             int luaopen_{sym}(lua_State *L) {{\n  lua_newtable(L);\n  lua_pushcfunction(L, name);\n  lua_setfield(L, -2, \"name\");\n  return 1;\n}}\n"
        );
    }
    out
}

/// Writes the closure's sources, tarballs and rockspecs into `repo`
/// (sources under `work`), pointing at `base`; returns the manifest
/// entries (name → versions) to list.
pub fn write(work: &Path, repo: &Path, base: &str) -> Vec<(&'static str, &'static [&'static str])> {
    for shape in &SHAPES {
        let top = format!("{}-1.0", shape.name);
        let src = work.join("src").join(&top);
        let mut modules = String::new();
        for m in shape.c {
            let mut files = Vec::new();
            for i in 0..m.files {
                let rel = format!("src/{}_{i}.c", m.name.replace('.', "_"));
                let path = src.join(&rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, c_file(m.name, i, i + 1 == m.files)).unwrap();
                files.push(format!("{rel:?}"));
            }
            let _ = writeln!(
                modules,
                "      [{:?}] = {{ {} }},",
                m.name,
                files.join(", ")
            );
        }
        for m in shape.lua {
            let rel = format!("src/{}.lua", m.replace('.', "/"));
            let path = src.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut body = format!("-- {m}\nlocal M = {{ name = {m:?} }}\n");
            for f in 0..30 {
                let _ = writeln!(body, "function M.f{f}(x) return (x or 0) + {f} end");
            }
            body.push_str("return M\n");
            std::fs::write(&path, body).unwrap();
            let _ = writeln!(modules, "      [{m:?}] = {rel:?},");
        }
        let mut install = String::new();
        if !shape.bins.is_empty() {
            std::fs::create_dir_all(src.join("bin")).unwrap();
            let mut listed = Vec::new();
            for b in shape.bins {
                std::fs::write(
                    src.join("bin").join(b),
                    format!("#!/usr/bin/env lua\nprint({b:?})\n"),
                )
                .unwrap();
                listed.push(format!("\"bin/{b}\""));
            }
            install = format!("   install = {{ bin = {{ {} }} }},\n", listed.join(", "));
        }
        std::fs::write(
            repo.join(format!("{top}.tar.gz")),
            super::tarball(&src, &top),
        )
        .unwrap();
        let deps: Vec<String> = std::iter::once("lua >= 5.1")
            .chain(shape.deps.iter().copied())
            .map(|d| format!("{d:?}"))
            .collect();
        std::fs::write(
            repo.join(format!("{}-1.0-1.rockspec", shape.name)),
            format!(
                "package = {name:?}\nversion = \"1.0-1\"\nsource = {{ url = \"{base}/{top}.tar.gz\" }}\n\
                 description = {{ summary = \"Shaped like a real rock\", license = \"MIT\" }}\n\
                 dependencies = {{ {deps} }}\nbuild = {{\n   type = \"builtin\",\n   modules = {{\n{modules}   }},\n{install}}}\n",
                name = shape.name,
                deps = deps.join(", "),
            ),
        )
        .unwrap();
    }
    SHAPES.iter().map(|s| (s.name, &["1.0-1"][..])).collect()
}

/// The top rock of the 20-rock closure: [`TOP`] and eight pure-Lua rocks.
pub const TWENTY_TOP: &str = "ctop";
/// The pure-Lua rocks beside the shaped closure.
const EXTRA: usize = 8;

/// Writes the 20-rock closure ([`write`]'s eleven, eight pure-Lua rocks
/// and [`TWENTY_TOP`] over them) and its `manifest-5.4` into `repo`;
/// returns how many rocks it holds.
pub fn write_twenty(root: &Path, repo: &Path, base: &str) -> usize {
    let mut entries: Vec<String> = write(root, repo, base)
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    let extra: Vec<String> = (0..EXTRA).map(|i| format!("cx{i:02}")).collect();
    let mut deps: Vec<String> = vec![format!("{:?}", TOP)];
    deps.extend(extra.iter().map(|n| format!("{n:?}")));
    let mut rocks: Vec<(String, Vec<String>)> =
        extra.iter().map(|n| (n.clone(), Vec::new())).collect();
    rocks.push((TWENTY_TOP.to_owned(), deps));
    for (name, deps) in &rocks {
        let top = format!("{name}-1.0");
        let src = root.join("src").join(&top);
        std::fs::create_dir_all(&src).unwrap();
        let mut body = format!("local M = {{ name = {name:?} }}\n");
        for f in 0..30 {
            body.push_str(&format!("function M.f{f}(x) return (x or 0) + {f} end\n"));
        }
        body.push_str("return M\n");
        std::fs::write(src.join(format!("{name}.lua")), body).unwrap();
        std::fs::write(
            repo.join(format!("{top}.tar.gz")),
            super::tarball(&src, &top),
        )
        .unwrap();
        std::fs::write(
            repo.join(format!("{name}-1.0-1.rockspec")),
            format!(
                "package = {name:?}\nversion = \"1.0-1\"\nsource = {{ url = \"{base}/{top}.tar.gz\" }}\n\
                 description = {{ summary = \"cache bench\", license = \"MIT\" }}\n\
                 dependencies = {{ \"lua >= 5.1\"{more} }}\n\
                 build = {{ type = \"builtin\", modules = {{ {name} = \"{name}.lua\" }} }}\n",
                more = deps.iter().map(|d| format!(", {d}")).collect::<String>()
            ),
        )
        .unwrap();
        entries.push(name.clone());
    }
    let mut manifest = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    for name in &entries {
        manifest.push_str(&format!(
            "  [{name:?}] = {{ ['1.0-1'] = {{ {{ arch = 'rockspec' }} }} }},\n"
        ));
    }
    manifest.push_str("}\n");
    std::fs::write(repo.join("manifest-5.4"), manifest).unwrap();
    entries.len()
}
