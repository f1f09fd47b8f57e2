//! The daemon protocol's frames and messages (store-format/v1/daemon.md).
//!
//! A frame is a 12-byte prefix — the header's length (u32, little-endian)
//! and the payload's length (u64, little-endian) — then the header, one
//! JSON object, then the payload's raw bytes (a rockspec or rock file). A
//! directory handed over travels as one `SCM_RIGHTS` descriptor with the
//! frame's first bytes.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

use crate::lua_install::LuaInstall;
use crate::tree::Profile;

/// Names the protocol in the first message.
pub const PROTOCOL: &str = "rockstore-daemon";
/// This protocol's version.
pub const VERSION: u32 = 1;
/// Largest header accepted.
pub const MAX_HEADER: u32 = 1 << 20;
/// Largest payload accepted (a rock file).
pub const MAX_PAYLOAD: u64 = 256 << 20;

/// Why a frame could not be sent or read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or closed.
    #[error("the daemon connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The other side sent something this side cannot read.
    #[error("the daemon connection sent a malformed frame: {0}")]
    Malformed(String),
}

/// Every message, either way.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Client → daemon, first: who speaks.
    Hello {
        /// [`PROTOCOL`].
        protocol: String,
        /// The client's [`VERSION`].
        version: u32,
    },
    /// Daemon → client: accepted, and who the daemon thinks it is.
    Welcome {
        /// The daemon's version.
        version: u32,
        /// The client's uid, as `SO_PEERCRED` says.
        uid: u32,
        /// Whether the client is a trusted user.
        trusted: bool,
    },
    /// Daemon → client: not served (another version, not allowed).
    Refused {
        /// Why, for the user.
        reason: String,
    },
    /// Client → daemon: build (or reuse) a rock; the payload is the file.
    Build(Box<BuildRequest>),
    /// Client → daemon: build the profile item of a tree's generation.
    Profile(Box<ProfileRequest>),
    /// Client → daemon: admit the directory handed over (the descriptor)
    /// as an item: the daemon copies, normalises and hashes what it reads.
    Add {
        /// The item's name part.
        name: String,
        /// Its version part.
        version: String,
        /// What it holds (`rock`, `profile`, `toolchain`, `data`).
        kind: String,
        /// Items it references.
        references: Vec<String>,
    },
    /// Client → daemon: hold the store's shared lock (nothing it is
    /// installing may be collected) until this connection closes.
    Hold,
    /// Client → daemon: collect garbage (trusted users; anyone may ask
    /// for a dry run).
    Gc {
        /// Only report.
        dry_run: bool,
    },
    /// Daemon → client: what a collection freed.
    Collected(crate::gc::GcReport),
    /// Client → daemon: declare an item the realisation of a recipe
    /// (trusted users only).
    RegisterRealisation {
        /// The recipe key, hex.
        key: String,
        /// The item's name.
        item: String,
    },
    /// Client → daemon: keep this tree's generations alive (a GC root).
    RegisterTree {
        /// The tree's root.
        path: PathBuf,
    },
    /// Daemon → client: progress of a build (`compiling a.c`).
    Doing {
        /// What.
        what: String,
    },
    /// Daemon → client: a command a build runs.
    Command {
        /// The command line.
        line: String,
    },
    /// Daemon → client: done; the item (none for a registration).
    Done {
        /// The item's name.
        item: Option<String>,
        /// An existing realisation was reused.
        reused: bool,
    },
    /// Daemon → client: the request failed.
    Failed {
        /// The error, as the daemon would print it.
        message: String,
    },
}

/// What a build is made from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A rockspec (payload); the daemon fetches its sources.
    Rockspec,
    /// A `.src.rock` (payload).
    SrcRock,
    /// A binary or `.all.rock` (payload).
    BinaryRock,
    /// A rockspec (payload) with a directory (the descriptor) as sources.
    Local,
}

/// A build request.
#[derive(Debug, Serialize, Deserialize)]
pub struct BuildRequest {
    /// How to read the payload.
    pub kind: SourceKind,
    /// The file's name (`foo-1.0-1.rockspec`).
    pub file: String,
    /// The URL it came from, when a server's.
    pub url: Option<String>,
    /// The Lua to build for.
    pub lua: LuaInstall,
    /// Build variables (defaults, config, command line): recipe inputs.
    pub variables: std::collections::BTreeMap<String, String>,
    /// `external_deps_dirs`.
    pub deps_dirs: Vec<PathBuf>,
    /// The VM's and config's provided rocks.
    pub rocks_provided: Vec<(String, String)>,
    /// `--only-sources`.
    pub only_sources_from: Option<String>,
    /// Items of the dependencies chosen (recipe inputs).
    pub dependency_items: Vec<String>,
    /// `--branch`: the `source.branch` every rockspec gets.
    #[serde(default)]
    pub branch: Option<String>,
}

/// A profile request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileRequest {
    /// The tree.
    pub tree: PathBuf,
    /// The generation's content.
    pub profile: Profile,
    /// The interpreter wrappers run.
    pub lua: String,
    /// The trees wrappers put first.
    pub wrapper_trees: Vec<PathBuf>,
}

/// Sends one frame, with `fd` attached when given.
pub fn send(
    stream: &UnixStream,
    message: &Message,
    payload: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), WireError> {
    let header = serde_json::to_vec(message).map_err(|e| WireError::Malformed(e.to_string()))?;
    let mut prefix = [0u8; 12];
    prefix[..4].copy_from_slice(&(header.len() as u32).to_le_bytes());
    prefix[4..].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    match fd {
        Some(fd) => {
            let fds = [fd];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
                return Err(WireError::Malformed("no room for the descriptor".into()));
            }
            let sent = rustix::net::sendmsg(
                stream.as_fd(),
                &[IoSlice::new(&prefix)],
                &mut control,
                SendFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
            (&*stream).write_all(&prefix[sent..])?;
        }
        None => (&*stream).write_all(&prefix)?,
    }
    (&*stream).write_all(&header)?;
    (&*stream).write_all(payload)?;
    Ok(())
}

/// A frame read.
pub struct Frame {
    /// Its message.
    pub message: Message,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The descriptor that came with it.
    pub fd: Option<OwnedFd>,
}

/// Reads one frame (and a descriptor sent with it).
pub fn receive(stream: &UnixStream) -> Result<Frame, WireError> {
    let mut prefix = [0u8; 12];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        stream.as_fd(),
        &mut [IoSliceMut::new(&mut prefix)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?
    .bytes;
    if got == 0 {
        return Err(WireError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the other side closed the connection",
        )));
    }
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received in fds {
                // Only the first is kept; any other closes here.
                fd.get_or_insert(received);
            }
        }
    }
    (&*stream).read_exact(&mut prefix[got..])?;
    let header_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let mut payload_len = [0u8; 8];
    payload_len.copy_from_slice(&prefix[4..]);
    let payload_len = u64::from_le_bytes(payload_len);
    if header_len > MAX_HEADER || payload_len > MAX_PAYLOAD {
        return Err(WireError::Malformed(format!(
            "a frame of {header_len} + {payload_len} bytes is larger than allowed"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    (&*stream).read_exact(&mut header)?;
    let mut payload = vec![0u8; payload_len as usize];
    (&*stream).read_exact(&mut payload)?;
    let message =
        serde_json::from_slice(&header).map_err(|e| WireError::Malformed(e.to_string()))?;
    Ok(Frame {
        message,
        payload,
        fd,
    })
}
