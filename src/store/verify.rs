//! `verify`: checks records against directories and, with `contents`,
//! re-hashes every item in parallel, naming each file that changed; with
//! `repair`, removes what cannot be trusted (under the exclusive store lock).
//!
//! Problems (exit non-zero): unreadable or misnamed records, a record whose
//! item directory is gone, a listing that is missing or does not hash to the
//! record's hash, changed contents or modes. Notes (harmless garbage): item
//! directories without a record (interrupted admissions), staging directories
//! in `tmp/`, listings without a record, realisations of deleted items.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;

use super::canonical::{self, Node};
use super::ingest::{Ingest, Mode};
use super::item_name::ItemName;
use super::lock::{LockGuard, LockMode};
use super::{db, remove, Store, StoreError};
use crate::fs_atomic::write_replace;

/// What to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Re-hash every item and check every mode.
    pub contents: bool,
    /// Remove what is broken (records without items, corrupt items, garbage).
    pub repair: bool,
}

/// Something wrong with the store.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The item (directory name) or record involved.
    pub item: String,
    /// The file inside the item, when one is to blame.
    pub file: Option<String>,
    /// What is wrong.
    pub what: String,
    /// Whether `repair` fixed it.
    pub repaired: bool,
}

/// Harmless leftovers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Note {
    /// Path relative to the store root.
    pub path: String,
    /// What it is.
    pub what: String,
    /// Whether `repair` removed it.
    pub removed: bool,
}

/// The outcome of a verify run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VerifyReport {
    /// Records examined.
    pub items_checked: usize,
    /// What is wrong (unrepaired problems make `verify` fail).
    pub problems: Vec<Problem>,
    /// Garbage found.
    pub notes: Vec<Note>,
}

impl VerifyReport {
    /// Whether anything is still wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.repaired)
    }
}

impl Store {
    /// Verifies the store (see the module doc).
    pub fn verify(&self, options: VerifyOptions) -> Result<VerifyReport, StoreError> {
        let mode = if options.repair {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        };
        let guard = self.lock(mode)?;
        let mut report = VerifyReport::default();
        let mut to_delete: Vec<ItemName> = Vec::new();
        let mut registered: BTreeSet<String> = BTreeSet::new();
        let mut to_check: Vec<(ItemName, db::ItemRecord)> = Vec::new();

        for file in self.record_names()? {
            report.items_checked += 1;
            registered.insert(file.clone());
            let problem = |what: String| Problem {
                item: file.clone(),
                file: None,
                what,
                repaired: options.repair,
            };
            let Ok(name) = ItemName::parse(&file) else {
                report
                    .problems
                    .push(problem("record file name is not an item name".into()));
                if options.repair {
                    let _ = self.db_items.remove_file(&file);
                }
                continue;
            };
            let record = match self.read_record(&file) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    report.problems.push(problem(error_chain(&e)));
                    to_delete.push(name);
                    continue;
                }
            };
            if ItemName::new(&record.hash, &record.name, &record.version)
                .ok()
                .as_ref()
                != Some(&name)
            {
                report.problems.push(problem(
                    "record does not match its file name (hash, name or version)".into(),
                ));
                to_delete.push(name);
                continue;
            }
            if self.items.symlink_metadata(name.as_str()).is_err() {
                report.problems.push(problem(
                    "record without item: the directory is missing".into(),
                ));
                to_delete.push(name);
                continue;
            }
            match self.listing(&name)? {
                Some(stream) if canonical::hash_stream(&stream) == record.hash => {}
                _ => {
                    let mut p = problem("listing is missing or does not match the record".into());
                    // Repairable only if the contents still match the hash.
                    p.repaired = false;
                    if options.repair {
                        if let Ok(walked) = self.walk_item(&name, &record) {
                            let stream = canonical::serialize(&walked.root);
                            if canonical::hash_stream(&stream) == record.hash
                                && write_replace(&self.db_listings, name.as_str(), &stream, 0o444)
                                    .is_ok()
                            {
                                p.repaired = true;
                            }
                        }
                    }
                    report.problems.push(p);
                }
            }
            if options.contents {
                to_check.push((name, record));
            }
        }

        let content_problems: Vec<(ItemName, Vec<Problem>, bool)> = to_check
            .par_iter()
            .map(|(name, record)| {
                let (problems, intact) = self.check_contents(name, record, options.repair);
                (name.clone(), problems, intact)
            })
            .filter(|(_, problems, _)| !problems.is_empty())
            .collect();
        for (name, mut problems, intact) in content_problems {
            if options.repair && intact {
                // Only modes are wrong: the bytes still match the hash, so
                // resetting the modes repairs the item in place.
                for p in &mut problems {
                    p.repaired = p
                        .file
                        .as_deref()
                        .is_some_and(|f| self.reset_mode(&name, f).is_ok());
                }
            } else if options.repair {
                to_delete.push(name);
            }
            report.problems.extend(problems);
        }

        if options.repair && !to_delete.is_empty() {
            self.delete(&guard, &to_delete)?;
        }
        self.collect_garbage_notes(&registered, options.repair, &mut report)?;
        Ok(report)
    }

    fn walk_item(
        &self,
        name: &ItemName,
        record: &db::ItemRecord,
    ) -> Result<super::ingest::Walked, String> {
        let dir = self
            .items
            .open_dir(name.as_str())
            .map_err(|e| e.to_string())?;
        let allowed: BTreeSet<String> = record.references.iter().cloned().collect();
        let failpoints = super::failpoint::Failpoints::none();
        Ingest {
            mode: Mode::Check,
            target: &dir,
            allowed_items: &allowed,
            failpoints: &failpoints,
        }
        .run()
        .map_err(|e| error_chain(&e))
    }

    /// Problems found, and whether the contents still match the hash.
    pub(super) fn check_contents(
        &self,
        name: &ItemName,
        record: &db::ItemRecord,
        repair: bool,
    ) -> (Vec<Problem>, bool) {
        let problem = |file: Option<String>, what: String| Problem {
            item: name.to_string(),
            file,
            what,
            repaired: repair,
        };
        let walked = match self.walk_item(name, record) {
            Ok(w) => w,
            Err(what) => return (vec![problem(None, what)], false),
        };
        let mut problems: Vec<Problem> = walked
            .mode_problems
            .into_iter()
            .map(|m| problem(Some(m.path), m.what))
            .collect();
        let intact = canonical::content_hash(&walked.root) == record.hash;
        if !intact {
            let expected = self
                .listing(name)
                .ok()
                .flatten()
                .and_then(|s| canonical::parse(&s).ok());
            match expected {
                Some(expected) => {
                    for (file, what) in diff(&expected, &walked.root) {
                        problems.push(problem(Some(file), what));
                    }
                }
                None => problems.push(problem(
                    None,
                    "contents do not match the item's hash".into(),
                )),
            }
        }
        (problems, intact)
    }

    fn reset_mode(&self, name: &ItemName, file: &str) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let item = self.items.open_dir(name.as_str())?;
        let rel = if file == "." { "" } else { file };
        let handle = super::ingest::open_readable(&item, rel)?;
        let meta = handle.metadata()?;
        let mode = if meta.is_dir() {
            super::ingest::DIR_MODE
        } else if meta.permissions().mode() & 0o100 != 0 {
            super::ingest::EXEC_MODE
        } else {
            super::ingest::FILE_MODE
        };
        handle.set_permissions(std::fs::Permissions::from_mode(mode))
    }

    /// Sweeps invisible garbage under the exclusive store lock, which no
    /// admission, staging or build directory outlives: item directories
    /// without a record, everything in `tmp/`, and listings without a
    /// record. Returns what was
    /// removed (as paths from the store root); what cannot be removed
    /// (another user's, in a shared store) is left for its owner or root.
    pub fn sweep_garbage(&self, exclusive: &LockGuard) -> Result<Vec<String>, StoreError> {
        debug_assert_eq!(exclusive.mode(), LockMode::Exclusive);
        let registered: BTreeSet<String> = self.record_names()?.into_iter().collect();
        let mut swept = Vec::new();
        for entry in self.items.entries().map_err(self.io("store", ""))? {
            let entry = entry.map_err(self.io("store", ""))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if !registered.contains(&file) && remove::remove_tree(&self.items, &file).is_ok() {
                swept.push(format!("store/{file}"));
            }
        }
        for entry in self.tmp.entries().map_err(self.io("tmp", ""))? {
            let entry = entry.map_err(self.io("tmp", ""))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if remove::remove_tree(&self.tmp, &file).is_ok() {
                swept.push(format!("tmp/{file}"));
            }
        }
        // A listing is written before its record: one without a record
        // (or a temp file of one) is what a killed admission left.
        for entry in self
            .db_listings
            .entries()
            .map_err(self.io("db/listings", ""))?
        {
            let entry = entry.map_err(self.io("db/listings", ""))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if !registered.contains(&file) && self.db_listings.remove_file(&file).is_ok() {
                swept.push(format!("db/listings/{file}"));
            }
        }
        Ok(swept)
    }

    fn collect_garbage_notes(
        &self,
        registered: &BTreeSet<String>,
        repair: bool,
        report: &mut VerifyReport,
    ) -> Result<(), StoreError> {
        let mut note = |path: String, what: &str| {
            report.notes.push(Note {
                path,
                what: what.to_owned(),
                removed: repair,
            });
        };
        for entry in self.items.entries().map_err(self.io("store", ""))? {
            let entry = entry.map_err(self.io("store", ""))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if !registered.contains(&file) {
                note(
                    format!("store/{file}"),
                    "directory without a record (left by an interrupted admission)",
                );
                if repair {
                    remove::remove_tree(&self.items, &file).map_err(self.io("store", &file))?;
                }
            }
        }
        for entry in self.tmp.entries().map_err(self.io("tmp", ""))? {
            let entry = entry.map_err(self.io("tmp", ""))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            note(
                format!("tmp/{file}"),
                "staging directory (of a running admission, or left by an interrupted one)",
            );
            if repair {
                remove::remove_tree(&self.tmp, &file).map_err(self.io("tmp", &file))?;
            }
        }
        for entry in self
            .db_listings
            .entries()
            .map_err(self.io("db/listings", ""))?
        {
            let entry = entry.map_err(self.io("db/listings", ""))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if !registered.contains(&file)
                || !file
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
            {
                note(format!("db/listings/{file}"), "listing without a record");
                if repair {
                    let _ = self.db_listings.remove_file(&file);
                }
            }
        }
        for (file, record) in self.realisations()? {
            let live = ItemName::parse(&record.item)
                .ok()
                .and_then(|n| self.get(&n).ok().flatten())
                .is_some();
            if !live {
                note(
                    format!("db/realisations/{file}"),
                    "realisation of an item that is no longer in the store",
                );
                if repair {
                    let _ = self.db_realisations.remove_file(&file);
                }
            }
        }
        Ok(())
    }
}

/// What differs between the recorded tree and the one on disk, by path.
pub fn diff(expected: &Node, actual: &Node) -> Vec<(String, String)> {
    let expected: BTreeMap<String, &Node> = expected.walk().into_iter().collect();
    let actual: BTreeMap<String, &Node> = actual.walk().into_iter().collect();
    let mut out = Vec::new();
    for (path, want) in &expected {
        let shown = if path.is_empty() {
            ".".to_owned()
        } else {
            path.clone()
        };
        match actual.get(path) {
            None => out.push((shown, "is missing".to_owned())),
            Some(have) => {
                if let Some(what) = node_change(want, have) {
                    out.push((shown, what));
                }
            }
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        out.push((path.clone(), "was added".to_owned()));
    }
    out
}

fn node_change(want: &Node, have: &Node) -> Option<String> {
    match (want, have) {
        (
            Node::File {
                executable: e1,
                size: s1,
                digest: d1,
            },
            Node::File {
                executable: e2,
                size: s2,
                digest: d2,
            },
        ) => {
            if d1 != d2 || s1 != s2 {
                Some(format!(
                    "contents changed ({s1} bytes recorded, {s2} bytes now)"
                ))
            } else if e1 != e2 {
                Some(if *e2 {
                    "became executable".to_owned()
                } else {
                    "lost its executable bit".to_owned()
                })
            } else {
                None
            }
        }
        (Node::Symlink { target: t1 }, Node::Symlink { target: t2 }) => {
            (t1 != t2).then(|| format!("symlink target changed from `{t1}` to `{t2}`"))
        }
        (Node::Directory(_), Node::Directory(_)) => None,
        (want, have) => Some(format!("was a {}, is now a {}", kind(want), kind(have))),
    }
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::File { .. } => "file",
        Node::Symlink { .. } => "symlink",
        Node::Directory(_) => "directory",
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
