//! A tree's generations (`generations`, `rollback`, `switch-generation`,
//! `delete-generations`) and the store's `gc`.

use anyhow::{bail, Context as _};
use clap::Args;
use serde::Serialize;

use super::context::Context;
use super::report::ExitStatus;
use super::tree_cmd::command_on;

#[derive(Debug, Args)]
pub struct GenerationsArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// The generation number.
    pub number: u64,
}

#[derive(Debug, Args)]
pub struct DeleteGenerationsArgs {
    /// Generation numbers to delete.
    pub numbers: Vec<u64>,
    /// Delete generations older than this many days.
    #[arg(long, value_name = "DAYS", conflicts_with = "numbers")]
    pub older_than: Option<u64>,
    /// Keep only the newest K generations (and the current one).
    #[arg(long, value_name = "K", conflicts_with_all = ["numbers", "older_than"])]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only say what would be freed.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Serialize)]
pub(super) struct GenerationRow {
    number: u64,
    created: Option<u64>,
    change: Option<String>,
    current: bool,
    item: String,
}

/// `rockstore generations`.
pub fn generations(args: GenerationsArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let current = tree.current();
    let rows: Vec<GenerationRow> = tree
        .generations()?
        .into_iter()
        .map(|g| GenerationRow {
            number: g.number,
            created: g.info.as_ref().map(|i| i.created),
            change: g.info.map(|i| i.change),
            current: Some(g.number) == current,
            item: g.item_path.display().to_string(),
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitStatus::Success);
    }
    for r in rows {
        outln!(
            "{:>5}   {}   {}{}",
            r.number,
            r.created.map_or_else(|| "?".to_owned(), format_time),
            r.change.as_deref().unwrap_or("?"),
            if r.current { "   (current)" } else { "" }
        );
    }
    Ok(ExitStatus::Success)
}

/// UTC `YYYY-MM-DD HH:MM:SS`.
pub(super) fn format_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `rockstore rollback`.
pub fn rollback(cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let lock = tree.lock_for_change()?;
    let current = tree
        .current()
        .with_context(|| format!("{} has no generations", tree.root.display()))?;
    let previous = tree
        .generations()?
        .into_iter()
        .map(|g| g.number)
        .filter(|n| *n < current)
        .max();
    let Some(previous) = previous else {
        return Err(rockstore::tree::TreeError::NothingToRollBack {
            root: tree.root.clone(),
            current,
            undo: command_on(
                cx,
                &tree,
                &format!("--lua-version {} purge", tree.lua_version),
            ),
            list: command_on(cx, &tree, "generations"),
        }
        .into());
    };
    tree.switch(&lock, previous)?;
    errln!(
        "switched {} from generation {current} to {previous}",
        tree.root.display()
    );
    Ok(ExitStatus::Success)
}

/// `rockstore switch-generation`.
pub fn switch_generation(args: SwitchArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let lock = tree.lock_for_change()?;
    let from = tree.current();
    tree.switch(&lock, args.number)?;
    errln!(
        "switched {} from generation {} to {}",
        tree.root.display(),
        from.map_or_else(|| "none".to_owned(), |n| n.to_string()),
        args.number
    );
    Ok(ExitStatus::Success)
}

/// `rockstore delete-generations`.
pub fn delete_generations(args: DeleteGenerationsArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let lock = tree.lock()?;
    let current = tree.current();
    let all = tree.generations()?;
    let numbers: Vec<u64> = if let Some(days) = args.older_than {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cutoff = now.saturating_sub(days * 86_400);
        all.iter()
            .filter(|g| Some(g.number) != current)
            .filter(|g| g.info.as_ref().is_some_and(|i| i.created < cutoff))
            .map(|g| g.number)
            .collect()
    } else if let Some(keep) = args.keep {
        let mut old: Vec<u64> = all.iter().map(|g| g.number).collect();
        old.truncate(old.len().saturating_sub(keep));
        old.into_iter().filter(|n| Some(*n) != current).collect()
    } else {
        if args.numbers.is_empty() {
            bail!("say which generations: numbers, --older-than DAYS or --keep K");
        }
        args.numbers
    };
    tree.delete_generations(&lock, &numbers)?;
    // The store learns the tree's roots now, so a collection may free what
    // only the deleted generations kept.
    rockstore::backend::sync_roots(&*cx.store()?, &tree)?;
    errln!(
        "deleted generations {:?} of {}; `rockstore gc` frees what they used",
        numbers,
        tree.root.display()
    );
    Ok(ExitStatus::Success)
}

/// `rockstore gc`.
pub fn gc(args: GcArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let store = cx.existing_store()?;
    let report = store.gc(args.dry_run)?;
    let verb = if args.dry_run { "would free" } else { "freed" };
    let mut bytes = 0;
    for (name, size) in &report.freed {
        outln!(
            "{}",
            store.store().root().join("store").join(name).display()
        );
        bytes += size;
    }
    for t in &report.dropped_trees {
        errln!(
            "dropped the registration of {} (the tree is gone)",
            t.display()
        );
    }
    if !report.garbage.is_empty() {
        errln!(
            "swept {} leftovers of interrupted admissions, builds or collections",
            report.garbage.len()
        );
    }
    errln!(
        "{verb} {} items ({:.1} MiB); {} items kept",
        report.freed.len(),
        bytes as f64 / (1 << 20) as f64,
        report.kept
    );
    Ok(ExitStatus::Success)
}
