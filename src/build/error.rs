//! Why a build failed, and the hints that go with it.

use std::path::PathBuf;

use super::external;
use super::isolation::IsolationError;
use crate::archive::ArchiveError;
use crate::fetch::FetchError;
use crate::lua_install::LuaInstallError;
use crate::rel_path::{RelPath, RelPathError};
use crate::rock_id::RockId;
use crate::rockspec::build::FieldError;
use crate::rockspec::RockspecError;
use crate::store::StoreError;

/// Why a build failed. Nothing is admitted when it does.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The rockspec does not load.
    #[error(transparent)]
    Load(#[from] RockspecError),
    /// A build field is malformed.
    #[error("rockspec {rock}: {source}")]
    Field {
        /// The rock.
        rock: RockId,
        /// The field.
        #[source]
        source: FieldError,
    },
    /// Something the rockspec asks for that cannot be done.
    #[error("{0}")]
    Rockspec(String),
    /// A rock file was given where a rockspec build was expected.
    #[error("a rock file has no rockspec build input")]
    NotARockspec,
    /// The daemon's isolation refused or stopped the build.
    #[error("{rock}: {source}")]
    Isolation {
        /// The rock.
        rock: RockId,
        /// What happened.
        #[source]
        source: IsolationError,
    },
    /// A git source's commit could not be asked of its remote, so the
    /// recipe key cannot be known (never guessed: a stale build could be
    /// reused).
    #[error("{rock}: cannot ask {url} which commit to build (`git ls-remote` {status})")]
    RemoteCommit {
        /// The rock.
        rock: RockId,
        /// The repository.
        url: String,
        /// How git ended, and what it said.
        status: String,
    },
    /// A git clone checked out another commit than the one its recipe key
    /// names (the server answered `ls-remote` and the clone differently).
    #[error("{rock}: {url} said its commit is {keyed}, but the clone checked out {cloned}; nothing was built (the server answers differently each time: try again, or name a tag)")]
    CommitChanged {
        /// The rock (boxed: with a URL and two commits beside it, the
        /// variant would make every `Result<_, BuildError>` larger).
        rock: Box<RockId>,
        /// The repository.
        url: String,
        /// The commit the key names.
        keyed: String,
        /// The commit the clone has.
        cloned: String,
    },
    /// A build type provided by another rock (`luarocks-build-<type>`).
    #[error("build type `{0}` needs the rock luarocks-build-{0}, which rockstore cannot run; only builtin, make, cmake, command and none are supported")]
    UnsupportedBackend(String),
    /// Lua installation problems.
    #[error(transparent)]
    Lua(#[from] LuaInstallError),
    /// An external dependency is missing.
    #[error(transparent)]
    External(#[from] external::MissingExternal),
    /// Downloading failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A rock's sources could not be fetched.
    #[error("{rock}: cannot fetch its sources")]
    Sources {
        /// The rock.
        rock: RockId,
        /// Why.
        #[source]
        source: FetchError,
    },
    /// An archive was refused.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// `source.md5` does not match.
    #[error("MD5 check for {file} has failed: expected {expected}, got {actual}")]
    Md5 {
        /// The downloaded file.
        file: String,
        /// From the rockspec.
        expected: String,
        /// Of the bytes.
        actual: String,
    },
    /// `source.dir` is not in the unpacked sources.
    #[error("Directory {dir} not found inside archive {file}")]
    SourceDir {
        /// The directory.
        dir: String,
        /// The archive.
        file: String,
    },
    /// A command could not be started.
    #[error("{what}: cannot run `{command}`")]
    Spawn {
        /// What it was for.
        what: String,
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command exited with failure.
    #[error("{what}\n`{command}` exited with {}:\n{output}", status.map_or("a signal".to_owned(), |s| format!("status {s}")))]
    CommandFailed {
        /// What it was for.
        what: String,
        /// The command line.
        command: String,
        /// Exit status.
        status: Option<i32>,
        /// The last lines of its output.
        output: String,
    },
    /// A path in the rockspec that leaves the rock's directory.
    #[error("rockspec {rock}: {field}: {source}")]
    Path {
        /// The rock.
        rock: RockId,
        /// The field.
        field: String,
        /// What is wrong with the path.
        #[source]
        source: RelPathError,
    },
    /// A file the build copies could not be copied (missing, not a regular
    /// file, or reached through a link that leaves the sources).
    #[error("{rock}: cannot copy `{from}` from the sources to `{to}` in the rock")]
    Copy {
        /// The rock.
        rock: RockId,
        /// In the sources.
        from: RelPath,
        /// In the item.
        to: RelPath,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `CC` is empty.
    #[error("no C compiler: the CC variable is empty")]
    NoCompiler,
    /// File system trouble in the build directory.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A substitution that had to succeed (`--cache-only`) failed.
    #[error(transparent)]
    Substitute(#[from] crate::cache::substitute::SubstituteError),
    /// A rock file that is not usable.
    #[error("{file}: {problem}")]
    RockFile {
        /// The file.
        file: String,
        /// What is wrong.
        problem: String,
    },
}

impl crate::hint::Hint for BuildError {
    fn hints(&self) -> Vec<String> {
        match self {
            BuildError::Isolation { source, .. } => source.hints(),
            BuildError::Store(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}
