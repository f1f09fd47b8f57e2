//! What tree commands answer when the tree's store is gone (issue 27):
//! `show` from the generation's sidecar copy of its rocks, `which` from
//! the tree's own manifest, rock items found without opening the store.

use std::path::PathBuf;

use anyhow::bail;
use rockstore::rock_id::RockId;
use rockstore::tree::Tree;

use super::context::Context;
use super::query_cmd::ShowArgs;
use super::report::ExitStatus;

/// Where the rock item `item` of `tree` is: in the store the tree records
/// (read without opening it: a self-contained tree answers with its store
/// gone), else in the store the flags name.
pub(super) fn item_dir(cx: &Context, tree: &Tree, item: &str) -> anyhow::Result<PathBuf> {
    let store = match rockstore::tree::binding::read(&tree.root) {
        Some(b) => b.store,
        None => cx.store()?.store().root().to_path_buf(),
    };
    Ok(store.join("store").join(item))
}

/// `show` on a tree whose current generation's files are gone with its
/// store: what the sidecar's copy of the rocks says, and how to mend it.
pub(super) fn show_without_store(
    args: &ShowArgs,
    cx: &Context,
) -> anyhow::Result<Option<ExitStatus>> {
    let (tree, _) = cx.target()?;
    let Some(current) = tree.current() else {
        return Ok(None);
    };
    if tree.generation_present(current) {
        return Ok(None);
    }
    let profile = tree.current_profile()?;
    let Some(rock) = profile
        .rocks
        .iter()
        .filter(|r| r.name == args.name)
        .find(|r| {
            args.version
                .as_deref()
                .is_none_or(|v| r.version == v || r.version.starts_with(&format!("{v}-")))
        })
    else {
        bail!(
            "cannot find package {}: it is not installed in {}",
            args.name,
            tree.root.display()
        );
    };
    let store = rockstore::tree::binding::read(&tree.root)
        .map(|b| b.store.display().to_string())
        .unwrap_or_else(|| "its store".to_owned());
    outln!("\n{} - installed in {}\n", rock.id(), tree.root.display());
    outln!("Item:\t{}", rock.item);
    outln!("Explicit:\t{}", rock.explicit);
    outln!("Depends on:");
    for dep in &rock.dependencies {
        outln!("\t{dep}");
    }
    errln!(
        "warning: the files of {} are missing with the store {store}; run `rockstore --tree {} doctor --fix` to mend the tree",
        tree.root.display(),
        tree.root.display()
    );
    Ok(Some(ExitStatus::Success))
}

/// The rock the tree's manifest (a real file in the tree) says provides
/// `module` (the manifest writes it `name/version`).
pub(super) fn manifest_provider(tree: &Tree, module: &str) -> Option<RockId> {
    let manifest = tree.rocks_dir().join("manifest");
    let bytes = std::fs::read(&manifest).ok()?;
    let read = rockstore::manifest::repository::RepositoryManifest::from_lua(
        &manifest.display().to_string(),
        &bytes,
    )
    .ok()?;
    let modules = read.table.get("modules")?.as_table()?;
    let first = modules.get_strings(module).into_iter().next()?;
    let (name, version) = first.split_once('/')?;
    Some(RockId::new(name, version))
}
