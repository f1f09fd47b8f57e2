//! `rockstore verify [--contents] [--repair]`.

use clap::Args;
use rockstore::store::verify::VerifyOptions;
use rockstore::store::Store;

use super::output;
use super::report::ExitStatus;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also re-hash every file of every item (in parallel) and check modes.
    #[arg(long)]
    pub contents: bool,
    /// Remove what cannot be trusted: records without items, corrupt items
    /// (they are rebuilt on the next install), and leftovers of interrupted
    /// runs. Waits until no other rockstore uses the store.
    #[arg(long)]
    pub repair: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: VerifyArgs, store: &Store) -> anyhow::Result<ExitStatus> {
    let report = store.verify(VerifyOptions {
        contents: args.contents,
        repair: args.repair,
    })?;
    if args.json {
        output::json(&report)?;
    } else {
        for p in &report.problems {
            let file = p
                .file
                .as_deref()
                .map(|f| format!(": {f}"))
                .unwrap_or_default();
            let fixed = if p.repaired { " (repaired)" } else { "" };
            output::data(&format!("problem: {}{file}: {}{fixed}", p.item, p.what));
        }
        for n in &report.notes {
            let removed = if n.removed { " (removed)" } else { "" };
            output::status(&format!("note: {}: {}{removed}", n.path, n.what));
        }
        let unrepaired = report.problems.iter().filter(|p| !p.repaired).count();
        output::status(&format!(
            "checked {} items{}: {} problems{}",
            report.items_checked,
            if args.contents {
                " and their contents"
            } else {
                ""
            },
            report.problems.len(),
            if unrepaired > 0 && !args.repair {
                "; `rockstore verify --repair` removes what cannot be trusted"
            } else {
                ""
            }
        ));
    }
    let broken = if args.repair {
        broken_trees(store, &report)?
    } else {
        Vec::new()
    };
    for (tree, generation, item) in &broken {
        output::status(&format!(
            "{}: generation {generation} used the removed item {item}; run `rockstore --tree {} doctor --fix` to rebuild it",
            tree.display(),
            tree.display()
        ));
    }
    // A repair that broke a tree is not a success: the tree needs mending.
    Ok(if report.is_clean() && broken.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The registered trees whose generations used an item the repair
/// removed: `(tree, generation, item)`.
fn broken_trees(
    store: &Store,
    report: &rockstore::store::verify::VerifyReport,
) -> anyhow::Result<Vec<(std::path::PathBuf, u64, String)>> {
    use rockstore::store::item_name::ItemName;
    let removed: std::collections::BTreeSet<&str> = report
        .problems
        .iter()
        .filter(|p| p.repaired && !store.root().join("store").join(&p.item).exists())
        .map(|p| p.item.as_str())
        .collect();
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let (roots, _) = rockstore::gc::roots(store)?;
    let mut out = Vec::new();
    for root in roots {
        let used: Vec<String> = match ItemName::parse(&root.item)
            .ok()
            .and_then(|n| store.get(&n).ok().flatten())
        {
            Some(item) => item.record.references,
            None => Vec::new(),
        };
        let hit = std::iter::once(&root.item)
            .chain(used.iter())
            .find(|i| removed.contains(i.as_str()));
        if let Some(item) = hit {
            out.push((root.tree, root.generation, item.clone()));
        }
    }
    Ok(out)
}
