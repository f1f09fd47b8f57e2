//! [`TreeError`]: why a tree cannot be used or changed, with its hints.

use std::io;
use std::path::{Path, PathBuf};

use super::link_mode;

/// Why a tree cannot be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Something that is not ours sits where a profile link must go.
    #[error("{} is in the way: rockstore did not put it there and will not replace it.\nIf LuaRocks installed it, run `rockstore adopt {}`; else move it away, or install into another tree (--tree DIR)", path.display(), root.display())]
    Foreign {
        /// The tree.
        root: PathBuf,
        /// The path in the way.
        path: PathBuf,
    },
    /// A plain LuaRocks tree: rockstore manages none of its rocks yet, and
    /// the policy (`--no-adopt`, `rockstore_adopt = "explicit"`) asks for
    /// the explicit step.
    #[error("{} is a LuaRocks tree with {count} rock(s) ({per_version}: {examples}); rockstore does not manage it yet.\nRun `rockstore adopt {}` first: it takes them into the store as generation 1, and `rockstore release {}` gives the tree back", root.display(), root.display(), root.display())]
    PlainLuaRocks {
        /// The tree.
        root: PathBuf,
        /// `Lua 5.4: 2, Lua 5.1: 1`.
        per_version: String,
        /// How many rocks LuaRocks installed, over every Lua version.
        count: usize,
        /// A few of them, `name version`.
        examples: String,
    },
    /// LuaRocks changed an adopted tree behind rockstore's back.
    #[error("LuaRocks changed {} after rockstore last did: {what}.\nRun `rockstore adopt {}` to take the changes into a new generation", root.display(), root.display())]
    ChangedByLuaRocks {
        /// The tree.
        root: PathBuf,
        /// What changed, in words.
        what: String,
    },
    /// An adoption or release was killed midway.
    #[error("{what} of {} was interrupted; run `rockstore {command} {}` to finish it", root.display(), root.display())]
    Interrupted {
        /// The tree.
        root: PathBuf,
        /// "an adoption", "a release".
        what: &'static str,
        /// The command that finishes it.
        command: &'static str,
    },
    /// No such generation.
    #[error("tree {} has no generation {number}", root.display())]
    NoGeneration {
        /// The tree.
        root: PathBuf,
        /// The number asked for.
        number: u64,
    },
    /// Rollback from the first generation: nothing before it to go back
    /// to; what undoes it is removing its rocks.
    #[error("{} is at generation {current}, and has no generation before it to roll back to.\nTo undo what it installed, remove its rocks: `{undo}`", root.display())]
    NothingToRollBack {
        /// The tree.
        root: PathBuf,
        /// The current generation.
        current: u64,
        /// The command that removes its rocks.
        undo: String,
        /// The command that lists the tree's generations.
        list: String,
    },
    /// Deleting the current generation.
    #[error("generation {0} is current; switch to another one before deleting it")]
    DeleteCurrent(u64),
    /// The tree cannot be written.
    #[error("cannot write to the tree {}: permission denied.\nUse --local to install into your own tree (~/.luarocks), or --tree DIR", root.display())]
    NotWritable {
        /// The tree.
        root: PathBuf,
    },
    /// File system trouble.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A self-contained generation's files could not be placed.
    #[error(transparent)]
    Placement(Box<link_mode::LinkModeError>),
    /// A profile's metadata is unreadable.
    #[error("generation {number} of {}: unreadable profile metadata: {problem}", root.display())]
    BadProfile {
        /// The tree.
        root: PathBuf,
        /// The generation.
        number: u64,
        /// What is wrong.
        problem: String,
    },
}

impl crate::hint::Hint for TreeError {
    fn hints(&self) -> Vec<String> {
        match self {
            TreeError::NothingToRollBack { list, .. } => {
                vec![format!("`{list}` lists the tree's generations")]
            }
            _ => Vec::new(),
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}
