//! Scratch space under the store's `tmp/`: staging directories that
//! become items, and builds' private working directories.

use super::*;

/// A staging directory under `tmp/`; holds the shared store lock until it is
/// admitted or dropped (dropping removes it).
pub struct Staging<'s> {
    store: &'s Store,
    pub(super) name: String,
    dir: Dir,
    /// Set once the directory has been renamed into `store/`.
    pub(super) admitted: bool,
    _lock: LockGuard,
}

impl Staging<'_> {
    /// Absolute path to write the item's files into.
    pub fn path(&self) -> PathBuf {
        self.store.root.join("tmp").join(&self.name)
    }

    /// A capability handle on the staging directory.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.admitted {
            let _ = remove::remove_tree(&self.store.tmp, &self.name);
        }
    }
}

/// A build's working directory under `tmp/` (sources, objects), private
/// to its owner (0700) and removed when dropped. It holds the shared store
/// lock, so the one left by a killed build is swept by the next GC or
/// `verify --repair`, which hold the exclusive lock.
pub struct BuildDir {
    path: PathBuf,
    name: String,
    tmp: Dir,
    dir: Dir,
    _lock: LockGuard,
}

impl BuildDir {
    /// Absolute path of the directory (commands run in it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A capability handle on it.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = remove::remove_tree(&self.tmp, &self.name);
    }
}

impl Store {
    /// Creates an empty staging directory to build an item in, private to
    /// this process's user (0700) until it is admitted.
    pub fn stage(&self) -> Result<Staging<'_>, StoreError> {
        use cap_std::fs::{DirBuilder, DirBuilderExt};
        let lock = self.lock(LockMode::Shared)?;
        let name = unique_name("stage");
        let mut builder = DirBuilder::new();
        builder.mode(0o700);
        self.tmp
            .create_dir_with(&name, &builder)
            .map_err(self.io("tmp", &name))?;
        let dir = self.tmp.open_dir(&name).map_err(self.io("tmp", &name))?;
        Ok(Staging {
            store: self,
            name,
            dir,
            admitted: false,
            _lock: lock,
        })
    }

    /// A fresh [`BuildDir`].
    pub fn build_dir(&self) -> Result<BuildDir, StoreError> {
        use cap_std::fs::{DirBuilder, DirBuilderExt};
        let lock = self.lock(LockMode::Shared)?;
        let name = unique_name("build");
        let mut builder = DirBuilder::new();
        builder.mode(0o700);
        self.tmp
            .create_dir_with(&name, &builder)
            .map_err(self.io("tmp", &name))?;
        let dir = self.tmp.open_dir(&name).map_err(self.io("tmp", &name))?;
        let tmp = self.tmp.try_clone().map_err(self.io("tmp", ""))?;
        Ok(BuildDir {
            path: self.root.join("tmp").join(&name),
            name,
            tmp,
            dir,
            _lock: lock,
        })
    }

    /// A daemon build's directory for `user`: `tmp/build-<unique>/` is
    /// root's (0710, group the build user's: only it may pass through, nobody
    /// but root may write), and inside it `work/` (0700) is the build
    /// user's. Removed when dropped, descriptor by descriptor.
    pub fn build_dir_for(&self, user: crate::users::BuildUser) -> Result<BuildDir, StoreError> {
        use cap_std::fs::{DirBuilder, DirBuilderExt};
        let lock = self.lock(LockMode::Shared)?;
        // Unguessable, though nobody can list `tmp/`'s build directories'
        // contents anyway.
        let name = format!(
            "build-{}",
            &blake3::hash(&unique_name("build").into_bytes()).to_hex()[..32]
        );
        let mut builder = DirBuilder::new();
        builder.mode(0o700);
        self.tmp
            .create_dir_with(&name, &builder)
            .map_err(self.io("tmp", &name))?;
        let parent = self.tmp.open_dir(&name).map_err(self.io("tmp", &name))?;
        let chown = |dir: &Dir, uid: Option<u32>, gid: u32, mode: u32| -> io::Result<()> {
            let fd = ingest::open_readable(dir, "")?;
            rustix::fs::fchown(
                &fd,
                uid.map(rustix::fs::Uid::from_raw),
                Some(rustix::fs::Gid::from_raw(gid)),
            )?;
            rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(mode))?;
            Ok(())
        };
        chown(&parent, None, user.gid, 0o710).map_err(self.io("tmp", &name))?;
        parent
            .create_dir_with("work", &builder)
            .map_err(self.io("tmp", &name))?;
        let dir = parent.open_dir("work").map_err(self.io("tmp", &name))?;
        chown(&dir, Some(user.uid), user.gid, 0o700).map_err(self.io("tmp", &name))?;
        let tmp = self.tmp.try_clone().map_err(self.io("tmp", ""))?;
        Ok(BuildDir {
            path: self.root.join("tmp").join(&name).join("work"),
            name,
            tmp,
            dir,
            _lock: lock,
        })
    }
}
