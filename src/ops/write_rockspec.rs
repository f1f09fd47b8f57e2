//! `new_version` and `write_rockspec` from start to file: which rockspec a
//! new version starts from (a file, a URL, whose copy LuaRocks leaves in
//! the current directory, or a rock name on the servers), the rewriting
//! ([`crate::rockspec::new_version`], [`crate::ops::template`]), what
//! LuaRocks says on the way, and the file written.

use std::path::{Path, PathBuf};

use crate::fetch::FetchError;
use crate::lua::{read_source, Limits};
use crate::ops::template::{self, TemplateError};
use crate::reporter::{Event, Reporter};
use crate::rockspec::new_version::{self, NewVersionError};
use crate::servers::Want;

use super::session::{file_name, Session, SessionError};

/// Why no rockspec was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteRockspecError {
    /// The old rockspec (a local file) could not be read.
    #[error("cannot read {rock}")]
    Read {
        /// As given.
        rock: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A rockspec or source could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The rock is on no server.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The new version could not be made.
    #[error(transparent)]
    NewVersion(#[from] NewVersionError),
    /// The template could not be made.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The output directory could not be made.
    #[error("cannot create {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl crate::hint::Hint for WriteRockspecError {
    // Transparent: the inner error's hints are this error's.
    fn hints(&self) -> Vec<String> {
        match self {
            WriteRockspecError::Session(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}

/// What `new_version` is asked.
pub struct NewVersion<'a> {
    /// A rockspec file or URL, or a rock name on the servers.
    pub rock: &'a str,
    /// The new version (`1.1`, or `1.1-2`).
    pub new_version: Option<&'a str>,
    /// The new `source.url`.
    pub new_url: Option<&'a str>,
    /// The new `source.tag`.
    pub tag: Option<&'a str>,
    /// Where to write it (default: `cwd`, as a relative path).
    pub dir: Option<&'a Path>,
    /// The current directory, where a fetched rockspec's copy is left.
    pub cwd: &'a Path,
}

/// Writes the rockspec of a new version of `asked.rock`; its path. What
/// LuaRocks says on the way goes to `reporter`: status lines, then its
/// stderr lines as notes.
pub fn new_version(
    session: &Session,
    asked: &NewVersion<'_>,
    reporter: &dyn Reporter,
) -> Result<PathBuf, WriteRockspecError> {
    let rock = asked.rock;
    let (file, bytes) = if rock.ends_with(".rockspec") {
        let bytes = if rock.contains("://") {
            let bytes = session.fetch(rock)?;
            // As LuaRocks: the downloaded rockspec is left here too.
            let here = asked.cwd.join(file_name(rock));
            write(&here, &bytes)?;
            bytes
        } else {
            read_source(Path::new(rock), Limits::SMALL_FILE.source_bytes).map_err(|source| {
                WriteRockspecError::Read {
                    rock: rock.to_owned(),
                    source,
                }
            })?
        };
        (rock.to_owned(), bytes)
    } else {
        let url = session
            .find(&rock.to_lowercase(), None, Want::Rockspec)?
            .url();
        let bytes = session.fetch(&url)?;
        (url, bytes)
    };
    let fetch = |url: &str| session.fetch(url).map_err(|e| format!("{e}"));
    let written = new_version::new_version(
        &new_version::Request {
            file: &file,
            bytes: &bytes,
            new_version: asked.new_version,
            new_url: asked.new_url,
            tag: asked.tag,
        },
        &fetch,
    )?;
    for line in &written.said {
        reporter.report(Event::Status(line));
    }
    for line in &written.warnings {
        reporter.report(Event::Note(line));
    }
    let out = match asked.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| WriteRockspecError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
            dir.join(&written.file_name)
        }
        None => PathBuf::from(&written.file_name),
    };
    write(&out, written.text.as_bytes())?;
    Ok(out)
}

/// Writes a rockspec template for `request` (relative to `cwd`); its
/// path. Its warnings go to `reporter` as notes, then its status lines.
pub fn write_rockspec(
    session: &Session,
    request: &template::Request,
    cwd: &Path,
    reporter: &dyn Reporter,
) -> Result<PathBuf, WriteRockspecError> {
    let fetch = |url: &str| session.fetch(url).map_err(|e| format!("{e}"));
    let written = template::write_rockspec(request, cwd, &fetch)?;
    for line in &written.warnings {
        reporter.report(Event::Note(line));
    }
    for line in &written.said {
        reporter.report(Event::Status(line));
    }
    write(&written.file, written.text.as_bytes())?;
    Ok(written.file)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), WriteRockspecError> {
    std::fs::write(path, bytes).map_err(|source| WriteRockspecError::Write {
        path: path.to_owned(),
        source,
    })
}
