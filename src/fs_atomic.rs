//! Crash-safe small-file writes and directory syncs on cap-std handles.
//!
//! `write_replace` is write-temp → fsync → rename (a reader sees the old or the
//! new file, never half of one); `sync_dir` makes a rename durable.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

/// A name for a temporary file or directory no other process or thread uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:08x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `bytes` to `name` in `dir` atomically, replacing any old file.
/// The file gets `mode` whatever the umask.
pub fn write_replace(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temp = unique_name(".tmp");
    let result = (|| {
        let mut file = dir.open_with(
            &temp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )?;
        file.write_all(bytes)?;
        file.set_permissions(cap_std::fs::Permissions::from_std(
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        ))?;
        file.sync_all()?;
        dir.rename(&temp, dir, name)
    })();
    if result.is_err() {
        let _ = dir.remove_file(&temp);
    }
    result
}

/// fsyncs a directory, making renames and creations inside it durable.
pub fn sync_dir(dir: &Dir) -> io::Result<()> {
    dir.open(".")?.into_std().sync_all()
}
