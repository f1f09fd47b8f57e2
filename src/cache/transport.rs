//! Reaching a cache's files on the engines people run: a directory
//! (`file:///dir`), a static HTTP server (`http(s)://…`: GET and HEAD, and
//! PUT where the server takes it, as nginx's WebDAV module does), and an
//! S3-compatible object store (`s3://bucket/prefix?endpoint=…&region=…`,
//! SigV4-signed requests). Paths are the cache's own (`blob/…`,
//! `real/…`), relative to the cache's root.
//!
//! A failure to reach the engine (refused, timed out, a 5xx) is
//! [`TransportError::Down`]: the caller stops asking that cache for the
//! rest of the run. A missing file is `None`, never an error.
//!
//! Every request has a **deadline** ([`Timeouts::deadline`]): a grace
//! period plus its size at a minimum rate, the shape the daemon gives its
//! own requests, for the whole request — connecting, the answer's head
//! and every byte of its body — so a server that trickles a byte now and
//! then, or sends a head and then nothing, costs at most that long
//! (store-format/v1/cache.md, "Deadlines"). A directory's files are reached
//! through [`super::confined`], which follows no link below the root.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::confined::Root;
pub use super::credentials::S3Credentials;

/// Why a cache's file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A URL rockstore cannot use as a cache.
    #[error("`{url}` is not a cache URL: {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The engine did not answer, or answered with a server error.
    #[error("{url} is down ({why})")]
    Down {
        /// What was asked.
        url: String,
        /// What happened.
        why: String,
    },
    /// The engine refused the request.
    #[error("{url} answered {status}")]
    Refused {
        /// What was asked.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The engine answered with a redirect, which a cache client follows
    /// not: a cache answering 302 to another host (`127.0.0.1:…`, a cloud
    /// metadata address) would make rockstore ask that host for it.
    #[error(
        "{url} answered {status} (a redirect to {}); a cache is read where it is, \
         follow no redirect — set the cache URL to where it redirects",
        crate::printable::printable(location)
    )]
    Redirected {
        /// What was asked.
        url: String,
        /// The HTTP status (3xx).
        status: u16,
        /// Where it pointed (as the server said it; `(none)` without one).
        location: String,
    },
    /// A file larger than the most a file of its kind may be.
    #[error("{url} is larger than {}, the most such a file may be", crate::units::human(*max))]
    TooLarge {
        /// The file.
        url: String,
        /// The most it may be, in bytes.
        max: u64,
    },
    /// A symbolic link below a directory cache's root.
    #[error("{} is a symbolic link; a file:// cache follows no link below its root (remove it)", path.display())]
    Link {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a regular file where a cache file belongs.
    #[error("{} is a {kind}, not a regular file (remove it)", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is (`FIFO`, `directory`…).
        kind: &'static str,
    },
    /// Reading or writing a local cache failed.
    #[error("cannot read or write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl TransportError {
    /// Whether the cache should be skipped for the rest of the run: it
    /// does not answer, or answers with redirects (every path of a cache
    /// would, and none is followed).
    pub fn is_down(&self) -> bool {
        matches!(
            self,
            TransportError::Down { .. } | TransportError::Redirected { .. }
        )
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The file was written.
    Written,
    /// It was there already and, asked to create only, left as it was.
    Exists,
}

/// One cache's engine, and how long its requests may take.
pub struct Transport {
    engine: Engine,
    timeouts: Timeouts,
    pace: super::pace::Pace,
}

/// The engines.
enum Engine {
    /// A directory.
    File(Root),
    /// An HTTP server; `base` ends without `/`.
    Http {
        /// The root URL.
        base: String,
        /// The client.
        client: reqwest::blocking::Client,
    },
    /// An S3 bucket and a key prefix.
    S3 {
        /// The bucket.
        bucket: Box<rusty_s3::Bucket>,
        /// Keys start with this (no leading `/`, ends with `/` or is empty).
        prefix: String,
        /// Credentials (none: anonymous reads).
        credentials: Option<rusty_s3::Credentials>,
        /// The client.
        client: reqwest::blocking::Client,
    },
}

/// How long a request to a cache may take: connecting, and the whole
/// request by its size (see [`Timeouts::deadline`]).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connecting.
    pub connect: Duration,
    /// Time every request has, whatever its size.
    pub grace: Duration,
    /// Bytes a second a request must at least move besides.
    pub min_rate: u64,
}

/// The default grace period of a cache request (the daemon's own).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// The default minimum rate of a cache request: 1 MiB/s.
pub const DEFAULT_MIN_RATE: u64 = 1 << 20;

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            grace: DEFAULT_GRACE,
            min_rate: DEFAULT_MIN_RATE,
        }
    }
}

impl Timeouts {
    /// How long a whole request moving at most `bytes` may take: the
    /// grace period plus `bytes` at the minimum rate.
    pub fn deadline(&self, bytes: u64) -> Duration {
        let rate = self.min_rate.max(1);
        self.grace
            .saturating_add(Duration::from_secs(bytes / rate))
            .saturating_add(Duration::from_nanos(
                (bytes % rate).saturating_mul(1_000_000_000) / rate,
            ))
    }
}

/// A reader that fails once its deadline has passed: a directory cache's
/// file keeps to the same deadline as a server's answer (a read of a
/// slow mount returns, then the next one is refused).
struct Deadline<R> {
    inner: R,
    until: Instant,
    allowed: Duration,
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.until {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("not read within its deadline of {}", seconds(self.allowed)),
            ));
        }
        self.inner.read(buf)
    }
}

/// The body of a read whose size is stated: no byte past that size is
/// taken (a server sending more is cut off there), and a read past the
/// deadline says so, with the deadline and the file. An `exact` read
/// must also give every byte of it: one that ends short fails.
struct Stated<R> {
    inner: R,
    /// Bytes it may still give.
    left: u64,
    size: u64,
    /// Whether ending before `size` bytes is an error.
    exact: bool,
    /// The file, for messages.
    shown: String,
    /// What a read past the deadline says.
    late: String,
}

impl<R: Read> Read for Stated<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte more than is left, so that a longer body is seen.
        let want = usize::try_from(self.left.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want]).map_err(|e| {
            if timed_out(&e) {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{}: {}", self.shown, self.late),
                )
            } else {
                e
            }
        })?;
        if n as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} sends more than its stated {} bytes; cut off there",
                    self.shown, self.size
                ),
            ));
        }
        if n == 0 && want > 0 && self.exact && self.left > 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} ends after {} bytes, short of its stated {} bytes",
                    self.shown,
                    self.size - self.left,
                    self.size
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A duration for people: `31 s`, `1.5 s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 || s >= 10.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

fn bad(url: &str, why: &str) -> TransportError {
    TransportError::BadUrl {
        url: url.to_owned(),
        why: why.to_owned(),
    }
}

fn client(t: Timeouts) -> Result<reqwest::blocking::Client, TransportError> {
    // Each request sets its own total timeout (its deadline), which reqwest
    // applies to the body too; this one only backs it up. No redirect is
    // followed: a cache's server could otherwise send rockstore to any
    // host it can reach (another port of 127.0.0.1, a metadata service),
    // and a PUT answered 307 would be counted as written (see
    // [`status_failure`]).
    reqwest::blocking::Client::builder()
        .connect_timeout(t.connect.min(t.grace))
        .timeout(t.grace)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| bad("(http client)", &e.to_string()))
}

impl Engine {
    /// The engine a cache URL names.
    pub fn open(
        url: &str,
        timeouts: Timeouts,
        s3: Option<&S3Credentials>,
    ) -> Result<Engine, TransportError> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad(url, "a file:// cache needs an absolute path"));
            }
            return Ok(Engine::File(Root::new(PathBuf::from(path))));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(Engine::Http {
                base: url.trim_end_matches('/').to_owned(),
                client: client(timeouts)?,
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
            if bucket.is_empty() {
                return Err(bad(url, "no bucket"));
            }
            let mut endpoint = None;
            let mut region = "us-east-1".to_owned();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("endpoint", v)) => endpoint = Some(percent_decode(v)),
                    Some(("region", v)) => region = percent_decode(v),
                    _ => return Err(bad(url, &format!("unknown parameter `{pair}`"))),
                }
            }
            let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
            let endpoint: reqwest::Url = endpoint
                .parse()
                .map_err(|_| bad(url, "the endpoint is not a URL"))?;
            let bucket = rusty_s3::Bucket::new(
                endpoint,
                rusty_s3::UrlStyle::Path,
                bucket.to_owned(),
                region,
            )
            .map_err(|e| bad(url, &e.to_string()))?;
            let prefix = prefix.trim_matches('/');
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            return Ok(Engine::S3 {
                bucket: Box::new(bucket),
                prefix,
                credentials: s3.map(|c| match &c.token {
                    Some(t) => rusty_s3::Credentials::new_with_token(&c.key, &c.secret, t),
                    None => rusty_s3::Credentials::new(&c.key, &c.secret),
                }),
                client: client(timeouts)?,
            });
        }
        Err(bad(url, "expected file://, http://, https:// or s3://"))
    }
}

impl Transport {
    /// The engine a cache URL names.
    pub fn open(
        url: &str,
        timeouts: Timeouts,
        s3: Option<&S3Credentials>,
    ) -> Result<Transport, TransportError> {
        let engine = Engine::open(url, timeouts, s3)?;
        Ok(Transport {
            engine,
            timeouts,
            pace: super::pace::Pace::new(timeouts.grace),
        })
    }

    /// Reads `path`, at most `max` bytes, within the deadline of `max`
    /// bytes; `None` when it does not exist.
    pub fn get(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, TransportError> {
        let Some(mut reader) = self.open_within(path, max)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        let shown = self.shown(path);
        let started = Instant::now();
        let read = reader.by_ref().take(max + 1).read_to_end(&mut bytes);
        self.pace.note(started);
        read.map_err(|e| self.failed(&shown, &e, max))?;
        if bytes.len() as u64 > max {
            return Err(TransportError::TooLarge { url: shown, max });
        }
        Ok(Some(bytes))
    }

    /// A reader of `path` whose size is not known beforehand, with the
    /// deadline of [`UNSIZED_READ`] bytes; `None` when it does not exist.
    /// Prefer [`Transport::open_read_sized`].
    pub fn open_read(&self, path: &str) -> Result<Option<Box<dyn Read + Send>>, TransportError> {
        self.open_read_sized(path, UNSIZED_READ)
    }

    /// A reader of `path`, stated to be at most `size` bytes: the whole
    /// read (its answer's head and every byte) must end within the
    /// deadline of `size`, after which a read fails with
    /// [`std::io::ErrorKind::TimedOut`], saying the deadline; and a byte
    /// past `size` fails the read ([`std::io::ErrorKind::InvalidData`])
    /// rather than being read on. `None` when it does not exist.
    pub fn open_read_sized(
        &self,
        path: &str,
        size: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, TransportError> {
        self.open_stated(path, size, false)
    }

    /// [`Transport::open_read_sized`] of a file that must be exactly
    /// `size` bytes (a blob whose size is signed): a read that ends short
    /// of it fails too ([`std::io::ErrorKind::InvalidData`]).
    pub fn open_read_exact(
        &self,
        path: &str,
        size: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, TransportError> {
        self.open_stated(path, size, true)
    }

    fn open_stated(
        &self,
        path: &str,
        size: u64,
        exact: bool,
    ) -> Result<Option<Box<dyn Read + Send>>, TransportError> {
        Ok(self.open_within(path, size)?.map(|inner| {
            Box::new(Stated {
                inner,
                left: size,
                size,
                exact,
                shown: self.shown(path),
                late: self.late(size),
            }) as Box<dyn Read + Send>
        }))
    }

    /// A reader of `path` within the deadline of `size` bytes, its length
    /// left to the caller to bound.
    fn open_within(
        &self,
        path: &str,
        size: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, TransportError> {
        let allowed = self.timeouts.deadline(size);
        match &self.engine {
            Engine::File(root) => Ok(root.open(path)?.map(|file| {
                Box::new(Deadline {
                    inner: file,
                    until: Instant::now() + allowed,
                    allowed,
                }) as Box<dyn Read + Send>
            })),
            Engine::Http { client, .. } | Engine::S3 { client, .. } => {
                let url = self.signed(path, reqwest::Method::GET, false)?;
                let shown = self.shown(path);
                self.pace.check(&shown)?;
                let started = Instant::now();
                let sent = client.get(url).timeout(allowed).send();
                self.pace.note(started);
                let response = sent.map_err(|e| self.failed(&shown, &e, size))?;
                match response.status().as_u16() {
                    200 => Ok(Some(Box::new(response))),
                    s => self.absent_or_failure(s, shown, &response).map(|()| None),
                }
            }
        }
    }

    /// Why a request failed: past its deadline (said with the deadline,
    /// so the message tells what to raise), or down.
    fn failed(
        &self,
        shown: &str,
        e: &(dyn std::error::Error + 'static),
        size: u64,
    ) -> TransportError {
        if timed_out(e) {
            return TransportError::Down {
                url: shown.to_owned(),
                why: self.late(size),
            };
        }
        down(shown, e)
    }

    /// What a request of `size` bytes past its deadline is told.
    fn late(&self, size: u64) -> String {
        format!(
            "no whole answer within its deadline of {}: {} plus its size at {}/s",
            seconds(self.timeouts.deadline(size)),
            seconds(self.timeouts.grace),
            crate::units::human(self.timeouts.min_rate)
        )
    }

    /// A reading answer other than 200: `Ok` when it says the file is
    /// absent, else why it failed (see [`status_failure`]).
    fn absent_or_failure(
        &self,
        status: u16,
        shown: String,
        response: &reqwest::blocking::Response,
    ) -> Result<(), TransportError> {
        match status {
            404 => Ok(()),
            // S3 answers 403 for a missing key without list rights.
            403 if matches!(self.engine, Engine::S3 { .. }) => Ok(()),
            s => Err(status_failure(s, shown, response)),
        }
    }

    /// Whether `path` exists, and its size.
    pub fn head(&self, path: &str) -> Result<Option<u64>, TransportError> {
        match &self.engine {
            Engine::File(root) => root.head(path),
            Engine::Http { client, .. } | Engine::S3 { client, .. } => {
                let url = self.signed(path, reqwest::Method::HEAD, false)?;
                let shown = self.shown(path);
                self.pace.check(&shown)?;
                let started = Instant::now();
                let sent = client.head(url).timeout(self.timeouts.deadline(0)).send();
                self.pace.note(started);
                let response = sent.map_err(|e| self.failed(&shown, &e, 0))?;
                match response.status().as_u16() {
                    200 => Ok(Some(
                        response
                            .headers()
                            .get(reqwest::header::CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                    )),
                    s => self.absent_or_failure(s, shown, &response).map(|()| None),
                }
            }
        }
    }

    /// Writes `bytes` to `path` whole (a reader never sees half of it).
    /// With `create_only`, an existing file is left as it is — refused by
    /// the engine where it can (S3's `If-None-Match: *`, a local link), else
    /// (a plain HTTP server) checked first, which a racing writer can beat.
    pub fn put(&self, path: &str, bytes: &[u8], create_only: bool) -> Result<Put, TransportError> {
        match &self.engine {
            Engine::File(root) => root.write(path, bytes, create_only),
            Engine::Http { client, .. } | Engine::S3 { client, .. } => {
                let s3 = matches!(self.engine, Engine::S3 { .. });
                if create_only && !s3 && self.head(path)?.is_some() {
                    return Ok(Put::Exists);
                }
                let url = self.signed(path, reqwest::Method::PUT, create_only && s3)?;
                let shown = self.shown(path);
                let size = bytes.len() as u64;
                let mut request = client
                    .put(url)
                    .timeout(self.timeouts.deadline(size))
                    .body(bytes.to_vec());
                if create_only && s3 {
                    request = request.header(reqwest::header::IF_NONE_MATCH, "*");
                }
                let response = request.send().map_err(|e| self.failed(&shown, &e, size))?;
                // Only a 2xx wrote it; 412/409 are the engine refusing a
                // second writer, and only where the request asked it to
                // (S3's If-None-Match: a plain server's PUT carried no
                // condition, so its 412 is no "exists"). Anything else (a
                // 3xx, a 412 to a plain write) is a failed write, never
                // counted as pushed.
                match response.status().as_u16() {
                    200..=299 => Ok(Put::Written),
                    412 | 409 if create_only && s3 => Ok(Put::Exists),
                    s => Err(status_failure(s, shown, &response)),
                }
            }
        }
    }

    /// Deletes `path` (a lease released); an absent file is no error.
    pub fn delete(&self, path: &str) -> Result<(), TransportError> {
        match &self.engine {
            Engine::File(root) => root.delete(path),
            Engine::Http { client, .. } | Engine::S3 { client, .. } => {
                let url = self.signed(path, reqwest::Method::DELETE, false)?;
                let shown = self.shown(path);
                let response = client
                    .delete(url)
                    .timeout(self.timeouts.deadline(0))
                    .send()
                    .map_err(|e| self.failed(&shown, &e, 0))?;
                match response.status().as_u16() {
                    200..=299 | 404 => Ok(()),
                    s => self.absent_or_failure(s, shown, &response),
                }
            }
        }
    }

    /// The names of the files directly in directory `dir`, where the
    /// engine can list them (a directory; none when `dir` is absent);
    /// `None` where it cannot (HTTP, S3), whose writers keep an index.
    pub fn list(&self, dir: &str) -> Result<Option<Vec<String>>, TransportError> {
        match &self.engine {
            Engine::File(root) => root.list(dir).map(Some),
            Engine::Http { .. } | Engine::S3 { .. } => Ok(None),
        }
    }

    /// Whether the engine itself refuses a second writer of a file (the
    /// lease of issue 26 needs it).
    pub fn refuses_second_writer(&self) -> bool {
        matches!(self.engine, Engine::S3 { .. } | Engine::File(_))
    }

    /// How long its requests may take.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// `path` as a URL, for messages.
    pub fn shown(&self, path: &str) -> String {
        match &self.engine {
            Engine::File(root) => format!("file://{}", root.path().join(path).display()),
            Engine::Http { base, .. } => format!("{base}/{path}"),
            Engine::S3 { bucket, prefix, .. } => {
                format!("s3://{}/{prefix}{path}", bucket.name())
            }
        }
    }

    fn signed(
        &self,
        path: &str,
        method: reqwest::Method,
        if_none_match: bool,
    ) -> Result<reqwest::Url, TransportError> {
        use rusty_s3::S3Action as _;
        const VALID: Duration = Duration::from_secs(600);
        match &self.engine {
            Engine::File(_) => Err(bad(path, "not an HTTP cache")),
            Engine::Http { base, .. } => format!("{base}/{path}")
                .parse()
                .map_err(|_| bad(base, "not a URL")),
            Engine::S3 {
                bucket,
                prefix,
                credentials,
                ..
            } => {
                let key = format!("{prefix}{path}");
                let creds = credentials.as_ref();
                Ok(match method {
                    reqwest::Method::PUT => {
                        let mut action = bucket.put_object(creds, &key);
                        if if_none_match {
                            action.headers_mut().insert("if-none-match", "*");
                        }
                        action.sign(VALID)
                    }
                    reqwest::Method::HEAD => bucket.head_object(creds, &key).sign(VALID),
                    reqwest::Method::DELETE => bucket.delete_object(creds, &key).sign(VALID),
                    _ => bucket.get_object(creds, &key).sign(VALID),
                })
            }
        }
    }
}

/// The size a read of unknown size is allowed for (its deadline's size
/// part): 1 GiB, the largest item archive a reader takes.
pub const UNSIZED_READ: u64 = 1 << 30;

/// Whether `e` (or anything in its chain) is a timeout. An `io::Error`
/// wrapping another error gives that error's *source* as its own, so the
/// wrapped error itself is looked at too (reqwest's body reads wrap it).
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    // Bounded: error chains are short, and a cycle would be a bug.
    for _ in 0..32 {
        let Some(c) = cause else { return false };
        if c.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
            if io.get_ref().is_some_and(|inner| timed_out(inner)) {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

/// Why an answer of `status` (not a success, not "absent") failed: a 5xx
/// is the engine down, a 3xx a redirect (not followed; named with where it
/// pointed), anything else a refusal.
fn status_failure(
    status: u16,
    shown: String,
    response: &reqwest::blocking::Response,
) -> TransportError {
    match status {
        s if s >= 500 => TransportError::Down {
            url: shown,
            why: format!("status {s}"),
        },
        s @ 300..=399 => TransportError::Redirected {
            url: shown,
            status: s,
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .chars()
                        .take(512)
                        .collect()
                })
                .unwrap_or_else(|| "(none)".to_owned()),
        },
        s => TransportError::Refused {
            url: shown,
            status: s,
        },
    }
}

fn down(url: &str, e: &dyn std::fmt::Display) -> TransportError {
    TransportError::Down {
        url: url.to_owned(),
        why: e.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
