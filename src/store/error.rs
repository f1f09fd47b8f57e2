//! Why a store operation failed ([`StoreError`]), and its hints.

use super::*;

/// Failures of store operations. Paths are absolute.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The service that writes this store (its daemon) failed or refused.
    #[error(transparent)]
    Remote(Box<remote::RemoteError>),
    /// The root or one of its directories cannot be created or opened.
    #[error("cannot open the store at {}", path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The root has a marker of another format.
    #[error("the store at {} has format `{found}`; this rockstore reads `{}`", path.display(), FORMAT_MARKER.trim_end())]
    UnsupportedFormat {
        /// The root.
        path: PathBuf,
        /// The marker found.
        found: String,
    },
    /// The root exists, is not empty, and is not a store.
    #[error("{} is not empty and not a rockstore store (no `store-format` file)", path.display())]
    NotAStore {
        /// The root.
        path: PathBuf,
    },
    /// Taking a lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The directory to add cannot be opened.
    #[error("cannot read the directory {}", path.display())]
    Source {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The staged tree cannot become an item.
    #[error("cannot add `{name}` to the store")]
    Ingest {
        /// `name-version` being added.
        name: String,
        /// Why.
        #[source]
        source: IngestError,
    },
    /// A name or version that cannot be part of an item name.
    #[error("invalid item name or version")]
    Name(#[from] NameError),
    /// A reference that names no item.
    #[error("reference `{0}` is not an item in this store")]
    UnknownReference(String),
    /// An I/O failure inside the store.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A record that cannot be decoded.
    #[error("unusable record {}", path.display())]
    Record {
        /// The record file.
        path: PathBuf,
        /// Why.
        #[source]
        source: RecordError,
    },
    /// An item another user admitted no longer matches its name.
    #[error("item {item} (admitted by uid {creator_uid}) does not match its name: {problem}.\nIts contents were changed after admission; refusing to use it. `rockstore verify --contents` lists every such item; the store owner can remove it with `verify --repair`")]
    Untrusted {
        /// The item.
        item: String,
        /// Who admitted it.
        creator_uid: u32,
        /// What differs.
        problem: String,
    },
    /// Deleting needs the store owner or root.
    #[error("only the store owner (uid {owner}) or root may delete items from {}; ask them to run it", root.display())]
    NotOwner {
        /// The store.
        root: PathBuf,
        /// The owner's uid.
        owner: u32,
    },
    /// A registered tree exists but its generations cannot be read, so
    /// what it roots is unknown.
    #[error("cannot read the generations of the registered tree {}; nothing was freed, since that tree's items are unknown (run gc as a user who can read every tree, such as root)", path.display())]
    UnreadableTree {
        /// The generations directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A tree's recorded roots cannot be read, so what it roots is unknown.
    #[error("unusable recorded roots {}: what that tree keeps is unknown, so nothing that needs it goes on (a collection frees nothing; its user's admissions are refused). The store owner removes that file (a collection then reads the tree itself, and the tree's next change records its roots again)", path.display())]
    UnusableRoots {
        /// The record file.
        path: PathBuf,
        /// Why.
        #[source]
        source: RecordError,
    },
    /// Nothing matches a query.
    #[error("no item in the store matches `{0}`")]
    NotFound(String),
    /// Several items match a query.
    #[error("`{query}` matches several items: {}", candidates.join(", "))]
    Ambiguous {
        /// The query.
        query: String,
        /// What it matched.
        candidates: Vec<String>,
    },
}

impl crate::hint::Hint for StoreError {
    fn hints(&self) -> Vec<String> {
        let hint = match self {
            StoreError::Remote(remote) => return remote.hints(),
            StoreError::NotAStore { .. } => "pass an empty or new directory with --store, or the root of an existing store",
            StoreError::UnsupportedFormat { .. } => "use the rockstore version that created this store, or a new --store",
            StoreError::Ambiguous { .. } => "give more characters of the item name, or its full path",
            StoreError::NotFound(_) => "`rockstore store ls` lists the items in this store",
            StoreError::UnknownReference(_) => "references are item names as `rockstore store ls` prints them; add the referenced item first",
            StoreError::Ingest { source, .. } => match source {
                IngestError::BadSymlink { .. } | IngestError::UndeclaredReference { .. } => {
                    "items are location-independent: links must be relative and stay inside the item (or enter a declared reference)"
                }
                IngestError::SpecialFile { .. } | IngestError::Privileged { .. } => {
                    "remove the entry from the directory, then add it again; nothing was added to the store"
                }
                IngestError::BadName { .. } | IngestError::NonUtf8Target { .. } => {
                    "rename the entry to a UTF-8 name without `/`; nothing was added to the store"
                }
                _ => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        vec![hint.to_owned()]
    }
}
