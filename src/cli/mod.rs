//! Command-line surface: the clap definitions and dispatch. Each command's
//! help text is the doc comment on its arguments; the work is one library
//! call per command.

mod build_cmd;
pub mod output;
pub mod report;
mod rockspec_cmd;
mod store_cmd;
mod verify_cmd;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rockstore::config::Config;
use rockstore::env_vars::EnvVars;
use rockstore::store::failpoint::Failpoints;
use rockstore::store::{Store, StoreOptions};

use report::ExitStatus;

/// rockstore: LuaRocks-compatible rocks on an immutable, content-addressed store.
///
/// Every built rock lives once in the store, named by the blake3 hash of its
/// contents; rocks trees become symlink profiles over it.
#[derive(Debug, Parser)]
#[command(name = "rockstore", version)]
pub struct Cli {
    /// The store root [default: $ROCKSTORE_STORE, else $XDG_DATA_HOME/rockstore,
    /// else ~/.local/share/rockstore]. May stand before or after the command.
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,

    #[command(flatten)]
    server_flags: build_cmd::ServerFlags,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Low-level store operations (like `nix-store`): add, ls, info, path.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// Check the store: records against directories, and with --contents every
    /// file against its hash. Exits non-zero and names each problem.
    Verify(verify_cmd::VerifyArgs),
    /// Check a rockspec as `luarocks lint` does: it must load (syntax,
    /// schema of its format, dependency strings, file name), its build
    /// fields must be readable, and it must name a license.
    Lint(rockspec_cmd::LintArgs),
    /// Evaluate a rockspec (in the sandbox) and print it; `--json` prints
    /// the platform-merged table with parsed dependencies, for tooling.
    Rockspec(rockspec_cmd::RockspecArgs),
    /// Build a rock into the store and print its item's path (last line).
    /// A recipe already built is reused: nothing is fetched or compiled.
    Build(build_cmd::BuildArgs),
    /// Download a rock or rockspec from the rocks servers into the current
    /// directory.
    Download(build_cmd::DownloadArgs),
    /// Pack a store item as a binary rock (`.all.rock` or `.<arch>.rock`)
    /// LuaRocks can install, or a rockspec with its sources as `.src.rock`.
    Pack(build_cmd::PackArgs),
    /// Unpack a rock or rockspec (with its sources) into `<name>-<version>/`.
    Unpack(build_cmd::UnpackArgs),
    /// Search the rocks servers (names matching as substrings; versions
    /// newest first).
    Search(build_cmd::SearchArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli, env: &EnvVars) -> anyhow::Result<ExitStatus> {
    // Resolved only by commands that use a store: reading a rockspec needs
    // neither a store nor a HOME.
    let cache = || {
        Config::resolve(cli.store.clone(), env)
            .ok()
            .and_then(|c| c.cache_dir)
    };
    let open = || -> anyhow::Result<Store> {
        let config = Config::resolve(cli.store.clone(), env)?;
        let failpoints = config
            .failpoint
            .as_deref()
            .map(Failpoints::parse)
            .unwrap_or_default();
        let options = StoreOptions {
            reporter: Arc::new(output::StderrReporter),
            failpoints: Arc::new(failpoints),
        };
        Ok(Store::open(&config.store_root, options)?)
    };
    match cli.command {
        Command::Store(cmd) => store_cmd::run(cmd, &open()?),
        Command::Verify(args) => verify_cmd::run(args, &open()?),
        Command::Lint(args) => rockspec_cmd::lint(args),
        Command::Rockspec(args) => rockspec_cmd::show(args),
        Command::Build(args) => build_cmd::build(args, &cli.server_flags, &open()?, env, cache()),
        Command::Download(args) => build_cmd::download(args, &cli.server_flags, cache()),
        Command::Pack(args) => build_cmd::pack(args, &cli.server_flags, &open()?, cache()),
        Command::Unpack(args) => build_cmd::unpack(args, &cli.server_flags, cache()),
        Command::Search(args) => build_cmd::search(args, &cli.server_flags, cache()),
    }
}
