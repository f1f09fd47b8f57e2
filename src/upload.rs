//! LuaRocks' upload API (the one luarocks.org serves), as LuaRocks 3.8's
//! `luarocks upload` speaks it: its requests, its answers' meaning, and
//! `upload_config.lua` beside the user's config. Packing and signing are
//! the command's (`cli/upload_cmd.rs`); this module owns the wire.
//!
//! Requests: `GET SERVER/api/tool_version?current=1.0.0` once, then
//! `SERVER/api/1/KEY/METHOD`, a GET with a query string or a POST of a
//! `multipart/form-data` body. Every answer is JSON; one with `errors`
//! is a refusal.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::lua::literal::parse_assignments;

/// The client version LuaRocks 3.8 reports (`cfg.upload.tool_version`).
pub const TOOL_VERSION: &str = "1.0.0";
/// The API version in every method's path (`cfg.upload.api_version`).
pub const API_VERSION: &str = "1";
/// Where rocks are uploaded when nothing says otherwise.
pub const DEFAULT_SERVER: &str = "https://luarocks.org";

/// Why an upload stopped.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No key given or saved.
    #[error("You need an API key to upload rocks.\nNavigate to {server}/settings to get a key\nand then pass it through the --api-key=<key> flag.")]
    NoKey {
        /// The upload server (its settings page gives keys).
        server: String,
    },
    /// The server refused the key.
    #[error("Invalid key (use the --api-key flag to change)")]
    InvalidKey,
    /// The server answered with `errors`.
    #[error("API Failed: {0}")]
    Refused(String),
    /// No JSON came back (the connection failed, or the body was not JSON):
    /// what went wrong, and the URL without the server and key.
    #[error("API returned {status} - {path}")]
    NoAnswer {
        /// The HTTP status, or the connection's failure.
        status: String,
        /// The URL without the server and key.
        path: String,
    },
    /// A file to send could not be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No random bytes for a multipart boundary.
    #[error("cannot read random bytes")]
    Random(#[source] std::io::Error),
    /// No HTTP client could be made (its TLS setup failed).
    #[error("cannot make an HTTP client: {0}")]
    Client(String),
    /// `upload_config.lua` could not be written.
    #[error("cannot write {}", path.display())]
    WriteConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `upload_config.lua`: the saved key and server.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// The API key.
    pub key: Option<String>,
    /// The upload server.
    pub server: Option<String>,
    /// The server's API version, if one was saved.
    pub version: Option<String>,
}

impl UploadConfig {
    /// Where LuaRocks keeps it: beside the user's config file.
    pub fn path(user_config: &Path) -> PathBuf {
        user_config.with_file_name("upload_config.lua")
    }

    /// Reads it; a missing or unreadable file is an empty config, as
    /// LuaRocks takes it.
    pub fn load(path: &Path) -> UploadConfig {
        let Some(table) = std::fs::read(path)
            .ok()
            .and_then(|bytes| parse_assignments(&bytes))
        else {
            return UploadConfig::default();
        };
        UploadConfig {
            key: table.get_string("key"),
            server: table.get_string("server"),
            version: table.get_string("version"),
        }
    }

    /// Writes it as LuaRocks' `persist.save_from_table` does (keys in
    /// order), readable by the user alone: it holds the key.
    pub fn save(&self, path: &Path) -> Result<(), UploadError> {
        let err = |source| UploadError::WriteConfig {
            path: path.to_path_buf(),
            source,
        };
        let mut text = String::new();
        for (k, v) in [
            ("key", &self.key),
            ("server", &self.server),
            ("version", &self.version),
        ] {
            if let Some(v) = v {
                text.push_str(&format!("{k} = {}\n", lua_quote(v)));
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_0600()
            .open(path)
            .map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)
    }
}

/// `OpenOptions` with mode 0600 on creation.
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

fn lua_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// LuaSocket's `url.escape`, as LuaRocks' multipart module copies it:
/// every byte but letters, digits and `_` as `%xx`.
pub fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The URL as LuaRocks shows it: everything up to the key cut off.
fn redact(url: &str) -> String {
    match url.rfind("/api/") {
        Some(i) => {
            let rest = &url[i + 5..];
            let mut parts = rest.splitn(3, '/');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(_), Some(_), Some(tail)) => format!("/{tail}"),
                (Some(_), Some(key), None) if !key.is_empty() => String::new(),
                _ => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// One field of a POST: a file, sent by its base name.
pub struct FilePart {
    /// The form field (`rockspec_file`, `rock_sig`, …).
    pub field: &'static str,
    /// The file.
    pub path: PathBuf,
}

/// A session with an upload server.
pub struct Api<'a> {
    server: String,
    key: String,
    debug: bool,
    http: reqwest::blocking::Client,
    version_checked: bool,
    /// Where stdout lines go (`--debug`'s).
    say: &'a dyn Fn(&str),
    /// Where warnings go.
    warn: &'a dyn Fn(&str),
}

impl<'a> Api<'a> {
    /// A session with `server`, authenticated by `key`; `debug` says each
    /// request and its status through `say`.
    pub fn new(
        server: &str,
        key: &str,
        debug: bool,
        timeout: std::time::Duration,
        say: &'a dyn Fn(&str),
        warn: &'a dyn Fn(&str),
    ) -> Result<Api<'a>, UploadError> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("rockstore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UploadError::Client(e.to_string()))?;
        Ok(Api {
            server: server.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            debug,
            http,
            version_checked: false,
            say,
            warn,
        })
    }

    /// Asks, once, which client version the server expects. Its failures
    /// do not stop the upload (LuaRocks ignores them); a different
    /// version is a warning.
    fn check_version(&mut self) {
        if self.version_checked {
            return;
        }
        let url = format!("{}/api/tool_version", self.server);
        let Ok(answer) = self.request(&url, &[("current", TOOL_VERSION)], None) else {
            return;
        };
        let Some(version) = answer.get("version") else {
            return;
        };
        self.version_checked = true;
        if version.as_str() != Some(TOOL_VERSION) {
            (self.warn)("Warning: your LuaRocks is out of date, consider upgrading.");
        }
    }

    /// A method's answer, refusals included.
    pub fn raw_method(
        &mut self,
        method: &str,
        query: &[(&str, &str)],
        form: Option<&[FilePart]>,
    ) -> Result<serde_json::Value, UploadError> {
        self.check_version();
        let url = format!("{}/api/{API_VERSION}/{}/{method}", self.server, self.key);
        self.request(&url, query, form)
    }

    /// A method's answer; a refusal is an error.
    pub fn method(
        &mut self,
        method: &str,
        query: &[(&str, &str)],
        form: Option<&[FilePart]>,
    ) -> Result<serde_json::Value, UploadError> {
        let answer = self.raw_method(method, query, form)?;
        match refusal(&answer) {
            Some(errors) if errors.first().map(String::as_str) == Some("Invalid key") => {
                Err(UploadError::InvalidKey)
            }
            Some(errors) => Err(UploadError::Refused(errors.join(", "))),
            None => Ok(answer),
        }
    }

    fn request(
        &self,
        url: &str,
        query: &[(&str, &str)],
        form: Option<&[FilePart]>,
    ) -> Result<serde_json::Value, UploadError> {
        let mut url = url.to_owned();
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", url_escape(k), url_escape(v)))
                .collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let verb = if form.is_some() { "POST" } else { "GET" };
        if self.debug {
            (self.say)(&format!("[{verb} via rockstore] {} ... ", redact(&url)));
        }
        let sent = match form {
            Some(parts) => {
                let (body, boundary) = multipart(parts)?;
                self.http
                    .post(&url)
                    .header(
                        "Content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body)
                    .send()
            }
            None => self.http.get(&url).send(),
        };
        let no_answer = |status: String| UploadError::NoAnswer {
            status,
            path: redact(&url),
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_connect() {
                    "connection refused".to_owned()
                } else {
                    e.to_string()
                };
                if self.debug {
                    (self.say)(&why);
                }
                return Err(no_answer(why));
            }
        };
        let status = response.status().as_u16().to_string();
        if self.debug {
            (self.say)(&status);
        }
        let body = response.bytes().map_err(|e| no_answer(e.to_string()))?;
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) if !v.is_null() => Ok(v),
            _ => Err(no_answer(status)),
        }
    }
}

/// The `errors` of an answer, if it has any.
pub fn refusal(answer: &serde_json::Value) -> Option<Vec<String>> {
    let errors = answer.get("errors")?;
    Some(match errors.as_array() {
        Some(list) => list
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
            .collect(),
        None => vec![errors.to_string()],
    })
}

/// A `multipart/form-data` body of files, as LuaRocks' multipart module
/// writes it (a `BoundaryXXXXXXXXXXXXXXXX` no part contains), and its
/// boundary.
fn multipart(parts: &[FilePart]) -> Result<(Vec<u8>, String), UploadError> {
    let mut chunks = Vec::new();
    for part in parts {
        let content = std::fs::read(&part.path).map_err(|source| UploadError::ReadFile {
            path: part.path.clone(),
            source,
        })?;
        let name = part
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut chunk = format!(
            "Content-Disposition: form-data; name=\"{}\"; filename=\"{name}\"\r\nContent-type: application/octet-stream\r\n\r\n",
            url_escape(part.field)
        )
        .into_bytes();
        chunk.extend_from_slice(&content);
        chunks.push(chunk);
    }
    let boundary = loop {
        let mut random = [0u8; 16];
        rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty())
            .map_err(|e| UploadError::Random(e.into()))?;
        let tail: String = random
            .iter()
            .map(|b| {
                let c = b'a' + b % 26;
                (if b & 0x80 != 0 { c - 32 } else { c }) as char
            })
            .collect();
        let candidate = format!("Boundary{tail}");
        if !chunks.iter().any(|c| {
            c.windows(candidate.len())
                .any(|w| w == candidate.as_bytes())
        }) {
            break candidate;
        }
    };
    let mut body = format!("--{boundary}\r\n").into_bytes();
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        }
        body.extend_from_slice(chunk);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok((body, boundary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_the_key() {
        assert_eq!(
            redact("http://h/api/1/KEY/check_rockspec?package=a"),
            "/check_rockspec?package=a"
        );
        assert_eq!(
            redact("http://h/api/tool_version?current=1.0.0"),
            "http://h/api/tool_version?current=1.0.0"
        );
    }

    #[test]
    fn escapes_as_luasocket() {
        assert_eq!(url_escape("a-1.0_x"), "a%2d1%2e0_x");
    }

    #[test]
    fn config_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/upload_config.lua");
        let config = UploadConfig {
            key: Some("k\"1".into()),
            server: Some("http://127.0.0.1:1".into()),
            version: None,
        };
        config.save(&path).expect("save");
        assert_eq!(UploadConfig::load(&path), config);
    }
}
