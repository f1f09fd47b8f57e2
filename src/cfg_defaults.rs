//! LuaRocks 3.8's `cfg` defaults on Linux: the bottom layer of the one
//! configuration model. [`crate::luarocks_config`] merges the config files
//! over it, [`crate::settings`] applies the environment and the flags, and
//! everything reads the result: the installer's servers, trees and hooks
//! and what `config` prints come from the same table, so a default cannot
//! say one thing in `config` and do another in `install` (the default
//! `rocks_servers` was one URL to the installer and four mirrors to
//! `config`).

use std::path::Path;

use crate::lua::{Table, Value};

/// LuaRocks 3.8's defaults on Linux that no input changes.
const DEFAULTS: &str = r#"
accept_unknown_fields = false
cache_fail_timeout = 86400
cache_timeout = 60
check_certificates = false
cmake_generator = "Unix Makefiles"
connection_timeout = 30
disabled_servers = {}
export_path_separator = ":"
external_deps_patterns = {
   bin = { "?" },
   include = { "?.h" },
   lib = { "lib?.a", "lib?.so", "lib?.so.*" }
}
external_lib_extension = "so"
fs_use_modules = true
gcc_rpath = true
hooks_enabled = true
lib_extension = "so"
link_lua_explicitly = false
local_by_default = false
lua_extension = "lua"
major_version = "3.8"
no_manifest = false
obj_extension = "o"
program_series = "3.8"
program_version = "3.8.0"
rocks_servers = {
   {
      "https://luarocks.org",
      "https://raw.githubusercontent.com/rocks-moonscript-org/moonrocks-mirror/master/",
      "https://luafr.org/luarocks/",
      "http://luarocks.logiceditor.com/rocks"
   }
}
runtime_external_deps_patterns = {
   bin = { "?" },
   include = { "?.h" },
   lib = { "lib?.so", "lib?.so.*" }
}
static_lib_extension = "a"
upload = {
   api_version = "1",
   server = "https://luarocks.org",
   tool_version = "1.0.0"
}
variables = {
   AR = "ar", BUNZIP2 = "bunzip2", CC = "gcc", CFLAGS = "-O2 -fPIC",
   CHMOD = "chmod", CMAKE = "cmake", CP = "cp", CURL = "curl",
   CURLNOCERTFLAG = "-k", CVS = "cvs", FIND = "find", GIT = "git",
   GPG = "gpg", GUNZIP = "gunzip", HG = "hg", ICACLS = "icacls",
   LD = "gcc", LIBFLAG = "-shared", LIB_EXTENSION = "so", LS = "ls",
   MAKE = "make", MD5 = "md5", MD5SUM = "md5sum", MKDIR = "mkdir",
   MKTEMP = "mktemp", OBJ_EXTENSION = "o", OPENSSL = "openssl", PWD = "pwd",
   RANLIB = "ranlib", RM = "rm", RMDIR = "rmdir", RSYNC = "rsync",
   RSYNCFLAGS = "--exclude=.git -Oavz", SCP = "scp", SEVENZ = "7z",
   SSCM = "sscm", SVN = "svn", TAR = "tar", TEST = "test", TOUCH = "touch",
   UNZIP = "unzip -n", WGET = "wget", WGETNOCERTFLAG = "--no-check-certificate",
   ZIP = "zip"
}
web_browser = "xdg-open"
wrapper_suffix = ""
"#;

/// The defaults for this process: the constant ones, then what LuaRocks
/// derives from the platform and `$HOME` before reading any file (`arch`,
/// `home`, `local_cache`, the `user` and `system` trees).
pub fn table(home: Option<&Path>, is_root: bool) -> Table {
    // DEFAULTS is a constant this module's test parses.
    let mut cfg = crate::lua::literal::parse_assignments(DEFAULTS.as_bytes()).unwrap_or_default();
    let arch = crate::build::BuildEnv::host_arch();
    let processor = arch
        .split_once('-')
        .map_or(arch.as_str(), |(_, cpu)| cpu)
        .to_owned();
    cfg.insert("arch", string(arch.clone()));
    cfg.insert("processor", string(processor.clone()));
    cfg.insert("target_cpu", string(processor.clone()));
    cfg.insert("user_agent", string(format!("LuaRocks/3.8.0 {arch}")));
    let multiarch = format!("lib/{processor}-linux-gnu");
    for key in ["external_deps_subdirs", "runtime_external_deps_subdirs"] {
        let mut t = Table::new();
        t.insert("bin", string("bin"));
        t.insert("include", string("include"));
        t.insert(
            "lib",
            list(["lib", multiarch.as_str(), "lib64"].map(string)),
        );
        cfg.insert(key, Value::Table(t));
    }
    let mut trees = Vec::new();
    if let Some(home) = home {
        cfg.insert("home", path(home));
        cfg.insert("homeconfdir", path(&home.join(".luarocks")));
        let cache = if is_root {
            std::path::PathBuf::from("/var/cache/luarocks")
        } else {
            home.join(".cache/luarocks")
        };
        cfg.insert("local_cache", path(&cache));
        trees.push(("user", home.join(".luarocks")));
    }
    trees.push(("system", "/usr/local".into()));
    cfg.insert(
        "rocks_trees",
        list(trees.into_iter().map(|(name, root)| {
            let mut t = Table::new();
            t.insert("name", string(name));
            t.insert("root", path(&root));
            Value::Table(t)
        })),
    );
    cfg
}

/// Keys a config file replaces whole rather than merging into.
pub const REPLACED_WHOLE: [&str; 3] = ["rocks_trees", "rocks_servers", "external_deps_dirs"];

/// `files` (every config file merged) over the defaults: what a file sets
/// wins, and a list in [`REPLACED_WHOLE`] replaces the default's.
pub fn merge_under(mut defaults: Table, files: &Table) -> Table {
    for replaced in REPLACED_WHOLE {
        if files.get(replaced).is_some() {
            defaults.remove(replaced);
        }
    }
    defaults.deep_merge(files);
    defaults
}

pub(crate) fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

pub(crate) fn path(p: &Path) -> Value {
    string(p.display().to_string())
}

pub(crate) fn list(items: impl IntoIterator<Item = Value>) -> Value {
    let mut t = Table::new();
    for i in items {
        t.push(i);
    }
    Value::Table(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constant_defaults_parse_and_the_derived_ones_follow_home() {
        assert!(crate::lua::literal::parse_assignments(DEFAULTS.as_bytes()).is_some());
        let with_home = table(Some(Path::new("/h")), false);
        assert_eq!(
            with_home.get_string("local_cache").as_deref(),
            Some("/h/.cache/luarocks")
        );
        let trees = with_home
            .get("rocks_trees")
            .and_then(Value::as_table)
            .map(|t| t.sequence().count());
        assert_eq!(trees, Some(2));
        let without = table(None, true);
        let trees = without
            .get("rocks_trees")
            .and_then(Value::as_table)
            .map(|t| t.sequence().count());
        assert_eq!(trees, Some(1), "only the system tree without a home");
        let servers = with_home
            .get("rocks_servers")
            .and_then(Value::as_table)
            .expect("servers");
        let group = servers
            .sequence()
            .next()
            .and_then(Value::as_table)
            .expect("one mirror group");
        assert_eq!(group.sequence().count(), 4);
    }
}
