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
    Ok(if report.is_clean() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
