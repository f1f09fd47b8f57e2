//! The daemon against a local attacker: one test per defect of the audit
//! of d70d272 (issue 22), each run as root with the real users `rs-alice`
//! and `rs-bob` and the build users `rockstore-build1..2`, with the tools
//! an attacker has (a descriptor sent with a frame, a held-open file, a
//! `renameat2` loop, a FIFO, half-sent frames), bounded in tries and time.
//! Raw protocol attacks are small Python scripts run as the attacker.

use std::io::{BufRead, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{build_users_exist, launch, start, start_with};
use crate::shared::World;
use crate::support::{bin, text};

fn ready() -> bool {
    crate::shared::ready()
        && build_users_exist()
        && crate::support::need(&["/usr/bin/python3", "bwrap"])
}

/// Runs a Python script as `user` with `args`.
fn python(w: &World, user: &str, script: &str, args: &[&str]) -> Output {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    w.command(user, "022", "/usr/bin/python3", &all)
        .output()
        .expect("python3")
}

/// The Python side of a frame: `frame(header_dict, payload)` and
/// `reply(sock)`, as store-format/v1/daemon.md lays frames out.
const PY_WIRE: &str = r#"
import json, socket, struct, sys, os, array
def frame(header, payload=b""):
    h = json.dumps(header).encode()
    return struct.pack("<IQ", len(h), len(payload)) + h + payload
def reply(s):
    p = b""
    while len(p) < 12:
        c = s.recv(12 - len(p))
        if not c: return None
        p += c
    hl, pl = struct.unpack("<IQ", p)
    h = b""
    while len(h) < hl:
        c = s.recv(hl - len(h))
        if not c: return None
        h += c
    return json.loads(h)
def hello(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(frame({"type": "hello", "protocol": "rockstore-daemon", "version": 2}))
    return s, reply(s)
"#;

fn rockspec(w: &World, name: &str, build: &str) -> String {
    let base = &w.repo.server.base;
    std::fs::write(
        w.repo.dir.join(format!("{name}-1.0-1.rockspec")),
        format!(
            "package = '{name}'\nversion = '1.0-1'\n\
             source = {{ url = '{base}/purelua-1.0.tar.gz', dir = 'purelua-1.0' }}\n\
             build = {build}\n"
        ),
    )
    .expect("rockspec");
    w.repo.url(&format!("{name}-1.0-1.rockspec"))
}

fn items(w: &World) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(w.store().join("store"))
        .expect("store")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn verify_clean(w: &World) {
    let store = w.store().display().to_string();
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &["--store", &store, "verify", "--contents"],
        )
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Processes of the build users still running.
fn build_user_processes() -> Vec<String> {
    let out = Command::new("ps")
        .args([
            "-o",
            "user:32=,pid=,args=",
            "-u",
            "rockstore-build1,rockstore-build2",
        ])
        .output()
        .expect("ps");
    text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded) until no build user runs a process.
fn no_build_processes_within(secs: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = build_user_processes();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Defect 1: the daemon reads no file its client could not. A descriptor
/// is refused; `store add` reads with the client's rights; a build cannot
/// see the daemon's socket, a member's listener or anyone's home; build
/// users are never served.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn no_client_can_make_the_daemon_read_what_she_cannot() {
    if !ready() {
        return;
    }
    let w = World::new();
    let daemon = start(&w);
    let socket = w.store().join("daemon.socket").display().to_string();
    let before = items(&w);
    // A descriptor of /root (O_PATH needs no read permission) with `add`.
    let script = format!(
        "{PY_WIRE}
s, welcome = hello(sys.argv[1])
assert welcome['type'] == 'welcome', welcome
fd = os.open('/root', os.O_PATH | os.O_DIRECTORY)
h = json.dumps({{'type': 'add', 'name': 'stolen', 'version': '1', 'kind': 'data', 'references': []}}).encode()
socket.send_fds(s, [struct.pack('<IQ', len(h), 0) + h], [fd])
print(json.dumps(reply(s)))
"
    );
    let out = python(&w, "rs-bob", &script, &[&socket]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["type"], "failed", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("descriptor")),
        "{answer}"
    );
    assert_eq!(items(&w), before, "nothing was admitted");
    // A readable directory holding a file only root reads: alice's client
    // cannot read it, so nothing of it reaches the store.
    let dir = w.home("rs-alice").join("mixed");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("mine.lua"), "return 1\n").expect("mine");
    std::fs::write(dir.join("secret"), "root's secret\n").expect("secret");
    crate::shared::chown_tree(&dir, "rs-alice");
    std::os::unix::fs::chown(dir.join("secret"), Some(0), Some(0)).expect("chown");
    std::fs::set_permissions(dir.join("secret"), PermissionsExt::from_mode(0o600)).expect("chmod");
    let store = w.store().display().to_string();
    let out = w
        .command(
            "rs-alice",
            "022",
            bin(),
            &[
                "--store",
                &store,
                "store",
                "add",
                &dir.display().to_string(),
                "--name",
                "mixed",
                "--version",
                "1",
            ],
        )
        .output()
        .expect("add");
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(items(&w), before, "nothing was admitted");
    // Inside a build: alice listens on sockets in /tmp and her home; the
    // build looks for them, the daemon's socket and the homes.
    let listeners = w.base().join("alice-sockets");
    std::fs::create_dir_all(&listeners).expect("dir");
    crate::shared::chown_tree(&listeners, "rs-alice");
    let home_sock = w.home("rs-alice").join("alice.sock");
    let tmp_sock = listeners.join("alice.sock");
    let mut listener = w
        .command(
            "rs-alice",
            "022",
            "/usr/bin/python3",
            &[
                "-c",
                "import socket,sys\nss=[]\nfor p in sys.argv[1:]:\n s=socket.socket(socket.AF_UNIX); s.bind(p); s.listen(); ss.append(s)\nprint('listening', flush=True)\nsys.stdin.read()",
                &home_sock.display().to_string(),
                &tmp_sock.display().to_string(),
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("listener");
    let mut ready_line = String::new();
    std::io::BufReader::new(listener.stdout.take().expect("stdout"))
        .read_line(&mut ready_line)
        .expect("listening");
    assert_eq!(ready_line.trim(), "listening");
    let probes = [
        socket.clone(),
        home_sock.display().to_string(),
        tmp_sock.display().to_string(),
        w.home("rs-bob").display().to_string(),
        "/home".to_owned(),
        "/run".to_owned(),
        w.store().display().to_string(),
    ];
    let mut check = String::new();
    for p in &probes {
        check.push_str(&format!("if [ -e '{p}' ]; then echo 'seen {p}'; fi; "));
    }
    let url = rockspec(
        &w,
        "peek",
        &format!(
            "{{ type = 'command', build_command = \"{check}\", install_command = \"mkdir -p $(PREFIX)/lua && ({check} echo done) > $(PREFIX)/lua/peek.txt\" }}"
        ),
    );
    let out = w.rockstore("rs-alice", &["--local", "install", &url]);
    assert!(
        out.status.success(),
        "{}\n{:#?}",
        text(&out.stderr),
        daemon.log.try_iter().collect::<Vec<_>>()
    );
    let item = w.item_of("rs-alice", "peek");
    let seen = std::fs::read_to_string(w.store().join("store").join(&item).join("lua/peek.txt"))
        .expect("peek");
    assert_eq!(seen, "done\n", "the build saw: {seen}");
    drop(listener.stdin.take());
    let _ = listener.wait();
    // Build users are never served (a build that reached the socket
    // could not ask anything).
    let out = Command::new("setpriv")
        .args([
            "--reuid=rockstore-build1",
            "--regid=rockstore-build",
            "--clear-groups",
            "--",
            bin(),
            "--store",
            &store,
            "gc",
            "--dry-run",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("LUAROCKS_SYSCONFDIR", "/nonexistent")
        .output()
        .expect("build user");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("build users are never served"),
        "{}",
        text(&out.stderr)
    );
    drop(daemon);
}

/// Defect 2: what a build produced is copied out of the build user's reach
/// before it is hashed, and a member outside the build cannot reach it:
/// her bytes never become an item root reuses.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_bytes_cannot_reach_an_item_root_reuses() {
    if !ready() {
        return;
    }
    let w = World::new();
    let fifo = w.base().join("resume");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let fifo_text = fifo.display().to_string();
    let daemon = launch(
        &w,
        &[],
        &[
            ("ROCKSTORE_FAILPOINT", "after-backend"),
            ("ROCKSTORE_FAILPOINT_RESUME", &fifo_text),
        ],
        &[],
        "002",
    );
    // Her build leaves its output world-writable and a process that keeps
    // rewriting it in the background.
    let url = rockspec(
        &w,
        "tamper",
        "{ type = 'command', build_command = 'true', install_command = \"mkdir -p $(PREFIX)/lua && echo 'return \\\"honest\\\"' > $(PREFIX)/lua/tamper.lua && chmod -R a+rwX $(PREFIX); (while :; do sleep 0.05; done) >/dev/null 2>&1 &\" }",
    );
    let alice = w
        .rockstore_cmd("rs-alice", &["--local", "install", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("alice");
    let mut seen = Vec::new();
    daemon.wait_for(&["failpoint after-backend reached"], 120, &mut seen);
    // Stopped after her backend: from outside the build, as herself, she
    // can open nothing under the store's tmp/ for writing.
    let script = "import os,sys\nhits=[]\nfor root,dirs,files in os.walk(sys.argv[1]):\n for f in files:\n  try:\n   fd=os.open(os.path.join(root,f), os.O_WRONLY|os.O_NONBLOCK); hits.append(os.path.join(root,f)); os.close(fd)\n  except OSError: pass\nprint(len(hits), hits)";
    let out = python(
        &w,
        "rs-alice",
        script,
        &[&w.store().join("tmp").display().to_string()],
    );
    assert_eq!(text(&out.stdout).trim(), "0 []", "{}", text(&out.stderr));
    closed_to_others(&w.store().join("tmp"), false);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("resume");
    let out = alice.wait_with_output().expect("alice");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let item = w.item_of("rs-alice", "tamper");
    let file = w.store().join("store").join(&item).join("lua/tamper.lua");
    let meta = std::fs::metadata(&file).expect("item file");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o444));
    verify_clean(&w);
    // Nothing of her build survives it.
    assert_eq!(no_build_processes_within(10), Vec::<String>::new());
    // Root's install of the same rock reuses an item that is what its
    // name says.
    w.ok("root", &["--tree", "system", "install", &url]);
    assert_eq!(w.lua_ok("root", "print((require('tamper')))"), "honest");
    verify_clean(&w);
}

/// Builds and stagings in progress under `tmp`: each is closed to other
/// users where it starts (its own directory, and a build's `work/`), and
/// with `no_writable`, nothing in them is group- or world-writable.
fn closed_to_others(tmp: &Path, no_writable: bool) {
    let mut builds = 0;
    for entry in walk(tmp) {
        let meta = std::fs::symlink_metadata(&entry).expect("meta");
        if no_writable && !meta.file_type().is_symlink() {
            assert_eq!(
                meta.mode() & 0o022,
                0,
                "{} is group- or world-writable",
                entry.display()
            );
        }
        let depth = entry
            .strip_prefix(tmp)
            .expect("under tmp")
            .components()
            .count();
        let is_work = depth == 2 && entry.file_name().is_some_and(|n| n == "work");
        if meta.is_dir() && (depth == 1 || is_work) {
            builds += usize::from(is_work);
            assert_eq!(
                meta.mode() & 0o007,
                0,
                "{} is open to others",
                entry.display()
            );
        }
    }
    assert!(builds > 0, "a build was in progress");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Defect 3: `make` builds exactly the bytes it was sent, and a later
/// change to the working directory is a new recipe.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn make_builds_the_bytes_it_hashed() {
    if !ready() {
        return;
    }
    let w = World::new();
    let fifo = w.base().join("resume");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let fifo_text = fifo.display().to_string();
    let daemon = launch(
        &w,
        &[],
        &[
            ("ROCKSTORE_FAILPOINT", "after-backend"),
            ("ROCKSTORE_FAILPOINT_RESUME", &fifo_text),
        ],
        &[],
        "022",
    );
    let work = w.home("rs-alice").join("work");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::write(work.join("mine.lua"), "return 'first'\n").expect("module");
    std::fs::write(
        work.join("mine-1.0-1.rockspec"),
        "package = 'mine'\nversion = '1.0-1'\nsource = { url = 'file:///nowhere/mine-1.0.tar.gz' }\n\
         build = { type = 'builtin', modules = { mine = 'mine.lua' } }\n",
    )
    .expect("rockspec");
    crate::shared::chown_tree(&work, "rs-alice");
    let make = || {
        let mut cmd = w.command(
            "rs-alice",
            "022",
            bin(),
            &["--lua-version", "5.4", "--local", "make"],
        );
        cmd.current_dir(&work)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let alice = make().spawn().expect("make");
    let mut seen = Vec::new();
    daemon.wait_for(&["failpoint after-backend reached"], 120, &mut seen);
    // While the daemon builds, she changes what she sent.
    std::fs::write(work.join("mine.lua"), "return 'second'\n").expect("swap");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("resume");
    let out = alice.wait_with_output().expect("alice");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.lua_ok("rs-alice", "print((require('mine')))"), "first");
    // The changed directory is another recipe: built again, not reused.
    // (The failpoint stops only its first hit.)
    let out = make().output().expect("alice");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!said.contains("already built"), "{said}");
    assert_eq!(w.lua_ok("rs-alice", "print((require('mine')))"), "second");
    verify_clean(&w);
}

/// Defect 4: nothing is chowned back by path. A build that swaps its
/// output between a directory and a link to bob's file (renameat2
/// RENAME_EXCHANGE in a loop, left running in the background) never makes
/// root touch bob's file.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_renameat2_race_in_a_build_never_makes_root_chown_anothers_file() {
    if !ready() || !crate::support::need(&["gcc"]) {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    // Bob's directory: a walk that followed the link would reach (and
    // chown) the files in it.
    let victim_dir = w.home("rs-bob").join("victim");
    let victim = victim_dir.join("file");
    std::fs::create_dir_all(&victim_dir).expect("victim");
    std::fs::write(&victim, "bob's\n").expect("victim");
    crate::shared::chown_tree(&victim_dir, "rs-bob");
    let bob_uid = std::fs::metadata(&victim).expect("victim").uid();
    let url = rockspec(
        &w,
        "racer",
        &format!(
            "{{ type = 'command', build_command = [==[
cat > racer.c <<'EOF'
#define _GNU_SOURCE
#include <stdio.h>
#include <fcntl.h>
int main(int c, char **v) {{
    for (long i = 0; i < 2000000000L; i++)
        renameat2(AT_FDCWD, v[1], AT_FDCWD, v[2], RENAME_EXCHANGE);
    return 0;
}}
EOF
cc -o racer racer.c
]==], install_command = [==[mkdir -p $(PREFIX)/lua/d && ln -s {} $(PREFIX)/lua/l && (./racer $(PREFIX)/lua/d $(PREFIX)/lua/l >/dev/null 2>&1 &) ]==] }}",
            victim_dir.display()
        ),
    );
    for _ in 0..3 {
        // Refused or not (a link out of an item is refused), bob's file
        // stays his.
        let _ = w.rockstore("rs-alice", &["--local", "install", &url]);
        for path in [&victim_dir, &victim] {
            let meta = std::fs::symlink_metadata(path).expect("victim");
            assert_eq!(meta.uid(), bob_uid, "root chowned {}", path.display());
        }
        assert_eq!(no_build_processes_within(10), Vec::<String>::new());
    }
    verify_clean(&w);
}

/// Defect 5: root's git credentials never reach a member's URL. A
/// loopback server answers 401 and records what it is sent; root's own
/// git (its credential helper) answers it, the daemon's never does.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn roots_git_credentials_never_reach_a_members_url() {
    if !ready() || !crate::support::need(&["git"]) {
        return;
    }
    let w = World::new();
    std::fs::write(
        w.home("root").join(".gitconfig"),
        "[credential]\n\thelper = \"!f() { echo username=root; echo password=ROOT-SECRET-TOKEN; }; f\"\n",
    )
    .expect("gitconfig");
    let _daemon = start(&w);
    let server = Unauthorized::start();
    let url = format!("git+{}/repo.git", server.base);
    std::fs::write(
        w.repo.dir.join("private-1.0-1.rockspec"),
        format!(
            "package = 'private'\nversion = '1.0-1'\nsource = {{ url = '{url}' }}\n\
             build = {{ type = 'builtin', modules = {{ private = 'private.lua' }} }}\n"
        ),
    )
    .expect("rockspec");
    let rockspec_url = w.repo.url("private-1.0-1.rockspec");
    let out = w.rockstore("rs-alice", &["--local", "install", &rockspec_url]);
    assert!(!out.status.success());
    let seen = server.seen();
    assert!(!seen.is_empty(), "the daemon asked the server");
    assert!(
        !seen
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("authorization")),
        "a credential was sent: {seen:?}"
    );
    // Root's own git does use its helper: the check above could fail.
    let own = w.home("root").join("own-store");
    let _ = w.rockstore(
        "root",
        &[
            "--store",
            &own.display().to_string(),
            "build",
            "--no-install",
            &rockspec_url,
        ],
    );
    assert!(
        server
            .seen()
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("authorization:")),
        "root's own git sent its credential: {:?}",
        server.seen()
    );
}

/// A loopback HTTP server that answers every request 401 and keeps every
/// header line it was sent.
struct Unauthorized {
    base: String,
    headers: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Unauthorized {
    fn start() -> Unauthorized {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let headers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&headers);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    kept.lock()
                        .expect("headers")
                        .push(line.trim_end().to_owned());
                    line.clear();
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Unauthorized { base, headers }
    }

    fn seen(&self) -> Vec<String> {
        self.headers.lock().expect("headers").clone()
    }
}

/// Defect 6, and the must-show: a refused user's flood of half-sent frames
/// and 1,000 idle connections costs the daemon no memory to speak of, and
/// an allowed user is served within a second meanwhile; an allowed user's
/// own idle connections are capped; client-named compilers that are a
/// device or a FIFO are refused at once.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_flood_of_half_sent_frames_and_idle_connections_leaves_the_daemon_serving() {
    if !ready() {
        return;
    }
    let w = World::new();
    let daemon = start_with(
        &w,
        &[
            "--allowed-user",
            "root",
            "--allowed-user",
            "rs-alice",
            "--max-connections-per-user",
            "8",
        ],
    );
    let socket = w.store().join("daemon.socket").display().to_string();
    let pid = daemon.child.id();
    // Bob (not allowed) opens 1,000 connections, each with the prefix of
    // a frame that announces a 1 GiB header, and keeps them open.
    let flood = format!(
        "{PY_WIRE}
import time
socks = []
for i in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
        s.send(struct.pack('<IQ', 1 << 30, 0) + b'{{\"type\"')
    except OSError:
        pass
    socks.append(s)
print('flooding', flush=True)
sys.stdin.read()
"
    );
    let mut bob = w
        .command(
            "rs-bob",
            "022",
            "/usr/bin/python3",
            &["-c", &flood, &socket],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("flood");
    let mut line = String::new();
    std::io::BufReader::new(bob.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("flooding");
    assert_eq!(line.trim(), "flooding");
    // Alice is served within a second meanwhile.
    let started = Instant::now();
    w.ok("rs-alice", &["gc", "--dry-run"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "alice waited {took:?}");
    assert!(rss_kib(pid) < 100 * 1024, "daemon RSS {} KiB", rss_kib(pid));
    drop(bob.stdin.take());
    let _ = bob.wait();
    // Alice's own idle connections: a few are held (until the greeting's
    // timeout), the rest refused at once; root is still served.
    let idle = format!(
        "{PY_WIRE}
socks, answers = [], []
for i in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
for s in socks[8:]:
    r = reply(s)
    answers.append(r and r['kind'])
print(json.dumps(answers))
"
    );
    let out = python(&w, "rs-alice", &idle, &[&socket]);
    let answers: Vec<String> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        answers,
        vec!["busy".to_owned(); 12],
        "{}",
        text(&out.stderr)
    );
    w.ok("root", &["gc", "--dry-run"]);
    assert!(rss_kib(pid) < 100 * 1024, "daemon RSS {} KiB", rss_kib(pid));
    // A compiler that is a device, or a FIFO nobody writes, is refused at
    // once; the daemon goes on.
    let fifo = w.base().join("cc-fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    std::fs::set_permissions(&fifo, PermissionsExt::from_mode(0o666)).expect("chmod");
    for cc in ["/dev/zero".to_owned(), fifo.display().to_string()] {
        let started = Instant::now();
        let out = w.rockstore(
            "rs-alice",
            &["--local", "install", "cmulti", &format!("CC={cc}")],
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("not a regular file"),
            "{cc}: {}",
            text(&out.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{cc}");
    }
    w.ok("rs-alice", &["--local", "install", "cmulti"]);
    assert!(rss_kib(pid) < 100 * 1024, "daemon RSS {} KiB", rss_kib(pid));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS")
}

/// Defect 7: builds have a time and a silence limit, end when no client
/// waits, and a user holds at most her share of the build users.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn builds_are_limited_in_time_silence_and_share_and_end_with_their_client() {
    if !ready() {
        return;
    }
    let w = World::new();
    let daemon = start_with(&w, &["--build-timeout", "6", "--build-max-silent", "3"]);
    let silent = rockspec(
        &w,
        "silent",
        "{ type = 'command', build_command = 'sleep 600', install_command = 'true' }",
    );
    let chatty = rockspec(
        &w,
        "chatty",
        "{ type = 'command', build_command = 'while :; do echo .; sleep 0.5; done', install_command = 'true' }",
    );
    let started = Instant::now();
    let out = w.rockstore("rs-alice", &["--local", "install", &silent]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("printed nothing for 3 s"), "{err}");
    assert!(
        err.contains("--build-max-silent"),
        "the hint says how: {err}"
    );
    let out = w.rockstore("rs-alice", &["--local", "install", &chatty]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ran longer than the daemon allows (6 s)"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(no_build_processes_within(10), Vec::<String>::new());
    drop(daemon);

    // A build whose client dies ends; a user holds one of the two build
    // users while another user builds.
    let daemon = start_with(&w, &["--build-max-silent", "600"]);
    let mut seen = Vec::new();
    let sleeper = |name: &str| {
        w.rockstore_cmd(
            "rs-alice",
            &[
                "--local",
                "install",
                &rockspec(
                    &w,
                    name,
                    "{ type = 'command', build_command = 'sleep 600', install_command = 'true' }",
                ),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alice")
    };
    let mut first = sleeper("sleepa");
    daemon.wait_for(&["rs-alice building sleepa", "isolation"], 60, &mut seen);
    let mut second = sleeper("sleepb");
    // Bob builds with the other build user while alice's second waits.
    w.ok("rs-bob", &["--local", "install", "purelua"]);
    let seen_now: Vec<String> = seen.iter().cloned().chain(daemon.log.try_iter()).collect();
    assert!(
        !seen_now.iter().any(|l| l.contains("building sleepb")),
        "alice held both build users: {seen_now:#?}"
    );
    assert!(
        seen_now.iter().any(|l| l.contains("rs-bob building")),
        "{seen_now:#?}"
    );
    first.kill().expect("kill");
    first.wait().expect("reap");
    second.kill().expect("kill");
    second.wait().expect("reap");
    assert_eq!(no_build_processes_within(15), Vec::<String>::new());
}

/// Defect 7, continued: a member's share of the store is bounded, a tree
/// whose generations loop does not stop GC (its recorded roots stand), and
/// adding bytes equal to root's item does not change root's record.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn quotas_looping_trees_and_equal_bytes_cannot_hold_the_store() {
    if !ready() {
        return;
    }
    let w = World::new();
    // Room for a small rock and its profile (every entry costs a block),
    // not for the 200 KiB blob.
    let _daemon = start_with(&w, &["--user-quota", "180K"]);
    let store = w.store().display().to_string();
    let big = w.home("rs-alice").join("big");
    std::fs::create_dir_all(&big).expect("big");
    std::fs::write(big.join("blob"), vec![b'x'; 200 << 10]).expect("blob");
    crate::shared::chown_tree(&big, "rs-alice");
    let before = items(&w);
    let out = w
        .command(
            "rs-alice",
            "022",
            bin(),
            &[
                "--store",
                &store,
                "store",
                "add",
                &big.display().to_string(),
                "--name",
                "big",
                "--version",
                "1",
            ],
        )
        .output()
        .expect("add");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("your share of this store is full"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(items(&w), before);
    // Small rocks still go in; her tree's generations then loop.
    w.ok("rs-alice", &["--local", "install", "purelua"]);
    let item = w.item_of("rs-alice", "purelua");
    let generations = w.user_tree("rs-alice").join(".rockstore/generations");
    let looped = generations.with_file_name("loop");
    std::fs::rename(&generations, generations.with_file_name("kept")).expect("mv");
    std::os::unix::fs::symlink(&looped, &generations).expect("link");
    std::os::unix::fs::symlink(&generations, &looped).expect("loop");
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        w.store().join("store").join(&item).is_dir(),
        "her item kept"
    );
    // Root's item and alice's equal bytes with a reference of hers.
    let root_dir = w.base().join("root-data");
    std::fs::create_dir_all(&root_dir).expect("dir");
    std::fs::write(root_dir.join("data"), "shared bytes\n").expect("data");
    let added = w
        .command(
            "root",
            "022",
            bin(),
            &[
                "--store",
                &store,
                "store",
                "add",
                &root_dir.display().to_string(),
                "--name",
                "data",
                "--version",
                "1",
            ],
        )
        .output()
        .expect("root add");
    assert!(added.status.success(), "{}", text(&added.stderr));
    let root_item = PathBuf::from(text(&added.stdout).trim());
    let info = |who: &str| {
        let out = w
            .command(
                who,
                "022",
                bin(),
                &[
                    "--store",
                    &store,
                    "store",
                    "info",
                    &root_item.file_name().expect("name").to_string_lossy(),
                    "--json",
                ],
            )
            .output()
            .expect("info");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let record = info("root");
    let hers = w.home("rs-alice").join("same");
    std::fs::create_dir_all(&hers).expect("dir");
    std::fs::write(hers.join("data"), "shared bytes\n").expect("data");
    crate::shared::chown_tree(&hers, "rs-alice");
    let out = w
        .command(
            "rs-alice",
            "022",
            bin(),
            &[
                "--store",
                &store,
                "store",
                "add",
                &hers.display().to_string(),
                "--name",
                "data",
                "--version",
                "1",
                "--ref",
                &item,
            ],
        )
        .output()
        .expect("alice add");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(PathBuf::from(text(&out.stdout).trim()), root_item);
    assert_eq!(info("root")["references"], record["references"]);
}

/// Defect 8: without bubblewrap the daemon builds nothing unless root's
/// config relaxes it; relaxed, every client is told, and with a umask of
/// 002 the build's directories are still closed to every other user.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn without_bubblewrap_builds_are_refused_or_relaxed_with_explicit_modes() {
    if !ready() {
        return;
    }
    let w = World::new();
    // A mount namespace where /usr/bin/bwrap is not a program.
    let hide = [
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --bind /dev/null /usr/bin/bwrap && exec \"$0\" \"$@\"",
    ];
    let mut daemon = launch(&w, &[], &[], &hide, "002");
    let mut seen = Vec::new();
    daemon.wait_for(
        &["bubblewrap is not installed and the sandbox is required"],
        10,
        &mut seen,
    );
    let before = items(&w);
    let out = w.rockstore("rs-alice", &["--local", "install", "cmulti"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("builds only in bubblewrap") && err.contains("apt-get install bubblewrap"),
        "{err}"
    );
    assert_eq!(items(&w), before, "nothing was built");
    let _ = daemon.child.kill();
    drop(daemon);
    let fifo = w.base().join("resume");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let fifo_text = fifo.display().to_string();
    let daemon = launch(
        &w,
        &["--sandbox", "relaxed"],
        &[
            ("ROCKSTORE_FAILPOINT", "after-backend"),
            ("ROCKSTORE_FAILPOINT_RESUME", &fifo_text),
        ],
        &hide,
        "002",
    );
    let alice = w
        .rockstore_cmd("rs-alice", &["--local", "install", "cmulti"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("alice");
    let mut seen = Vec::new();
    daemon.wait_for(&["failpoint after-backend reached"], 120, &mut seen);
    closed_to_others(&w.store().join("tmp"), true);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("resume");
    let out = alice.wait_with_output().expect("alice");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("builds without bubblewrap"),
        "the client is told: {}",
        text(&out.stderr)
    );
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('cmulti').answer())"),
        "42"
    );
    verify_clean(&w);
}

/// Defect 9: a member's hold cannot stall root's own GC beyond its bound,
/// and a member's dry run shows only her own trees.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_hold_and_dry_run_reach_no_further_than_her_own() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let store = w.store().display().to_string();
    // Bob's tree goes away; only root's report names it.
    w.ok("rs-bob", &["--local", "install", "purelua"]);
    std::fs::remove_dir_all(w.user_tree("rs-bob")).expect("rm");
    let bob_tree = w.user_tree("rs-bob").display().to_string();
    let said = w.ok("rs-alice", &["gc", "--dry-run"]);
    assert!(!said.contains(&bob_tree), "{said}");
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &["--store", &store, "gc", "--dry-run"],
        )
        .output()
        .expect("gc");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains(&bob_tree), "{said}");
    // Alice's install stopped before its switch holds the store through
    // the daemon: root's own collection gives up within its bound.
    let mut cmd = w.rockstore_cmd("rs-alice", &["--local", "install", "upg"]);
    cmd.env("ROCKSTORE_FAILPOINT", "before-switch");
    let (mut alice, _err) = crate::support::stopped_at_failpoint(cmd, "before-switch");
    let started = Instant::now();
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("still held after 10 s"),
        "{}",
        text(&out.stderr)
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    alice.kill().expect("kill");
    alice.wait().expect("reap");
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The uid of a real user.
fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().expect("id");
    text(&out.stdout).trim().parse().expect("uid")
}

/// Red team 1: a registration whose record would be larger than a reader
/// takes is refused before anything is written, so collections go on; and
/// a record that cannot be read (left by an older daemon) stops only its
/// own user's admissions, while gc refuses naming it and what to do.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_registration_too_large_to_read_back_is_refused_and_stops_nobody() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let store = w.store().display().to_string();
    let socket = w.store().join("daemon.socket").display().to_string();
    w.ok("rs-alice", &["--local", "install", "purelua"]);
    let profile = std::fs::read_link(w.user_tree("rs-alice").join(".rockstore/generations/1"))
        .expect("generation link");
    let profile = profile
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let roots_dir = w
        .store()
        .join("db/roots")
        .join(uid_of("rs-alice").to_string());
    let before: Vec<_> = std::fs::read_dir(&roots_dir)
        .expect("roots")
        .flatten()
        .map(|e| e.path())
        .collect();
    // 50,000 generations: a header of about 4 MB, under the request limit.
    let script = format!(
        "{PY_WIRE}
s, welcome = hello(sys.argv[1])
gens = [{{'generation': g, 'item': sys.argv[2]}} for g in range(50000)]
s.sendall(frame({{'type': 'register_tree', 'path': '/tmp/alice-many', 'generations': gens}}))
print(json.dumps(reply(s)))
"
    );
    let out = python(&w, "rs-alice", &script, &[&socket, &profile]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["type"], "failed", "{answer}");
    assert_eq!(answer["kind"], "bad_request", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 10000")),
        "{answer}"
    );
    let after: Vec<_> = std::fs::read_dir(&roots_dir)
        .expect("roots")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(after, before, "nothing was written");
    // Under the count, over the record's size (long item names): refused
    // by the record's own limit, naming it.
    let long = format!(
        "{}{}",
        &profile[..profile.find('-').expect("dash") + 1],
        "x".repeat(190)
    );
    let out = python(
        &w,
        "rs-alice",
        &script.replace("range(50000)", "range(9000)"),
        &[&socket, &long],
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["kind"], "bad_request", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than a record may hold (1.0 MiB)")),
        "{answer}"
    );
    let after: Vec<_> = std::fs::read_dir(&roots_dir)
        .expect("roots")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(after, before, "nothing was written");
    let gc = |dry: bool| {
        let mut args = vec!["--store", store.as_str(), "gc"];
        if dry {
            args.push("--dry-run");
        }
        w.command("root", "022", bin(), &args).output().expect("gc")
    };
    for dry in [true, false] {
        let out = gc(dry);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    w.ok("rs-bob", &["--local", "install", "purelua"]);
    // A record too large to read, as an older daemon wrote it: bob still
    // installs; gc refuses, naming the record and the way out.
    let file = before.first().expect("alice's roots").clone();
    let big = rockstore::store::db::TreeRoots {
        format_version: 1,
        path: b"/x".to_vec(),
        uid: uid_of("rs-alice"),
        recorded: 0,
        generations: (0..50_000).map(|g| (g, profile.clone())).collect(),
    };
    std::fs::write(&file, rockstore::store::db::encode(&big)).expect("plant");
    w.ok("rs-bob", &["--local", "install", "cmulti"]);
    let out = gc(true);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&file.display().to_string()) && err.contains("store owner removes that file"),
        "{err}"
    );
    std::fs::remove_file(&file).expect("rm");
    let out = gc(false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua') ~= nil)"),
        "true"
    );
}

/// A build request's header, as a client sends it.
const PY_BUILD: &str = r#"
def build_header(file):
    return {'type': 'build', 'kind': 'rockspec', 'file': file, 'url': None,
            'lua_version': '5.4', 'variables': {}, 'deps_dirs': [], 'rocks_provided': [],
            'only_sources_from': None, 'dependency_items': [], 'branch': None,
            'rockspec_size': None}
def trickle(socks, secs):
    # Sends a byte on each socket every half second until each has an
    # answer (or `secs` pass); returns [kind, message, seconds] for each.
    start = time.time()
    answers = [None] * len(socks)
    while any(a is None for a in answers) and time.time() - start < secs:
        open_ = [s for i, s in enumerate(socks) if answers[i] is None]
        ready, _, _ = select.select(open_, [], [], 0.5)
        for s in ready:
            i = socks.index(s)
            r = reply(s)
            answers[i] = [r and r.get('kind'), r and r.get('message'), time.time() - start]
        for i, s in enumerate(socks):
            if answers[i] is None:
                try:
                    s.send(b'x')
                except OSError:
                    pass
    return answers
"#;

/// Red team 2: a request must arrive whole within a grace period plus its
/// size at a minimum rate, so a trickle ends; and one user holds at most a
/// share of the upload budget, so another user's build is served while
/// she holds hers.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_trickled_upload_ends_at_its_deadline_and_holds_only_its_users_share() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start_with(
        &w,
        &[
            "--upload-budget",
            "4M",
            "--request-grace",
            "6",
            "--request-min-rate",
            "1M",
        ],
    );
    let socket = w.store().join("daemon.socket").display().to_string();
    // Four connections, each announcing a 1 MiB rock file (the whole
    // budget between them), sending a few bytes, then one byte now and then.
    let script = format!(
        "{PY_WIRE}{PY_BUILD}
import time, select
socks = []
for i in range(4):
    s, welcome = hello(sys.argv[1])
    assert welcome['type'] == 'welcome', welcome
    h = json.dumps(build_header('hog-1.0-1.rockspec')).encode()
    s.sendall(struct.pack('<IQ', len(h), 1 << 20) + h + b'pack')
    socks.append(s)
# A fifth trickles its header: a prefix announcing 1000 bytes of it.
s, welcome = hello(sys.argv[1])
s.sendall(struct.pack('<IQ', 1000, 0) + b'{{')
socks.append(s)
print('holding', flush=True)
print(json.dumps(trickle(socks, 60)), flush=True)
"
    );
    let mut alice = w
        .command(
            "rs-alice",
            "022",
            "/usr/bin/python3",
            &["-c", &script, &socket],
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("alice");
    let mut lines = std::io::BufReader::new(alice.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("line").expect("holding"), "holding");
    // Bob's build is served while alice holds what she may.
    w.ok("rs-bob", &["--local", "install", "purelua"]);
    let mut answers: Vec<(Option<String>, Option<String>, f64)> =
        serde_json::from_str(&lines.next().expect("answers").expect("line")).expect("json");
    alice.wait().expect("reap");
    // The header's trickle is cut at its deadline too (6 s: no payload).
    let header = answers.pop().expect("five answers");
    assert_eq!(header.0.as_deref(), Some("bad_request"), "{header:?}");
    assert!(
        header
            .1
            .as_deref()
            .is_some_and(|m| m.contains("did not arrive within the 6 s")),
        "{header:?}"
    );
    assert!(header.2 > 4.0 && header.2 < 15.0, "{header:?}");
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.0.as_deref() == Some("busy"))
        .collect();
    assert_eq!(refused.len(), 3, "{answers:?}");
    assert!(
        refused.iter().all(|a| a
            .1
            .as_deref()
            .is_some_and(|m| m.contains("one user holds at most 1.0 MiB"))),
        "{answers:?}"
    );
    let cut: Vec<_> = answers
        .iter()
        .filter(|a| a.0.as_deref() == Some("bad_request"))
        .collect();
    assert_eq!(cut.len(), 1, "{answers:?}");
    assert!(
        cut[0]
            .1
            .as_deref()
            .is_some_and(|m| m.contains("did not arrive within the 7 s")),
        "{answers:?}"
    );
    // Cut at its deadline (6 s + 1 MiB at 1 MiB/s), not after a read's 30 s.
    assert!(cut[0].2 > 5.0 && cut[0].2 < 15.0, "{answers:?}");
}

/// `rockstore store add DIR --name NAME --version 1` as `user`.
fn store_add(w: &World, user: &str, dir: &Path, name: &str) -> std::process::Command {
    let store = w.store().display().to_string();
    w.command(
        user,
        "022",
        bin(),
        &[
            "--store",
            &store,
            "store",
            "add",
            &dir.display().to_string(),
            "--name",
            name,
            "--version",
            "1",
        ],
    )
}

/// A directory of `user`'s holding one file of `size` bytes of `byte`.
fn blob_dir(w: &World, user: &str, name: &str, byte: u8, size: usize) -> PathBuf {
    let dir = w.home(user).join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("blob"), vec![byte; size]).expect("blob");
    crate::shared::chown_tree(&dir, user);
    dir
}

/// Red team 3: what a member adds counts against her quota even when
/// nothing roots it; parallel adds cannot together pass what each passes
/// alone; and every entry costs at least a block, so empty directories
/// are not free.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn unrooted_parallel_and_empty_adds_are_charged_to_their_member() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start_with(&w, &["--user-quota", "1M"]);
    let full = |out: &Output| text(&out.stderr).contains("your share of this store is full");
    // 5,000 empty directories: a small archive, 20 MB of blocks.
    let empty = w.home("rs-alice").join("empty");
    for i in 0..5000 {
        std::fs::create_dir_all(empty.join(format!("d{i}"))).expect("dir");
    }
    crate::shared::chown_tree(&empty, "rs-alice");
    let out = store_add(&w, "rs-alice", &empty, "empty")
        .output()
        .expect("add");
    assert!(!out.status.success() && full(&out), "{}", text(&out.stderr));
    // Sequential: the first 600 KiB goes in, unrooted; the second is over.
    let one = blob_dir(&w, "rs-alice", "one", b'1', 600 << 10);
    let out = store_add(&w, "rs-alice", &one, "one")
        .output()
        .expect("add");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let two = blob_dir(&w, "rs-alice", "two", b'2', 600 << 10);
    let out = store_add(&w, "rs-alice", &two, "two")
        .output()
        .expect("add");
    assert!(!out.status.success() && full(&out), "{}", text(&out.stderr));
    // Parallel: four of bob's at once, one fits.
    let adds: Vec<_> = (0..4u8)
        .map(|i| {
            let dir = blob_dir(&w, "rs-bob", &format!("p{i}"), b'a' + i, 600 << 10);
            store_add(&w, "rs-bob", &dir, &format!("p{i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("add")
        })
        .collect();
    let outs: Vec<Output> = adds
        .into_iter()
        .map(|c| c.wait_with_output().expect("add"))
        .collect();
    let passed = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        passed,
        1,
        "{:?}",
        outs.iter().map(|o| text(&o.stderr)).collect::<Vec<_>>()
    );
    assert!(outs.iter().filter(|o| !o.status.success()).all(full));
}

/// Red team 4: a member cannot keep collections out for ever, neither
/// with a `hold` kept open (it ends after --max-hold) nor with an `add`
/// trickled a byte at a time (it ends at the request's deadline).
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_hold_or_trickled_add_ends_and_gc_goes_on() {
    if !ready() {
        return;
    }
    let w = World::new();
    let daemon = start_with(&w, &["--max-hold", "3", "--request-grace", "3"]);
    let store = w.store().display().to_string();
    let socket = w.store().join("daemon.socket").display().to_string();
    let script = format!(
        "{PY_WIRE}{PY_BUILD}
import time, select
held, welcome = hello(sys.argv[1])
held.sendall(frame({{'type': 'hold'}}))
assert reply(held)['type'] == 'done'
add, welcome = hello(sys.argv[1])
h = json.dumps({{'type': 'add', 'name': 'slow', 'version': '1', 'kind': 'data', 'references': []}}).encode()
add.sendall(struct.pack('<IQ', len(h), 1 << 20) + h + b'ROCK')
print('holding', flush=True)
start = time.time()
held.settimeout(30)
try:
    closed = held.recv(1) == b''
except socket.timeout:
    closed = False
held_for = time.time() - start
answers = trickle([add], 30)
print(json.dumps([closed, held_for, answers[0]]), flush=True)
sys.stdin.read()
"
    );
    let mut alice = w
        .command(
            "rs-alice",
            "022",
            "/usr/bin/python3",
            &["-c", &script, &socket],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("alice");
    let mut lines = std::io::BufReader::new(alice.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("line").expect("holding"), "holding");
    let (closed, held_for, add): (bool, f64, (Option<String>, Option<String>, f64)) =
        serde_json::from_str(&lines.next().expect("result").expect("line")).expect("json");
    assert!(closed, "the daemon ended the hold");
    assert!(held_for > 1.5 && held_for < 10.0, "{held_for}");
    assert_eq!(add.0.as_deref(), Some("bad_request"), "{add:?}");
    assert!(
        add.1
            .as_deref()
            .is_some_and(|m| m.contains("did not arrive within")),
        "{add:?}"
    );
    let mut seen = Vec::new();
    daemon.wait_for(&["rs-alice: hold ended after 3 s"], 5, &mut seen);
    // Alice's connections are still open on her side; root collects.
    let started = Instant::now();
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(alice.stdin.take());
    alice.wait().expect("reap");
}

/// `store info ITEM --json` as root.
fn item_info(w: &World, item: &str) -> serde_json::Value {
    let store = w.store().display().to_string();
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &["--store", &store, "store", "info", item, "--json"],
        )
        .output()
        .expect("info");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Red team 5: a member's `add` of the bytes root's build will produce,
/// with her own kind and references, is not what root's build reuses: the
/// build's record replaces hers, so her junk is not kept by root's tree;
/// and she cannot name references she could not keep herself.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_add_never_chooses_kind_or_references_for_roots_build() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let store = w.store().display().to_string();
    // Root builds purelua once in a tree that then goes, and the item with
    // it: alice keeps a copy of its bytes.
    let first = w.base().join("tree-first").display().to_string();
    w.ok("root", &["--tree", &first, "install", "purelua"]);
    let item = std::fs::read_dir(w.store().join("store"))
        .expect("store")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.contains("-purelua-"))
        .expect("purelua item");
    let copy = w.home("rs-alice").join("copy");
    let status = Command::new("cp")
        .arg("-a")
        .arg(w.store().join("store").join(&item))
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&copy)
        .status()
        .expect("chmod");
    assert!(status.success());
    crate::shared::chown_tree(&copy, "rs-alice");
    std::fs::remove_dir_all(&first).expect("rm tree");
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!w.store().join("store").join(&item).exists(), "collected");
    // Root's own item, which alice's trees do not reach.
    let root_dir = w.base().join("root-data");
    std::fs::create_dir_all(&root_dir).expect("dir");
    std::fs::write(root_dir.join("data"), "root's\n").expect("data");
    let out = store_add(&w, "root", &root_dir, "rootdata")
        .output()
        .expect("add");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let root_item = PathBuf::from(text(&out.stdout).trim());
    let root_item = root_item
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // Her junk, and the copy of root's bytes added as data referring to it.
    let junk_dir = blob_dir(&w, "rs-alice", "junk", b'j', 300 << 10);
    let out = store_add(&w, "rs-alice", &junk_dir, "junk")
        .output()
        .expect("add");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let junk = PathBuf::from(text(&out.stdout).trim());
    let junk = junk
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let version = item.split("-purelua-").nth(1).expect("version");
    let add_as = |refs: &str| {
        let copy = copy.display().to_string();
        w.command(
            "rs-alice",
            "022",
            bin(),
            &[
                "--store",
                &store,
                "store",
                "add",
                &copy,
                "--name",
                "purelua",
                "--version",
                version,
                "--kind",
                "data",
                "--ref",
                refs,
            ],
        )
        .output()
        .expect("add")
    };
    // A reference she could not keep herself is refused.
    let out = add_as(&root_item);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("neither reached from your trees nor added by you"),
        "{}",
        text(&out.stderr)
    );
    let out = add_as(&junk);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        item_info(&w, &item)["kind"],
        "data",
        "her record, for now: {} {item}",
        text(&out.stdout)
    );
    // Root's install builds those bytes and reuses the item, not her word.
    let second = w.base().join("tree-second").display().to_string();
    w.ok("root", &["--tree", &second, "install", "purelua"]);
    let record = item_info(&w, &item);
    assert_eq!(record["kind"], "rock", "{record}");
    assert_eq!(record["references"], serde_json::json!([]), "{record}");
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !w.store().join("store").join(&junk).exists(),
        "her junk is not kept by root's tree"
    );
    assert!(w.store().join("store").join(&item).exists());
}

/// `git ARGS` in `dir`, as root, with no configuration of the machine's.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// A loopback smart-HTTP git server (`git http-backend`) of `repo.git`
/// that serves the repository under `first` until the second request for
/// `info/refs`, and the one under `second` from then on: a server that
/// answers `ls-remote` and the clone differently.
struct TwoFaced {
    base: String,
}

/// Reads one HTTP request: its line, headers (lower-case names) and body.
fn http_request(
    reader: &mut impl BufRead,
) -> Option<(String, std::collections::HashMap<String, String>, Vec<u8>)> {
    let mut request = String::new();
    reader.read_line(&mut request).ok()?;
    let mut headers = std::collections::HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let mut body = Vec::new();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        body.resize(n, 0);
        std::io::Read::read_exact(reader, &mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            std::io::Read::read_exact(reader, &mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some((request, headers, body))
}

impl TwoFaced {
    fn start(first: PathBuf, second: PathBuf) -> TwoFaced {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            let mut refs_asked = 0;
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let Some((request, headers, body)) = http_request(&mut reader) else {
                    continue;
                };
                let mut parts = request.split_whitespace();
                let method = parts.next().unwrap_or("GET").to_owned();
                let target = parts.next().unwrap_or("/").to_owned();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                if path.ends_with("/info/refs") {
                    refs_asked += 1;
                }
                let root = if refs_asked <= 1 { &first } else { &second };
                let mut cgi = Command::new("git");
                cgi.arg("http-backend")
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("GIT_PROJECT_ROOT", root)
                    .env("GIT_HTTP_EXPORT_ALL", "1")
                    .env("REQUEST_METHOD", &method)
                    .env("PATH_INFO", path)
                    .env("QUERY_STRING", query)
                    .env("CONTENT_LENGTH", body.len().to_string())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null());
                for (header, var) in [
                    ("content-type", "CONTENT_TYPE"),
                    ("content-encoding", "HTTP_CONTENT_ENCODING"),
                    ("git-protocol", "GIT_PROTOCOL"),
                ] {
                    if let Some(v) = headers.get(header) {
                        cgi.env(var, v);
                    }
                }
                let Ok(mut child) = cgi.spawn() else {
                    continue;
                };
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(&body);
                }
                let Ok(out) = child.wait_with_output() else {
                    continue;
                };
                let split = out
                    .stdout
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| (i, 4))
                    .or_else(|| {
                        out.stdout
                            .windows(2)
                            .position(|w| w == b"\n\n")
                            .map(|i| (i, 2))
                    });
                let Some((at, gap)) = split else {
                    continue;
                };
                let head = String::from_utf8_lossy(&out.stdout[..at]).into_owned();
                let content = &out.stdout[at + gap..];
                let status = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Status:"))
                    .map_or("200 OK".to_owned(), |s| s.trim().to_owned());
                let mut stream = stream;
                let mut reply = format!("HTTP/1.1 {status}\r\n");
                for line in head.lines().filter(|l| !l.starts_with("Status:")) {
                    reply.push_str(line.trim_end());
                    reply.push_str("\r\n");
                }
                reply.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    content.len()
                ));
                let _ = stream.write_all(reply.as_bytes());
                let _ = stream.write_all(content);
            }
        });
        TwoFaced { base }
    }
}

/// Red team 6: a git source is keyed by the commit `ls-remote` reports;
/// a clone that checks out another commit (the server answered
/// differently) builds nothing, and says both commits.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_git_clone_of_another_commit_than_its_key_is_refused() {
    if !ready() || !crate::support::need(&["git"]) {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let work = w.base().join("git-work");
    std::fs::create_dir_all(&work).expect("work");
    git(&work, &["init", "-q", "-b", "main"]);
    let mut commits = Vec::new();
    let mut bares = Vec::new();
    for (i, body) in ["return 'first'\n", "return 'second'\n"].iter().enumerate() {
        std::fs::write(work.join("twofaced.lua"), body).expect("module");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", body]);
        commits.push(git(&work, &["rev-parse", "HEAD"]));
        let bare = w.base().join(format!("root{i}/repo.git"));
        git(
            w.base(),
            &[
                "clone",
                "-q",
                "--bare",
                &work.display().to_string(),
                &bare.display().to_string(),
            ],
        );
        git(&bare, &["update-server-info"]);
        bares.push(bare.parent().expect("root").to_path_buf());
    }
    let server = TwoFaced::start(bares[0].clone(), bares[1].clone());
    std::fs::write(
        w.repo.dir.join("twofaced-1.0-1.rockspec"),
        format!(
            "package = 'twofaced'\nversion = '1.0-1'\nsource = {{ url = 'git+{}/repo.git', dir = 'repo' }}\n\
             build = {{ type = 'builtin', modules = {{ twofaced = 'twofaced.lua' }} }}\n",
            server.base
        ),
    )
    .expect("rockspec");
    let url = w.repo.url("twofaced-1.0-1.rockspec");
    let before = items(&w);
    let out = w.rockstore("rs-alice", &["--local", "install", &url]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("its commit is {}", commits[0]))
            && err.contains(&format!("checked out {}", commits[1])),
        "{err}"
    );
    assert_eq!(items(&w), before, "nothing was admitted");
}

/// Red team 7: a build may write at most --build-max-disk, to its build
/// directory (many files), to one file, or to its private /tmp (not half
/// the RAM); past it the build is stopped and said to be over its limit,
/// with nothing admitted; an ordinary C build still works.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_build_that_writes_past_its_disk_limit_is_stopped() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start_with(&w, &["--build-max-disk", "100M", "--user-quota", "100M"]);
    let before = items(&w);
    let many = rockspec(
        &w,
        "manyfiles",
        "{ type = 'command', build_command = 'for i in $(seq 30); do head -c 10485760 /dev/zero > f$i; done; sleep 3', install_command = 'true' }",
    );
    let tmp = rockspec(
        &w,
        "bigtmp",
        "{ type = 'command', build_command = 'head -c 314572800 /dev/zero > /tmp/big', install_command = 'true' }",
    );
    for url in [&many, &tmp] {
        let started = Instant::now();
        let out = w.rockstore("rs-alice", &["--local", "install", url]);
        assert!(!out.status.success(), "{url}: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(
            err.contains("the build wrote more than the daemon allows a build (100.0 MiB)")
                && err.contains("--build-max-disk"),
            "{url}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert_eq!(items(&w), before, "nothing was admitted");
    assert_eq!(no_build_processes_within(10), Vec::<String>::new());
    w.ok("rs-alice", &["--local", "install", "cmulti"]);
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('cmulti').answer())"),
        "42"
    );
}

/// Red team 8: a descriptor sent with any byte of a frame — here with the
/// header, after the 12-byte prefix — is refused, not silently dropped;
/// and registering paths she cannot look at (or that lead there through a
/// link) tells a member nothing about what exists there.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn late_descriptors_are_refused_and_registrations_are_no_existence_oracle() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let socket = w.store().join("daemon.socket").display().to_string();
    let script = format!(
        "{PY_WIRE}
s, welcome = hello(sys.argv[1])
h = json.dumps({{'type': 'gc', 'dry_run': True}}).encode()
s.sendall(struct.pack('<IQ', len(h), 0))
fd = os.open('/', os.O_RDONLY)
socket.send_fds(s, [h], [fd])
print(json.dumps(reply(s)))
"
    );
    let out = python(&w, "rs-alice", &script, &[&socket]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["type"], "failed", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("descriptor")),
        "{answer}"
    );
    // Root's directory, closed to alice: one tree exists in it, one not.
    let secret = w.base().join("secret");
    std::fs::create_dir_all(secret.join("exists/.rockstore")).expect("dir");
    std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o700)).expect("chmod");
    let link = w.home("rs-alice").join("link");
    std::os::unix::fs::symlink(&secret, &link).expect("link");
    let mine_gone = w.home("rs-alice").join("gone-tree");
    let paths = [
        secret.join("exists"),
        secret.join("missing"),
        link.join("exists"),
        link.join("missing"),
        mine_gone.clone(),
    ];
    let script = format!(
        "{PY_WIRE}
for p in sys.argv[2:]:
    s, welcome = hello(sys.argv[1])
    s.sendall(frame({{'type': 'register_tree', 'path': p, 'generations': []}}))
    r = reply(s)
    assert r['type'] == 'done', r
s, welcome = hello(sys.argv[1])
s.sendall(frame({{'type': 'gc', 'dry_run': True}}))
print(json.dumps(reply(s)))
"
    );
    let mut args = vec![socket.clone()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(&w, "rs-alice", &script, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["type"], "collected", "{answer}");
    // Only her own gone tree is gone; of the others she learns nothing.
    assert_eq!(
        answer["dropped_trees"],
        serde_json::json!([mine_gone.display().to_string()]),
        "{answer}"
    );
}

/// Red team 3, builds: a member's builds running at once (she may hold
/// both build users here) reserve their outputs in her share one after
/// another, so together they cannot pass what each passes alone.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn parallel_builds_of_one_member_cannot_pass_her_quota_together() {
    if !ready() {
        return;
    }
    let w = World::new();
    let _daemon = start_with(&w, &["--user-quota", "1M", "--max-builds-per-user", "2"]);
    let urls: Vec<String> = ["bulka", "bulkb"]
        .iter()
        .map(|name| {
            rockspec(
                &w,
                name,
                &format!(
                    "{{ type = 'command', build_command = 'head -c 614400 /dev/zero > {name}.lua; sleep 2', install_command = 'true', install = {{ lua = {{ {name} = '{name}.lua' }} }} }}"
                ),
            )
        })
        .collect();
    let builds: Vec<_> = urls
        .iter()
        .map(|url| {
            w.rockstore_cmd("rs-alice", &["--local", "build", "--no-install", url])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("build")
        })
        .collect();
    let outs: Vec<Output> = builds
        .into_iter()
        .map(|c| c.wait_with_output().expect("build"))
        .collect();
    let said: Vec<String> = outs.iter().map(|o| text(&o.stderr)).collect();
    assert_eq!(
        outs.iter().filter(|o| o.status.success()).count(),
        1,
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|s| s.contains("more than the room left in your share")),
        "{said:#?}"
    );
}
