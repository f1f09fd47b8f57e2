//! A project's test suite as `luarocks test` runs it: the rockspec's
//! `test` table (or, without one, `--test-type`, or what the directory
//! shows: `.busted`, `test.lua`), the rocks it needs (`test_dependencies`,
//! and busted for a busted suite), and the command that runs it with the
//! tree's modules on the Lua paths: `busted` from the tree's `bin/` (or
//! `test.busted_executable`), `test.command` in the shell, or `lua
//! test.script`; `test.flags` first, then the arguments given.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rockspec::Rockspec;
use crate::tree::Tree;

/// Why a suite cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TestSuiteError {
    /// No type declared, given or detectable.
    #[error("could not detect test type -- no test suite for {0}?")]
    NoType(String),
    /// A type LuaRocks has no runner for.
    #[error("failed loading test execution module luarocks.test.{0}")]
    UnknownType(String),
    /// busted was to be installed, and is not in the tree.
    #[error("'busted' executable failed to be installed")]
    NoBusted,
    /// `test.script` (or `test.lua`) is missing.
    #[error("Test script {0} does not exist")]
    NoScript(String),
}

/// How the suite runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `busted`, at this path if the rockspec names one.
    Busted(Option<PathBuf>),
    /// `test.command`, through the shell.
    Shell(String),
    /// `lua <script>`.
    Script(String),
}

/// A suite, read from the rockspec.
#[derive(Debug, Clone)]
pub struct Suite {
    /// How it runs.
    pub runner: Runner,
    /// `test.flags`.
    pub flags: Vec<String>,
    /// What must be installed first: (name, constraint).
    pub needs: Vec<(String, Option<String>)>,
}

/// Reads the suite of `spec` for a project in `dir`.
pub fn suite(
    spec: &Rockspec,
    test_type: Option<&str>,
    dir: &Path,
) -> Result<Suite, TestSuiteError> {
    let table = spec.test.as_ref();
    let field = |k: &str| table.and_then(|t| t.get_string(k));
    let kind = match field("type").or_else(|| test_type.map(str::to_owned)) {
        Some(kind) => kind,
        None if dir.join(".busted").exists() => "busted".to_owned(),
        None if dir.join("test.lua").exists() => "command".to_owned(),
        None => return Err(TestSuiteError::NoType(spec.name.clone())),
    };
    let mut needs: Vec<(String, Option<String>)> = spec
        .test_dependencies
        .iter()
        .map(|d| {
            let constraint = d.to_string();
            let version = constraint
                .strip_prefix(d.name.as_str())
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            (d.name.clone(), version)
        })
        .collect();
    let runner = match kind.as_str() {
        "busted" => {
            let exe = field("busted_executable").map(PathBuf::from);
            if exe.is_none() && !needs.iter().any(|(n, _)| n == "busted") {
                needs.push(("busted".to_owned(), None));
            }
            Runner::Busted(exe)
        }
        "command" => match (field("script"), field("command")) {
            (None, Some(shell)) => Runner::Shell(shell),
            (script, _) => Runner::Script(script.unwrap_or_else(|| "test.lua".to_owned())),
        },
        other => return Err(TestSuiteError::UnknownType(other.to_owned())),
    };
    Ok(Suite {
        runner,
        flags: table.map(|t| t.get_strings("flags")).unwrap_or_default(),
        needs,
    })
}

/// The command that runs `suite` in `dir` with `args` after its flags,
/// the modules of `tree` first on the Lua paths, `lua` the interpreter.
pub fn command(
    suite: &Suite,
    args: &[String],
    dir: &Path,
    tree: &Tree,
    lua: &Path,
) -> Result<Command, TestSuiteError> {
    let mut all_args = suite.flags.clone();
    all_args.extend(args.iter().cloned());
    let mut command = match &suite.runner {
        Runner::Busted(exe) => {
            let exe = exe.clone().unwrap_or_else(|| tree.bin_dir().join("busted"));
            if !exe.exists() {
                return Err(TestSuiteError::NoBusted);
            }
            let mut c = Command::new(exe);
            c.args(&all_args);
            c
        }
        Runner::Shell(shell) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("{shell} \"$@\""))
                .arg("sh")
                .args(&all_args);
            c
        }
        Runner::Script(script) => {
            if !dir.join(script).exists() {
                return Err(TestSuiteError::NoScript(script.clone()));
            }
            let mut c = Command::new(lua);
            c.arg(script).args(&all_args);
            c
        }
    };
    command
        .current_dir(dir)
        .env(
            "LUA_PATH",
            format!("{0}/?.lua;{0}/?/init.lua;;", tree.lua_dir().display()),
        )
        .env("LUA_CPATH", format!("{}/?.so;;", tree.lib_dir().display()));
    Ok(command)
}
