//! Build variables and LuaRocks' `$(VAR)` substitution. The set starts from
//! LuaRocks' Unix defaults and the Lua installation, then config and
//! command-line `VAR=VALUE` overrides, then external dependencies' and the
//! rock's own directories.

use std::collections::BTreeMap;
use std::path::Path;

use crate::lua_install::LuaInstall;

/// Variable names a rockspec sees.
pub type Variables = BTreeMap<String, String>;

/// LuaRocks' Unix defaults plus the Lua installation's `LUA*` variables.
/// `env_cc`/`env_cflags`/`env_ldflags` are the environment's `CC`, `CFLAGS`,
/// `LDFLAGS`, which LuaRocks takes as defaults.
pub fn defaults(
    lua: &LuaInstall,
    env_cc: Option<&str>,
    env_cflags: Option<&str>,
    env_ldflags: Option<&str>,
) -> Variables {
    let mut v = Variables::new();
    let mut set = |k: &str, val: &str| {
        v.insert(k.to_owned(), val.to_owned());
    };
    let cc = env_cc.unwrap_or("gcc");
    set("CC", cc);
    set("LD", cc);
    let mut cflags = env_cflags.unwrap_or("-O2").to_owned();
    if !cflags.split_whitespace().any(|f| f == "-fPIC") {
        cflags.push_str(" -fPIC");
    }
    set("CFLAGS", &cflags);
    set("LDFLAGS", env_ldflags.unwrap_or(""));
    set("LIBFLAG", "-shared");
    set("LIB_EXTENSION", "so");
    set("OBJ_EXTENSION", "o");
    set("MAKE", "make");
    set("CMAKE", "cmake");
    set("LUA_VERSION", &lua.version);
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    set("LUA", &path(&lua.interpreter));
    set(
        "LUA_BINDIR",
        &lua.interpreter
            .as_deref()
            .and_then(Path::parent)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    set("LUA_DIR", &path(&lua.dir));
    set("LUA_INCDIR", &path(&lua.incdir));
    let (libdir, lualib) = lua.library();
    set("LUA_LIBDIR", &path(&libdir));
    set("LUALIB", lualib.as_deref().unwrap_or(""));
    // LuaRocks names the file it found so too.
    set("LUA_LIBDIR_FILE", lualib.as_deref().unwrap_or(""));
    v
}

/// Parses a command-line `VAR=VALUE` (LuaRocks: `^[A-Z_][A-Z0-9_]*=`).
pub fn parse_assignment(arg: &str) -> Option<(String, String)> {
    let (name, value) = arg.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    .then(|| (name.to_owned(), value.to_owned()))
}

/// Replaces `$(NAME)` (a letter then at least one of `[A-Za-z0-9_]`) with
/// its value; unknown names become empty and are reported in `unknown`, as
/// LuaRocks warns "unmatched variable".
pub fn substitute(text: &str, vars: &Variables, unknown: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("$(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let name_len = after
            .char_indices()
            .take_while(|&(i, c)| {
                if i == 0 {
                    c.is_ascii_alphabetic()
                } else {
                    c.is_ascii_alphanumeric() || c == '_'
                }
            })
            .count();
        if name_len >= 2 && after[name_len..].starts_with(')') {
            let name = &after[..name_len];
            match vars.get(name) {
                Some(value) => out.push_str(value),
                None => unknown.push(name.to_owned()),
            }
            rest = &after[name_len + 1..];
        } else {
            out.push_str("$(");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_follows_luarocks() {
        let vars: Variables = [("CC", "gcc"), ("FOO_DIR", "/opt/foo")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut unknown = Vec::new();
        assert_eq!(
            substitute(
                "$(CC) -I$(FOO_DIR)/include $(X) $(NOPE) $(",
                &vars,
                &mut unknown
            ),
            "gcc -I/opt/foo/include $(X)  $("
        );
        assert_eq!(unknown, ["NOPE"]);
        assert_eq!(
            parse_assignment("FOO_DIR=/x=y"),
            Some(("FOO_DIR".into(), "/x=y".into()))
        );
        assert_eq!(parse_assignment("foo=1"), None);
        assert_eq!(parse_assignment("--x=1"), None);
    }
}
