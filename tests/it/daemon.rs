//! The store daemon (Nix's multi-user model): root owns a store made by
//! `store init --daemon` and serves it; the real users `rs-alice` and
//! `rs-bob` install through it and cannot write the store at all. The
//! daemon is started by each test and killed when it ends; its build users
//! (`rockstore-build1..2` in group `rockstore-build`) are created by
//! `.ci/run`.

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::shared::World;
use crate::support::{bin, skip_or_fail, text};

/// A running daemon, killed when dropped.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Waits (at most `secs`) for a log line containing every one of
    /// `needles`; returns it. Lines read on the way are kept in `seen`.
    pub(crate) fn wait_for(&self, needles: &[&str], secs: u64, seen: &mut Vec<String>) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if needles.iter().all(|n| line.contains(n)) {
                        return line;
                    }
                }
                Err(_) => panic!("no daemon line with {needles:?} within {secs} s: {seen:#?}"),
            }
        }
    }
}

pub(crate) fn build_users_exist() -> bool {
    let ok = Command::new("getent")
        .args(["group", "rockstore-build"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !ok {
        skip_or_fail("group rockstore-build with users rockstore-build1..2 (created by .ci/run)");
    }
    ok
}

/// Makes the world's store a daemon store and starts its daemon; returns
/// once it listens.
pub(crate) fn start(w: &World) -> Daemon {
    start_with(w, &[])
}

/// [`start`] with more `daemon` arguments.
pub(crate) fn start_with(w: &World, extra: &[&str]) -> Daemon {
    launch(w, extra, &[], &[], "022")
}

/// [`start`] with more arguments, environment, a wrapper command (the
/// daemon runs as its last argument's program) and a umask.
pub(crate) fn launch(
    w: &World,
    extra: &[&str],
    env: &[(&str, &str)],
    wrapper: &[&str],
    umask: &str,
) -> Daemon {
    let store = w.store().display().to_string();
    let out = w
        .command("root", "022", bin(), &["store", "init", "--daemon", &store])
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut args: Vec<&str> = wrapper.to_vec();
    let program = if wrapper.is_empty() {
        bin()
    } else {
        args.push(bin());
        args.remove(0)
    };
    args.extend(["--store", store.as_str(), "daemon"]);
    args.extend_from_slice(extra);
    let mut cmd = w.command("root", umask, program, &args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("daemon");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let first = log
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the daemon says it serves");
    assert!(first.contains("serving"), "{first}");
    Daemon { child, log }
}

/// A frame as store-format/v1/daemon.md lays it out.
fn frame(header: &serde_json::Value) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("json");
    let mut out = (json.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&json);
    out
}

fn read_frame(stream: &mut UnixStream) -> serde_json::Value {
    let mut prefix = [0u8; 12];
    stream.read_exact(&mut prefix).expect("prefix");
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let mut header = vec![0u8; len];
    stream.read_exact(&mut header).expect("header");
    serde_json::from_slice(&header).expect("header json")
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_client_of_another_protocol_version_is_refused_clearly() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let mut stream = UnixStream::connect(w.store().join("daemon.socket")).expect("connect");
    stream
        .write_all(&frame(&serde_json::json!({
            "type": "hello", "protocol": "rockstore-daemon", "version": 99
        })))
        .expect("hello");
    let reply = read_frame(&mut stream);
    assert_eq!(reply["type"], "refused", "{reply}");
    let reason = reply["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("protocol version 2") && reason.contains("version 99"),
        "{reason}"
    );
    // The current version is welcomed, and told who it is.
    let mut stream = UnixStream::connect(w.store().join("daemon.socket")).expect("connect");
    stream
        .write_all(&frame(&serde_json::json!({
            "type": "hello", "protocol": "rockstore-daemon", "version": 2
        })))
        .expect("hello");
    let reply = read_frame(&mut stream);
    assert_eq!(reply["type"], "welcome", "{reply}");
    assert_eq!(reply["uid"], 0);
    assert_eq!(reply["trusted"], true);
}

/// Every path under `root` that is not owned by root or is group- or
/// world-writable (the socket aside).
fn writable_by_others(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        let socket = std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type());
        if !meta.file_type().is_symlink()
            && !socket
            && (meta.uid() != 0 || meta.mode() & 0o022 != 0)
        {
            bad.push(format!(
                "{} {:o} uid {}",
                path.display(),
                meta.mode(),
                meta.uid()
            ));
        }
        if meta.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    bad
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn members_install_through_the_daemon_and_cannot_write_the_store() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let daemon = start(&w);
    // Alice's own PATH starts with a trojan gcc: the daemon's build, in a
    // clean environment, never sees it.
    let trojan = w.home("rs-alice").join("bin");
    std::fs::create_dir_all(&trojan).expect("bin");
    let marker = w.home("rs-alice").join("trojan-ran");
    std::fs::write(
        trojan.join("gcc"),
        // Compiling (`-c`) is the build's; alice's own probes of her gcc
        // (`-print-multiarch`) are hers to run.
        format!(
            "#!/bin/sh\ncase \" $* \" in *' -c '*) touch '{}';; esac\nexec /usr/bin/gcc \"$@\"\n",
            marker.display()
        ),
    )
    .expect("trojan");
    let trojan_path = format!(
        "{}:{}",
        trojan.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::fs::set_permissions(
        trojan.join("gcc"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let out = w
        .rockstore_cmd("rs-alice", &["--local", "install", "cmulti"])
        .env("PATH", &trojan_path)
        .output()
        .expect("alice");
    assert!(out.status.success(), "alice: {}", text(&out.stderr));
    assert!(
        crate::support::said(&out).contains("cmulti 1.0-1: built "),
        "{}",
        crate::support::said(&out)
    );
    assert!(!marker.exists(), "the client's PATH reached the build");
    // The trojan does compile when alice builds in a store of her own.
    let own = w.home("rs-alice").join("own-store");
    let out = w
        .rockstore_cmd(
            "rs-alice",
            &[
                "--store",
                &own.display().to_string(),
                "build",
                "--no-install",
                "cmulti",
            ],
        )
        .env("PATH", &trojan_path)
        .output()
        .expect("alice's own store");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(marker.exists(), "the trojan is on alice's PATH");
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('cmulti').answer())"),
        "42"
    );
    let built: Vec<String> = daemon.log.try_iter().collect();
    assert!(
        built
            .iter()
            .any(|l| l.contains("rs-alice") && l.contains("cmulti")),
        "the daemon built it: {built:?}"
    );

    let item = w.item_of("rs-alice", "cmulti");
    // Nothing in the store is hers, nothing is writable but by root.
    assert_eq!(writable_by_others(&w.store()), Vec::<String>::new());
    let item_dir = w.store().join("store").join(&item);
    for attack in [
        format!("chmod u+w '{}'", item_dir.display()),
        format!("touch '{}/x'", item_dir.display()),
        format!("touch '{}/db/realisations/x'", w.store().display()),
        format!("touch '{}/db/items/x'", w.store().display()),
        format!("mkdir '{}/db/trees/0'", w.store().display()),
        format!("ln -s /etc '{}/tmp/x'", w.store().display()),
        format!("cat < '{}/locks/store.lock'", w.store().display()),
        format!("mkfifo '{}/locks/recipes/x.lock'", w.store().display()),
        format!("mkdir '{}/store/{}x'", w.store().display(), &item[..8]),
        format!("mkdir -p '{}/db/trust/0'", w.store().display()),
        format!("ln -s /root '{}/db/trust/0'", w.store().display()),
        format!("touch '{}/db/listings/{item}'", w.store().display()),
    ] {
        let out = w
            .command("rs-alice", "002", "sh", &["-c", &attack])
            .output()
            .expect("sh");
        assert!(!out.status.success(), "alice could: {attack}");
    }

    // Bob and root reuse what the daemon built: nothing is compiled again.
    let said = w.ok("rs-bob", &["--local", "install", "cmulti"]);
    assert!(said.contains("already built"), "{said}");
    assert!(!said.contains(": built "), "{said}");
    let said = w.ok("root", &["--tree", "system", "install", "cmulti"]);
    assert!(said.contains("already built"), "{said}");
    // Root's registration of the global tree is root's alone.
    let trees = w.store().join("db/trees/0");
    assert!(trees.is_dir(), "root's install registered the tree");
    for attack in [
        format!("rm -f '{}'/*", trees.display()),
        format!("touch '{}/x'", trees.display()),
        format!("mv '{}' '{}.old'", trees.display(), trees.display()),
    ] {
        let out = w
            .command("rs-alice", "002", "sh", &["-c", &attack])
            .output()
            .expect("sh");
        assert!(!out.status.success(), "alice could: {attack}");
    }
    assert!(std::fs::read_dir(&trees).expect("trees").next().is_some());
    // Root's stray writes: an edit of a file the tree links hits an
    // immutable item and fails; `sudo luarocks install` into the global
    // tree writes beside the tree's links (one per entry), never into an
    // item, and rockstore then says to adopt what it installed.
    let module = w.global().join("lib/lua/5.4/cmulti.so");
    let out = w
        .command(
            "root",
            "022",
            "sh",
            &["-c", &format!("echo x >> '{}'", module.display())],
        )
        .output()
        .expect("sh");
    assert!(!out.status.success(), "root changed an item's file");
    let global = w.global().display().to_string();
    let out = w
        .command(
            "root",
            "022",
            "luarocks",
            &[
                "--lua-version",
                "5.4",
                "--only-server",
                &w.repo.server.base,
                "--tree",
                &global,
                "install",
                "purelua",
            ],
        )
        .output()
        .expect("luarocks");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "luarocks beside the links: {said}");
    assert!(
        std::fs::symlink_metadata(w.global().join("share/lua/5.4/purelua/init.lua"))
            .expect("purelua")
            .is_file()
    );
    // Under the explicit policy the change is refused (by default it is
    // adopted first: tests/it/first_touch.rs).
    let out = w.rockstore(
        "root",
        &["--no-adopt", "--tree", &global, "install", "dmdep"],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("LuaRocks changed") && err.contains("it installed purelua 2.0-1"),
        "{err}"
    );
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &[
                "--store",
                &w.store().display().to_string(),
                "verify",
                "--contents",
            ],
        )
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.lua_ok("root", "print(require('cmulti').answer())"), "42");
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_shared_store_is_converted_and_the_daemon_refuses_a_plain_one() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let store = w.store().display().to_string();
    // A plain store: the daemon says how to make it a daemon store.
    let out = w
        .command("root", "022", bin(), &["--store", &store, "daemon"])
        .output()
        .expect("daemon");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("rockstore store init --daemon {store}")),
        "{}",
        text(&out.stderr)
    );
    // A shared store with an item a member admitted: converted, owned by
    // root, the item re-hashed and kept.
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &["store", "init", "--shared", "--group", "rockstore", &store],
        )
        .output()
        .expect("init shared");
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.ok("rs-alice", &["--local", "install", "purelua"]);
    let item = w.item_of("rs-alice", "purelua");
    let daemon = start(&w);
    assert_eq!(writable_by_others(&w.store()), Vec::<String>::new());
    assert!(w.store().join("store").join(&item).is_dir());
    // Sealed items are still collected once no tree uses them.
    w.ok("rs-alice", &["--local", "remove", "purelua"]);
    w.ok(
        "rs-alice",
        &["--local", "delete-generations", "--keep", "1"],
    );
    let out = w
        .command("root", "022", bin(), &["--store", &store, "gc"])
        .output()
        .expect("gc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !w.store().join("store").join(&item).exists(),
        "gc freed the sealed item: {}",
        text(&out.stdout)
    );
    drop(daemon);
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn sigkill_of_the_daemon_mid_build_or_admission_leaves_the_store_clean_and_a_rerun_works() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    drop(start(&w));
    let store = w.store().display().to_string();
    for point in ["after-backend", "after-ingest"] {
        let mut child = w
            .command("root", "022", bin(), &["--store", &store, "daemon"])
            .env("ROCKSTORE_FAILPOINT", point)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("daemon");
        let mut log = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        log.read_line(&mut line).expect("serving");
        assert!(line.contains("serving"), "{line}");
        let alice = w
            .rockstore_cmd("rs-alice", &["--local", "install", "cmulti"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("alice");
        loop {
            line.clear();
            assert!(log.read_line(&mut line).expect("log") > 0, "daemon ended");
            if line.contains(&format!("failpoint {point} reached")) {
                break;
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let out = alice.wait_with_output().expect("alice");
        assert!(!out.status.success(), "{point}");
        assert!(
            text(&out.stderr).contains("the store's daemon went away"),
            "{point}: {}",
            text(&out.stderr)
        );
        let listed = w.rockstore("rs-alice", &["--local", "list", "--porcelain"]);
        assert_eq!(text(&listed.stdout), "", "{point}: nothing installed");
        let out = w
            .command(
                "root",
                "022",
                bin(),
                &["--store", &store, "verify", "--contents"],
            )
            .output()
            .expect("verify");
        assert!(out.status.success(), "{point}: {}", text(&out.stderr));
    }
    // Restarted, the daemon serves the same install to its end.
    let _daemon = start(&w);
    w.ok("rs-alice", &["--local", "install", "cmulti"]);
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('cmulti').answer())"),
        "42"
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn store_add_hands_the_directory_over_and_the_daemon_keeps_what_it_hashed() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let store = w.store().display().to_string();
    let home = w.home("rs-alice");
    let add = |dir: &str| {
        w.command(
            "rs-alice",
            "022",
            "sh",
            &[
                "-c",
                &format!(
                    "mkdir -p {dir}/lua && echo 'return 7' > {dir}/lua/seven.lua && cd {dir} && exec \"$0\" --store '{store}' store add --name seven --version 1.0 .",
                ),
                bin(),
            ],
        )
        .current_dir(&home)
        .output()
        .expect("store add")
    };
    let out = add(&format!("{}/plain", home.display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let item = std::path::PathBuf::from(text(&out.stdout).trim());
    let file = item.join("lua/seven.lua");
    assert_eq!(std::fs::read_to_string(&file).expect("file"), "return 7\n");
    assert_eq!(std::fs::metadata(&file).expect("meta").uid(), 0);
    // build --no-install asks the daemon too, and prints the item.
    let printed = w.ok_stdout("rs-alice", &["build", "--no-install", "purelua"]);
    let built = std::path::PathBuf::from(printed.lines().last().expect("path"));
    assert!(built.starts_with(w.store().join("store")), "{printed}");
    assert_eq!(std::fs::metadata(&built).expect("item").uid(), 0);
    // A link out of what she handed over is refused; nothing is admitted.
    let evil = home.join("evil");
    std::fs::create_dir_all(&evil).expect("evil");
    std::os::unix::fs::symlink("/etc/shadow", evil.join("shadow")).expect("link");
    crate::shared::chown_tree(&evil, "rs-alice");
    let before = std::fs::read_dir(w.store().join("store"))
        .expect("store")
        .count();
    let out = add(&evil.display().to_string());
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("shadow"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(w.store().join("store"))
            .expect("store")
            .count(),
        before
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn gc_is_for_trusted_users_and_waits_a_bounded_time_for_installs_in_flight() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start_with(&w, &["--trusted-user", "rs-bob"]);
    w.ok("rs-alice", &["--local", "install", "purelua"]);
    // Alice may look, not sweep; bob, trusted, sweeps; her rock stays.
    let out = w.rockstore("rs-alice", &["gc"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("only trusted users collect garbage"),
        "{}",
        text(&out.stderr)
    );
    w.ok("rs-alice", &["gc", "--dry-run"]);
    w.ok("rs-bob", &["gc"]);
    // Only a trusted user says what a recipe builds.
    let item = w.item_of("rs-alice", "purelua");
    let key = "ab".repeat(32);
    let out = w.rockstore("rs-alice", &["store", "register-realisation", &key, &item]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("only trusted users register realisations"),
        "{}",
        text(&out.stderr)
    );
    assert!(!w.store().join("db/realisations").join(&key).exists());
    w.ok("rs-bob", &["store", "register-realisation", &key, &item]);
    assert!(w.store().join("db/realisations").join(&key).exists());
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua').version)"),
        "2.0"
    );
    // An install stopped before its switch holds the store through its
    // connection: bob's GC gives up within its bound and names alice; once
    // she is killed, the hold is gone and GC runs.
    let mut cmd = w.rockstore_cmd("rs-alice", &["--local", "install", "upg"]);
    cmd.env("ROCKSTORE_FAILPOINT", "before-switch");
    let (mut alice, _err) = crate::support::stopped_at_failpoint(cmd, "before-switch");
    let started = std::time::Instant::now();
    let out = w.rockstore("rs-bob", &["gc"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("in use") && err.contains("rs-alice (pid "),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    alice.kill().expect("SIGKILL");
    alice.wait().expect("reap");
    w.ok("rs-bob", &["gc"]);
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn the_config_says_who_may_connect_and_who_is_trusted() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    // The daemon reads root's LuaRocks config, as an admin writes it.
    let config = w.base().join("config-root.lua");
    let mut text_of = std::fs::read_to_string(&config).expect("config");
    text_of.push_str("rockstore_allowed_users = { 'root', 'rs-alice' }\nrockstore_trusted_users = { 'rs-alice' }\n");
    std::fs::write(&config, text_of).expect("config");
    let _daemon = start(&w);
    w.ok("rs-alice", &["--local", "install", "purelua"]);
    w.ok("rs-alice", &["gc"]);
    let out = w.rockstore("rs-bob", &["--local", "install", "purelua"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("refused") && err.contains("rs-bob is not among the daemon's allowed users"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_proxy_serving_other_sources_never_reaches_a_daemon_build() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    // Alice's proxy serves the same manifests and rockspecs, but sources
    // of purelua 2.0 that say they are 6.6.6.
    let lying = w.base().join("lying");
    std::fs::create_dir_all(&lying).expect("lying");
    for entry in std::fs::read_dir(&w.repo.dir).expect("repo").flatten() {
        // The files; the namespace's `manifests/` is not needed here.
        if entry.path().is_file() {
            std::fs::copy(entry.path(), lying.join(entry.file_name())).expect("copy");
        }
    }
    let src = w.base().join("lying-src/purelua-2.0");
    std::fs::create_dir_all(&src).expect("src");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(crate::support::project_dir().join("integration/rocks/purelua-2.0/."))
        .arg(&src)
        .status()
        .expect("cp");
    assert!(copied.success());
    std::fs::write(
        src.join("src/purelua/init.lua"),
        "return { version = '6.6.6' }\n",
    )
    .expect("trojan source");
    std::fs::write(
        lying.join("purelua-2.0.tar.gz"),
        crate::rocks_server::tarball(&src, "purelua-2.0"),
    )
    .expect("tarball");
    let proxy = crate::rocks_server::HttpServer::start(lying);
    let alice = |store: Option<&Path>, args: &[&str]| {
        let own = store.map(|s| s.display().to_string());
        let mut all: Vec<&str> = Vec::new();
        if let Some(own) = &own {
            all.extend(["--store", own.as_str()]);
        }
        all.extend_from_slice(args);
        w.rockstore_cmd("rs-alice", &all)
            .env("http_proxy", &proxy.base)
            .env("HTTP_PROXY", &proxy.base)
            .output()
            .expect("alice")
    };
    let out = alice(None, &["--local", "install", "purelua"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let asked = proxy.requests();
    assert!(
        asked.iter().any(|r| r.ends_with("purelua-2.0-1.rockspec")),
        "alice's own requests go through her proxy: {asked:?}"
    );
    assert!(
        !asked.iter().any(|r| r.ends_with(".tar.gz")),
        "the daemon fetched the sources itself: {asked:?}"
    );
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua').version)"),
        "2.0"
    );
    // The realisation says which bytes it was built from: the genuine
    // archive the daemon fetched.
    let item = w.item_of("rs-alice", "purelua");
    let info = w.ok_stdout("rs-alice", &["store", "info", &item]);
    let genuine = std::fs::read(w.repo.dir.join("purelua-2.0.tar.gz")).expect("tarball");
    assert!(
        info.contains(&format!(
            "source:      {}/purelua-2.0.tar.gz blake3:{}",
            w.repo.server.base,
            blake3::hash(&genuine).to_hex()
        )),
        "{info}"
    );
    w.ok("root", &["--tree", "system", "install", "purelua"]);
    assert_eq!(w.lua_ok("root", "print(require('purelua').version)"), "2.0");
    // In a store of her own the proxy does serve her build's sources (and
    // the rockspec's md5 refuses them).
    let own = w.home("rs-alice").join("own-store");
    let out = alice(Some(&own), &["build", "--no-install", "purelua"]);
    assert!(!out.status.success());
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.ends_with("purelua-2.0.tar.gz")),
        "{:?}",
        proxy.requests()
    );
    assert!(
        text(&out.stderr).contains("MD5 check"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn daemon_builds_run_without_network_in_bubblewrap() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    if !Path::new("/usr/bin/bwrap").exists() {
        skip_or_fail("bubblewrap (installed by .ci/run)");
        return;
    }
    let w = World::new();
    let daemon = start(&w);
    // A build step that calls home to the test server.
    let base = &w.repo.server.base;
    std::fs::write(
        w.repo.dir.join("netprobe-1.0-1.rockspec"),
        format!(
            "package = 'netprobe'\nversion = '1.0-1'\n\
             source = {{ url = '{base}/purelua-1.0.tar.gz', dir = 'purelua-1.0' }}\n\
             build = {{ type = 'command', build_command = 'curl -s -m 5 {base}/ping-from-build; true', install_command = 'true' }}\n"
        ),
    )
    .expect("rockspec");
    let url = w.repo.url("netprobe-1.0-1.rockspec");
    w.ok("rs-alice", &["--local", "install", &url]);
    let pinged = |server: &crate::rocks_server::HttpServer| {
        server
            .requests()
            .iter()
            .any(|r| r.contains("ping-from-build"))
    };
    assert!(!pinged(&w.repo.server), "the build reached the network");
    let log: Vec<String> = daemon.log.try_iter().collect();
    assert!(
        log.iter()
            .any(|l| l.contains("netprobe") && l.contains("bubblewrap (no network")),
        "the daemon says how the build was isolated: {log:?}"
    );
    // The same build outside the daemon does call home.
    let own = w.home("rs-alice").join("own-store");
    w.ok(
        "rs-alice",
        &[
            "--store",
            &own.display().to_string(),
            "build",
            "--no-install",
            &url,
        ],
    );
    assert!(
        pinged(&w.repo.server),
        "the probe works outside the sandbox"
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn make_hands_its_directory_to_the_daemon() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    // Alice's working directory, hers alone: the daemon reads it only
    // through the descriptor she hands over.
    let work = w.home("rs-alice").join("work");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::write(work.join("mine.lua"), "return 'made'\n").expect("module");
    std::fs::write(
        work.join("mine-1.0-1.rockspec"),
        "package = 'mine'\nversion = '1.0-1'\nsource = { url = 'file:///nowhere/mine-1.0.tar.gz' }\n\
         build = { type = 'builtin', modules = { mine = 'mine.lua' } }\n",
    )
    .expect("rockspec");
    crate::shared::chown_tree(&work, "rs-alice");
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let out = w
        .command(
            "rs-alice",
            "022",
            bin(),
            &["--lua-version", "5.4", "--local", "make"],
        )
        .current_dir(&work)
        .output()
        .expect("make");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.lua_ok("rs-alice", "print((require('mine')))"), "made");
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_rockspec_cannot_make_the_daemon_clone_a_repository_only_root_reads() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    if !crate::support::need(&["git"]) {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    // Root's private repository.
    let private = w.base().join("private");
    let repo = private.join("secret.git");
    std::fs::create_dir_all(&repo).expect("repo");
    std::fs::write(repo.join("secret.lua"), "return 'root only'\n").expect("file");
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=r",
            "-c",
            "user.email=r@r",
            "commit",
            "-q",
            "-m",
            "s",
        ],
    ] {
        assert!(Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .expect("git")
            .success());
    }
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    std::fs::write(
        w.repo.dir.join("secret-1.0-1.rockspec"),
        format!(
            "package = 'secret'\nversion = '1.0-1'\n\
             source = {{ url = 'git+file://{}', dir = 'secret' }}\n\
             build = {{ type = 'builtin', modules = {{ secret = 'secret.lua' }} }}\n",
            repo.display()
        ),
    )
    .expect("rockspec");
    let url = w.repo.url("secret-1.0-1.rockspec");
    let out = w.rockstore("rs-alice", &["--local", "install", &url]);
    assert!(!out.status.success(), "the daemon cloned root's repository");
    assert!(
        text(&out.stderr).contains("is a local file"),
        "{}",
        text(&out.stderr)
    );
}

/// A member's own LuaRocks tree, adopted through the daemon: the items
/// are the daemon's (she hands each over by descriptor), the tree hers.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_members_luarocks_tree_is_adopted_through_the_daemon() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    let tree = w.user_tree("rs-alice").display().to_string();
    let luarocks = |args: &[&str]| {
        let mut all = vec![
            "--lua-version",
            "5.4",
            "--only-server",
            w.repo.server.base.as_str(),
            "--tree",
            tree.as_str(),
        ];
        all.extend_from_slice(args);
        let out = w
            .command("rs-alice", "022", "luarocks", &all)
            .output()
            .expect("luarocks");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    luarocks(&["install", "cmulti"]);
    luarocks(&["install", "purelua"]);
    let listed = luarocks(&["list", "--porcelain"]);
    let said = w.ok("rs-alice", &["--local", "adopt"]);
    assert!(said.contains("Adopted 2 rock(s)"), "{said}");
    assert_eq!(luarocks(&["list", "--porcelain"]), listed);
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('cmulti').answer())"),
        "42"
    );
    let module = std::fs::canonicalize(w.user_tree("rs-alice").join("lib/lua/5.4/cmulti.so"))
        .expect("resolves");
    assert!(module.starts_with(w.store()), "{}", module.display());
    assert_eq!(
        std::fs::metadata(&module).expect("item file").uid(),
        0,
        "the daemon's item"
    );
    let out = w.command(
        "root",
        "022",
        bin(),
        &[
            "--store",
            &w.store().display().to_string(),
            "verify",
            "--contents",
        ],
    );
    let out = { out }.output().expect("verify");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn members_share_the_daemon_store_with_deps_modes_and_reuse() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    w.ok("root", &["--tree", "system", "install", "dmdep"]);
    w.repo.server.clear();
    // alice (deps mode all): dmdep comes from the global tree.
    w.ok(
        "rs-alice",
        &["--local", "--deps-mode", "all", "install", "dmtop"],
    );
    let alice_list = text(
        &w.rockstore("rs-alice", &["--local", "list", "--porcelain"])
            .stdout,
    );
    assert_eq!(
        alice_list
            .lines()
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["dmtop"]
    );
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('dmtop').dep.dep)"),
        "true"
    );
    // bob (deps mode one): dmdep goes into his tree too, reusing root's
    // build: no source download, no build.
    let err = w.ok(
        "rs-bob",
        &["--local", "--deps-mode", "one", "install", "dmtop"],
    );
    assert!(err.contains("dmdep 1.0-1: already built"), "{err}");
    let bob_list = text(
        &w.rockstore("rs-bob", &["--local", "list", "--porcelain"])
            .stdout,
    );
    assert_eq!(bob_list.lines().count(), 2, "{bob_list}");
    assert!(
        !w.repo
            .server
            .requests()
            .iter()
            .any(|r| r.contains("dmdep-1.0.tar.gz")),
        "{:?}",
        w.repo.server.requests()
    );
    assert_eq!(w.lua_ok("rs-bob", "print(require('dmtop').top)"), "true");
    // A tree the user cannot write: said before any work, with --local.
    w.repo.server.clear();
    let out = w.rockstore("rs-alice", &["--tree", "system", "install", "purelua"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot write to the tree") && err.contains("--local"),
        "{err}"
    );
    assert!(w.repo.server.requests().is_empty(), "no work was done");
    // Only trusted users sweep.
    let out = w.rockstore("rs-alice", &["gc"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("only trusted users collect garbage"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn admin_removal_and_gc_keep_a_members_dependency_by_her_recorded_roots() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let _daemon = start(&w);
    w.ok("root", &["--tree", "system", "install", "dmdep"]);
    w.ok(
        "rs-alice",
        &["--local", "--deps-mode", "all", "install", "dmtop"],
    );
    let dep_item = {
        let out = w.rockstore("root", &["--tree", "system", "list", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        json[0]["item"].as_str().expect("item").to_owned()
    };
    w.ok("root", &["--tree", "system", "remove", "dmdep"]);
    w.ok("root", &["gc"]);
    assert!(
        w.store().join("store").join(&dep_item).exists(),
        "GC kept alice's dependency"
    );
    // alice's own rock is intact; doctor names what vanished.
    assert!(!w.lua("rs-alice", "require('dmtop')").status.success());
    let out = w.rockstore("rs-alice", &["--local", "doctor"]);
    assert!(!out.status.success());
    let report = text(&out.stdout);
    assert!(
        report.contains("dmtop 1.0-1 needs dmdep") && report.contains(&dep_item),
        "{report}"
    );
    w.ok("rs-alice", &["--local", "doctor", "--fix"]);
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('dmtop').dep.dep)"),
        "true"
    );
    w.ok("rs-alice", &["--local", "doctor"]);
    w.ok("root", &["gc"]);
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('dmtop').dep.dep)"),
        "true"
    );
}

/// The daemon substitutes from root's binary caches: a member's install
/// of a C rock another daemon built and pushed runs no build at all. A
/// member cannot name her own cache or key (she would choose what root
/// runs); a trusted user can.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn roots_caches_serve_members_with_no_build_and_members_cannot_choose_their_own() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let cache = w.base().join("cache");
    std::fs::create_dir_all(&cache).expect("cache");
    let url = format!("file://{}", cache.display());
    let key = w.base().join("fleet-1.secret").display().to_string();
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &["cache", "keygen", "fleet-1", "--out", &key],
        )
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_owned();
    let mut seen = Vec::new();
    {
        // One daemon builds for alice and pushes what it built.
        let daemon = start_with(&w, &["--push-to", &url, "--secret-key-file", &key]);
        w.ok("rs-alice", &["--local", "install", "cmulti"]);
        daemon.wait_for(&["pushed", "cmulti", &url], 60, &mut seen);
    }
    // A new machine: an empty store and trees.
    // (chattr also complains about the links and the socket it skips.)
    let _ = Command::new("chattr")
        .args(["-R", "-f", "-i"])
        .arg(w.store())
        .stderr(Stdio::null())
        .status();
    std::fs::remove_dir_all(w.store()).expect("wipe the store");
    for user in ["rs-alice", "rs-bob"] {
        let _ = std::fs::remove_dir_all(w.user_tree(user));
    }
    let daemon = start_with(
        &w,
        &["--substituter", &url, "--trusted-public-key", &public],
    );
    seen.clear();
    let said = w.ok("rs-bob", &["--local", "install", "cmulti"]);
    daemon.wait_for(&["rs-bob", "cmulti", "substituted from"], 60, &mut seen);
    assert!(
        !seen.iter().any(|l| l.contains("isolation: build user")),
        "the daemon built: {seen:#?}\n{said}"
    );
    assert_eq!(
        w.lua_ok("rs-bob", "print(require('cmulti').answer())"),
        "42"
    );
    // Her own cache and key: refused before anything is fetched.
    let elsewhere = w.base().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    let theirs = format!("file://{}", elsewhere.display());
    let out = w.rockstore(
        "rs-alice",
        &["--local", "install", "purelua", "--substituter", &theirs],
    );
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("choose substituters") && err.contains(&theirs),
        "{err}"
    );
    // A trusted user may.
    drop(daemon);
    let _daemon = start_with(
        &w,
        &[
            "--substituter",
            &url,
            "--trusted-public-key",
            &public,
            "--trusted-user",
            "rs-alice",
        ],
    );
    w.ok(
        "rs-alice",
        &["--local", "install", "purelua", "--substituter", &theirs],
    );
}
