//! What we ask programs about the host, asked once per program identity:
//! `gcc -print-multiarch` (the multiarch library directory), and for
//! [`crate::lua_paths`] an interpreter's `package.path`/`cpath`. Each
//! answer is kept in the user's cache directory beside the program's
//! identity ([`super::compiler`]), and asked again only when the program's
//! bytes change; so no warm command spawns a process to learn what it
//! learnt last time.
//!
//! # The record (`<cache>/probes/<blake3 hex of the program's path>`)
//! Text, one field per line, specified in `store-format/v1/user-cache.md`:
//! ```text
//! rockstore probes 1
//! path <the program's path, as resolved>
//! stamp <dev> <ino> <size> <mtime s> <mtime ns> <ctime s> <ctime ns>
//! hashed <s> <ns>              when the hash was taken (wall clock)
//! blake3 <64 hex>              the program's bytes
//! answer <name> <hex>|-        zero or more: a probe's output, or - for none
//! ```
//! A stamp equal to the file's, with a ctime at least [`RACY`] older than
//! `hashed`, stands for the hash; otherwise the file is hashed again, and
//! answers stay valid while the hash is the same (a `touch` costs a hash,
//! not a probe). A record that does not parse is a cache miss. Writes are
//! temp + rename and not synced: a lost record costs one probe.
//!
//! Where the process looks (`PATH`) and caches (the cache directory) is
//! set once by the command line ([`configure`]); nothing here reads the
//! environment.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::compiler::{self, CompilerError, FileStamp};

/// A file changed within this long before it was hashed may change again
/// in the same timestamp tick without its stamp moving: such a stamp is
/// not trusted (git's "racily clean" entries).
pub const RACY: Duration = Duration::from_secs(2);

const HEADER: &str = "rockstore probes 1";

/// Where programs are looked for and answers kept.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// `PATH`, as the command line read it.
    pub path: Option<OsString>,
    /// The user's cache directory (`$XDG_CACHE_HOME/rockstore`); none: no
    /// cache, every probe is asked (once per process).
    pub cache: Option<PathBuf>,
}

static HOST: OnceLock<Host> = OnceLock::new();

/// Sets where this process looks for programs and keeps answers; the
/// first call wins. Without it, programs are found only by path and
/// nothing is cached.
pub fn configure(host: Host) {
    let _ = HOST.set(host);
}

/// What [`configure`] set.
pub fn host() -> &'static Host {
    HOST.get_or_init(Host::default)
}

/// One program's record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    path: PathBuf,
    stamp: FileStamp,
    hashed: (i64, i64),
    hash: [u8; 32],
    answers: BTreeMap<String, Option<Vec<u8>>>,
}

/// Identities and answers met in this process, by path: five C rocks
/// hash their compiler once.
fn memo() -> &'static Mutex<BTreeMap<PathBuf, Record>> {
    static MEMO: OnceLock<Mutex<BTreeMap<PathBuf, Record>>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn now() -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// Whether `stamp`'s change time is at least [`RACY`] before `hashed`.
fn settled(stamp: &FileStamp, hashed: (i64, i64)) -> bool {
    let as_nanos = |(s, ns): (i64, i64)| i128::from(s) * 1_000_000_000 + i128::from(ns);
    as_nanos(hashed) - as_nanos(stamp.ctime) >= RACY.as_nanos() as i128
}

fn record_name(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    blake3::hash(path.as_os_str().as_bytes())
        .to_hex()
        .to_string()
}

impl Record {
    fn render(&self) -> Option<String> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::str::from_utf8(self.path.as_os_str().as_bytes()).ok()?;
        if path.contains('\n') {
            return None;
        }
        let s = &self.stamp;
        let mut out = format!(
            "{HEADER}\npath {path}\nstamp {} {} {} {} {} {} {}\nhashed {} {}\nblake3 {}\n",
            s.dev,
            s.ino,
            s.size,
            s.mtime.0,
            s.mtime.1,
            s.ctime.0,
            s.ctime.1,
            self.hashed.0,
            self.hashed.1,
            blake3::Hash::from_bytes(self.hash).to_hex()
        );
        for (name, answer) in &self.answers {
            match answer {
                Some(bytes) => {
                    let _ = write!(out, "answer {name} ");
                    for b in bytes {
                        let _ = write!(out, "{b:02x}");
                    }
                    out.push('\n');
                }
                None => {
                    let _ = writeln!(out, "answer {name} -");
                }
            }
        }
        Some(out)
    }

    fn parse(text: &str) -> Option<Record> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()? != HEADER {
            return None;
        }
        let path = PathBuf::from(lines.next()?.strip_prefix("path ")?);
        let nums = |line: &str, prefix: &str| -> Option<Vec<i64>> {
            line.strip_prefix(prefix)?
                .split(' ')
                .map(|n| n.parse().ok())
                .collect()
        };
        let stamp = nums(lines.next()?, "stamp ")?;
        let [dev, ino, size, ms, mns, cs, cns] = stamp[..] else {
            return None;
        };
        let hashed = nums(lines.next()?, "hashed ")?;
        let [hs, hns] = hashed[..] else {
            return None;
        };
        let hash = blake3::Hash::from_hex(lines.next()?.strip_prefix("blake3 ")?).ok()?;
        let mut answers = BTreeMap::new();
        for line in lines {
            let (name, value) = line.strip_prefix("answer ")?.split_once(' ')?;
            let value = if value == "-" {
                None
            } else {
                Some(hex_bytes(value)?)
            };
            answers.insert(name.to_owned(), value);
        }
        Some(Record {
            path,
            stamp: FileStamp {
                dev: u64::try_from(dev).ok()?,
                ino: u64::try_from(ino).ok()?,
                size: u64::try_from(size).ok()?,
                mtime: (ms, mns),
                ctime: (cs, cns),
            },
            hashed: (hs, hns),
            hash: *hash.as_bytes(),
            answers,
        })
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn read_record(cache: &Path, path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(cache.join("probes").join(record_name(path))).ok()?;
    Record::parse(&text).filter(|r| r.path == path)
}

/// Best effort: a record that cannot be written costs a probe next time.
fn write_record(cache: &Path, record: &Record) {
    let Some(text) = record.render() else {
        return;
    };
    let dir = cache.join("probes");
    let _ = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let temp = dir.join(crate::fs_atomic::unique_name(".tmp"));
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, dir.join(record_name(&record.path))).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    })();
}

/// The record for the program at `path`, its hash current: from this
/// process's memo, else the cache when the stamp stands, else hashed now
/// (answers kept when the hash is unchanged).
fn current(host: &Host, path: &Path) -> Result<Record, CompilerError> {
    let opened = compiler::open(path)?;
    let mut memo = memo().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = memo.get(path).filter(|r| r.stamp == opened.stamp) {
        return Ok(known.clone());
    }
    let cached = host.cache.as_deref().and_then(|c| read_record(c, path));
    let record = match cached {
        Some(r) if r.stamp == opened.stamp && settled(&r.stamp, r.hashed) => r,
        cached => {
            let stamp = opened.stamp;
            let hashed = now();
            let hash = opened.hash()?;
            let answers = cached
                .filter(|r| r.hash == hash)
                .map(|r| r.answers)
                .unwrap_or_default();
            let record = Record {
                path: path.to_path_buf(),
                stamp,
                hashed,
                hash,
                answers,
            };
            if let Some(cache) = &host.cache {
                write_record(cache, &record);
            }
            record
        }
    };
    memo.insert(path.to_path_buf(), record.clone());
    Ok(record)
}

/// blake3 of the program `program` names (resolved against the
/// configured `PATH`), through the cache.
pub fn program_hash(program: &str) -> Result<[u8; 32], CompilerError> {
    let host = host();
    let path = compiler::resolve(program, host.path.as_deref())?;
    Ok(current(host, &path)?.hash)
}

/// The answer of probe `name` of the program `program` names: the cached
/// one while the program is the same, else `ask(path)` run now and kept.
/// `None` when the program is missing or `ask` had no answer.
pub fn answer(
    program: &str,
    name: &str,
    ask: impl FnOnce(&Path) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let host = host();
    let path = compiler::resolve(program, host.path.as_deref()).ok()?;
    let Ok(mut record) = current(host, &path) else {
        // Not hashable (a FIFO, a huge file): asked every time, kept nowhere.
        return ask(&path);
    };
    if let Some(known) = record.answers.get(name) {
        return known.clone();
    }
    let answer = ask(&path);
    record.answers.insert(name.to_owned(), answer.clone());
    if let Some(cache) = &host.cache {
        write_record(cache, &record);
    }
    memo()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path, record);
    answer
}

/// The configured `PATH`, for callers that spawn a probed program.
pub fn path_var() -> Option<&'static OsStr> {
    host().path.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_refuse_damage() {
        let record = Record {
            path: PathBuf::from("/usr/bin/gcc-12"),
            stamp: FileStamp {
                dev: 2049,
                ino: 77,
                size: 1_000_000,
                mtime: (1_700_000_000, 5),
                ctime: (1_700_000_001, 6),
            },
            hashed: (1_700_000_100, 7),
            hash: *blake3::hash(b"gcc").as_bytes(),
            answers: [
                ("multiarch".to_owned(), Some(b"x86_64-linux-gnu".to_vec())),
                ("none".to_owned(), None),
            ]
            .into_iter()
            .collect(),
        };
        let text = record.render().expect("render");
        assert_eq!(Record::parse(&text), Some(record.clone()));
        assert!(text.contains("answer multiarch 7838365f36342d6c696e75782d676e75\n"));
        assert_eq!(Record::parse(&text.replace("probes 1", "probes 2")), None);
        assert_eq!(Record::parse(&text[..text.len() - 3]), None);
        assert!(settled(&record.stamp, record.hashed));
        assert!(!settled(&record.stamp, (1_700_000_002, 0)));
    }
}
