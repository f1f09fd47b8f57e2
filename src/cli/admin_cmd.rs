//! `rockstore admin …`: what `luarocks-admin` does for the maintainer of a
//! rocks server directory: `make-manifest`, and `add`/`remove` for a
//! local one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rockstore::build::rock_file::RockFileName;
use rockstore::rockspec::{LoadOptions, Platforms, Rockspec, Version};

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

/// The directory a server names, refused unless it is a local one.
fn server_dir(server: &str) -> anyhow::Result<PathBuf> {
    let path = match server.split_once("://") {
        None => server,
        Some(("file", path)) => path,
        Some((protocol, _)) => anyhow::bail!(
            "rockstore admin changes only a local rocks server directory (a path or file:// URL), not a {protocol}:// one: change it there, or copy its files here and run `rockstore admin make-manifest`"
        ),
    };
    let dir = PathBuf::from(path);
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    Ok(dir)
}

fn add(args: AddArgs) -> anyhow::Result<ExitStatus> {
    let dir = server_dir(&args.server)?;
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
    let served = write_manifests(&dir, false)?;
    zip_manifests(&dir)?;
    if args.index {
        outln!("Updating index.html...");
        write_index(&dir, &served)?;
    }
    Ok(ExitStatus::Success)
}

/// `index.html`, as luarocks-admin writes it.
fn write_index(
    dir: &std::path::Path,
    served: &rockstore::manifest::index_html::Served,
) -> anyhow::Result<()> {
    let path = dir.join("index.html");
    std::fs::write(&path, rockstore::manifest::index_html::render(served))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn remove(args: RemoveArgs) -> anyhow::Result<ExitStatus> {
    let dir = server_dir(&args.server)?;
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
    write_manifests(&dir, false)?;
    zip_manifests(&dir)?;
    Ok(ExitStatus::Success)
}

/// `manifest-5.x.zip` beside each `manifest-5.x`, as luarocks-admin zips
/// them.
fn zip_manifests(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    for lua in ["5.1", "5.2", "5.3", "5.4"] {
        let file = format!("manifest-{lua}");
        let text = std::fs::read(dir.join(&file)).with_context(|| format!("cannot read {file}"))?;
        let zip_path = dir.join(format!("{file}.zip"));
        let out = std::fs::File::create(&zip_path)
            .with_context(|| format!("cannot write {}", zip_path.display()))?;
        let mut zip = zip::ZipWriter::new(out);
        zip.start_file(file.as_str(), zip::write::SimpleFileOptions::default())?;
        zip.write_all(&text)?;
        zip.finish()?;
    }
    Ok(())
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
    let served = write_manifests(&dir, args.local_tree)?;
    if !args.local_tree {
        outln!("Generating index.html for {}", dir.display());
        write_index(&dir, &served)?;
    }
    Ok(ExitStatus::Success)
}

/// `manifest` and (unless for a tree) `manifest-5.x` of a server
/// directory, as `luarocks-admin make_manifest` writes them; what the
/// directory serves, for its index.
fn write_manifests(
    dir: &std::path::Path,
    local_tree: bool,
) -> anyhow::Result<rockstore::manifest::index_html::Served> {
    let mut served = rockstore::manifest::index_html::Served::new();
    // name → version → arches, with each file's rockspec.
    let mut found: Vec<(String, String, String, Rockspec)> = Vec::new();
    let options = LoadOptions {
        platforms: Platforms::host(),
    };
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let bytes = || std::fs::read(entry.path()).with_context(|| format!("cannot read {file}"));
        let spec = if file.ends_with(".rockspec") {
            let bytes = bytes()?;
            let spec = Rockspec::from_bytes(&file, Some(&file), &bytes, &options)?;
            let raw = rockstore::lua::evaluate(
                &file,
                &bytes,
                &rockstore::lua::Table::new(),
                rockstore::lua::Limits::SMALL_FILE,
            )?;
            served
                .entry(spec.name.clone())
                .or_default()
                .entry(spec.version.to_string())
                .or_default()
                .push(rockstore::manifest::index_html::ServedFile {
                    arch: "rockspec".to_owned(),
                    rockspec: Some(raw.globals),
                });
            Some((
                spec.name.clone(),
                spec.version.to_string(),
                "rockspec".to_owned(),
                spec,
            ))
        } else if file.ends_with(".rock") {
            let Some(name) = RockFileName::parse(&file) else {
                continue;
            };
            let (inner, text) = rockstore::build::rockspec_bytes_in_rock(&file, &bytes()?)?;
            let spec = Rockspec::from_bytes(&inner, Some(&inner), &text, &options)?;
            served
                .entry(name.name.clone())
                .or_default()
                .entry(name.version.clone())
                .or_default()
                .push(rockstore::manifest::index_html::ServedFile {
                    arch: name.arch.clone(),
                    rockspec: None,
                });
            Some((name.name, name.version, name.arch, spec))
        } else {
            None
        };
        found.extend(spec);
    }
    let manifest_for = |lua: Option<&str>| {
        let mut repository: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (name, version, arch, spec) in &found {
            let fits = lua.is_none_or(|lua| {
                spec.dependencies
                    .iter()
                    .filter(|d| d.name == "lua")
                    .all(|d| d.matches(&Version::parse(lua)))
            });
            if fits {
                let arches = repository
                    .entry(name.clone())
                    .or_default()
                    .entry(version.clone())
                    .or_default();
                arches.push(arch.clone());
                arches.sort();
            }
        }
        rockstore::manifest::repository::render_server_manifest(&repository)
    };
    let write = |file: &str, text: String| -> anyhow::Result<()> {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("manifest", manifest_for(None))?;
    if !local_tree {
        for lua in ["5.1", "5.2", "5.3", "5.4"] {
            write(&format!("manifest-{lua}"), manifest_for(Some(lua)))?;
        }
    }
    Ok(served)
}
