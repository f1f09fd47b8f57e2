//! The recipe key: blake3 over everything that decides a build's output,
//! known before fetching or compiling, so a realisation can skip both.
//!
//! Inputs, each written as a length-prefixed field under a fixed label
//! (`rockstore recipe 1` first): the rockspec bytes; the source's identity
//! (URL, md5, tag, branch and module as written — rockspecs on a server are
//! immutable per revision — or the `.src.rock`'s content hash, or for
//! `make` the working directory's content hash, or for a git
//! source without a tag the commit `git ls-remote` reports); the Lua version,
//! LuaJIT flag and a hash of `lua.h`; the arch; when anything is compiled,
//! the compiler binary's hash; every build variable except the per-build
//! directories (`PREFIX`, `LUADIR`, …), which include external dependencies'
//! locations and command-line `VAR=VALUE`; and the dependency items.

use super::variables::Variables;
use crate::lua_install::LuaInstall;
use crate::rockspec::source::Source;
use crate::store::content_hash::RecipeKey;

/// What goes into a rockspec build's key.
pub struct Inputs<'a> {
    /// The rockspec file's bytes.
    pub rockspec_bytes: &'a [u8],
    /// Its source table.
    pub source: &'a Source,
    /// What stands for the sources when not the rockspec's `source`
    /// (`src.rock` or `local.dir`, and a hash).
    pub source_hash: Option<(&'static str, &'a str)>,
    /// The Lua built for.
    pub lua: &'a LuaInstall,
    /// The arch.
    pub arch: &'a str,
    /// Variables after overrides and external dependencies.
    pub variables: &'a Variables,
    /// Whether a compiler or build tool runs.
    pub compiles: bool,
    /// Items of resolved dependencies.
    pub dependency_items: &'a [String],
}

struct KeyWriter(blake3::Hasher);

impl KeyWriter {
    fn field(&mut self, label: &str, value: &[u8]) {
        for part in [label.as_bytes(), value] {
            self.0.update(&(part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }
}

/// The key of a rockspec build.
pub fn key(inputs: &Inputs<'_>) -> RecipeKey {
    let mut w = KeyWriter(blake3::Hasher::new());
    w.field("format", b"rockstore recipe 1");
    w.field("rockspec", inputs.rockspec_bytes);
    match inputs.source_hash {
        Some((label, hash)) => w.field(label, hash.as_bytes()),
        None => {
            let s = inputs.source;
            w.field("source.url", s.url.as_bytes());
            for (label, value) in [
                ("source.md5", &s.md5),
                ("source.tag", &s.tag),
                ("source.branch", &s.branch),
                ("source.module", &s.module),
            ] {
                w.field(label, value.as_deref().unwrap_or("").as_bytes());
            }
            if s.protocol.starts_with("git") && s.tag.is_none() {
                let commit = super::source::git_remote_commit(s).unwrap_or_default();
                w.field("source.commit", commit.as_bytes());
            }
        }
    }
    let lua = inputs.lua;
    w.field("lua.version", lua.version.as_bytes());
    w.field("lua.luajit", lua.luajit.as_deref().unwrap_or("").as_bytes());
    let header = lua
        .incdir
        .as_deref()
        .and_then(|d| std::fs::read(d.join("lua.h")).ok())
        .map(|b| blake3::hash(&b).to_hex().to_string())
        .unwrap_or_default();
    w.field("lua.h", header.as_bytes());
    w.field("arch", inputs.arch.as_bytes());
    if inputs.compiles {
        let cc = inputs.variables.get("CC").map(String::as_str).unwrap_or("");
        w.field("compiler", compiler_identity(cc).as_bytes());
    }
    for (name, value) in inputs.variables {
        if !matches!(
            name.as_str(),
            "PREFIX" | "LUADIR" | "LIBDIR" | "BINDIR" | "CONFDIR" | "DOCDIR"
        ) {
            w.field(&format!("var.{name}"), value.as_bytes());
        }
    }
    for item in inputs.dependency_items {
        w.field("dependency", item.as_bytes());
    }
    RecipeKey(*w.0.finalize().as_bytes())
}

/// The key of admitting a binary rock: its bytes decide everything.
pub fn binary_rock_key(bytes: &[u8], lua_version: &str) -> RecipeKey {
    let mut w = KeyWriter(blake3::Hasher::new());
    w.field("format", b"rockstore binary rock 1");
    w.field("lua.version", lua_version.as_bytes());
    w.field("rock", blake3::hash(bytes).as_bytes());
    RecipeKey(*w.0.finalize().as_bytes())
}

/// The compiler's path and a hash of its binary: a compiler upgrade changes
/// the key without running the compiler to ask. The hash comes through
/// the probe cache ([`super::probes`]), so a warm plan does not read the
/// compiler; the text is what it always was (see
/// [`super::compiler::recipe_identity`]).
fn compiler_identity(cc: &str) -> String {
    let Some(program) = super::compiler::program_of(cc) else {
        return String::new();
    };
    super::compiler::recipe_identity(cc, super::probes::program_hash(program))
}
