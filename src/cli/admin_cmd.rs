//! `rockstore admin …`: what `luarocks-admin` does for the maintainer of a
//! rocks server directory. For now `make-manifest`.

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
}

#[derive(Debug, Args)]
pub struct MakeManifestArgs {
    /// The directory of .rockspec and .rock files [default: the current one].
    pub repository: Option<PathBuf>,
    /// Write only `manifest` (a rocks tree's, not a server's).
    #[arg(long)]
    pub local_tree: bool,
}

/// Runs an admin command.
pub fn run(command: AdminCommand) -> anyhow::Result<ExitStatus> {
    match command {
        AdminCommand::MakeManifest(args) => make_manifest(args),
    }
}

fn make_manifest(args: MakeManifestArgs) -> anyhow::Result<ExitStatus> {
    let dir = match args.repository {
        Some(d) => d,
        None => std::env::current_dir().context("current directory")?,
    };
    outln!("Making manifest for {}", dir.display());
    // name → version → arches, with each file's rockspec.
    let mut found: Vec<(String, String, String, Rockspec)> = Vec::new();
    let options = LoadOptions {
        platforms: Platforms::host(),
    };
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
    {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let bytes = || std::fs::read(entry.path()).with_context(|| format!("cannot read {file}"));
        let spec = if file.ends_with(".rockspec") {
            let spec = Rockspec::from_bytes(&file, Some(&file), &bytes()?, &options)?;
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
    if !args.local_tree {
        for lua in ["5.1", "5.2", "5.3", "5.4"] {
            write(&format!("manifest-{lua}"), manifest_for(Some(lua)))?;
        }
    }
    Ok(ExitStatus::Success)
}
