//! A hostile binary cache, as a red team played it: a server that
//! trickles (a byte now and then, or a head and then nothing), symbolic
//! links planted in a `file://` cache to lead a pusher's writes (root's
//! too) or a reader's reads out of it, and FIFOs where cache files belong.
//! Each install must end, within a bound the test holds it to, with a
//! warning naming the cache or the planted path, and build instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::{compiles, host, keygen, seeded, Engine};
use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

/// How a trickling server answers.
#[derive(Clone, Copy, Debug)]
enum Trickle {
    /// A 200 head announcing 100,000 bytes, then one byte every 250 ms.
    Bytes,
    /// The head, then nothing.
    HeadOnly,
}

/// A cache server on 127.0.0.1 that answers every request slowly;
/// stopped (its connections' loops end) when dropped.
struct TrickleServer {
    url: String,
    stop: Arc<AtomicBool>,
    /// Requests it has begun answering.
    hits: Arc<AtomicUsize>,
    /// The paths asked for, in the order their requests were read.
    paths: Arc<Mutex<Vec<String>>>,
}

impl TrickleServer {
    /// The paths asked for so far.
    fn asked(&self) -> Vec<String> {
        self.paths.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Drop for TrickleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(
            self.url
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or(""),
        );
    }
}

fn trickle_server(how: Trickle) -> TrickleServer {
    trickle_server_over(how, None)
}

/// [`trickle_server`], serving the files of `root` at once, but for
/// blobs, which trickle.
fn trickle_server_over(how: Trickle, root: Option<PathBuf>) -> TrickleServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let accepting = stop.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let logged = paths.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if accepting.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let stop = accepting.clone();
            let root = root.clone();
            let logged = logged.clone();
            std::thread::spawn(move || dribble(stream, how, &stop, root.as_deref(), &logged));
        }
    });
    TrickleServer {
        url: format!("http://{addr}/cache"),
        stop,
        hits,
        paths,
    }
}

/// Answers one connection slowly. Bounded: at most 4,000 steps of 250 ms
/// (a byte each, or a check of the stop flag), and it ends as soon as the
/// client goes away (a write fails) or the server stops.
fn dribble(
    stream: TcpStream,
    how: Trickle,
    stop: &AtomicBool,
    root: Option<&Path>,
    paths: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let mut stream = stream;
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if let Ok(mut p) = paths.lock() {
        p.push(path.clone());
    }
    if let Some(root) = root {
        let rel = path.trim_start_matches("/cache/");
        if !rel.starts_with("blob/") {
            let body = std::fs::read(root.join(rel)).ok();
            let head = match &body {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                ),
                None => {
                    "HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                }
            };
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_deref().unwrap_or_default());
            return;
        }
    }
    // A blob's own bytes when there is one (so a reader finds nothing
    // wrong with them but their pace), else an endless-looking document.
    let body = root
        .and_then(|r| std::fs::read(r.join(path.trim_start_matches("/cache/"))).ok())
        .unwrap_or_else(|| vec![b'{'; 100_000]);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    for byte in body.iter().take(4000) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if matches!(how, Trickle::Bytes) && stream.write_all(&[*byte]).is_err() {
            return;
        }
        // The slowness is the attack under test, not synchronisation.
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `cmd` to its end, failing the test when it takes over `secs`
/// (the hang under test; the child is killed then).
fn bounded(mut cmd: Command, secs: u64) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rockstore");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = started + Duration::from_secs(secs);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let said = err_reader.join().unwrap_or_default();
            panic!(
                "still running after {secs} s (hung on the cache):\n{}",
                text(&said)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let output = Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    (output, took)
}

#[test]
fn a_trickling_cache_costs_one_warning_and_its_deadline_then_the_rock_is_built() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public) = keygen(&s, "ci-1");
    for (i, how) in [Trickle::Bytes, Trickle::HeadOnly].into_iter().enumerate() {
        let server = trickle_server(how);
        let engine = Engine::remote(&server.url, s.tmp.path());
        let h = host(&s, &repo, &format!("t{i}"), &engine);
        // --timeout 1: every cache request has 1 s plus its size at 1 MiB/s.
        let args = [
            "install",
            "cmulti",
            "--timeout",
            "1",
            "--substituter",
            &server.url,
            "--trusted-public-key",
            &public,
        ];
        let (out, took) = bounded(h.cmd(&args), 120);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{how:?}:\n{said}");
        assert_eq!(said.matches("warning:").count(), 1, "{how:?}:\n{said}");
        assert!(
            said.contains(&server.url) && said.contains("deadline"),
            "{how:?}: the warning names the cache and its deadline:\n{said}"
        );
        assert!(took < Duration::from_secs(60), "{how:?}: {took:?}");
        assert!(
            compiles(&h.log) > 0,
            "{how:?}: built, as with a down cache:\n{said}\n{:?}",
            std::fs::read_to_string(&h.log)
        );
        assert_eq!(h.lua("print(require('cmulti').answer())"), "42");

        // --cache-only: a clear error naming the cache and why it was
        // skipped, within the same bound.
        let c = host(&s, &repo, &format!("c{i}"), &engine);
        let mut only = args.to_vec();
        only.push("--cache-only");
        let (out, _) = bounded(c.cmd(&only), 120);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{how:?}:\n{err}");
        assert!(
            err.contains("--cache-only") && err.contains(&server.url) && err.contains("deadline"),
            "{how:?}:\n{err}"
        );
    }
}

/// `seeded`'s cache, its blob and the item pushed.
struct Seeded {
    engine: Engine,
    public: String,
    real: PathBuf,
    blob: PathBuf,
}

fn seed(s: &Sandbox, repo: &Repo) -> Seeded {
    let (engine, public, real, _) = seeded(s, repo);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&real).expect("real")).expect("json");
    let hex = doc["hash"]
        .as_str()
        .expect("hash")
        .trim_start_matches("blake3:")
        .to_owned();
    let blob = engine
        .root
        .join("blob")
        .join(&hex[..2])
        .join(format!("{hex}.zst"));
    assert!(blob.exists(), "{}", blob.display());
    Seeded {
        engine,
        public,
        real,
        blob,
    }
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn a_fifo_where_a_cache_file_belongs_is_refused_by_name_and_the_rock_built() {
    if !need(&["lua5.4", "gcc", "mkfifo"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let seeded = seed(&s, &repo);
    // At the blob, then at the realisation (each before its own host).
    for (i, planted) in [seeded.blob.clone(), seeded.real.clone()]
        .into_iter()
        .enumerate()
    {
        mkfifo(&planted);
        let h = host(&s, &repo, &format!("f{i}"), &seeded.engine);
        let (out, took) = bounded(
            h.cmd(&[
                "install",
                "cmulti",
                "--substituter",
                &seeded.engine.url,
                "--trusted-public-key",
                &seeded.public,
            ]),
            120,
        );
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{}:\n{said}", planted.display());
        assert!(
            said.contains(&planted.display().to_string()) && said.contains("FIFO"),
            "the warning names the FIFO:\n{said}"
        );
        assert_eq!(said.matches("warning:").count(), 1, "{said}");
        assert!(compiles(&h.log) > 0, "built instead");
        assert!(took < Duration::from_secs(60), "{took:?}");
        assert_eq!(h.lua("print(require('cmulti').answer())"), "42");
    }
}

/// A directory outside the cache, with one file in it.
fn victim(s: &Sandbox) -> PathBuf {
    let dir = s.tmp.path().join("victim");
    std::fs::create_dir_all(&dir).expect("victim");
    std::fs::write(dir.join("precious"), "untouched").expect("precious");
    dir
}

fn victim_untouched(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("victim")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["precious"],
        "something was written outside the cache"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("precious")).expect("precious"),
        "untouched"
    );
}

#[test]
fn links_planted_in_a_directory_cache_lead_no_write_or_read_out_of_it() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let seeded = seed(&s, &repo);
    let a = host(&s, &repo, "a", &seeded.engine);
    let victim = victim(&s);
    let shard = seeded.blob.parent().expect("shard").to_path_buf();
    let shard_name = shard.file_name().expect("name").to_owned();
    let item_doc = std::fs::read_dir(seeded.engine.root.join("item"))
        .expect("item")
        .flatten()
        .next()
        .expect("an item document")
        .file_name();
    // What is planted, relative to the cache's root.
    let cases: [(&str, PathBuf, &[&str]); 3] = [
        (
            "the blob's shard directory",
            Path::new("blob").join(&shard_name),
            &[],
        ),
        (
            "the LuaRocks view",
            PathBuf::from("luarocks"),
            &["--luarocks-view"],
        ),
        (
            "an item document's name",
            Path::new("item").join(&item_doc),
            &[],
        ),
    ];
    for (i, (what, planted_at, extra)) in cases.iter().enumerate() {
        let root = s.tmp.path().join(format!("planted-{i}"));
        let link = root.join(planted_at);
        std::fs::create_dir_all(link.parent().expect("parent")).expect("dirs");
        let target = if i == 2 {
            victim.join("precious")
        } else {
            victim.clone()
        };
        std::os::unix::fs::symlink(&target, &link).expect("plant");
        let url = format!("file://{}", root.display());
        let mut args = vec!["copy", "--to", url.as_str()];
        args.extend_from_slice(extra);
        let out = a.run(&args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{what}: the push went on:\n{err}");
        assert!(
            err.contains(&link.display().to_string()) && err.contains("symbolic link"),
            "{what}: the error names the planted link:\n{err}"
        );
        victim_untouched(&victim);
    }

    // A reader: a realisation that is a link to a genuine one outside the
    // cache is not followed.
    let outside = s.tmp.path().join("outside.json");
    std::fs::copy(&seeded.real, &outside).expect("copy");
    std::fs::remove_file(&seeded.real).expect("rm");
    std::os::unix::fs::symlink(&outside, &seeded.real).expect("plant");
    let b = host(&s, &repo, "b", &seeded.engine);
    let said = b.ok(&[
        "install",
        "cmulti",
        "--substituter",
        &seeded.engine.url,
        "--trusted-public-key",
        &seeded.public,
    ]);
    assert!(
        said.contains(&seeded.real.display().to_string()) && said.contains("symbolic link"),
        "{said}"
    );
    assert!(
        compiles(&b.log) > 0,
        "built, not substituted through the link"
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn through_the_daemon_a_trickling_cache_holds_no_member_past_its_deadline() {
    use crate::daemon::{build_users_exist, start_with};
    use crate::shared::World;
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    let w = World::new();
    let key = w.base().join("fleet-1.secret").display().to_string();
    let out = w
        .command(
            "root",
            "022",
            crate::support::bin(),
            &["cache", "keygen", "fleet-1", "--out", &key],
        )
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_owned();
    let server = trickle_server(Trickle::Bytes);
    // Root's cache trickles; --timeout 1 gives its requests 1 s plus
    // their size at 1 MiB/s.
    let daemon = start_with(
        &w,
        &[
            "--timeout",
            "1",
            "--substituter",
            &server.url,
            "--trusted-public-key",
            &public,
        ],
    );
    // Alice asks for cmulti; once the daemon is fetching from the cache
    // for her, she leaves.
    let mut alice = w
        .rockstore_cmd("rs-alice", &["--local", "install", "cmulti"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alice");
    let asked = Instant::now() + Duration::from_secs(60);
    while server.hits.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < asked,
            "the daemon never asked its cache for alice's build"
        );
        if let Ok(Some(status)) = alice.try_wait() {
            panic!("alice's install ended ({status}) before the daemon asked the cache");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = alice.kill();
    let _ = alice.wait();
    // Bob's build of the same rock is served within a bound, not held
    // behind the fetch that alice left hanging.
    let (out, took) = bounded(
        w.rockstore_cmd("rs-bob", &["--local", "install", "cmulti"]),
        180,
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(took < Duration::from_secs(120), "{took:?}");
    assert_eq!(
        w.lua_ok("rs-bob", "print(require('cmulti').answer())"),
        "42"
    );
    let mut seen = Vec::new();
    let line = daemon.wait_for(&["warning", &server.url], 10, &mut seen);
    assert!(line.contains("deadline"), "{line}");
}

#[test]
fn a_garbage_or_absurd_lease_delays_an_install_at_most_the_lease_timeout() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public, real, secret) = seeded(&s, &repo);
    // cmulti's recipe key: the same on every host of this sandbox (one
    // compiler path, one Lua).
    let key = recipe_key_of(&real);
    let absurd = serde_json::json!({
        "format": 1, "recipe_key": key, "generation": 0,
        // An escape sequence that would erase the terminal's line, and a
        // newline starting a line that looks like ours.
        "host": "planted\u{1b}[2K\nnote: fake", "pid": 1, "expires": 32_503_680_000u64
    });
    let cases = [
        ("garbage", b"{ not a lease".to_vec()),
        ("absurd", serde_json::to_vec_pretty(&absurd).expect("json")),
    ];
    for (what, bytes) in cases {
        let root = s.tmp.path().join(format!("leased-{what}"));
        let lease = root.join("lease").join(&key).join("0.json");
        std::fs::create_dir_all(lease.parent().expect("parent")).expect("dirs");
        std::fs::write(&lease, &bytes).expect("plant");
        let url = format!("file://{}", root.display());
        let engine = Engine::remote(&url, &root);
        let h = host(&s, &repo, &format!("l-{what}"), &engine);
        let (out, took) = leased_install(&h, "cmulti", &url, &public, &secret);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{what}:\n{said}");
        assert!(compiles(&h.log) > 0, "{what}: built here");
        // The lease timeout, plus room for the build: far from the
        // 30 minutes a believed lease would hold it.
        assert!(took < Duration::from_secs(60), "{what}: {took:?}\n{said}");
        match what {
            "garbage" => {
                assert_eq!(said.matches("warning:").count(), 1, "{said}");
                assert!(
                    said.contains(&lease.display().to_string())
                        && said.contains("not a lease document"),
                    "{said}"
                );
                assert!(!said.contains("waiting for"), "{said}");
            }
            _ => {
                assert_eq!(
                    said.matches("note: waiting for planted\\u{1b}[2K\\u{a}note: fake (pid 1)'s build of cmulti")
                        .count(),
                    1,
                    "the wait is said once, with who holds the lease, escaped:\n{said}"
                );
                assert!(
                    !said.contains('\u{1b}'),
                    "a raw escape reached the terminal:\n{said}"
                );
                assert!(
                    !said.lines().any(|l| l.starts_with("note: fake")),
                    "a planted line reached the terminal:\n{said}"
                );
                assert!(said.contains(" UTC (in "), "and until when:\n{said}");
            }
        }
        // The next generation was taken with a create-only write, and
        // released after the push.
        assert!(!root.join("lease").join(&key).join("1.json").exists());
        assert!(
            root.join("real").join(&key).join("ci-1.json").exists(),
            "{what}: pushed"
        );
    }
}

#[test]
fn a_cache_that_trickles_only_its_blobs_is_cut_at_the_blobs_deadline() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let seeded = seed(&s, &repo);
    let server = trickle_server_over(Trickle::Bytes, Some(seeded.engine.root.clone()));
    let engine = Engine::remote(&server.url, s.tmp.path());
    let h = host(&s, &repo, "slow-blob", &engine);
    let (out, took) = bounded(
        h.cmd(&[
            "install",
            "cmulti",
            "--timeout",
            "1",
            "--substituter",
            &server.url,
            "--trusted-public-key",
            &seeded.public,
        ]),
        120,
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(compiles(&h.log) > 0, "built instead:\n{said}");
    assert!(
        said.contains(&format!("{}/blob/", server.url)) && said.contains("deadline"),
        "the blob's URL and deadline are named, and the cache skipped:\n{said}"
    );
    // Cut once: one warning, and after the cut neither that blob again
    // nor any other request to that cache.
    assert_eq!(said.matches("warning:").count(), 1, "{said}");
    let asked = server.asked();
    let blobs = asked.iter().filter(|p| p.contains("/blob/")).count();
    assert_eq!(blobs, 1, "the blob was asked for again: {asked:?}");
    assert!(
        asked.last().is_some_and(|p| p.contains("/blob/")),
        "asked the cache again after the cut: {asked:?}"
    );
}

/// `copy --from` gives a blob the deadline of the size its item document
/// states (`blob_size`): 1 s plus 3 KB at 1 MiB/s here, not the 17
/// minutes of a blob of unknown size. A server trickling the blob is cut
/// there, with an error naming the blob and that deadline.
#[test]
fn copy_from_gives_a_blob_the_deadline_of_its_stated_size() {
    let s = Sandbox::new();
    let root = s.dir("slow-cache");
    let item = crate::cache_attacks::plant_item(&root, "noise", 3000, |w| {
        // xorshift64: incompressible, so the blob is about 3 KB.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..375 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.write_all(&x.to_le_bytes()).expect("write");
        }
    });
    let server = trickle_server_over(Trickle::Bytes, Some(root));
    let mut cmd = s.cmd(["--timeout", "1", "copy", "--from", &server.url, &item]);
    cmd.env("TMPDIR", s.dir("copy-tmp"));
    let (out, took) = bounded(cmd, 60);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{}/blob/", server.url)) && err.contains("deadline of 1.0 s"),
        "the blob and its deadline are named:\n{err}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}\n{err}");
    assert!(s.items().is_empty(), "admitted: {:?}", s.items());
}

/// A blob longer than its item document's `blob_size` is cut off at that
/// size: `copy --from` refuses it, naming the stated size, and admits
/// nothing; told its true size, the same blob is copied.
#[test]
fn copy_from_cuts_a_blob_longer_than_its_stated_size() {
    let s = Sandbox::new();
    let src = s.dir("content");
    // xorshift64 in hex: a blob of some KB, compressing barely.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lua = String::from("return [[");
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lua.push_str(&format!("{x:016x}"));
    }
    lua.push_str("]]\n");
    std::fs::write(src.join("init.lua"), lua).expect("file");
    let pushed = s.add(&src, "longblob", "1.0-1");
    let item = pushed
        .file_name()
        .expect("item name")
        .to_string_lossy()
        .into_owned();
    let engine = crate::cache::file_engine(s.tmp.path());
    s.ok(["copy", "--to", &engine.url, &item]);
    let doc_path = engine.root.join(format!("item/{item}.json"));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&doc_path).expect("item doc")).expect("json");
    let true_size = doc["blob_size"].as_u64().expect("blob_size");
    assert!(true_size > 4000, "{doc}");
    let with_size = |size: u64| {
        let mut edited = doc.clone();
        edited["blob_size"] = size.into();
        std::fs::write(&doc_path, serde_json::to_vec(&edited).expect("json")).expect("write");
    };
    let fresh = Sandbox::new();
    with_size(true_size - 100);
    let out = fresh.run(["copy", "--from", &engine.url, &item]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let stated = format!("more than its stated {} bytes", true_size - 100);
    assert!(err.contains(&item) && err.contains(&stated), "{err}");
    assert!(fresh.items().is_empty(), "admitted: {:?}", fresh.items());
    with_size(true_size);
    let out = fresh.run(["copy", "--from", &engine.url, &item]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fresh.items().len(), 1);
}

/// A lock pins dmdep to an item whose blob the cache trickles. Nothing
/// states a pinned blob's size, so its deadline is that of 1 GiB (2 s
/// here: --timeout 1, and `rockstore_cache_min_rate` 1G); cut there, the
/// cache is down for the run: one warning naming it, dmdep built, and
/// nothing else asked of it (no realisation, no plan document).
#[test]
fn a_pinned_blob_cut_at_its_deadline_makes_the_cache_down_for_the_run() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    s.system_config("5.4", "rockstore_cache_min_rate = \"1G\"\n");
    let repo = Repo::new(s.tmp.path());
    let (_, public) = keygen(&s, "ci-1");
    let root = s.dir("slow-cache");
    let hash = blake3::hash(b"a pinned dmdep").to_hex().to_string();
    let blob = root.join(format!("blob/{}/{hash}.zst", &hash[..2]));
    std::fs::create_dir_all(blob.parent().expect("shard")).expect("shard");
    // A zstd frame of noise: a reader finds nothing wrong but its pace.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = Vec::new();
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&blob, zstd::encode_all(noise.as_slice(), 3).expect("zstd")).expect("blob");
    let server = trickle_server_over(Trickle::Bytes, Some(root));
    let project = s.dir("project");
    std::fs::write(
        project.join("app-1.0-1.rockspec"),
        "package = 'app'\nversion = '1.0-1'\nsource = { url = 'git+https://example.invalid/app' }\n\
         dependencies = { 'dmdep' }\n\
         build = { type = 'builtin', modules = { app = 'app.lua' } }\n",
    )
    .expect("rockspec");
    std::fs::write(
        project.join("app.lua"),
        "return { dep = require('dmdep').dep }\n",
    )
    .expect("app");
    std::fs::write(
        project.join("luarocks.lock"),
        format!(
            "return {{ dependencies = {{ dmdep = \"1.0-1\" }}, \
             rockstore_items = {{ dmdep = \"blake3:{hash}\" }} }}\n"
        ),
    )
    .expect("lock");
    let engine = Engine::remote(&server.url, s.tmp.path());
    let h = host(&s, &repo, "pinned", &engine);
    let (out, took) = bounded(
        h.cmd_in(
            &project,
            &[
                "make",
                "--timeout",
                "1",
                "--substituter",
                &server.url,
                "--trusted-public-key",
                &public,
            ],
        ),
        120,
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    let about_it: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("warning:") && l.contains(&server.url))
        .collect();
    assert_eq!(about_it.len(), 1, "{said}");
    assert!(about_it[0].contains("deadline of 2 s"), "{said}");
    // Its info file (checked before the blob is used), then the blob,
    // and nothing after the cut.
    let asked = server.asked();
    let blob = format!("/blob/{}/{hash}.zst", &hash[..2]);
    assert!(
        asked.last().is_some_and(|p| p.contains(&blob)),
        "asked the cache again after the cut: {asked:?}"
    );
    assert!(
        asked
            .iter()
            .all(|p| p.contains(&blob) || p.ends_with("/rockstore-cache-info")),
        "{asked:?}"
    );
    assert_eq!(asked.iter().filter(|p| p.contains(&blob)).count(), 1);
    assert_eq!(h.lua("print(require('app').dep)"), "true");
}

/// A `blob_size` of 0 (an engine that gave no length when it was pushed:
/// no blob is empty) is a size not known, not one to cut the blob at:
/// a realisation signed so still substitutes (its blob streamed, bounded
/// by its signed item size), and `copy --from` under an item document
/// saying so still copies.
#[test]
fn a_blob_size_of_zero_is_unknown_not_a_cut() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (engine, public, real, secret) = seeded(&s, &repo);
    crate::cache::edit_signed(&real, &secret, |doc| doc["blob_size"] = 0.into());
    let b = host(&s, &repo, "zero", &engine);
    let said = b.ok(&[
        "install",
        "cmulti",
        "--substituter",
        &engine.url,
        "--trusted-public-key",
        &public,
    ]);
    assert_eq!(compiles(&b.log), 0, "built instead:\n{said}");
    assert!(!said.contains("warning:"), "{said}");

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&real).expect("real")).expect("json");
    let item = doc["item"].as_str().expect("item").to_owned();
    let item_doc = engine.root.join(format!("item/{item}.json"));
    let mut idoc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&item_doc).expect("item doc")).expect("json");
    idoc["blob_size"] = 0.into();
    std::fs::write(&item_doc, serde_json::to_vec(&idoc).expect("json")).expect("write");
    let fresh = Sandbox::new();
    let out = fresh.run(["copy", "--from", &engine.url, &item]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A plan document names its blobs before their realisations state their
/// sizes, so they are fetched on a guess: 32 MiB, not the whole prefetch
/// budget of 256 MiB. A cache that trickles them is cut at the guess's
/// deadline (1 s plus 32 MiB at 16 MiB/s here: 3 s, where the budget's
/// would be 17 s), is down for the run, and the rock is built.
#[test]
fn a_plan_documents_blob_that_trickles_costs_the_deadline_of_a_guess_not_of_the_budget() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    s.system_config("5.4", "rockstore_cache_min_rate = \"16M\"\n");
    let repo = Repo::new(s.tmp.path());
    let seeded = crate::cache::file_engine(s.tmp.path());
    let (secret, public) = keygen(&s, "ci-1");
    // A plan document is written by an install that substitutes too.
    host(&s, &repo, "a", &seeded).ok(&[
        "install",
        "cmulti",
        "--substituter",
        &seeded.url,
        "--trusted-public-key",
        &public,
        "--push-to",
        &seeded.url,
        "--secret-key-file",
        &secret.display().to_string(),
    ]);
    assert!(
        seeded.root.join("plan").is_dir(),
        "the seeding install wrote a plan document"
    );
    let server = trickle_server_over(Trickle::Bytes, Some(seeded.root.clone()));
    let engine = Engine::remote(&server.url, s.tmp.path());
    let h = host(&s, &repo, "slow-plan", &engine);
    let (out, took) = bounded(
        h.cmd(&[
            "install",
            "cmulti",
            "--timeout",
            "1",
            "--substituter",
            &server.url,
            "--trusted-public-key",
            &public,
        ]),
        120,
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    let asked = server.asked();
    assert!(
        asked.iter().any(|p| p.contains("/plan/")),
        "the plan document was read: {asked:?}"
    );
    assert!(
        said.contains(&format!("{}/blob/", server.url)) && said.contains("deadline of 3 s"),
        "cut at the guess's deadline:\n{said}"
    );
    assert_eq!(said.matches("warning:").count(), 1, "{said}");
    assert!(
        !said.contains("downloaded 0 build(s)"),
        "no line tells of a download that did not happen:\n{said}"
    );
    assert!(compiles(&h.log) > 0, "built instead:\n{said}");
    assert_eq!(h.lua("print(require('cmulti').answer())"), "42");
}

/// Leases planted in every generation (0 to 15), each naming another
/// holder and a far expiry, never renewed: each is believed at most the
/// lease timeout from its first read, and a run believes leases it never
/// sees renewed one lease timeout in all (then each only as long as a
/// live holder takes to renew), so the stuffing costs about one wait,
/// not sixteen. The host says whom it waits for, then why it builds.
#[test]
fn leases_planted_in_every_generation_cost_one_lease_timeout_not_sixteen() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public, real, secret) = seeded(&s, &repo);
    let key = recipe_key_of(&real);
    let root = s.tmp.path().join("stuffed");
    let leases = root.join("lease").join(&key);
    std::fs::create_dir_all(&leases).expect("dirs");
    for generation in 0..16u32 {
        let doc = serde_json::json!({
            "format": 1, "recipe_key": key, "generation": generation,
            "host": format!("planted-{generation}"), "pid": 1,
            "expires": 32_503_680_000u64
        });
        std::fs::write(
            leases.join(format!("{generation}.json")),
            serde_json::to_vec_pretty(&doc).expect("json"),
        )
        .expect("plant");
    }
    let url = format!("file://{}", root.display());
    let engine = Engine::remote(&url, &root);
    let h = host(&s, &repo, "stuffed", &engine);
    let (out, took) = leased_install(&h, "cmulti", &url, &public, &secret);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(compiles(&h.log) > 0, "built here:\n{said}");
    // Generation 0 is believed its timeout; generation 1 only as long as
    // a live holder would take to be seen renewing it; none after.
    assert_eq!(
        said.matches("note: waiting for planted-").count(),
        2,
        "{said}"
    );
    assert!(
        said.contains("note: waiting for planted-0")
            && said.contains("note: waiting for planted-1"),
        "{said}"
    );
    assert!(
        said.contains("is not seen renewed") && said.contains("building it here"),
        "{said}"
    );
    // Sixteen believed leases would take 32 s at least.
    assert!(took < Duration::from_secs(30), "{took:?}\n{said}");
    assert!(
        root.join("real").join(&key).join("ci-1.json").exists(),
        "pushed"
    );
}

/// A cache whose info file says a later format (or no rockstore cache at
/// all) is not read, even when it is the only substituter: nothing it
/// sent is used, the install builds and says why once, `--cache-only`
/// fails naming it, and a push to it is refused before anything is
/// written.
#[test]
fn a_cache_of_another_format_is_neither_read_nor_written() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (engine, public, real, secret) = seeded(&s, &repo);
    let info = engine.root.join("rockstore-cache-info");
    for (i, (says, why)) in [
        ("rockstore cache 2\npriority: 10\n".to_owned(), "format 2"),
        (
            "nix-cache-info\nStoreDir: /nix/store\n".to_owned(),
            "not a rockstore cache",
        ),
        // Larger than any info file: not read as if it were missing.
        (
            format!("rockstore cache 2\n{}", "#".repeat(100_000)),
            "not a rockstore cache",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&info, says).expect("info");
        let h = host(&s, &repo, &format!("v{i}"), &engine);
        let out = h
            .cmd(&[
                "install",
                "cmulti",
                "--substituter",
                &engine.url,
                "--trusted-public-key",
                &public,
            ])
            .output()
            .expect("install");
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{said}");
        assert!(
            compiles(&h.log) > 0,
            "{why}: built, not substituted:\n{said}"
        );
        let warned: Vec<&str> = said.lines().filter(|l| l.starts_with("warning:")).collect();
        assert_eq!(warned.len(), 1, "{said}");
        assert!(
            warned[0].contains("rockstore-cache-info")
                && warned[0].contains(why)
                && warned[0].contains("skipped"),
            "{said}"
        );

        let c = host(&s, &repo, &format!("c{i}"), &engine);
        let out = c
            .cmd(&[
                "install",
                "cmulti",
                "--substituter",
                &engine.url,
                "--trusted-public-key",
                &public,
                "--cache-only",
            ])
            .output()
            .expect("install");
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(&engine.url) && err.contains(why), "{err}");
    }
    // A push: refused, and the cache's files are as they were.
    std::fs::write(&info, "rockstore cache 2\n").expect("info");
    let before = std::fs::read(&real).expect("real");
    let p = host(&s, &repo, "p", &engine);
    let out = p
        .cmd(&[
            "install",
            "purelua",
            "--push-to",
            &engine.url,
            "--secret-key-file",
            &secret.display().to_string(),
        ])
        .output()
        .expect("install");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("format 2"), "{said}");
    assert_eq!(std::fs::read(&real).expect("real"), before);
    let realisations = std::fs::read_dir(engine.root.join("real"))
        .expect("real")
        .count();
    assert_eq!(realisations, 1, "nothing pushed:\n{said}");
}

/// Leases planted for every recipe of a plan (appx's three), never
/// renewed: the run believes the first for the lease timeout and looks
/// once more for a renewal, then waits for none of the others, so a
/// plan of any size costs about one lease timeout, not one look per
/// recipe.
#[test]
fn leases_planted_for_every_recipe_cost_one_timeout_and_one_look_in_all() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let seeded = crate::cache::file_engine(s.tmp.path());
    let (secret, public) = keygen(&s, "ci-1");
    let secret = secret.display().to_string();
    host(&s, &repo, "a", &seeded).ok(&[
        "install",
        "appx",
        "--push-to",
        &seeded.url,
        "--secret-key-file",
        &secret,
    ]);
    let keys: Vec<String> = std::fs::read_dir(seeded.root.join("real"))
        .expect("real")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(keys.len(), 3, "appx, cmulti, purelua: {keys:?}");
    let root = s.tmp.path().join("planted-all");
    for (i, key) in keys.iter().enumerate() {
        let dir = root.join("lease").join(key);
        std::fs::create_dir_all(&dir).expect("dirs");
        let doc = serde_json::json!({
            "format": 1, "recipe_key": key, "generation": 0,
            "host": format!("planted-{i}"), "pid": 1, "expires": 32_503_680_000u64
        });
        std::fs::write(dir.join("0.json"), serde_json::to_vec(&doc).expect("json")).expect("plant");
    }
    let url = format!("file://{}", root.display());
    let h = host(&s, &repo, "b", &Engine::remote(&url, &root));
    let (out, _) = leased_install(&h, "appx", &url, &public, Path::new(&secret));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    let waits = said.matches("note: waiting for planted-").count();
    assert!(
        (1..=2).contains(&waits),
        "one lease believed, at most one more looked at, none after:\n{said}"
    );
    assert!(compiles(&h.log) > 0, "{said}");
    assert_eq!(h.lua("print(require('appx').run())"), "hello, appx 42");
}

/// A recipe's lease directory planted as a link (a file:// cache): each
/// of the sixteen generations below it is void, but it is said once, and
/// the rock is built and pushed (nothing written through the link).
#[test]
fn a_lease_directory_planted_as_a_link_is_warned_about_once() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public, real, secret) = seeded(&s, &repo);
    let key = recipe_key_of(&real);
    let root = s.tmp.path().join("linked-leases");
    let elsewhere = s.dir("elsewhere");
    std::fs::create_dir_all(root.join("lease")).expect("dirs");
    std::os::unix::fs::symlink(&elsewhere, root.join("lease").join(&key)).expect("plant");
    let url = format!("file://{}", root.display());
    let h = host(&s, &repo, "linked", &Engine::remote(&url, &root));
    let (out, _) = leased_install(&h, "cmulti", &url, &public, &secret);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    let about_the_link = said
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("symbolic link"))
        .count();
    assert_eq!(about_the_link, 1, "{said}");
    assert!(compiles(&h.log) > 0, "{said}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).expect("elsewhere").count(),
        0,
        "written through the link"
    );
}

/// The recipe key a realisation document at `real/<key>/<signer>.json`
/// is filed under.
fn recipe_key_of(real: &Path) -> String {
    real.parent()
        .and_then(Path::file_name)
        .expect("key")
        .to_string_lossy()
        .into_owned()
}

/// `rock` installed by `h` from and to the cache at `url` (so it takes
/// build leases), signing with `secret`, with a lease timeout of 2 s;
/// bounded at 120 s.
fn leased_install(
    h: &crate::cache::Host<'_>,
    rock: &str,
    url: &str,
    public: &str,
    secret: &Path,
) -> (Output, Duration) {
    bounded(
        h.cmd(&[
            "install",
            rock,
            "--substituter",
            url,
            "--push-to",
            url,
            "--trusted-public-key",
            public,
            "--secret-key-file",
            &secret.display().to_string(),
            "--lease-timeout",
            "2",
        ]),
        120,
    )
}
