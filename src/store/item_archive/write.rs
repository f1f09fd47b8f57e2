//! Writing the archive: a directory read into the tree model (hashing
//! every file, with the writer's own rights, never following a link), and
//! the model written as the archive stream; the stream's length known
//! beforehand.

use super::*;

/// Reads the directory `dir` into the tree model (hashing every file),
/// with the caller's rights, refusing what an item cannot hold. `skip`
/// names top-level entries left out (`.git` of a working directory).
pub fn model(
    dir: BorrowedFd<'_>,
    policy: LinkPolicy<'_>,
    skip: &[&str],
) -> Result<Node, ArchiveError> {
    model_dir(dir, "", 0, policy, skip)
}

fn model_dir(
    dir: BorrowedFd<'_>,
    rel: &str,
    depth: usize,
    policy: LinkPolicy<'_>,
    skip: &[&str],
) -> Result<Node, ArchiveError> {
    if depth > MAX_DEPTH {
        return Err(ArchiveError::TooDeep(shown(rel).to_owned()));
    }
    let mut entries = std::collections::BTreeMap::new();
    for (name, kind) in list(dir, rel)? {
        if depth == 0 && skip.contains(&name.as_str()) {
            continue;
        }
        let path = join(rel, name.as_str());
        let node = match kind {
            Kind::Dir => {
                let child = open_dir(dir, name.as_str(), &path)?;
                model_dir(child.as_fd(), &path, depth + 1, policy, &[])?
            }
            Kind::Link => {
                let target = read_link(dir, name.as_str(), &path)?;
                check_link(policy, &path, depth, &target)?;
                Node::Symlink { target }
            }
            Kind::File => {
                let file = open_file(dir, name.as_str(), &path)?;
                let executable = file_mode(&file, &path)? & 0o100 != 0;
                let (size, digest) = hash_copy(&mut std::fs::File::from(file), None, &path)?;
                Node::File {
                    executable,
                    size,
                    digest,
                }
            }
            Kind::Special(what) => {
                if matches!(policy, LinkPolicy::Sources) {
                    continue; // a socket in a working directory is not a source
                }
                return Err(ArchiveError::SpecialFile { path, kind: what });
            }
        };
        entries.insert(name, node);
    }
    Ok(Node::Directory(entries))
}

/// Writes the archive of `dir`, whose model [`model`] made, to `out`.
/// A file that no longer has the size and bytes of the model is an
/// error (what was sent so far is then not a valid archive).
pub fn write(dir: BorrowedFd<'_>, root: &Node, out: &mut dyn Write) -> Result<(), ArchiveError> {
    out.write_all(MAGIC).map_err(io_at(""))?;
    write_node(dir, None, "", root, out)
}

fn write_node(
    parent: BorrowedFd<'_>,
    name: Option<&str>,
    path: &str,
    node: &Node,
    out: &mut dyn Write,
) -> Result<(), ArchiveError> {
    let put = |out: &mut dyn Write, bytes: &[u8]| out.write_all(bytes).map_err(io_at(path));
    match node {
        Node::File {
            executable,
            size,
            digest,
        } => {
            let name = name.unwrap_or(".");
            put(
                out,
                &[if *executable {
                    TAG_EXECUTABLE
                } else {
                    TAG_REGULAR
                }],
            )?;
            put(out, &size.to_le_bytes())?;
            put(out, digest)?;
            let file = open_file(parent, name, path)?;
            let mut counted = Counted { out, written: 0 };
            let (got, again) = hash_copy(
                &mut std::fs::File::from(file).take(*size + 1),
                Some(&mut counted),
                path,
            )?;
            if got != *size || again != *digest {
                return Err(ArchiveError::Changed(path.to_owned()));
            }
            Ok(())
        }
        Node::Symlink { target } => {
            put(out, &[TAG_SYMLINK])?;
            put(out, &(target.len() as u64).to_le_bytes())?;
            put(out, target.as_bytes())
        }
        Node::Directory(entries) => {
            let own;
            let dir = match name {
                Some(name) => {
                    own = open_dir(parent, name, path)?;
                    own.as_fd()
                }
                None => parent,
            };
            put(out, &[TAG_DIRECTORY])?;
            put(out, &(entries.len() as u64).to_le_bytes())?;
            for (child, node) in entries {
                put(out, &(child.as_str().len() as u64).to_le_bytes())?;
                put(out, child.as_str().as_bytes())?;
                write_node(
                    dir,
                    Some(child.as_str()),
                    &join(path, child.as_str()),
                    node,
                    out,
                )?;
            }
            Ok(())
        }
    }
}

/// The length in bytes of the archive of `root` (what [`write`] writes).
pub fn encoded_len(root: &Node) -> u64 {
    fn node(n: &Node) -> u64 {
        match n {
            Node::File { size, .. } => 1 + 8 + DIGEST_LEN as u64 + size,
            Node::Symlink { target } => 1 + 8 + target.len() as u64,
            Node::Directory(entries) => {
                1 + 8
                    + entries
                        .iter()
                        .map(|(name, child)| 8 + name.as_str().len() as u64 + node(child))
                        .sum::<u64>()
            }
        }
    }
    MAGIC.len() as u64 + node(root)
}

/// A writer that counts (so a file that grew is caught).
struct Counted<'w> {
    out: &'w mut dyn Write,
    written: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
