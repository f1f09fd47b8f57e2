//! Answers computed from a small file's bytes (a `lua.h`'s version, its
//! hash), kept per process while the file stays the same: a warm install
//! asked them once per rock and read and hashed the same header each time.
//! The caller opens the file first, so what it may read and whether it is
//! there are checked on every call; only the reading and the computing
//! are saved. "The same" is the open file's device, inode, size and
//! modification and change times, as `make` judges (a rewrite in place at
//! the same size within one tick of the file system's clock would not be
//! seen; headers are replaced by package managers, which makes a new
//! inode).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What identifies a file's contents without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// One kind of answer, by path (a process asks about a handful of files).
#[derive(Debug, Default)]
pub struct FileMemo<T>(Mutex<Option<HashMap<PathBuf, (Identity, T)>>>);

impl<T: Clone> FileMemo<T> {
    /// An empty memo, for a `static`.
    pub const fn new() -> FileMemo<T> {
        FileMemo(Mutex::new(None))
    }

    /// The answer for `path`, opened as `file`: the kept one when the file
    /// is the same as when it was computed, else `compute(file)` (kept
    /// when it succeeds).
    pub fn get<E>(
        &self,
        path: &Path,
        file: std::fs::File,
        compute: impl FnOnce(std::fs::File) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<std::io::Error>,
    {
        let identity = Identity::of(&file.metadata()?);
        let kept = self.0.lock().ok().and_then(|map| {
            map.as_ref()?
                .get(path)
                .filter(|(id, _)| *id == identity)
                .map(|(_, answer)| answer.clone())
        });
        if let Some(answer) = kept {
            return Ok(answer);
        }
        let answer = compute(file)?;
        if let Ok(mut map) = self.0.lock() {
            map.get_or_insert_with(HashMap::new)
                .insert(path.to_path_buf(), (identity, answer.clone()));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_read_again_and_an_unchanged_one_is_not() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("lua.h");
        std::fs::write(&path, "one").expect("write");
        let memo: FileMemo<String> = FileMemo::new();
        let reads = std::cell::Cell::new(0);
        let read = || {
            let file = std::fs::File::open(&path).expect("open");
            memo.get(&path, file, |mut f| {
                reads.set(reads.get() + 1);
                let mut s = String::new();
                std::io::Read::read_to_string(&mut f, &mut s).map(|_| s)
            })
            .expect("read")
        };
        assert_eq!(read(), "one");
        assert_eq!(read(), "one");
        assert_eq!(reads.get(), 1);
        // Rewritten at another size.
        std::fs::write(&path, "three").expect("rewrite");
        assert_eq!(read(), "three");
        assert_eq!(reads.get(), 2);
        // Replaced by another file of the same size: another inode.
        let other = tmp.path().join("other.h");
        std::fs::write(&other, "THREE").expect("write other");
        std::fs::rename(&other, &path).expect("replace");
        assert_eq!(read(), "THREE");
        assert_eq!(reads.get(), 3);
    }
}
