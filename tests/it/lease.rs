//! Build leases on real engines: SeaweedFS's S3 gateway (`weed mini` on
//! 127.0.0.1) refuses a second create-only write (`If-None-Match: *`),
//! also when many writers race; and a host killed while holding a lease
//! delays the others at most the lease's timeout, after which exactly one
//! of them builds and the rest substitute its push.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rockstore::cache::transport::{Put, S3Credentials};
use rockstore::cache::Cache;

use crate::cache::seaweed_engine;
use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

fn s3_cache(url: &str) -> Cache {
    let creds = S3Credentials {
        key: "ROCKSTOREKEY".into(),
        secret: "rockstore-secret".into(),
        token: None,
    };
    Cache::open(url, Default::default(), Some(&creds)).expect("cache")
}

#[test]
fn seaweedfs_refuses_a_second_writer_even_racing() {
    let s = Sandbox::new();
    let Some(engine) = seaweed_engine(s.tmp.path()) else {
        return;
    };
    let cache = Arc::new(s3_cache(&engine.url));
    assert_eq!(
        cache.create("lease/probe", b"first").expect("put"),
        Put::Written
    );
    assert_eq!(
        cache.create("lease/probe", b"second").expect("put"),
        Put::Exists
    );
    assert_eq!(
        cache.transport().get("lease/probe", 100).expect("get"),
        Some(b"first".to_vec()),
        "a refused write left the first writer's bytes"
    );
    // Eight writers at once on each of ten new paths: one wins each.
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(8));
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (cache, barrier) = (cache.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache
                        .create(
                            &format!("lease/race-{round}"),
                            format!("writer {w}").as_bytes(),
                        )
                        .expect("put")
                })
            })
            .collect();
        let won = writers
            .into_iter()
            .map(|t| t.join().expect("writer"))
            .filter(|p| *p == Put::Written)
            .count();
        assert_eq!(
            won, 1,
            "round {round}: {won} writers created the same object"
        );
    }
}

/// A compiler that logs its runs to `$CC_LOG` and runs gcc, except when
/// `$CC_HOLD` names a pipe: then it writes its pid there and blocks, a
/// build caught in the middle (the test reads the pipe, then kills it).
fn holding_cc(dir: &Path) -> std::path::PathBuf {
    let cc = dir.join("hold-cc");
    std::fs::write(
        &cc,
        "#!/bin/sh\necho \"$@\" >> \"${CC_LOG:-/dev/null}\"\n\
         if [ -n \"$CC_HOLD\" ]; then echo $$ > \"$CC_HOLD\"; exec sleep 600; fi\n\
         exec gcc \"$@\"\n",
    )
    .expect("cc");
    std::fs::set_permissions(&cc, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    cc
}

/// The source files a host compiled (`-c x.c` runs in its log).
fn compiled(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" -c "))
        .flat_map(|l| {
            l.split_whitespace()
                .filter(|w| w.ends_with(".c"))
                .map(str::to_owned)
        })
        .map(|f| f.rsplit('/').next().unwrap_or(&f).to_owned())
        .collect()
}

#[test]
fn a_host_killed_holding_a_lease_delays_the_others_at_most_its_timeout() {
    if !need(&["gcc", "mkfifo"]) {
        return;
    }
    let s = Sandbox::new();
    let Some(engine) = seaweed_engine(s.tmp.path()) else {
        return;
    };
    let repo = Repo::new(s.tmp.path());
    let secret = s.tmp.path().join("fleet.secret");
    let out = s
        .bare_cmd()
        .args(["cache", "keygen", "fleet-1", "--out"])
        .arg(&secret)
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_owned();
    let cc = holding_cc(s.tmp.path());
    const TTL: u64 = 3;
    let host = |name: &str| {
        let mut cmd = s.bare_cmd();
        cmd.env("CC_LOG", s.tmp.path().join(format!("{name}-cc.log")))
            .envs(engine.env.iter().map(|(k, v)| (k, v)))
            .arg("--store")
            .arg(s.tmp.path().join(format!("{name}-store")))
            .arg("--tree")
            .arg(s.tmp.path().join(format!("{name}-tree")))
            .args(["--only-server", &repo.server.base, "--lua-version", "5.4"])
            .args(["install", "cmulti", "--substituter", &engine.url])
            .args(["--push-to", &engine.url, "--trusted-public-key", &public])
            .arg("--secret-key-file")
            .arg(&secret)
            .args(["--lease-timeout", &TTL.to_string()])
            .arg(format!("CC={}", cc.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    // Host a claims the lease and is caught compiling.
    let hold = s.tmp.path().join("hold");
    let made = Command::new("mkfifo").arg(&hold).status().expect("mkfifo");
    assert!(made.success());
    let mut a = host("a").env("CC_HOLD", &hold).spawn().expect("host a");
    let (tx, rx) = std::sync::mpsc::channel();
    let pipe = hold.clone();
    std::thread::spawn(move || {
        let mut pid = String::new();
        let read = std::fs::File::open(&pipe).and_then(|mut f| f.read_to_string(&mut pid));
        let _ = tx.send(read.map(|_| pid));
    });
    // Every compiler run caught (two sources may compile at once).
    let cc_pids: Vec<i32> = match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(Ok(pids)) => pids
            .lines()
            .map(|p| p.trim().parse().expect("cc pid"))
            .collect(),
        other => {
            let _ = a.kill();
            let out = a.wait_with_output().expect("host a");
            panic!(
                "host a never compiled ({other:?}):\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
    };
    // Killed as a host dies: no release, no push.
    a.kill().expect("kill a");
    let _ = a.wait();
    let killed = Instant::now();
    for pid in cc_pids
        .iter()
        .filter_map(|p| rustix::process::Pid::from_raw(*p))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    // Two hosts start together; a's lease is live for up to TTL more.
    let b = host("b").spawn().expect("host b");
    let c = host("c").spawn().expect("host c");
    let (b, c) = (
        b.wait_with_output().expect("b"),
        c.wait_with_output().expect("c"),
    );
    let said = format!(
        "b:\n{}{}\nc:\n{}{}",
        text(&b.stdout),
        text(&b.stderr),
        text(&c.stdout),
        text(&c.stderr)
    );
    assert!(b.status.success() && c.status.success(), "{said}");
    // Exactly one of them compiled, each source once.
    let (cb, cc_) = (
        compiled(&s.tmp.path().join("b-cc.log")),
        compiled(&s.tmp.path().join("c-cc.log")),
    );
    assert!(
        cb.is_empty() != cc_.is_empty(),
        "exactly one host builds: b compiled {cb:?}, c compiled {cc_:?}\n{said}"
    );
    let mut all: Vec<String> = cb.iter().chain(&cc_).cloned().collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a source compiled twice: {cb:?} {cc_:?}");
    // The builder waited for a's lease to expire, and no longer than its
    // timeout (plus the second the expiry is written in and one poll).
    let waited: f64 = said
        .lines()
        .find_map(|l| {
            l.split("waited ")
                .nth(1)
                .filter(|_| l.contains("its lease on") && l.contains("expired"))
                .and_then(|r| r.split(' ').next())
                .and_then(|x| x.parse().ok())
        })
        .unwrap_or_else(|| panic!("no host says it waited for the expired lease:\n{said}"));
    assert!(
        waited <= (TTL + 2) as f64,
        "waited {waited} s for a lease of {TTL} s:\n{said}"
    );
    assert!(waited >= 0.5, "the lease was not waited for:\n{said}");
    // And nothing else held them up: the whole takeover (the wait, one
    // build, one push, one download) is well within a minute.
    assert!(killed.elapsed() < Duration::from_secs(TTL + 60), "{said}");
}

/// nginx's WebDAV PUT overwrites: no lease is taken, every host that
/// misses builds, and the install says so once.
#[test]
fn an_engine_that_cannot_refuse_a_second_writer_builds_and_says_so_once() {
    if !need(&["gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let Some(engine) = crate::cache::nginx_engine(s.tmp.path()) else {
        return;
    };
    let repo = Repo::new(s.tmp.path());
    let secret = s.tmp.path().join("k.secret");
    let out = s
        .bare_cmd()
        .args(["cache", "keygen", "k-1", "--out"])
        .arg(&secret)
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_owned();
    let out = s
        .bare_cmd()
        .arg("--store")
        .arg(s.tmp.path().join("store"))
        .arg("--tree")
        .arg(s.tmp.path().join("tree"))
        .args(["--only-server", &repo.server.base, "--lua-version", "5.4"])
        .args(["install", "appx", "--substituter", &engine.url])
        .args(["--push-to", &engine.url, "--trusted-public-key", &public])
        .arg("--secret-key-file")
        .arg(&secret)
        .output()
        .expect("install");
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        said.matches("cannot refuse a second writer").count(),
        1,
        "{said}"
    );
    assert!(
        !engine.root.join("lease").exists(),
        "a lease was written to an engine that cannot hold one"
    );
}
