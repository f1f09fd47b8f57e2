//! What `doctor` checks in a tree besides dependencies other trees
//! provide: every link of the current generation is in the tree and
//! leads to a file, every rock item the generation needs is there (issue
//! 27). A tree whose store is gone answers too: its generation's files
//! are missing, and `doctor --fix` rebuilds them.

use std::path::{Path, PathBuf};

use crate::tree::{links, Tree, META};

/// One thing wrong with a tree's current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// The generation's files are gone (its store, or its profile item).
    GenerationGone {
        /// The generation.
        number: u64,
        /// Where its files were.
        at: PathBuf,
    },
    /// A link of the generation is not in the tree (removed by hand).
    Missing(PathBuf),
    /// A link is there but leads nowhere (its item was removed or
    /// damaged and deleted).
    Dangling(PathBuf),
    /// The generation's files cannot be read (permissions, I/O): what
    /// they hold is unknown, so nothing is taken as fine.
    Unreadable(String),
    /// A rock's item is not in the store.
    ItemGone {
        /// `name version`.
        rock: String,
        /// The item.
        item: String,
    },
}

impl LinkProblem {
    /// In words, for `doctor`'s report.
    pub fn describe(&self, root: &Path) -> String {
        match self {
            LinkProblem::GenerationGone { number, at } => format!(
                "{}: the files of generation {number} are missing ({} is gone)",
                root.display(),
                at.display()
            ),
            LinkProblem::Missing(rel) => {
                format!("{}: {} is missing", root.display(), rel.display())
            }
            LinkProblem::Dangling(rel) => format!(
                "{}: {} leads to a file that is gone",
                root.display(),
                rel.display()
            ),
            LinkProblem::Unreadable(why) => format!(
                "{}: the current generation cannot be read: {why}",
                root.display()
            ),
            LinkProblem::ItemGone { rock, item } => format!(
                "{}: the item {item} of {rock} is not in the store",
                root.display()
            ),
        }
    }

    /// Whether re-linking the generation mends it (its files are there).
    pub fn relinkable(&self) -> bool {
        matches!(self, LinkProblem::Missing(_))
    }
}

/// Checks the links and items of `tree`'s current generation; `store`
/// is the store's root when the generation lives in it.
pub fn check(tree: &Tree, store: Option<&Path>) -> Vec<LinkProblem> {
    let Some(number) = tree.current() else {
        return Vec::new();
    };
    let gen_link = tree
        .root
        .join(META)
        .join("generations")
        .join(number.to_string());
    if !tree.generation_present(number) {
        let at = std::fs::read_link(&gen_link).unwrap_or(gen_link);
        return vec![LinkProblem::GenerationGone { number, at }];
    }
    let mut problems = Vec::new();
    let entries = match links::entries_of(&gen_link) {
        Ok(entries) => entries,
        Err(e) => return vec![LinkProblem::Unreadable(e.to_string())],
    };
    for rel in entries {
        let at = tree.root.join(&rel);
        if std::fs::symlink_metadata(&at).is_err() {
            problems.push(LinkProblem::Missing(rel));
        } else if !at.exists() {
            problems.push(LinkProblem::Dangling(rel));
        }
    }
    // A symlink generation reads its rocks from the store's items.
    let in_store = std::fs::read_link(&gen_link).is_ok_and(|t| t.is_absolute());
    if let (Some(store), true, Ok(profile)) = (store, in_store, tree.current_profile()) {
        for (_, rocks) in profile.lua_versions() {
            for rock in rocks {
                if !store.join("store").join(&rock.item).is_dir() {
                    problems.push(LinkProblem::ItemGone {
                        rock: format!("{} {}", rock.name, rock.version),
                        item: rock.item.clone(),
                    });
                }
            }
        }
    }
    problems
}
