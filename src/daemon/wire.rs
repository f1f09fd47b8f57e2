//! The daemon protocol's frames and messages (store-format/v1/daemon.md).
//!
//! A frame is a 12-byte prefix — the header's length (u32, little-endian)
//! and the payload's length (u64, little-endian) — then the header, one
//! JSON object, then the payload's raw bytes. The header is read whole
//! (bounded by the limit of the frame being read); the payload is left on
//! the connection for the receiver to read as it needs (into memory for a
//! rock file, straight to disk for an archive), never more than it
//! declared. Descriptors are never accepted: a frame that carries one is
//! refused, and the descriptor closed unread.
//!
//! Requests and replies are separate types ([`Request`], [`Reply`]), made
//! of plain wire fields; the daemon and the client convert them to and
//! from their own types explicitly, checking every field on the way in.

use std::collections::BTreeMap;
use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use serde::{Deserialize, Serialize};

/// Names the protocol in the first message.
pub const PROTOCOL: &str = "rockstore-daemon";
/// This protocol's version.
pub const VERSION: u32 = 2;

/// What a frame may hold.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest header.
    pub header: u32,
    /// Largest payload.
    pub payload: u64,
}

impl FrameLimits {
    /// The greeting: small, and nothing after it.
    pub const HELLO: FrameLimits = FrameLimits {
        header: 4 << 10,
        payload: 0,
    };
    /// A request: a profile of many rocks fits; the payload (a rock file,
    /// an archive) is bounded again by the request's own limits.
    pub const REQUEST: FrameLimits = FrameLimits {
        header: 4 << 20,
        payload: 1 << 40,
    };
    /// What the daemon answers.
    pub const REPLY: FrameLimits = FrameLimits {
        header: 16 << 20,
        payload: 0,
    };
}

/// Why a frame could not be sent or read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed, closed or timed out.
    #[error("the daemon connection failed")]
    Io(#[from] std::io::Error),
    /// The other side sent something that is not a frame of this protocol.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A frame larger than the limit of what was expected.
    #[error("a frame of {header} + {payload} bytes is larger than allowed here ({} + {})", limit.header, limit.payload)]
    TooLarge {
        /// Its header's length.
        header: u32,
        /// Its payload's length.
        payload: u64,
        /// What was allowed.
        limit: FrameLimits,
    },
    /// A descriptor came with the frame.
    #[error("a descriptor came with the frame; this protocol carries bytes only (rockstore 0.1's daemon clients handed over directories: upgrade the client)")]
    Descriptor,
}

/// Client → daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// First: who speaks.
    Hello {
        /// [`PROTOCOL`].
        protocol: String,
        /// The client's [`VERSION`].
        version: u32,
    },
    /// Build (or reuse) a rock; the payload is the file (and for `make`
    /// the sources' archive after it).
    Build(Box<BuildFields>),
    /// Make the profile item of a tree's generation.
    Profile(Box<ProfileFields>),
    /// Admit the tree the payload carries (an archive) as an item.
    Add {
        /// The item's name part.
        name: String,
        /// Its version part.
        version: String,
        /// `rock`, `profile`, `toolchain` or `data`.
        kind: String,
        /// Item names its links may lead into.
        references: Vec<String>,
    },
    /// Hold the store's shared lock until this connection closes.
    Hold,
    /// Collect garbage (trusted users); anyone may ask for a dry run.
    Gc {
        /// Only report.
        dry_run: bool,
    },
    /// Declare an item the realisation of a recipe (trusted users).
    RegisterRealisation {
        /// The recipe key, hex.
        key: String,
        /// The item's name.
        item: String,
    },
    /// Record a tree's roots: every generation it keeps.
    RegisterTree {
        /// The tree's absolute path.
        path: String,
        /// Each generation and its profile item.
        generations: Vec<WireRoot>,
    },
}

/// One generation as a root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRoot {
    /// The generation's number.
    pub generation: u64,
    /// Its profile item's name.
    pub item: String,
}

/// What a build is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildKind {
    /// A rockspec (the payload); the daemon fetches its sources.
    Rockspec,
    /// A `.src.rock` (the payload).
    SrcRock,
    /// A binary or `.all.rock` (the payload).
    BinaryRock,
    /// `make`: the rockspec (`rockspec_size` bytes), then the archive of
    /// the working directory.
    Make,
}

/// A build request's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildFields {
    /// How to read the payload.
    pub kind: BuildKind,
    /// The file's name (`foo-1.0-1.rockspec`).
    pub file: String,
    /// The server URL it came from, when a server's.
    pub url: Option<String>,
    /// The Lua version to build for (`5.1` … `5.4`).
    pub lua_version: String,
    /// Build variables (config and command line); the daemon sets the
    /// Lua's own (`LUA_INCDIR`, …) from its own detection.
    pub variables: BTreeMap<String, String>,
    /// `external_deps_dirs`.
    pub deps_dirs: Vec<String>,
    /// Rocks provided by the VM and config: `[name, version]` pairs.
    pub rocks_provided: Vec<(String, String)>,
    /// `--only-sources`.
    pub only_sources_from: Option<String>,
    /// Items of the dependencies chosen (recipe inputs).
    pub dependency_items: Vec<String>,
    /// `--branch`.
    pub branch: Option<String>,
    /// `make`: how many bytes of the payload are the rockspec.
    pub rockspec_size: Option<u64>,
    /// Substituters the client asks for (root's own are always asked;
    /// others only for a trusted user).
    #[serde(default)]
    pub substituters: Vec<String>,
    /// Keys the client trusts (likewise).
    #[serde(default)]
    pub trusted_public_keys: Vec<String>,
    /// `--cache-only`: fail rather than build.
    #[serde(default)]
    pub cache_only: bool,
}

/// A profile request's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFields {
    /// The tree's absolute path (written into wrappers).
    pub tree: String,
    /// The generation's content: its `rockstore-profile.json` object
    /// (profiles.md).
    pub profile: serde_json::Value,
    /// The interpreter `bin/` wrappers run (an absolute path).
    pub lua: String,
    /// The trees wrappers put first (absolute paths).
    pub wrapper_trees: Vec<String>,
}

/// Daemon → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Served; who the daemon knows the client to be.
    Welcome {
        /// The daemon's version.
        version: u32,
        /// The client's uid, by `SO_PEERCRED`.
        uid: u32,
        /// Whether the client is a trusted user.
        trusted: bool,
        /// `required` (builds in bubblewrap only) or `relaxed`.
        sandbox: String,
    },
    /// Not served; the daemon closes.
    Refused {
        /// Why, as a kind (daemon.md: `version`, `not_allowed`, `busy`, …).
        kind: String,
        /// Why, for the user.
        reason: String,
    },
    /// A build's progress.
    Doing {
        /// What (`compiling lpcode.c`).
        what: String,
    },
    /// A command a build runs.
    Command {
        /// The command line.
        line: String,
    },
    /// The request succeeded.
    Done {
        /// The item made or found (none for a registration or a hold).
        item: Option<String>,
        /// An existing realisation was reused.
        reused: bool,
        /// The binary cache the item was substituted from.
        #[serde(default)]
        substituted: Option<String>,
    },
    /// What a collection freed (or, dry, would free).
    Collected {
        /// Items freed, with their sizes.
        freed: Vec<WireFreed>,
        /// Items kept.
        kept: u64,
        /// Registered trees found gone (a member sees only her own).
        dropped_trees: Vec<String>,
        /// Leftovers swept.
        garbage: Vec<String>,
    },
    /// The request failed; nothing was admitted.
    Failed(Box<WireFailure>),
}

/// An item a collection freed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFreed {
    /// Its name.
    pub item: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A failure, typed: the client rebuilds its own error from `kind` and
/// `fields` where it has one, else shows `message` and `hints`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFailure {
    /// The error's kind (daemon.md lists them).
    pub kind: String,
    /// The error with its causes, as the daemon would print it.
    pub message: String,
    /// What to do next.
    pub hints: Vec<String>,
    /// The kind's own fields.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Writes one frame: a header (JSON) and a payload that follows it.
pub fn send<T: Serialize>(
    stream: &UnixStream,
    header: &T,
    payload: &[u8],
) -> Result<(), WireError> {
    let mut out = stream;
    send_prefix(&mut out, header, payload.len() as u64)?;
    out.write_all(payload)?;
    Ok(())
}

/// Writes a frame's prefix and header; `payload_len` bytes must follow.
pub fn send_prefix<T: Serialize>(
    out: &mut dyn Write,
    header: &T,
    payload_len: u64,
) -> Result<(), WireError> {
    let json = serde_json::to_vec(header).map_err(|e| WireError::Malformed(e.to_string()))?;
    let mut bytes = Vec::with_capacity(12 + json.len());
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&payload_len.to_le_bytes());
    bytes.extend_from_slice(&json);
    out.write_all(&bytes)?;
    Ok(())
}

/// A frame's header, read; its payload (`payload_len` bytes) still waits
/// on the connection.
pub struct Frame<T> {
    /// The message.
    pub message: T,
    /// Bytes of payload that follow.
    pub payload_len: u64,
}

/// How fast a whole request (prefix, header and payload) must arrive:
/// within `grace` plus its size at `min_rate` bytes a second, from the
/// moment its reading began; no single read waits more than `per_read`.
/// A trickle of a byte now and then therefore ends, whatever its size.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Time every request has, whatever its size.
    pub grace: Duration,
    /// Bytes a second a request must at least arrive at.
    pub min_rate: u64,
    /// Longest wait of any one read.
    pub per_read: Duration,
}

impl Pace {
    /// What a request of `bytes` (header and payload) may take.
    pub fn allowed(&self, bytes: u64) -> Duration {
        self.grace + Duration::from_secs_f64(bytes as f64 / self.min_rate.max(1) as f64)
    }
}

/// Reads from a connection until a deadline: each read waits at most what
/// is left of it (and at most `per_read`); past it, reads fail as timed
/// out, saying which deadline passed.
pub struct Paced<'s> {
    /// The connection.
    pub stream: &'s UnixStream,
    /// When the request must have arrived.
    pub deadline: Instant,
    /// What the request was allowed in all (for the message).
    pub allowed: Duration,
    /// Longest wait of any one read.
    pub per_read: Duration,
}

impl Paced<'_> {
    fn late(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the request did not arrive within the {:.0} s the daemon allows it (a grace period plus its size at the minimum rate)",
                self.allowed.as_secs_f64()
            ),
        )
    }

    /// Sets the socket's read timeout to what is left, or fails when
    /// nothing is.
    fn arm(&self) -> std::io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.late());
        }
        self.stream
            .set_read_timeout(Some(left.min(self.per_read).max(Duration::from_millis(1))))
    }
}

impl Read for Paced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.arm()?;
        match recv_bytes(self.stream, buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && Instant::now() >= self.deadline =>
            {
                Err(self.late())
            }
            other => other,
        }
    }
}

/// One `recvmsg` into `buf`: a descriptor that arrives with any byte of a
/// frame (prefix, header or payload) is refused, and closed unread, never
/// silently dropped.
pub fn recv_bytes(stream: &UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = match rustix::net::recvmsg(
            stream.as_fd(),
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) => r,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut carried = received.flags.contains(rustix::net::ReturnFlags::CTRUNC);
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                carried |= fds.count() > 0; // each closes as it is dropped
            }
        }
        if carried {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                WireError::Descriptor.to_string(),
            ));
        }
        return Ok(received.bytes);
    }
}

/// Reads all of `buf` with [`recv_bytes`].
fn recv_exact(stream: &UnixStream, buf: &mut [u8]) -> std::io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match recv_bytes(stream, &mut buf[got..])? {
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the other side closed the connection",
                ))
            }
            n => got += n,
        }
    }
    Ok(())
}

/// Reads one frame's prefix and header, within `limit`. The 12-byte prefix
/// is read with `recvmsg`, so a descriptor sent with it is seen (and
/// refused) instead of silently queued.
pub fn receive<T: for<'de> Deserialize<'de>>(
    stream: &UnixStream,
    limit: FrameLimits,
) -> Result<Frame<T>, WireError> {
    receive_inner(stream, limit, None).map(|(frame, _)| frame)
}

/// [`receive`] for a request that must arrive at `pace`, from `start`;
/// returns the frame and the reader its payload is to be read through
/// (the same deadline goes on).
pub fn receive_paced<T: for<'de> Deserialize<'de>>(
    stream: &UnixStream,
    limit: FrameLimits,
    pace: Pace,
    start: Instant,
) -> Result<(Frame<T>, Paced<'_>), WireError> {
    let (frame, paced) = receive_inner(stream, limit, Some((pace, start)))?;
    paced
        .map(|p| (frame, p))
        .ok_or_else(|| WireError::Malformed("unpaced".into()))
}

fn receive_inner<T: for<'de> Deserialize<'de>>(
    stream: &UnixStream,
    limit: FrameLimits,
    pace: Option<(Pace, Instant)>,
) -> Result<(Frame<T>, Option<Paced<'_>>), WireError> {
    // Until the prefix says how large the request is, it has the grace
    // period alone.
    let mut paced = pace.map(|(p, start)| Paced {
        stream,
        deadline: start + p.grace,
        allowed: p.grace,
        per_read: p.per_read,
    });
    let mut prefix = [0u8; 12];
    let mut got = 0usize;
    while got < prefix.len() {
        if let Some(p) = &paced {
            p.arm()?;
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let n = match rustix::net::recvmsg(
            stream.as_fd(),
            &mut [IoSliceMut::new(&mut prefix[got..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) => r.bytes,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN)
                if paced.as_ref().is_some_and(|p| Instant::now() >= p.deadline) =>
            {
                return Err(WireError::Io(
                    paced
                        .as_ref()
                        .map(Paced::late)
                        .unwrap_or_else(|| rustix::io::Errno::AGAIN.into()),
                ))
            }
            Err(e) => return Err(WireError::Io(e.into())),
        };
        let mut carried = false;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                carried |= fds.count() > 0; // each closes as it is dropped
            }
        }
        if carried {
            return Err(WireError::Descriptor);
        }
        if n == 0 {
            return Err(WireError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the other side closed the connection",
            )));
        }
        got += n;
    }
    let header_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let mut payload = [0u8; 8];
    payload.copy_from_slice(&prefix[4..]);
    let payload_len = u64::from_le_bytes(payload);
    if header_len > limit.header || payload_len > limit.payload {
        return Err(WireError::TooLarge {
            header: header_len,
            payload: payload_len,
            limit,
        });
    }
    if let (Some(p), Some((pace, start))) = (&mut paced, pace) {
        p.allowed = pace.allowed(u64::from(header_len).saturating_add(payload_len));
        p.deadline = start + p.allowed;
    }
    let mut header = vec![0u8; header_len as usize];
    let read = match &mut paced {
        Some(p) => p.read_exact(&mut header),
        None => recv_exact(stream, &mut header),
    };
    if let Err(e) = read {
        if e.kind() == std::io::ErrorKind::InvalidData {
            return Err(WireError::Descriptor);
        }
        return Err(WireError::Io(e));
    }
    let message =
        serde_json::from_slice(&header).map_err(|e| WireError::Malformed(e.to_string()))?;
    Ok((
        Frame {
            message,
            payload_len,
        },
        paced,
    ))
}

impl WireError {
    /// Whether the connection timed out (a read that waited too long).
    pub fn timed_out(&self) -> bool {
        matches!(self, WireError::Io(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_its_payload_waits() {
        let (a, b) = UnixStream::pair().expect("pair");
        send(&a, &Request::Gc { dry_run: true }, b"xyz").expect("send");
        let frame: Frame<Request> = receive(&b, FrameLimits::REQUEST).expect("receive");
        assert_eq!(frame.message, Request::Gc { dry_run: true });
        assert_eq!(frame.payload_len, 3);
        let mut rest = [0u8; 3];
        (&b).read_exact(&mut rest).expect("payload");
        assert_eq!(&rest, b"xyz");
    }

    #[test]
    fn an_oversized_hello_is_refused_before_its_header_is_read() {
        let (a, b) = UnixStream::pair().expect("pair");
        let mut prefix = (1u32 << 30).to_le_bytes().to_vec();
        prefix.extend_from_slice(&0u64.to_le_bytes());
        (&a).write_all(&prefix).expect("prefix");
        assert!(matches!(
            receive::<Request>(&b, FrameLimits::HELLO),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_fields_and_types_are_malformed() {
        let (a, b) = UnixStream::pair().expect("pair");
        send(
            &a,
            &serde_json::json!({"type": "gc", "dry_run": true, "as_root": true}),
            b"",
        )
        .expect("send");
        assert!(matches!(
            receive::<Request>(&b, FrameLimits::REQUEST),
            Err(WireError::Malformed(_))
        ));
    }
}
