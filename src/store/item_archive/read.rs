//! Reading the archive: a stream unpacked into an empty directory, every
//! rule of the canonical stream checked as it arrives (magic, tags, names,
//! order, depth, link targets, each file against its digest, the whole
//! against a byte budget), returning the tree model of what arrived.

use super::*;

/// Reads one archive from `input` into the empty directory `target`,
/// checking everything as it goes; returns the tree model of what was
/// written. On error, whatever was written stays for the caller to remove
/// with its staging directory.
pub fn read_into(
    input: &mut dyn Read,
    target: BorrowedFd<'_>,
    policy: LinkPolicy<'_>,
    finish: Finish,
    limits: Limits,
) -> Result<Node, ArchiveError> {
    let mut reader = Reader {
        input,
        read: 0,
        entries: 0,
        limits,
        policy,
        finish,
    };
    let mut magic = [0u8; 16];
    reader.exact(&mut magic, "")?;
    if &magic != MAGIC {
        return Err(ArchiveError::BadMagic);
    }
    let root = reader.node(target, None, "", 0)?;
    // Exactly one root node: the caller knows the archive's length and
    // checks that nothing follows (a stream has no end marker of its own).
    Ok(root)
}

/// Checks that `input` has nothing left (after [`read_into`]).
pub fn expect_end(input: &mut dyn Read) -> Result<(), ArchiveError> {
    let mut one = [0u8; 1];
    loop {
        match input.read(&mut one) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(ArchiveError::Trailing),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_at("")(e)),
        }
    }
}

struct Reader<'a> {
    input: &'a mut dyn Read,
    read: u64,
    entries: u64,
    limits: Limits,
    policy: LinkPolicy<'a>,
    finish: Finish,
}

impl Reader<'_> {
    fn count(&mut self, n: u64) -> Result<(), ArchiveError> {
        self.read = self.read.saturating_add(n);
        if self.read > self.limits.max_bytes {
            return Err(ArchiveError::TooLarge {
                what: "bytes",
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    fn exact(&mut self, buf: &mut [u8], path: &str) -> Result<(), ArchiveError> {
        self.count(buf.len() as u64)?;
        self.input.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ArchiveError::Truncated(shown(path).to_owned())
            } else {
                io_at(path)(e)
            }
        })
    }

    fn u64(&mut self, path: &str) -> Result<u64, ArchiveError> {
        let mut b = [0u8; 8];
        self.exact(&mut b, path)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A length-prefixed string of at most `max` bytes.
    fn bytes(&mut self, max: u64, path: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let len = self.u64(path)?;
        if len > max {
            return Ok(None);
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf, path)?;
        Ok(Some(buf))
    }

    fn entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::TooLarge {
                what: "entries",
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Reads one node and makes it as `name` in `parent` (`None`: the
    /// node is the root, `parent` itself, which must be a directory).
    fn node(
        &mut self,
        parent: BorrowedFd<'_>,
        name: Option<&PathComponent>,
        path: &str,
        depth: usize,
    ) -> Result<Node, ArchiveError> {
        if depth > MAX_DEPTH {
            return Err(ArchiveError::TooDeep(shown(path).to_owned()));
        }
        self.entry()?;
        let mut tag = [0u8; 1];
        self.exact(&mut tag, path)?;
        match (tag[0], name) {
            (TAG_REGULAR | TAG_EXECUTABLE, Some(name)) => {
                let executable = tag[0] == TAG_EXECUTABLE;
                let size = self.u64(path)?;
                let mut digest = [0u8; DIGEST_LEN];
                self.exact(&mut digest, path)?;
                self.count(size)?;
                let fd = rustix::fs::openat(
                    parent,
                    cname(name.as_str()).as_c_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | SAFE_OPEN,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(errno_at(path))?;
                let mut file = std::fs::File::from(fd);
                let mut limited = (&mut *self.input).take(size);
                let (got, actual) = hash_copy(&mut limited, Some(&mut file), path)?;
                if got != size {
                    return Err(ArchiveError::Truncated(path.to_owned()));
                }
                if actual != digest {
                    return Err(ArchiveError::DigestMismatch(path.to_owned()));
                }
                let mode = match (self.finish, executable) {
                    (Finish::Item, true) => EXEC_MODE,
                    (Finish::Item, false) => FILE_MODE,
                    (Finish::Writable, true) => 0o755,
                    (Finish::Writable, false) => 0o644,
                };
                self.close_file(file, mode, path)?;
                Ok(Node::File {
                    executable,
                    size,
                    digest,
                })
            }
            (TAG_SYMLINK, Some(name)) => {
                let target = self
                    .bytes(MAX_TARGET, path)?
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|t| !t.is_empty() && !t.contains('\0'))
                    .ok_or_else(|| ArchiveError::BadTarget(path.to_owned()))?;
                check_link(self.policy, path, depth.saturating_sub(1), &target)?;
                rustix::fs::symlinkat(target.as_str(), parent, cname(name.as_str()).as_c_str())
                    .map_err(errno_at(path))?;
                Ok(Node::Symlink { target })
            }
            (TAG_DIRECTORY, _) => {
                let own;
                let dir = match name {
                    Some(name) => {
                        rustix::fs::mkdirat(
                            parent,
                            cname(name.as_str()).as_c_str(),
                            Mode::from_raw_mode(0o700),
                        )
                        .map_err(errno_at(path))?;
                        own = open_dir(parent, name.as_str(), path)?;
                        own.as_fd()
                    }
                    None => parent,
                };
                let count = self.u64(path)?;
                let mut entries = std::collections::BTreeMap::new();
                let mut last: Option<PathComponent> = None;
                for _ in 0..count {
                    let raw = self.bytes(MAX_COMPONENT_LEN as u64, path)?.ok_or_else(|| {
                        ArchiveError::BadName {
                            dir: shown(path).to_owned(),
                            source: NameError::TooLong(String::new(), MAX_COMPONENT_LEN),
                        }
                    })?;
                    let child = PathComponent::from_bytes(&raw).map_err(|source| {
                        ArchiveError::BadName {
                            dir: shown(path).to_owned(),
                            source,
                        }
                    })?;
                    if last.as_ref().is_some_and(|prev| prev >= &child) {
                        return Err(ArchiveError::Unsorted(shown(path).to_owned()));
                    }
                    let child_path = join(path, child.as_str());
                    let node = self.node(dir, Some(&child), &child_path, depth + 1)?;
                    last = Some(child.clone());
                    entries.insert(child, node);
                }
                let mode = match (self.finish, name) {
                    (Finish::Item, Some(_)) => DIR_MODE,
                    (Finish::Item, None) => STAGED_ROOT_MODE,
                    (Finish::Writable, _) => 0o755,
                };
                self.close_dir(dir, mode, path)?;
                Ok(Node::Directory(entries))
            }
            (TAG_REGULAR | TAG_EXECUTABLE | TAG_SYMLINK, None) => Err(ArchiveError::BadTag {
                tag: tag[0],
                path: ".".to_owned(),
            }),
            (tag, _) => Err(ArchiveError::BadTag {
                tag,
                path: shown(path).to_owned(),
            }),
        }
    }

    fn close_file(&self, file: std::fs::File, mode: u32, path: &str) -> Result<(), ArchiveError> {
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(errno_at(path))?;
        if self.finish == Finish::Item {
            set_fixed_times(file.as_fd(), path)?;
        }
        Ok(())
    }

    fn close_dir(&self, dir: BorrowedFd<'_>, mode: u32, path: &str) -> Result<(), ArchiveError> {
        // An O_PATH descriptor cannot be fchmod'ed: open the directory itself.
        let fd = rustix::fs::openat(
            dir,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno_at(path))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno_at(path))?;
        if self.finish == Finish::Item {
            set_fixed_times(fd.as_fd(), path)?;
        }
        Ok(())
    }
}
