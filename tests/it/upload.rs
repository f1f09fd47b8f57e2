//! `upload` against a loopback upload server written here, which answers
//! as luarocks.org's API does and records every request: Debian's
//! `luarocks upload` and ours, each in its own HOME and directory, must
//! send the same requests (the `.src.rock` compared by its entries), print
//! the same stdout, save the same `upload_config.lua`, and refuse the same
//! way.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

/// One request as the server saw it; a POST's parts by field name, each
/// its file name and content (a `.rock`'s content is its zip entries).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    path: String,
    /// The query, sorted (LuaRocks' order is a Lua table's).
    query: Vec<String>,
    parts: BTreeMap<String, (String, String)>,
}

/// How the server answers.
#[derive(Clone, Copy)]
struct Behaviour {
    /// `check_rockspec` says the revision is there.
    exists: bool,
}

struct UploadServer {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const KEY: &str = "k3y";

impl UploadServer {
    fn start(behaviour: Behaviour) -> UploadServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let module_url = format!("{base}/modules/tester/purelua");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, module_url) = (Arc::clone(&log), module_url.clone());
                std::thread::spawn(move || serve(stream, &log, behaviour, &module_url));
            }
        });
        UploadServer { base, seen }
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().expect("log"))
    }
}

fn serve(
    stream: std::net::TcpStream,
    log: &Mutex<Vec<Seen>>,
    behaviour: Behaviour,
    module_url: &str,
) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("content-type:") {
            content_type = line["content-type:".len()..].trim().to_owned();
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut words = first.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut query: Vec<String> = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .collect();
    query.sort();
    let parts = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| parse_multipart(&body, b.trim_matches('"')))
        .unwrap_or_default();
    log.lock().expect("log").push(Seen {
        method,
        path: path.to_owned(),
        query,
        parts,
    });
    let api = format!("/api/1/{KEY}/");
    let answer = if path == "/api/tool_version" {
        r#"{"version":"1.0.0"}"#.to_owned()
    } else if let Some(call) = path.strip_prefix(&api) {
        match call {
            "status" => r#"{"user_id":1}"#.to_owned(),
            "check_rockspec" if behaviour.exists => {
                r#"{"module":{"id":3},"version":{"id":7}}"#.to_owned()
            }
            "check_rockspec" => "{}".to_owned(),
            "upload" => format!(
                r#"{{"module_url":"{module_url}","version":{{"id":7}},"is_new":true,"manifests":["root"]}}"#
            ),
            "upload_rock/7" => r#"{"rock":{"id":9}}"#.to_owned(),
            _ => r#"{"errors":["Unknown method"]}"#.to_owned(),
        }
    } else if path.starts_with("/api/1/") {
        r#"{"errors":["Invalid key"]}"#.to_owned()
    } else {
        r#"{"errors":["Not found"]}"#.to_owned()
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// Each part of a `multipart/form-data` body: field → (file name, content
/// shown: a zip's entries by name and hash, else the text).
fn parse_multipart(body: &[u8], boundary: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let delimiter = format!("--{boundary}");
    // Split on the bytes, not the text: a zip is not UTF-8.
    let mut pieces = Vec::new();
    let d = delimiter.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            pieces.push(&body[start..i]);
            i += d.len();
            start = i;
        } else {
            i += 1;
        }
    }
    for piece in pieces {
        let piece = piece.strip_prefix(b"\r\n").unwrap_or(piece);
        let piece = piece.strip_suffix(b"\r\n").unwrap_or(piece);
        let Some(split) = piece.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&piece[..split]).into_owned();
        let content = &piece[split + 4..];
        let field = between(&head, "name=\"", "\"");
        let file = between(&head, "filename=\"", "\"");
        let shown = if content.starts_with(b"PK") {
            zip_entries(content)
        } else {
            String::from_utf8_lossy(content).into_owned()
        };
        out.insert(field, (file, shown));
    }
    out
}

fn between(s: &str, from: &str, to: &str) -> String {
    s.split(from)
        .nth(1)
        .and_then(|r| r.split(to).next())
        .unwrap_or_default()
        .to_owned()
}

fn zip_entries(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut entries = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read entry");
        entries.insert(
            entry.name().to_owned(),
            blake3::hash(&content).to_hex().to_string(),
        );
    }
    format!("zip {entries:?}")
}

/// One side's HOME and working directory, with the fixture's rockspec.
struct Side {
    home: PathBuf,
    work: PathBuf,
    side: &'static str,
}

impl Side {
    fn new(s: &Sandbox, repo: &Repo, side: &'static str) -> Side {
        let home = s.dir(&format!("{side}/home"));
        let work = s.dir(&format!("{side}/work"));
        std::fs::copy(
            repo.dir.join("purelua-1.0-1.rockspec"),
            work.join("purelua-1.0-1.rockspec"),
        )
        .expect("rockspec");
        Side { home, work, side }
    }

    fn upload(&self, s: &Sandbox, server: &str, args: &[&str]) -> Output {
        let mut cmd = if self.side == "ours" {
            s.cmd(["upload"])
        } else {
            let mut cmd = s.program("luarocks");
            cmd.arg("upload");
            cmd
        };
        cmd.args(["--server", server])
            .args(args)
            .env("HOME", &self.home)
            .current_dir(&self.work)
            .output()
            .expect("upload")
    }

    fn config(&self) -> Option<String> {
        std::fs::read_to_string(self.home.join(".luarocks/upload_config.lua")).ok()
    }

    /// stdout with this side's directory and server made neutral.
    fn stdout(&self, out: &Output, server: &UploadServer) -> String {
        text(&out.stdout)
            .replace(&self.work.display().to_string(), "WORK")
            .replace(&server.base, "SERVER")
    }
}

fn ready() -> bool {
    if !need(&["luarocks", "lua5.1"]) {
        return false;
    }
    // Debian's `luarocks upload` needs a JSON library (lua-dkjson).
    let json = std::process::Command::new("lua5.1")
        .args(["-e", "require 'dkjson'"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !json {
        crate::support::skip_or_fail("lua-dkjson, for Debian's luarocks upload");
    }
    json
}

/// A new module: key given (and saved), the rockspec checked, sent, the
/// `.src.rock` packed and sent; the same requests, stdout and saved config.
/// Then a second upload with the saved key, refused (the revision exists)
/// without `--force`, sent again with it.
#[test]
#[cfg_attr(not(all(has_luarocks, has_lua5_1)), ignore = "needs luarocks, lua5.1")]
fn upload_sends_what_luarocks_sends() {
    if !ready() {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let side = Side::new(&s, &repo, side);
        let server = UploadServer::start(Behaviour { exists: false });
        let out = side.upload(
            &s,
            &server.base,
            &["--api-key", KEY, "purelua-1.0-1.rockspec"],
        );
        assert!(out.status.success(), "{}: {}", side.side, text(&out.stderr));
        let config = side.config().map(|c| c.replace(&server.base, "SERVER"));
        let first = (side.stdout(&out, &server), server.take(), config);
        let mode = std::fs::metadata(side.home.join(".luarocks/upload_config.lua"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
        seen.push((first, mode.ok()));
    }
    let (ours, theirs) = (&seen[0], &seen[1]);
    assert_eq!(ours.0 .0, theirs.0 .0, "stdout");
    assert_eq!(ours.0 .1, theirs.0 .1, "requests");
    assert_eq!(ours.0 .2, theirs.0 .2, "upload_config.lua");
    assert!(
        ours.0 .2.as_deref().is_some_and(|c| c.contains(KEY)),
        "the key was saved"
    );
    assert_eq!(ours.1, theirs.1, "upload_config.lua's mode");
    // What was sent, in order: the version check, the key's status, the
    // rockspec check, the rockspec, the source rock.
    let paths: Vec<&str> = ours.0 .1.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/tool_version",
            "/api/1/k3y/status",
            "/api/1/k3y/check_rockspec",
            "/api/1/k3y/upload",
            "/api/1/k3y/upload_rock/7"
        ]
    );
    let rock = &ours.0 .1[4].parts["rock_file"];
    assert_eq!(rock.0, "purelua-1.0-1.src.rock");
    assert!(rock.1.contains("purelua-1.0.tar.gz"), "{}", rock.1);
}

/// The saved key is used; an existing revision is refused without
/// `--force` (nothing is sent), and sent again with it.
#[test]
#[cfg_attr(not(all(has_luarocks, has_lua5_1)), ignore = "needs luarocks, lua5.1")]
fn an_existing_revision_is_refused_without_force() {
    if !ready() {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let side = Side::new(&s, &repo, side);
        let server = UploadServer::start(Behaviour { exists: true });
        std::fs::create_dir_all(side.home.join(".luarocks")).expect("mkdir");
        std::fs::write(
            side.home.join(".luarocks/upload_config.lua"),
            format!("key = \"{KEY}\"\nserver = \"{}\"\n", server.base),
        )
        .expect("config");
        let refused = side.upload(&s, &server.base, &["purelua-1.0-1.rockspec"]);
        let refused_requests = server.take();
        let forced = side.upload(
            &s,
            &server.base,
            &["--force", "--skip-pack", "purelua-1.0-1.rockspec"],
        );
        assert!(
            forced.status.success(),
            "{}: {}",
            side.side,
            text(&forced.stderr)
        );
        let err = text(&refused.stderr);
        let said = err
            .lines()
            .find(|l| l.starts_with("Error: "))
            .unwrap_or_default()
            .replace("/usr/bin/luarocks help", "PROGRAM help")
            .replace("luarocks help", "PROGRAM help")
            .replace("rockstore help", "PROGRAM help");
        seen.push((
            refused.status.code(),
            said,
            side.stdout(&refused, &server),
            refused_requests,
            side.stdout(&forced, &server),
            server.take(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    let (code, said, _, requests, _, forced) = &seen[0];
    assert_eq!(*code, Some(1));
    assert_eq!(
        said,
        "Error: Revision 1.0-1 already exists on the server. See 'PROGRAM help upload'."
    );
    assert!(requests.iter().all(|r| r.method == "GET"), "nothing sent");
    assert!(forced.iter().any(|r| r.path.ends_with("/upload")));
    assert!(
        !forced.iter().any(|r| r.path.contains("upload_rock")),
        "--skip-pack sends no rock"
    );
}

/// No key given or saved: the same refusal, before any request; a
/// `--temp-key` is used and not saved.
#[test]
#[cfg_attr(not(all(has_luarocks, has_lua5_1)), ignore = "needs luarocks, lua5.1")]
fn no_key_is_refused_and_a_temporary_key_is_not_saved() {
    if !ready() {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let side = Side::new(&s, &repo, side);
        let server = UploadServer::start(Behaviour { exists: false });
        let refused = side.upload(&s, &server.base, &["purelua-1.0-1.rockspec"]);
        let refused_requests = server.take();
        let temp = side.upload(
            &s,
            &server.base,
            &["--temp-key", KEY, "--debug", "purelua-1.0-1.rockspec"],
        );
        assert!(
            temp.status.success(),
            "{}: {}",
            side.side,
            text(&temp.stderr)
        );
        let err: Vec<String> = text(&refused.stderr)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.replace(&server.base, "SERVER"))
            .collect();
        seen.push((
            refused.status.code(),
            err,
            refused_requests,
            // --debug names the HTTP library.
            side.stdout(&temp, &server)
                .replace("via luasocket", "via LIB")
                .replace("via rockstore", "via LIB"),
            server.take(),
            side.config(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    let (code, err, requests, stdout, _, config) = &seen[0];
    assert_eq!(*code, Some(1));
    assert!(
        err.first()
            .is_some_and(|l| l.starts_with("Error: You need an API key")),
        "{err:?}"
    );
    assert!(requests.is_empty());
    assert!(
        stdout.contains("[GET via LIB] /check_rockspec?"),
        "{stdout}"
    );
    assert_eq!(*config, None, "a temporary key is not saved");
}

/// `--sign`: a signature beside the rockspec and the rock, each sent in
/// its own field, with LuaRocks' words. (Signatures carry their time, so
/// the parts are compared by field and file name.)
#[test]
#[cfg_attr(
    not(all(has_luarocks, has_lua5_1, has_gpg)),
    ignore = "needs luarocks, lua5.1, gpg"
)]
fn sign_sends_signatures_as_luarocks() {
    if !ready() || !need(&["gpg"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let gnupg = s.dir("gnupg");
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let made = s
        .program("gpg")
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args([
            "--quick-gen-key",
            "Uploader <up@example.invalid>",
            "default",
            "default",
            "never",
        ])
        .output()
        .expect("gpg");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let side = Side::new(&s, &repo, side);
        let server = UploadServer::start(Behaviour { exists: false });
        let out = {
            let mut cmd = if side.side == "ours" {
                s.cmd(["upload"])
            } else {
                let mut cmd = s.program("luarocks");
                cmd.arg("upload");
                cmd
            };
            cmd.args(["--server", &server.base])
                .args(["--temp-key", KEY, "--sign", "purelua-1.0-1.rockspec"])
                .env("HOME", &side.home)
                .env("GNUPGHOME", &gnupg)
                .current_dir(&side.work)
                .output()
                .expect("upload --sign")
        };
        assert!(out.status.success(), "{}: {}", side.side, text(&out.stderr));
        let fields: Vec<(String, String, String)> = server
            .take()
            .into_iter()
            .flat_map(|r| {
                r.parts
                    .into_iter()
                    .map(move |(field, (file, _))| (r.path.clone(), field, file))
            })
            .collect();
        seen.push((side.stdout(&out, &server), fields));
    }
    let _ = s
        .program("gpgconf")
        .env("GNUPGHOME", &gnupg)
        .args(["--kill", "gpg-agent"])
        .status();
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[0]
            .0
            .contains("Signed packed rock: WORK/purelua-1.0-1.src.rock.asc"),
        "{}",
        seen[0].0
    );
    assert!(seen[0]
        .1
        .iter()
        .any(|(_, field, file)| field == "rock_sig" && file == "purelua-1.0-1.src.rock.asc"));
}
