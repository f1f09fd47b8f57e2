//! `rockstore adopt` and `rockstore release`: a LuaRocks tree into the
//! store and back (the work is in `rockstore::adopt`).

use std::path::PathBuf;

use clap::Args;
use rockstore::adopt::{self, release, Options};
use rockstore::tree::profile::WrapperContext;
use rockstore::tree::Tree;

use super::context::Context;
use super::report::ExitStatus;

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The tree [default: the one --tree, --local or the config names].
    #[arg(value_name = "TREE")]
    pub root: Option<PathBuf>,
    /// List every rock, every file no rock owns and every md5 mismatch;
    /// change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Adopt files edited after LuaRocks installed them, as they are now
    /// (and rocks whose files are missing, without those files).
    #[arg(long)]
    pub force: bool,
    /// With --dry-run: the survey as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The tree [default: the one --tree, --local or the config names].
    #[arg(value_name = "TREE")]
    pub root: Option<PathBuf>,
}

fn tree_of(arg: Option<&PathBuf>, cx: &Context) -> anyhow::Result<Tree> {
    let (target, _) = cx.target()?;
    Ok(match arg {
        Some(root) => Tree::new(root, &target.lua_version)?,
        None => target,
    })
}

/// `rockstore adopt`.
pub fn adopt(args: AdoptArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let tree = tree_of(args.root.as_ref(), cx)?;
    let store = cx.store()?;
    let lua = cx
        .lua
        .interpreter
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("lua{}", tree.lua_version));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let options = Options {
        force: args.force,
        dry_run: args.dry_run,
        wrap: WrapperContext {
            lua: &lua,
            trees: vec![tree.root.clone()],
        },
        now,
        first_touch: false,
    };
    let survey = adopt::adopt(&*store, &tree, &options)?;
    let shown = tree.root.display();
    if args.dry_run && args.json {
        outln!("{}", serde_json::to_string_pretty(&survey)?);
        return Ok(ExitStatus::Success);
    }
    if args.dry_run {
        for one in &survey.versions {
            let v = &one.lua_version;
            outln!(
                "Adopting {shown} would take {} rock(s) LuaRocks installed for Lua {v} into the store:",
                one.adopted.len()
            );
            for r in &one.adopted {
                outln!("   {r}");
            }
            if !one.kept.is_empty() {
                outln!(
                    "and keep {} rock(s) rockstore installed for Lua {v}:",
                    one.kept.len()
                );
                for r in &one.kept {
                    outln!("   {r}");
                }
            }
            if !one.dropped.is_empty() {
                outln!(
                    "and drop {} rock(s) LuaRocks removed for Lua {v}:",
                    one.dropped.len()
                );
                for r in &one.dropped {
                    outln!("   {r}");
                }
            }
        }
        let unowned: Vec<&PathBuf> = survey.versions.iter().flat_map(|v| &v.unowned).collect();
        let unowned: std::collections::BTreeSet<&PathBuf> = unowned.into_iter().collect();
        outln!(
            "Files no rock owns, which stay as they are: {}",
            unowned.len()
        );
        for f in unowned {
            outln!("   {}", tree.root.join(f).display());
        }
        let problems = survey.problems();
        if problems.is_empty() {
            outln!("Every file matches the md5 LuaRocks recorded.");
        } else {
            outln!(
                "Problems ({}; adopt refuses them unless --force):",
                problems.len()
            );
            for p in &problems {
                outln!("   {p}");
            }
        }
        return Ok(ExitStatus::Success);
    }
    if survey.finished_interrupted {
        outln!("Finished the interrupted adoption of {shown}.");
    }
    for p in survey.problems() {
        errln!("warning: {} (--force): {p}", p.forced());
    }
    let versions: Vec<&str> = survey
        .versions
        .iter()
        .filter(|v| !v.adopted.is_empty() || !v.kept.is_empty())
        .map(|v| v.lua_version.as_str())
        .collect();
    match survey.generation {
        Some(n) if !survey.finished_interrupted || survey.adopted() > 0 => {
            outln!(
                "Adopted {} rock(s) into {shown} (generation {n}, Lua {}){}; {} file(s) no rock owns stay as they are.",
                survey.adopted(),
                versions.join(", "),
                if survey.kept() == 0 {
                    String::new()
                } else {
                    format!(", keeping {} rockstore had", survey.kept())
                },
                survey.unowned()
            );
            outln!("`rockstore release {shown}` gives the tree back to LuaRocks.");
        }
        Some(_) => {}
        None => outln!("Nothing to adopt in {shown}: no rocks that rockstore does not manage."),
    }
    Ok(ExitStatus::Success)
}

/// `rockstore release`.
pub fn release(args: ReleaseArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let tree = tree_of(args.root.as_ref(), cx)?;
    let store = cx.store()?;
    let released = release::release(store.store(), &tree)?;
    let shown = tree.root.display();
    if released.was_profile {
        outln!(
            "Released {shown}: {} rock(s) as real files, with LuaRocks' manifest; rockstore no longer manages it.",
            released.rocks.len()
        );
        outln!("Their items stay in the store until `rockstore gc`.");
    } else {
        outln!("{shown} is not managed by rockstore; nothing to release.");
    }
    Ok(ExitStatus::Success)
}
