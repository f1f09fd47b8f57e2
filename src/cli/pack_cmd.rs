//! `rockstore pack`: an installed rock or a store item as a binary rock, or
//! a rockspec with its sources as a `.src.rock`, optionally signed.

use std::path::Path;

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::variables::Variables;
use rockstore::build::{rock_file, BuildEnv};
use rockstore::ops::{pack, sign};

use super::context::Context;
use super::report::ExitStatus;

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A rock installed in the tree (then an optional version), as
    /// `luarocks pack`; else a store item (path, name or hash prefix) to
    /// pack as a binary rock, or a rockspec to pack with its sources as a
    /// .src.rock.
    pub what: String,
    /// The installed rock's version (default: the newest installed).
    pub version: Option<String>,
    /// Also sign the rock with gpg (`<rock>.asc`), as LuaRocks.
    #[arg(long)]
    pub sign: bool,
}

/// `rockstore pack`.
pub fn pack(args: PackArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("current directory")?;
    if args.what.ends_with(".rockspec") {
        let out = pack::source_rock(&cx.session(), &args.what, &cwd)?;
        outln!("Packed: {}", out.display());
        if args.sign {
            sign(&out, &cx.build_env(Variables::new()))?;
        }
        return Ok(ExitStatus::Success);
    }
    let backend = cx.store()?;
    let store = backend.store();
    let installed = {
        let (tree, _) = cx.target()?;
        pack::installed_item(
            &tree.current_profile()?,
            &args.what,
            args.version.as_deref(),
        )
    };
    let item = match installed {
        Some(name) => store.find(&name)?,
        None if args.version.is_some() => bail!(
            "{} {} is not installed in {}",
            args.what,
            args.version.as_deref().unwrap_or_default(),
            cx.target()?.0.root.display()
        ),
        None => store.find(&args.what)?,
    };
    let out = rock_file::pack(
        &item.path,
        &item.record.name,
        &item.record.version,
        &BuildEnv::host_arch(),
        &cwd,
    )
    .with_context(|| format!("cannot write the rock for {}", item.name.as_str()))?;
    outln!("Packed: {}", out.display());
    if args.sign {
        sign(&out, &cx.build_env(Variables::new()))?;
    }
    Ok(ExitStatus::Success)
}

/// Signs `file` ([`sign::sign_file`]) and says where the signature is.
pub(super) fn sign(file: &Path, env: &BuildEnv) -> anyhow::Result<()> {
    let sig = sign::sign_file(file, env)?;
    outln!("Signature stored in: {}", sig.display());
    Ok(())
}
