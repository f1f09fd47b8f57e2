//! Taking over a tree LuaRocks made, and giving it back.
//!
//! - [`read`]: the tree as LuaRocks left it (rocks, their files and md5s,
//!   files no rock owns), read without changing anything.
//! - [`adopt`]: each LuaRocks rock becomes a store item holding exactly the
//!   files its `rock_manifest` lists; the tree becomes a profile whose new
//!   generation holds them and the rocks rockstore already had.
//! - [`release`](mod@release): a profile tree back to real files and
//!   LuaRocks' own manifest.
//! - [`first_touch`]: the same adoption, made by the first command that
//!   changes the tree (`install`, `remove`, `purge`, `doctor`), under its
//!   tree lock.
//!
//! Adoption order, and what a kill at each point leaves:
//! 1. read and check (nothing written);
//! 2. register the tree, admit the items (copied through scratch copies in
//!    `.rockstore/.adopt.rockstore-<pid>`) and the profile (the store only:
//!    the tree is as LuaRocks had it, apart from `.rockstore/`);
//! 3. write `.rockstore/adopting` (the profile and the places taken over);
//! 4. switch (`current` names the new generation); LuaRocks' files stay,
//!    and every path still shows the same bytes;
//! 5. replace each place LuaRocks deployed with our link, one atomic step
//!    each (same bytes before and after);
//! 6. remove `.rockstore/adopting`.
//!
//! Killed before 4, the marker is stale and the next adoption drops it
//! (the tree is still LuaRocks'); killed after, the tree is adopted — the
//! profile is current — and the next command that changes it, or `adopt`
//! again, makes the last replacements (`tree::takeover`). No path ever
//! shows other bytes. Whatever a kill leaves under a temporary name (the
//! scratch copies, LuaRocks' old copy of a rock directory an exchange took
//! out) is removed by the next command on the tree, `adopt` again or `gc`,
//! and never read as a rock (`tree::temp_name`).

pub mod first_touch;
pub mod read;
pub mod release;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use read::{Found, FoundRock, Problem};

use crate::backend::{ProfileRequest, StoreBackend};
use crate::rock_id::{as_pairs, RockId};
use crate::store::db::ItemKind;
use crate::store::{GenerationRoot, ItemSpec, Store, StoreError};
use crate::tree::profile::{Profile, ProfileError, ProfileRock, WrapperContext};
use crate::tree::{links, takeover};
use crate::tree::{Tree, TreeError, ADOPTING, META, RELEASING};

/// Why an adoption or release did not happen. Nothing in the tree changed
/// unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// Files differ from what LuaRocks recorded, or cannot be read.
    #[error("{} cannot be adopted as it stands; nothing was changed:\n{}\nRestore the files (`luarocks install --force NAME VERSION`), or adopt them as they are with --force", root.display(), list(problems))]
    Problems {
        /// The tree.
        root: PathBuf,
        /// What is wrong.
        problems: Vec<Problem>,
    },
    /// Adopting on first touch met a rock it cannot take as it is (its
    /// `rock_manifest` unreadable): the command stops before anything
    /// changed.
    #[error("{} cannot be adopted, so nothing was changed:\n{}\nReinstall the rock with `luarocks install --force NAME VERSION` or remove it with `luarocks remove NAME VERSION`, then run the command again", root.display(), list(problems))]
    Unadoptable {
        /// The tree.
        root: PathBuf,
        /// The rocks that stop it.
        problems: Vec<Problem>,
    },
    /// Adopting would deploy a rock's files elsewhere than LuaRocks did.
    #[error("{} would not be where LuaRocks put it ({rock}); nothing was changed.\nAdoption of this tree is not supported; please report it", path.display())]
    Misplaced {
        /// The place LuaRocks used.
        path: PathBuf,
        /// The rock.
        rock: RockId,
    },
    /// A file changed while it was being adopted.
    #[error("{} changed while it was being adopted; nothing was changed in the tree. Run the command again", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// Reading the tree failed.
    #[error(transparent)]
    Read(#[from] read::ReadError),
    /// The tree refused.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The profile could not be made (two rocks provide one file).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the tree failed.
    #[error("cannot read or write {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl crate::hint::Hint for AdoptError {
    fn hints(&self) -> Vec<String> {
        match self {
            AdoptError::Profile(e) => e.hints(),
            AdoptError::Store(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AdoptError + '_ {
    move |source| AdoptError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What an adoption would do, or did, for one Lua version.
#[derive(Debug, Default, Serialize)]
pub struct VersionSurvey {
    /// `5.x`.
    pub lua_version: String,
    /// Rocks LuaRocks installed: each becomes an item.
    #[serde(serialize_with = "as_pairs")]
    pub adopted: Vec<RockId>,
    /// Rocks rockstore already had that stay.
    #[serde(serialize_with = "as_pairs")]
    pub kept: Vec<RockId>,
    /// Rocks of the current generation LuaRocks removed since.
    #[serde(serialize_with = "as_pairs")]
    pub dropped: Vec<RockId>,
    /// Files no rock owns (they stay as they are).
    pub unowned: Vec<PathBuf>,
    /// What stops the adoption unless forced.
    #[serde(serialize_with = "problems_as_text")]
    pub problems: Vec<Problem>,
}

impl VersionSurvey {
    fn changes_anything(&self) -> bool {
        !self.adopted.is_empty() || !self.dropped.is_empty()
    }
}

/// What an adoption would do, or did: every Lua version the tree holds
/// rocks for (one generation holds them all).
#[derive(Debug, Default, Serialize)]
pub struct Survey {
    /// Per Lua version, the tree's own first.
    pub versions: Vec<VersionSurvey>,
    /// The generation made (none for a dry run, or when nothing changed).
    pub generation: Option<u64>,
    /// Whether this finished an adoption that had been interrupted.
    pub finished_interrupted: bool,
}

impl Survey {
    /// Rocks adopted, over every version.
    pub fn adopted(&self) -> usize {
        self.versions.iter().map(|v| v.adopted.len()).sum()
    }

    /// Rocks kept, over every version.
    pub fn kept(&self) -> usize {
        self.versions.iter().map(|v| v.kept.len()).sum()
    }

    /// Files no rock owns, over every version.
    pub fn unowned(&self) -> usize {
        self.versions.iter().map(|v| v.unowned.len()).sum()
    }

    /// Every problem.
    pub fn problems(&self) -> Vec<Problem> {
        self.versions
            .iter()
            .flat_map(|v| v.problems.clone())
            .collect()
    }

    fn changes_anything(&self) -> bool {
        self.versions.iter().any(VersionSurvey::changes_anything)
    }
}

fn problems_as_text<S: serde::Serializer>(p: &[Problem], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(ToString::to_string))
}

/// How to adopt.
pub struct Options<'a> {
    /// Adopt files that differ from their md5 as they are.
    pub force: bool,
    /// Only say what would happen.
    pub dry_run: bool,
    /// Bin wrappers' interpreter and trees.
    pub wrap: WrapperContext<'a>,
    /// Seconds since the epoch, for the generation.
    pub now: u64,
    /// Adopting on first touch ([`first_touch`]): what LuaRocks would not
    /// have cared about (edited, missing or unlisted files) is taken as
    /// it is, as with `force`; a rock that cannot be read stops it.
    pub first_touch: bool,
}

/// The Lua versions adopting `tree` covers: its own, then every other one
/// it holds LuaRocks rocks or rockstore rocks for.
fn versions_of(tree: &Tree) -> Result<Vec<String>, AdoptError> {
    let mut out = vec![tree.lua_version.clone()];
    let held: Vec<String> = if tree.is_profile() {
        tree.current_profile()?.others.into_keys().collect()
    } else {
        Vec::new()
    };
    for v in crate::lua_install::KNOWN_VERSIONS {
        let v = v.to_string();
        if !out.contains(&v)
            && (held.contains(&v) || !links::luarocks_rocks(&tree.root, &v).is_empty())
        {
            out.push(v);
        }
    }
    Ok(out)
}

/// Reads what adopting `tree` would do, changing nothing.
pub fn survey(tree: &Tree) -> Result<(Survey, Vec<Found>), AdoptError> {
    let mut survey = Survey::default();
    let mut found_all = Vec::new();
    for v in versions_of(tree)? {
        let at = Tree::new(&tree.root, &v).map_err(io_err(&tree.root))?;
        let found = read::read(&at.root, &v)?;
        let changes = at.luarocks_changes();
        let mut one = VersionSurvey {
            lua_version: v,
            adopted: found.rocks.iter().map(FoundRock::id).collect(),
            dropped: changes.removed,
            unowned: found.unowned.clone(),
            problems: found.problems.clone(),
            kept: Vec::new(),
        };
        if at.is_profile() {
            for rock in at.current_profile()?.rocks {
                let id = rock.id();
                if !one.adopted.contains(&id) && !one.dropped.contains(&id) {
                    one.kept.push(id);
                }
            }
        }
        survey.versions.push(one);
        found_all.push(found);
    }
    Ok((survey, found_all))
}

/// Adopts `tree`: see the module doc for the order of steps.
pub fn adopt(
    backend: &dyn StoreBackend,
    tree: &Tree,
    options: &Options<'_>,
) -> Result<Survey, AdoptError> {
    if options.dry_run {
        return Ok(survey(tree)?.0);
    }
    let meta = tree.root.join(META);
    let fresh = !meta.exists();
    let adopted = tree
        .lock()
        .map_err(AdoptError::from)
        .and_then(|lock| adopt_locked(backend, tree, &lock, options));
    if adopted.is_err() && fresh && !tree.is_profile() {
        // Refused before anything switched: the tree gets no `.rockstore/`.
        let _ = std::fs::remove_dir_all(&meta);
    }
    adopted
}

/// Adopts `tree` under `lock`, the tree lock the caller holds (an adoption
/// on first touch, then the command's own change, under one lock).
pub(crate) fn adopt_locked(
    backend: &dyn StoreBackend,
    tree: &Tree,
    lock: &crate::tree::TreeLock,
    options: &Options<'_>,
) -> Result<Survey, AdoptError> {
    let store = backend.store();
    if tree.root.join(META).join(RELEASING).exists() {
        return Err(TreeError::Interrupted {
            root: tree.root.clone(),
            what: "a release",
            command: "release",
        }
        .into());
    }
    let finished = finish_interrupted(store, tree)?;
    // A switch or an adoption a kill stopped may have left temporary names
    // (LuaRocks' old copy of a rock directory among them): they go before
    // the tree is read, so none is ever taken for a rock.
    crate::tree::switching::finish(tree)?;
    crate::tree::temp_name::sweep(&tree.root);
    if finished {
        let mut done = survey(tree)?.0;
        done.finished_interrupted = true;
        done.generation = tree.current();
        if !done.changes_anything() {
            return Ok(done);
        }
    }
    let (mut survey, found) = survey(tree)?;
    let problems = survey.problems();
    if options.first_touch {
        let stopping: Vec<Problem> = problems.into_iter().filter(first_touch::stops).collect();
        if !stopping.is_empty() {
            return Err(AdoptError::Unadoptable {
                root: tree.root.clone(),
                problems: stopping,
            });
        }
    } else if !problems.is_empty() && !options.force {
        return Err(AdoptError::Problems {
            root: tree.root.clone(),
            problems,
        });
    }
    if !survey.changes_anything() {
        return Ok(survey);
    }
    let _store_lock = backend.hold()?;
    let base = tree.current_profile()?;
    // Registered before anything is copied, so `gc` knows the tree whose
    // `.rockstore/` may hold a killed adoption's scratch copies.
    backend.register_tree(&tree.root, &crate::backend::roots_of(tree)?)?;
    let scratch = Scratch::new(&tree.root.join(META))?;
    let tree_dir = cap_std::fs::Dir::open_ambient_dir(&tree.root, cap_std::ambient_authority())
        .map_err(io_err(&tree.root))?;
    let mut profile = Profile {
        others: Default::default(),
        ..Profile::empty(&tree.lua_version)
    };
    let mut n = 0;
    for (one, found) in survey.versions.iter().zip(&found) {
        let held: &[ProfileRock] = if one.lua_version == base.lua_version {
            &base.rocks
        } else {
            base.others.get(&one.lua_version).map_or(&[], Vec::as_slice)
        };
        let mut rocks: Vec<ProfileRock> = held
            .iter()
            .filter(|r| one.kept.contains(&r.id()))
            .cloned()
            .collect();
        for rock in &found.rocks {
            n += 1;
            let item = admit_rock(
                backend,
                &tree_dir,
                rock,
                &scratch.path().join(n.to_string()),
            )?;
            store.failpoint("adopt-item-admitted");
            rocks.push(ProfileRock {
                name: rock.name.clone(),
                version: rock.version.clone(),
                item,
                // LuaRocks does not record what was asked for: every
                // adopted rock counts as asked for, so no later removal
                // takes one away as an orphan.
                explicit: true,
                dependencies: rock.dependencies.clone(),
                external_items: Default::default(),
                wrap_bin_scripts: rock.wrap_bin_scripts,
                namespace: rock.namespace.clone(),
                lock: rock.lock.clone(),
            });
        }
        rocks.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
        if one.lua_version == tree.lua_version {
            profile.rocks = rocks;
        } else if !rocks.is_empty() {
            profile.others.insert(one.lua_version.clone(), rocks);
        }
    }
    let item = backend.build_profile(&ProfileRequest {
        tree,
        profile: &profile,
        wrap: &options.wrap,
    })?;
    let mut roots = crate::backend::roots_of(tree)?;
    roots.push(GenerationRoot {
        generation: tree.next_generation()?,
        item: item.name.clone(),
    });
    backend.register_tree(&tree.root, &roots)?;
    let entries = links::entries_of(&item.path).map_err(io_err(&item.path))?;
    let mut taken_over: BTreeSet<PathBuf> = BTreeSet::new();
    for rock in found.iter().flat_map(|f| &f.rocks) {
        for place in &rock.deployed {
            if !entries.contains(place) {
                return Err(AdoptError::Misplaced {
                    path: tree.root.join(place),
                    rock: RockId::new(&rock.name, &rock.version),
                });
            }
            taken_over.insert(place.clone());
        }
    }
    takeover::mark(
        tree,
        &takeover::Marker {
            profile: item.name.as_str().to_owned(),
            taken_over: taken_over.iter().cloned().collect(),
        },
    )?;
    let marker_path = tree.root.join(META).join(ADOPTING);
    store.failpoint("adopt-marked");
    let change = format!("adopt {} rock(s) LuaRocks installed", survey.adopted());
    let number = tree.commit_taking_over(lock, &item.path, &change, options.now, &taken_over)?;
    store.failpoint("adopt-switched");
    takeover::take_over_all(tree, &taken_over, &|p| store.failpoint(p))?;
    std::fs::remove_file(&marker_path).map_err(io_err(&marker_path))?;
    survey.generation = Some(number);
    Ok(survey)
}

/// The directory rock files are copied into before they are admitted:
/// `.rockstore/.adopt.rockstore-<pid>`, a temporary name (`tree::temp_name`),
/// so the one a kill leaves is removed by the next command on the tree or
/// by `gc`. Removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(meta: &Path) -> Result<Scratch, AdoptError> {
        let path = meta.join(crate::tree::temp_name::of("adopt"));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(io_err(&path))?;
        Ok(Scratch(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Finishes an adoption a kill interrupted (see `tree::takeover`).
fn finish_interrupted(store: &Store, tree: &Tree) -> Result<bool, AdoptError> {
    Ok(takeover::finish(tree, &|p| store.failpoint(p))?)
}

/// Copies a rock's files (as read, md5 checked again) into `scratch` and
/// admits them as its item.
fn admit_rock(
    backend: &dyn StoreBackend,
    tree_dir: &cap_std::fs::Dir,
    rock: &FoundRock,
    scratch: &Path,
) -> Result<String, AdoptError> {
    use cap_std::fs::PermissionsExt as _;
    use std::os::unix::fs::PermissionsExt;
    for file in &rock.files {
        let bytes =
            read::read_regular(tree_dir, &file.in_tree, read::LARGEST_FILE).map_err(|_| {
                AdoptError::Changed {
                    path: file.in_tree.clone(),
                }
            })?;
        if crate::md5sum::md5_hex(&bytes) != file.actual {
            return Err(AdoptError::Changed {
                path: file.in_tree.clone(),
            });
        }
        let to = scratch.join(&file.in_item);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&to, &bytes).map_err(io_err(&to))?;
        let executable = tree_dir
            .symlink_metadata(&file.in_tree)
            .is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        if executable {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err(&to))?;
        }
    }
    std::fs::create_dir_all(scratch).map_err(io_err(scratch))?;
    let item = backend.add_dir(
        scratch,
        &ItemSpec {
            name: rock.name.clone(),
            version: rock.version.clone(),
            kind: ItemKind::Rock,
            references: Vec::new(),
            recipe_key: None,
        },
    )?;
    Ok(item.name.as_str().to_owned())
}

/// Writes `bytes` to `path` through a temp file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AdoptError> {
    let temp = crate::tree::temp_name::beside(path);
    if let Err(e) = std::fs::write(&temp, bytes) {
        let _ = std::fs::remove_file(&temp);
        return Err(io_err(&temp)(e));
    }
    std::fs::rename(&temp, path).map_err(io_err(path))
}
