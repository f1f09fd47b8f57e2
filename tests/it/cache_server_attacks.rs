//! A stranger's cache server, as a red team played it: one that answers
//! redirects (to make rockstore ask another service of the machine, or
//! to take a push somewhere it did not go), a realisation validly signed
//! with a `blob_size` its blob does not have, and signer names carrying
//! terminal escapes. Each answer must be refused, said, and followed
//! nowhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::cache::{compiles, host, seeded, Engine};
use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

/// How a [`Scripted`] server answers.
#[derive(Clone, Default)]
struct Script {
    /// Files served (GET, HEAD) from here, below `/cache/`.
    root: Option<PathBuf>,
    /// Requests of paths starting with one of these (below `/cache/`)
    /// answered `302` to this base URL with the same path.
    redirect: Option<(String, Vec<&'static str>)>,
    /// Every PUT answered with this status (with a `Location` to the
    /// redirect base, when there is one).
    put_status: Option<u16>,
    /// Every answer sent this long after its request (the pace under
    /// test, not synchronisation).
    delay: Option<std::time::Duration>,
}

/// An HTTP server on 127.0.0.1 (an ephemeral port) answering as its
/// script says, logging `METHOD path` of every request.
struct Scripted {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn start(script: Script) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let logged = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, logged) = (script.clone(), logged.clone());
                std::thread::spawn(move || answer(stream, &script, &logged));
            }
        });
        Scripted {
            url: format!("http://{addr}/cache"),
            log,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn answer(stream: TcpStream, script: &Script, log: &Mutex<Vec<String>>) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut length = 0usize;
    for _ in 0..100 {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
        }
    }
    // The body, read whole (bounded by what it says, at most 64 MiB).
    let mut body = vec![0u8; length.min(64 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut words = first.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let path = words.next().unwrap_or("/").to_owned();
    if let Ok(mut l) = log.lock() {
        l.push(format!("{method} {path}"));
    }
    let rel = path.trim_start_matches("/cache/");
    if let Some(delay) = script.delay {
        std::thread::sleep(delay);
    }
    let mut stream = stream;
    let reply = |stream: &mut TcpStream, status: u16, extra: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status} X\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        if method != "HEAD" {
            let _ = stream.write_all(body);
        }
    };
    if let Some((to, prefixes)) = &script.redirect {
        if method != "PUT" && prefixes.iter().any(|p| rel.starts_with(p)) {
            let location = format!("Location: {to}/{rel}\r\n");
            return reply(&mut stream, 302, &location, b"");
        }
    }
    if method == "PUT" {
        if let Some(status) = script.put_status {
            let location = script
                .redirect
                .as_ref()
                .map(|(to, _)| format!("Location: {to}/{rel}\r\n"))
                .unwrap_or_default();
            return reply(&mut stream, status, &location, b"");
        }
        // A service that takes anything: the target of a redirect.
        return reply(&mut stream, 201, "", b"");
    }
    match script
        .root
        .as_ref()
        .and_then(|r| std::fs::read(r.join(rel)).ok())
    {
        Some(bytes) => reply(&mut stream, 200, "", &bytes),
        None => reply(&mut stream, 404, "", b""),
    }
}

/// A cache answering 302 for its realisations and blobs, to another
/// service of this machine (here: one that would serve the genuine
/// files): rockstore asks that service nothing, says the cache answered a
/// redirect and where to, and builds.
#[test]
fn a_cache_redirecting_elsewhere_is_followed_nowhere() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (engine, public, _, _) = seeded(&s, &repo);
    let other = Scripted::start(Script {
        root: Some(engine.root.clone()),
        ..Script::default()
    });
    let cache = Scripted::start(Script {
        root: Some(engine.root.clone()),
        redirect: Some((other.url.clone(), vec!["real/", "blob/"])),
        ..Script::default()
    });
    let h = host(&s, &repo, "r", &Engine::remote(&cache.url, &engine.root));
    let said = h.ok(&[
        "install",
        "cmulti",
        "--substituter",
        &cache.url,
        "--trusted-public-key",
        &public,
    ]);
    assert_eq!(
        other.requests(),
        Vec::<String>::new(),
        "the redirect was followed:\n{said}"
    );
    assert!(
        cache
            .requests()
            .iter()
            .any(|r| r.contains("/real/") || r.contains("/blob/")),
        "{:?}",
        cache.requests()
    );
    assert!(
        said.contains("answered 302 (a redirect to ")
            && said.contains(&format!("{}/", other.url))
            && said.contains("follow no redirect"),
        "the redirect is named, with where it led:\n{said}"
    );
    assert_eq!(said.matches("warning:").count(), 1, "{said}");
    assert!(compiles(&h.log) > 0, "built instead:\n{said}");
    assert_eq!(h.lua("print(require('cmulti').answer())"), "42");
}

/// A cache whose every PUT is answered 307 (to another service): no
/// write is counted as pushed, the push fails saying so, and the other
/// service is sent nothing.
#[test]
fn a_put_answered_with_a_redirect_is_no_push() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (secret, _) = crate::cache::keygen(&s, "ci-1");
    let secret = secret.display().to_string();
    let other = Scripted::start(Script::default());
    let cache = Scripted::start(Script {
        root: Some(s.dir("empty-cache")),
        redirect: Some((other.url.clone(), Vec::new())),
        put_status: Some(307),
        delay: None,
    });
    let a = host(&s, &repo, "a", &Engine::remote(&cache.url, s.tmp.path()));
    let out = a.run(&[
        "install",
        "cmulti",
        "--push-to",
        &cache.url,
        "--secret-key-file",
        &secret,
    ]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !said.contains("pushed 1") && !said.contains("pushed 2"),
        "counted as pushed:\n{said}"
    );
    assert!(
        said.contains("307") && said.contains(&cache.url),
        "the failed push is said:\n{said}"
    );
    let out = a.run(&["copy", "--to", &cache.url, "--secret-key-file", &secret]);
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "copy --to succeeded:\n{err}");
    assert!(
        err.contains("307") && err.contains(&cache.url),
        "the error names the cache and its answer:\n{err}"
    );
    assert!(!err.contains("blob(s) uploaded"), "{err}");
    assert!(
        cache.requests().iter().any(|r| r.starts_with("PUT ")),
        "{:?}",
        cache.requests()
    );
    assert_eq!(
        other.requests(),
        Vec::<String>::new(),
        "the 307 was followed"
    );
}

/// A realisation validly signed (by the trusted key) with a `blob_size`
/// other than its blob's: smaller (the blob is longer than signed) and
/// larger (it ends short). Both are refused with a warning naming the
/// stated size, nothing is admitted from the blob, and the rock is built;
/// through the plan document's early download as through the step's own.
#[test]
fn a_blob_of_another_size_than_signed_is_refused() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (engine, public, real, secret) = seeded(&s, &repo);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&real).expect("real")).expect("json");
    let true_size = doc["blob_size"].as_u64().expect("blob_size");
    assert!(true_size > 100, "{doc}");
    for (i, (lie, plans)) in [
        (10, true),
        (true_size + 100, true),
        (10, false),
        (true_size + 100, false),
    ]
    .into_iter()
    .enumerate()
    {
        crate::cache::edit_signed(&real, &secret, |d| d["blob_size"] = lie.into());
        let plan_dir = engine.root.join("plan");
        let hidden = engine.root.join("plan-hidden");
        if plans && !plan_dir.exists() && hidden.exists() {
            std::fs::rename(&hidden, &plan_dir).expect("plans back");
        }
        if !plans && plan_dir.exists() {
            std::fs::rename(&plan_dir, &hidden).expect("plans away");
        }
        let h = host(&s, &repo, &format!("z{i}"), &engine);
        let said = h.ok(&[
            "install",
            "cmulti",
            "--substituter",
            &engine.url,
            "--trusted-public-key",
            &public,
        ]);
        assert!(
            said.contains(&format!("{lie} bytes")) && said.contains("blob"),
            "{lie} (plans: {plans}): the refusal names the signed size:\n{said}"
        );
        assert_eq!(said.matches("warning:").count(), 1, "{said}");
        assert!(compiles(&h.log) > 0, "{lie}: built instead:\n{said}");
        assert_eq!(h.lua("print(require('cmulti').answer())"), "42");
    }
}

/// A realisation whose signature names a signer with a terminal escape
/// (and one with a newline): refused as unreadable, the name escaped, no
/// raw escape on the terminal, and the rock built.
#[test]
fn a_signer_name_with_escapes_is_refused_escaped() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (engine, public, real, _) = seeded(&s, &repo);
    let genuine = std::fs::read(&real).expect("real");
    for (i, name) in [
        "ci-1\u{1b}[2K\u{1b}]0;owned\u{7}",
        "ci-1\nwarning: all fine",
    ]
    .into_iter()
    .enumerate()
    {
        let mut doc: serde_json::Value = serde_json::from_slice(&genuine).expect("json");
        let signature = doc["signature"].as_str().expect("signature").to_owned();
        let (_, sig) = signature.split_once(':').expect("name:sig");
        doc["signature"] = format!("{name}:{sig}").into();
        std::fs::write(&real, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        let h = host(&s, &repo, &format!("e{i}"), &engine);
        let out = h.run(&[
            "install",
            "cmulti",
            "--substituter",
            &engine.url,
            "--trusted-public-key",
            &public,
        ]);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{said}");
        assert!(
            !said.contains('\u{1b}') && !said.contains('\u{7}'),
            "a raw escape reached the terminal:\n{said}"
        );
        assert!(
            said.contains("which is no key name") && said.contains("taken as unreadable"),
            "refused as unreadable:\n{said}"
        );
        if i == 0 {
            assert!(said.contains("ci-1\\u{1b}[2K"), "escaped:\n{said}");
        } else {
            assert!(
                !said.contains("\nwarning: all fine") && said.contains("ci-1\\u{a}warning"),
                "the newline escaped:\n{said}"
            );
        }
        assert!(compiles(&h.log) > 0, "built instead:\n{said}");
    }
}

/// Generation 0 of cmulti's lease, planted in a `file://` cache as what
/// no lease is (a directory, a FIFO, a file past the 4 KiB a lease may
/// be) or as a live lease copied from another recipe's path: each is
/// void, warned about once as unreadable, and leasing goes on (the next
/// generation is claimed, the build pushed), rather than ending for the
/// key ("cannot take the build lease") or holding the build up.
#[test]
fn a_planted_lease_that_is_no_lease_is_passed_over() {
    if !need(&["lua5.4", "gcc", "mkfifo"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public, real, secret) = seeded(&s, &repo);
    let key = real
        .parent()
        .and_then(std::path::Path::file_name)
        .expect("key")
        .to_string_lossy()
        .into_owned();
    let copied = serde_json::json!({
        "format": 1, "recipe_key": "ab".repeat(32), "generation": 0,
        "host": "elsewhere", "pid": 1, "expires": 32_503_680_000u64
    });
    type Plant<'a> = &'a dyn Fn(&std::path::Path);
    let plants: [(&str, Plant<'_>); 4] = [
        ("directory", &|p| std::fs::create_dir(p).expect("dir")),
        ("FIFO", &|p| {
            let ok = std::process::Command::new("mkfifo")
                .arg(p)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "mkfifo");
        }),
        ("oversized", &|p| {
            std::fs::write(p, vec![b' '; 8 << 10]).expect("big");
        }),
        ("another key's", &|p| {
            std::fs::write(p, serde_json::to_vec(&copied).expect("json")).expect("copy");
        }),
    ];
    for (i, (what, plant)) in plants.into_iter().enumerate() {
        let root = s.tmp.path().join(format!("leased-{i}"));
        let lease = root.join("lease").join(&key).join("0.json");
        std::fs::create_dir_all(lease.parent().expect("parent")).expect("dirs");
        plant(&lease);
        let url = format!("file://{}", root.display());
        let h = host(&s, &repo, &format!("l{i}"), &Engine::remote(&url, &root));
        let said = h.ok(&[
            "install",
            "cmulti",
            "--substituter",
            &url,
            "--push-to",
            &url,
            "--trusted-public-key",
            &public,
            "--secret-key-file",
            &secret.display().to_string(),
            "--lease-timeout",
            "2",
        ]);
        assert!(
            !said.contains("cannot take the build lease") && !said.contains("waiting for"),
            "{what}: leasing ended or waited:\n{said}"
        );
        let about: Vec<&str> = said.lines().filter(|l| l.contains("warning:")).collect();
        assert_eq!(about.len(), 1, "{what}:\n{said}");
        assert!(
            about[0].contains(&lease.display().to_string()) && about[0].contains("expired"),
            "{what}: the lease is named, taken as expired:\n{said}"
        );
        assert!(compiles(&h.log) > 0, "{what}: built here");
        assert!(
            root.join("real").join(&key).join("ci-1.json").exists(),
            "{what}: pushed"
        );
    }
}

/// A plain HTTP server's PUT carries no condition, so a 412 or 409 to it
/// is a refused write, not "already there": the push fails saying so and
/// signs no realisation of a blob the cache does not hold.
#[test]
fn a_plain_servers_412_or_409_to_a_put_is_no_push() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (secret, _) = crate::cache::keygen(&s, "ci-1");
    let secret = secret.display().to_string();
    for status in [412u16, 409] {
        let cache = Scripted::start(Script {
            root: Some(s.dir(&format!("empty-{status}"))),
            redirect: None,
            put_status: Some(status),
            delay: None,
        });
        let a = host(
            &s,
            &repo,
            &format!("p{status}"),
            &Engine::remote(&cache.url, s.tmp.path()),
        );
        let out = a.run(&[
            "install",
            "cmulti",
            "--push-to",
            &cache.url,
            "--secret-key-file",
            &secret,
        ]);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !said.contains("realisation(s)") || said.contains("0 realisation(s)"),
            "{status}: a realisation was counted as pushed:\n{said}"
        );
        assert!(
            said.contains(&status.to_string()) && said.contains(&cache.url),
            "{status}: the refused write is said:\n{said}"
        );
        let puts: Vec<String> = cache
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("PUT "))
            .collect();
        assert!(
            !puts.iter().any(|r| r.contains("/real/")),
            "{status}: a realisation was written after its blob was refused: {puts:?}"
        );
    }
}

/// A cache answering every request just inside its deadline (1.8 s of
/// a 2 s timeout, nothing found): each answer alone is in time, but a
/// run pays one per level of its plan. The slow answers add up to the
/// timeout within the first round, the cache is then down for the run
/// with one warning saying so, and nothing more is asked of it.
#[test]
fn a_cache_answering_just_inside_each_deadline_costs_one_timeout_in_all() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (_, public) = crate::cache::keygen(&s, "ci-1");
    let cache = Scripted::start(Script {
        root: Some(s.dir("empty-slow")),
        delay: Some(std::time::Duration::from_millis(1800)),
        ..Script::default()
    });
    let h = host(&s, &repo, "slow", &Engine::remote(&cache.url, s.tmp.path()));
    let said = h.ok(&[
        "install",
        "appx",
        "--timeout",
        "2",
        "--substituter",
        &cache.url,
        "--trusted-public-key",
        &public,
    ]);
    let warned: Vec<&str> = said.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warned.len(), 1, "{said}");
    assert!(
        warned[0].contains(&cache.url) && warned[0].contains("slow"),
        "{said}"
    );
    // The info file and the plan document, asked together; then nothing.
    let asked = cache.requests();
    assert!(
        asked.len() <= 3,
        "asked on after the cache was slow: {asked:?}"
    );
    assert_eq!(h.lua("print(require('appx').run())"), "hello, appx 42");
}
