//! Flags and arguments several commands share: the global rocks-server
//! flags, the rockspec-template flags (`write_rockspec`, `init`), and
//! `VAR=VALUE` build variables among positional arguments.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use rockstore::build::variables::{self, Variables};

/// Flags every server-facing command shares; global, so they may stand
/// before or after the command, as with LuaRocks.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerFlags {
    /// Fetch rocks/rockspecs from this server first (before the configured
    /// ones); repeatable.
    #[arg(
        long,
        visible_alias = "from",
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub server: Vec<String>,
    /// Fetch rocks/rockspecs from this server only.
    #[arg(
        long,
        visible_alias = "only-from",
        global = true,
        help_heading = "Global options",
        value_name = "URL",
        conflicts_with = "server"
    )]
    pub only_server: Option<String>,
    /// Lua version to build for (5.1, 5.2, 5.3, 5.4) [default: on Debian,
    /// the one its luarocks runs under (the oldest installed
    /// /usr/bin/lua5.x, as lua-any picks it); elsewhere the newest Lua
    /// interpreter on PATH].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "X.Y"
    )]
    pub lua_version: Option<String>,
    /// The Lua installation to use (a prefix with bin/ and include/).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PREFIX"
    )]
    pub lua_dir: Option<PathBuf>,
    /// Network timeout in seconds.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "SECONDS",
        default_value_t = 30
    )]
    pub timeout: u64,
    /// Also use the servers' development trees, first: `/dev` appended to
    /// every server (luarocks.org/dev holds scm and dev rockspecs).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "only_server"
    )]
    pub dev: bool,
    /// Download sources only from URLs whose part after `protocol://`
    /// starts with this (empty: download no sources), as LuaRocks.
    #[arg(
        long,
        visible_alias = "only-sources-from",
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub only_sources: Option<String>,
}

impl TemplateFlags {
    /// The template request these flags make (no name, version or
    /// location).
    pub fn into_request(self) -> rockstore::ops::template::Request {
        rockstore::ops::template::Request {
            output: self.output,
            license: self.license,
            summary: self.summary,
            detailed: self.detailed,
            homepage: self.homepage,
            lua_versions: self.lua_versions,
            rockspec_format: self.rockspec_format,
            tag: self.tag,
            lib: self.lib,
            ..Default::default()
        }
    }
}

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// What `write_rockspec` and `init` take for the rockspec they write.
#[derive(Debug, Args, Clone, Default)]
pub struct TemplateFlags {
    /// Write the rockspec to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// A license string, such as "MIT/X11" or "GNU GPL v3".
    #[arg(long)]
    pub license: Option<String>,
    /// A short one-line description summary.
    #[arg(long)]
    pub summary: Option<String>,
    /// A longer description string.
    #[arg(long)]
    pub detailed: Option<String>,
    /// Project homepage.
    #[arg(long)]
    pub homepage: Option<String>,
    /// Supported Lua versions: 5.1 … 5.4, or a run such as 5.1,5.2,5.3.
    #[arg(long)]
    pub lua_versions: Option<String>,
    /// Rockspec format version, such as "1.0" or "3.0".
    #[arg(long)]
    pub rockspec_format: Option<String>,
    /// The tag to use; the version is taken from it when not given.
    #[arg(long)]
    pub tag: Option<String>,
    /// A comma-separated list of libraries C files link to.
    #[arg(long)]
    pub lib: Option<String>,
}

/// Splits `VAR=VALUE` build variables from positional arguments.
pub fn split_args(args: Vec<String>) -> anyhow::Result<(Vec<String>, Variables)> {
    let mut overrides = Variables::new();
    let mut positional = Vec::new();
    for arg in args {
        match variables::parse_assignment(&arg) {
            Some((k, v)) => {
                overrides.insert(k, v);
            }
            None if arg.contains('=') && !arg.contains('/') => {
                bail!("Invalid assignment: {arg} (build variables are written NAME=VALUE with NAME in capitals)")
            }
            None => positional.push(arg),
        }
    }
    Ok((positional, overrides))
}
