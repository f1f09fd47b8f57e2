//! `rockstore admin …`: what `luarocks-admin` does for the maintainer of a
//! rocks server directory: `make-manifest`, and `add`/`remove` for a
//! local one.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::report::ExitStatus;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Write the manifests of a rocks server directory (`manifest` and
    /// `manifest-5.x`, each holding the rocks whose `lua` dependency that
    /// Lua meets), as `luarocks-admin make_manifest`.
    #[command(name = "make-manifest", visible_alias = "make_manifest")]
    MakeManifest(MakeManifestArgs),
    /// Add rock and rockspec files to a rocks server directory (a local
    /// path or file:// URL) and update its manifests, as `luarocks-admin
    /// add` does for a file:// server.
    Add(AddArgs),
    /// Remove rock and rockspec files from a rocks server directory and
    /// update its manifests (LuaRocks only does this over rsync).
    Remove(RemoveArgs),
    /// Download the servers' manifests anew into the download cache (as
    /// `luarocks-admin refresh_cache` refreshes its copy of a server).
    #[command(name = "refresh-cache", visible_alias = "refresh_cache")]
    RefreshCache(RefreshCacheArgs),
}

/// Which servers: the global `--only-server`, `--server`/`--from` and the
/// configuration, as for every command.
#[derive(Debug, Args)]
pub struct RefreshCacheArgs {}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The files to add.
    #[arg(required = true)]
    pub rocks: Vec<PathBuf>,
    /// The server directory (a path or file:// URL).
    #[arg(long, alias = "add-server")]
    pub server: String,
    /// Accepted for LuaRocks' sake: a local directory needs no refresh.
    #[arg(long)]
    pub no_refresh: bool,
    /// Also write the server's index.html, as LuaRocks.
    #[arg(long)]
    pub index: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The files to remove (their names in the server directory).
    #[arg(required = true)]
    pub rocks: Vec<String>,
    /// The server directory (a path or file:// URL).
    #[arg(long)]
    pub server: String,
    /// Accepted for LuaRocks' sake: a local directory needs no refresh.
    #[arg(long)]
    pub no_refresh: bool,
}

fn refresh_cache(
    args: RefreshCacheArgs,
    cx: &super::context::Context,
) -> anyhow::Result<ExitStatus> {
    let fetcher = cx.fetcher();
    let RefreshCacheArgs {} = args;
    let servers = cx.servers();
    let mut failed = false;
    for server in servers {
        outln!("Refreshing cache {server}...");
        match rockstore::servers::refresh(&fetcher, &server, &cx.lua.version) {
            Ok(url) => outln!("   {url}"),
            Err(why) => {
                errln!("warning: {why}");
                failed = true;
            }
        }
    }
    if failed {
        anyhow::bail!("Failed downloading cache.");
    }
    Ok(ExitStatus::Success)
}

fn add(args: AddArgs) -> anyhow::Result<ExitStatus> {
    let dir = rockstore::server_dir::local_dir(&args.server)?;
    let mut copied = 0;
    for rock in &args.rocks {
        let Some(name) = rock.file_name() else {
            continue;
        };
        if !rock.is_file() {
            errln!("File {} not found", rock.display());
            continue;
        }
        outln!("Copying file {} to {}...", rock.display(), dir.display());
        let to = dir.join(name);
        std::fs::copy(rock, &to).with_context(|| format!("cannot copy to {}", to.display()))?;
        copied += 1;
    }
    if copied == 0 {
        anyhow::bail!("No files found");
    }
    outln!("Updating manifest...");
    let served = rockstore::server_dir::write_manifests(&dir, false)?;
    rockstore::server_dir::zip_manifests(&dir)?;
    if args.index {
        outln!("Updating index.html...");
        rockstore::server_dir::write_index(&dir, &served)?;
    }
    Ok(ExitStatus::Success)
}

fn remove(args: RemoveArgs) -> anyhow::Result<ExitStatus> {
    let dir = rockstore::server_dir::local_dir(&args.server)?;
    let mut removed = 0;
    for rock in &args.rocks {
        let base = std::path::Path::new(rock)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        let file = dir.join(&base);
        outln!("Removing file {}...", file.display());
        match std::fs::remove_file(&file) {
            Ok(()) => removed += 1,
            Err(_) => errln!("Failed removing {}", file.display()),
        }
    }
    if removed == 0 {
        anyhow::bail!("No files removed.");
    }
    outln!("Updating manifest...");
    rockstore::server_dir::write_manifests(&dir, false)?;
    rockstore::server_dir::zip_manifests(&dir)?;
    Ok(ExitStatus::Success)
}

#[derive(Debug, Args)]
pub struct MakeManifestArgs {
    /// The directory of .rockspec and .rock files [default: the current one].
    pub repository: Option<PathBuf>,
    /// Write only `manifest` (a rocks tree's, not a server's).
    #[arg(long)]
    pub local_tree: bool,
}

/// Runs an admin command; `cx` for the one that needs the configuration.
pub fn run(
    command: AdminCommand,
    cx: impl FnOnce() -> anyhow::Result<super::context::Context>,
) -> anyhow::Result<ExitStatus> {
    match command {
        AdminCommand::RefreshCache(args) => refresh_cache(args, &cx()?),
        AdminCommand::MakeManifest(args) => make_manifest(args),
        AdminCommand::Add(args) => add(args),
        AdminCommand::Remove(args) => remove(args),
    }
}

fn make_manifest(args: MakeManifestArgs) -> anyhow::Result<ExitStatus> {
    let dir = match args.repository {
        Some(d) => d,
        None => std::env::current_dir().context("current directory")?,
    };
    outln!("Making manifest for {}", dir.display());
    let served = rockstore::server_dir::write_manifests(&dir, args.local_tree)?;
    if !args.local_tree {
        outln!("Generating index.html for {}", dir.display());
        rockstore::server_dir::write_index(&dir, &served)?;
    }
    Ok(ExitStatus::Success)
}
