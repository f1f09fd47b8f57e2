//! The client side: what a command on a daemon store asks instead of
//! writing the store. One connection per request, greeted first; a build's
//! progress arrives as it happens.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::wire::{self, BuildRequest, Message, ProfileRequest, SourceKind, WireError};
use crate::build::{BuildEnv, BuildWatch};
use crate::install::Source;
use crate::tree::profile::WrapperContext;
use crate::tree::Profile;

/// Why the daemon did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Nothing listens on the socket.
    #[error("the store's daemon is not running (nothing answers on {}); an admin starts it with `rockstore --store {} daemon` (or its systemd unit)", socket.display(), store.display())]
    NotRunning {
        /// The socket.
        socket: PathBuf,
        /// The store.
        store: PathBuf,
        /// Why connecting failed.
        source: std::io::Error,
    },
    /// The daemon refused the connection.
    #[error("the store's daemon refused: {0}")]
    Refused(String),
    /// The daemon went away mid-request.
    #[error("the store's daemon went away before answering ({0}); nothing was changed in your tree: run the command again")]
    WentAway(WireError),
    /// The request failed in the daemon.
    #[error("{0}")]
    Failed(String),
}

fn connect(socket: &Path) -> Result<UnixStream, DaemonError> {
    let stream = UnixStream::connect(socket).map_err(|source| DaemonError::NotRunning {
        socket: socket.to_path_buf(),
        store: socket.parent().map(Path::to_path_buf).unwrap_or_default(),
        source,
    })?;
    wire::send(
        &stream,
        &Message::Hello {
            protocol: wire::PROTOCOL.to_owned(),
            version: wire::VERSION,
        },
        &[],
        None,
    )
    .map_err(DaemonError::WentAway)?;
    match wire::receive(&stream)
        .map_err(DaemonError::WentAway)?
        .message
    {
        Message::Welcome { .. } => Ok(stream),
        Message::Refused { reason } => Err(DaemonError::Refused(reason)),
        other => Err(DaemonError::Failed(format!(
            "the daemon answered the greeting with {other:?}"
        ))),
    }
}

/// Waits for the request's end, passing progress to `watch`.
fn outcome(
    stream: &UnixStream,
    watch: Option<&dyn BuildWatch>,
) -> Result<(Option<String>, bool), DaemonError> {
    loop {
        match wire::receive(stream)
            .map_err(DaemonError::WentAway)?
            .message
        {
            Message::Doing { what } => {
                if let Some(w) = watch {
                    w.doing(&what);
                }
            }
            Message::Command { line } => {
                if let Some(w) = watch {
                    w.command(&line);
                }
            }
            Message::Done { item, reused } => return Ok((item, reused)),
            Message::Failed { message } => return Err(DaemonError::Failed(message)),
            other => {
                return Err(DaemonError::Failed(format!(
                    "unexpected answer from the daemon: {other:?}"
                )))
            }
        }
    }
}

/// Has the daemon build (or reuse) `source`. Returns the item's name and
/// whether it was reused.
pub fn build(
    socket: &Path,
    source: &Source,
    env: &BuildEnv,
    dependency_items: Vec<String>,
    watch: Option<&dyn BuildWatch>,
) -> Result<(String, bool), DaemonError> {
    let (kind, file, bytes, url, dir) = match source {
        Source::Rockspec {
            file,
            bytes,
            origin,
        } => (
            SourceKind::Rockspec,
            file,
            bytes,
            match origin {
                crate::build::Origin::Server(url) => Some(url.clone()),
                crate::build::Origin::User => None,
            },
            None,
        ),
        Source::SrcRock { file, bytes } => (SourceKind::SrcRock, file, bytes, None, None),
        Source::BinaryRock { file, bytes } => (SourceKind::BinaryRock, file, bytes, None, None),
        Source::Local {
            file, bytes, dir, ..
        } => (SourceKind::Local, file, bytes, None, Some(dir)),
    };
    // The directory goes over as a descriptor this process opened with its
    // own rights: the daemon reads only what the client could.
    let opened = match dir {
        Some(dir) => Some(
            std::fs::File::open(dir)
                .map_err(|e| DaemonError::Failed(format!("cannot open {}: {e}", dir.display())))?,
        ),
        None => None,
    };
    let stream = connect(socket)?;
    let request = Message::Build(Box::new(BuildRequest {
        kind,
        file: file.clone(),
        url,
        lua: env.lua.clone(),
        variables: env.variables.clone(),
        deps_dirs: env.deps_dirs.clone(),
        rocks_provided: env.rocks_provided.clone(),
        only_sources_from: env.only_sources_from.clone(),
        dependency_items,
        branch: env.branch.clone(),
    }));
    wire::send(&stream, &request, bytes, opened.as_ref().map(|f| f.as_fd()))
        .map_err(DaemonError::WentAway)?;
    match outcome(&stream, watch)? {
        (Some(item), reused) => Ok((item, reused)),
        (None, _) => Err(DaemonError::Failed("the daemon built no item".into())),
    }
}

/// Has the daemon make the profile item of `profile` for `tree`.
pub fn profile(
    socket: &Path,
    tree: &Path,
    profile: &Profile,
    wrap: &WrapperContext<'_>,
) -> Result<String, DaemonError> {
    let stream = connect(socket)?;
    let request = Message::Profile(Box::new(ProfileRequest {
        tree: tree.to_path_buf(),
        profile: profile.clone(),
        lua: wrap.lua.to_owned(),
        wrapper_trees: wrap.trees.clone(),
    }));
    wire::send(&stream, &request, &[], None).map_err(DaemonError::WentAway)?;
    match outcome(&stream, None)? {
        (Some(item), _) => Ok(item),
        (None, _) => Err(DaemonError::Failed("the daemon made no profile".into())),
    }
}

/// Registers `tree` as a GC root, recorded under the caller's uid.
pub fn register_tree(socket: &Path, tree: &Path) -> Result<(), DaemonError> {
    let stream = connect(socket)?;
    wire::send(
        &stream,
        &Message::RegisterTree {
            path: tree.to_path_buf(),
        },
        &[],
        None,
    )
    .map_err(DaemonError::WentAway)?;
    outcome(&stream, None).map(|_| ())
}

/// Has the daemon admit `dir` (opened here, with this user's rights) as an
/// item. Returns the item's name.
pub fn add(
    socket: &Path,
    dir: &Path,
    spec: &crate::store::ItemSpec,
) -> Result<String, DaemonError> {
    let opened = std::fs::File::open(dir)
        .map_err(|e| DaemonError::Failed(format!("cannot open {}: {e}", dir.display())))?;
    let stream = connect(socket)?;
    wire::send(
        &stream,
        &Message::Add {
            name: spec.name.clone(),
            version: spec.version.clone(),
            kind: spec.kind.as_str().to_owned(),
            references: spec.references.clone(),
        },
        &[],
        Some(opened.as_fd()),
    )
    .map_err(DaemonError::WentAway)?;
    match outcome(&stream, None)? {
        (Some(item), _) => Ok(item),
        (None, _) => Err(DaemonError::Failed("the daemon admitted nothing".into())),
    }
}

/// Asks the daemon to hold the store's shared lock for as long as the
/// returned connection stays open.
pub fn hold(socket: &Path) -> Result<UnixStream, DaemonError> {
    let stream = connect(socket)?;
    wire::send(&stream, &Message::Hold, &[], None).map_err(DaemonError::WentAway)?;
    outcome(&stream, None)?;
    Ok(stream)
}

/// Has the daemon collect garbage.
pub fn gc(socket: &Path, dry_run: bool) -> Result<crate::gc::GcReport, DaemonError> {
    let stream = connect(socket)?;
    wire::send(&stream, &Message::Gc { dry_run }, &[], None).map_err(DaemonError::WentAway)?;
    loop {
        match wire::receive(&stream)
            .map_err(DaemonError::WentAway)?
            .message
        {
            Message::Collected(report) => return Ok(report),
            Message::Doing { .. } => {}
            Message::Failed { message } => return Err(DaemonError::Failed(message)),
            other => {
                return Err(DaemonError::Failed(format!(
                    "unexpected answer from the daemon: {other:?}"
                )))
            }
        }
    }
}

/// Asks the daemon to record `item` as the realisation of `key` (refused
/// unless the caller is a trusted user).
pub fn register_realisation(
    socket: &Path,
    key: &crate::store::content_hash::RecipeKey,
    item: &crate::store::item_name::ItemName,
) -> Result<(), DaemonError> {
    let stream = connect(socket)?;
    wire::send(
        &stream,
        &Message::RegisterRealisation {
            key: key.to_hex(),
            item: item.as_str().to_owned(),
        },
        &[],
        None,
    )
    .map_err(DaemonError::WentAway)?;
    outcome(&stream, None).map(|_| ())
}
