//! A real rocks server for the tests: an HTTP/1.1 server on 127.0.0.1 (an
//! ephemeral port) serving a directory, logging every request; plus the
//! repository the fixture rocks under `integration/rocks/` make: source
//! tarballs, rockspecs pointing at this server, a `.src.rock`, a `.all.rock`,
//! a local git repository, and `manifest-5.1`/`manifest-5.4`.
//!
//! Special paths: `/status/<code>/…` answers that status; `/hang/…` accepts
//! and never answers (for timeouts); and the hostile server's lies:
//! `/trickle/<file>` sends the file one byte every 300 ms, `/endless/…` an
//! endless body of zeros, `/redirect/…` a redirect to itself, `/short/…`
//! a Content-Length it does not keep, `/huge/…` a 5 GiB Content-Length
//! and nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::support::{project_dir, skip_or_fail};

/// A running server.
pub struct HttpServer {
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn start(root: PathBuf) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let thread_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, log, held) = (root.clone(), Arc::clone(&thread_log), Arc::clone(&held));
                std::thread::spawn(move || serve(stream, &root, &log, &held));
            }
        });
        HttpServer { base, log }
    }

    /// Paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    pub fn clear(&self) {
        self.log.lock().expect("log").clear();
    }
}

fn serve(stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>, held: &Mutex<Vec<TcpStream>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    log.lock().expect("log").push(path.clone());
    // As an HTTP proxy (`http_proxy` pointing here): `GET http://host/p`
    // is served as `/p` from this server's own files.
    if let Some(rest) = path.strip_prefix("http://") {
        path = rest
            .find('/')
            .map_or("/".to_owned(), |i| rest[i..].to_owned());
    }
    let mut stream = stream;
    if path.starts_with("/hang/") {
        held.lock().expect("held").push(stream);
        return;
    }
    if lie(&mut stream, &path, root) {
        return;
    }
    let (status, body) = if let Some(rest) = path.strip_prefix("/status/") {
        let code: u16 = rest
            .split('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        (code, b"error".to_vec())
    } else {
        let rel = path.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            (403, Vec::new())
        } else {
            match std::fs::read(root.join(rel)) {
                Ok(bytes) => (200, bytes),
                Err(_) => (404, b"not found".to_vec()),
            }
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The hostile endpoints; `false` when `path` is not one. Each loop ends
/// when the client goes away (a write fails).
fn lie(stream: &mut TcpStream, path: &str, root: &Path) -> bool {
    let chunked_zeros = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    if let Some(rest) = path.strip_prefix("/trickle/") {
        let Ok(body) = std::fs::read(root.join(rest)) else {
            let _ = stream
                .write_all(b"HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return true;
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        for byte in body {
            if stream.write_all(&[byte]).is_err() {
                break;
            }
            // The slowness is the behaviour under test, not synchronisation.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    } else if path.starts_with("/endless/") {
        let _ = stream.write_all(chunked_zeros.as_bytes());
        let zeros = vec![0u8; 64 * 1024];
        while stream.write_all(&zeros).is_ok() {}
    } else if path.starts_with("/redirect/") {
        let head = format!(
            "HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes());
    } else if path.starts_with("/short/") {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\nrepository = {";
        let _ = stream.write_all(head.as_bytes());
    } else if path.starts_with("/huge/") {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            5u64 << 30
        );
        let _ = stream.write_all(head.as_bytes());
    } else {
        return false;
    }
    true
}

/// The fixture repository, served.
pub struct Repo {
    pub dir: PathBuf,
    pub server: HttpServer,
    /// Whether the git fixture is in it.
    pub has_git: bool,
}

fn fixtures() -> PathBuf {
    project_dir().join("integration/rocks")
}

/// `name-ver/` of the fixtures as `name-ver.tar.gz` (one top directory).
pub fn tarball(src: &Path, top: &str) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        tar.follow_symlinks(false);
        tar.append_dir_all(top, src).expect("tar");
        tar.into_inner()
            .expect("finish tar")
            .finish()
            .expect("gzip");
    }
    out
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn zip_files(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut out));
        for (name, bytes) in files {
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .expect("zip entry");
            w.write_all(bytes).expect("zip write");
        }
        w.finish().expect("zip finish");
    }
    out
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Repo {
    /// Builds the repository under `root/repo` and serves it.
    pub fn new(root: &Path) -> Repo {
        let dir = root.join("repo");
        std::fs::create_dir_all(&dir).expect("repo dir");
        let server = HttpServer::start(dir.clone());
        let mut entries: Vec<(String, String, String)> = Vec::new(); // name, version, arch
        let mut md5s = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(fixtures()).expect("fixtures").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_source = name.contains('-')
                && entry.path().is_dir()
                && !name.ends_with("-1")
                && name != "specs";
            if is_source {
                let bytes = tarball(&entry.path(), &name);
                let file = format!("{name}.tar.gz");
                md5s.insert(file.clone(), md5_hex(&bytes));
                std::fs::write(dir.join(&file), bytes).expect("tarball");
            }
        }
        let has_git = git_available();
        let git_repo = root.join("gitrock.git");
        if has_git {
            std::fs::create_dir_all(&git_repo).expect("git dir");
            for f in std::fs::read_dir(fixtures().join("gitrock"))
                .expect("gitrock")
                .flatten()
            {
                std::fs::copy(f.path(), git_repo.join(f.file_name())).expect("copy");
            }
            git(&git_repo, &["init", "-q"]);
            git(&git_repo, &["add", "."]);
            git(&git_repo, &["commit", "-q", "-m", "v1"]);
            git(&git_repo, &["tag", "v1.0"]);
            // A branch with other contents, for `--branch` (gitdev's
            // rockspec names no tag or branch).
            git(&git_repo, &["checkout", "-q", "-b", "feature"]);
            std::fs::write(
                git_repo.join("gitrock.lua"),
                "return { from = 'the feature branch' }\n",
            )
            .expect("edit");
            git(&git_repo, &["commit", "-q", "-am", "feature"]);
            git(&git_repo, &["checkout", "-q", "main"]);
        } else {
            skip_or_fail("git (the git-source fixture)");
        }
        for spec in std::fs::read_dir(fixtures().join("specs"))
            .expect("specs")
            .flatten()
        {
            let file = spec.file_name().to_string_lossy().into_owned();
            if file.starts_with("git") && !has_git {
                continue;
            }
            let mut text = std::fs::read_to_string(spec.path()).expect("spec");
            text = text.replace("@BASE@", &server.base);
            text = text.replace("@GITREPO@", &git_repo.display().to_string());
            for (archive, md5) in &md5s {
                text = text.replace(&format!("@MD5:{archive}@"), md5);
            }
            std::fs::write(dir.join(&file), &text).expect("write spec");
            let stem = file.trim_end_matches(".rockspec");
            let (name, version) = split_name_version(stem);
            entries.push((name, version, "rockspec".into()));
        }
        // A .src.rock: cmulti's rockspec plus its tarball.
        let spec = std::fs::read(dir.join("cmulti-1.0-1.rockspec")).expect("cmulti spec");
        let tar = std::fs::read(dir.join("cmulti-1.0.tar.gz")).expect("cmulti tar");
        let src_rock = zip_files(&[
            ("cmulti-1.0-1.rockspec".into(), spec),
            ("cmulti-1.0.tar.gz".into(), tar),
        ]);
        std::fs::write(dir.join("cmulti-1.0-1.src.rock"), src_rock).expect("src.rock");
        entries.push(("cmulti".into(), "1.0-1".into(), "src".into()));
        // A pure-Lua binary rock.
        let bin_dir = fixtures().join("binrock-1.0-1");
        let all_rock = zip_files(&[
            (
                "binrock-1.0-1.rockspec".into(),
                std::fs::read(bin_dir.join("binrock-1.0-1.rockspec")).expect("spec"),
            ),
            (
                "lua/binrock.lua".into(),
                std::fs::read(bin_dir.join("lua/binrock.lua")).expect("lua"),
            ),
        ]);
        std::fs::write(dir.join("binrock-1.0-1.all.rock"), all_rock).expect("all.rock");
        entries.push(("binrock".into(), "1.0-1".into(), "all".into()));
        // A namespace (`manifests/alice/`): nsrock, from the same tarballs.
        let ns = dir.join("manifests/alice");
        std::fs::create_dir_all(&ns).expect("namespace dir");
        std::fs::write(
            ns.join("nsrock-1.0-1.rockspec"),
            format!(
                "package = 'nsrock'\nversion = '1.0-1'\nsource = {{ url = '{}/purelua-1.0.tar.gz', dir = 'purelua-1.0' }}\n\
                 description = {{ summary = 'A rock in a namespace', license = 'MIT' }}\n\
                 build = {{ type = 'builtin', modules = {{ nsrock = 'src/purelua/init.lua' }} }}\n",
                server.base
            ),
        )
        .expect("namespaced spec");
        let ns_manifest = render_manifest(&[("nsrock".into(), "1.0-1".into(), "rockspec".into())]);
        std::fs::write(ns.join("manifest-5.4"), &ns_manifest).expect("namespace manifest");
        let manifest = render_manifest(&entries);
        for v in ["5.1", "5.4"] {
            std::fs::write(dir.join(format!("manifest-{v}")), &manifest).expect("manifest");
        }
        Repo {
            dir,
            server,
            has_git,
        }
    }

    pub fn url(&self, file: &str) -> String {
        format!("{}/{file}", self.server.base)
    }
}

fn split_name_version(stem: &str) -> (String, String) {
    let (name_ver, rev) = stem.rsplit_once('-').expect("rev");
    let (name, ver) = name_ver.rsplit_once('-').expect("ver");
    (name.to_owned(), format!("{ver}-{rev}"))
}

pub fn render_manifest(entries: &[(String, String, String)]) -> String {
    let mut by_rock: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, Vec<&str>>> =
        Default::default();
    for (name, version, arch) in entries {
        by_rock
            .entry(name)
            .or_default()
            .entry(version)
            .or_default()
            .push(arch);
    }
    let mut out = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    for (name, versions) in by_rock {
        out.push_str(&format!("   [\"{name}\"] = {{\n"));
        for (version, arches) in versions {
            let list: Vec<String> = arches
                .iter()
                .map(|a| format!("{{ arch = \"{a}\" }}"))
                .collect();
            out.push_str(&format!(
                "      [\"{version}\"] = {{ {} }},\n",
                list.join(", ")
            ));
        }
        out.push_str("   },\n");
    }
    out.push_str("}\n");
    out
}
