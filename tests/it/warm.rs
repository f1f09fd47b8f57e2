//! Issue 29, what stays instant: host probes asked once per compiler
//! binary (and again when its bytes change), and `search` from the
//! manifest index, byte for byte LuaRocks' output on a manifest of real
//! size.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::big_manifest;
use crate::rocks_server::HttpServer;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

/// Where the real gcc is, before a wrapper named `gcc` shadows it.
fn real_gcc() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v gcc"])
        .output()
        .expect("sh");
    PathBuf::from(text(&out.stdout).trim())
}

/// A `gcc` that logs each call's arguments to `log`, then runs the real
/// one; `note` goes into its bytes, so two notes are two compilers.
fn gcc_wrapper(at: &Path, real: &Path, log: &Path, note: &str) {
    std::fs::write(
        at,
        format!(
            "#!/bin/sh\n# {note}\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn probes_logged(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("-print-multiarch"))
        .count()
}

/// `gcc -print-multiarch` runs once for a compiler: later commands read
/// the answer from the probe cache, spawning nothing; a `touch` (same
/// bytes) keeps it; new bytes in the compiler ask again.
#[test]
fn multiarch_is_probed_once_per_compiler_binary() {
    if !need(&["gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let bin = s.dir("bin");
    let log = s.tmp.path().join("gcc.log");
    let real = real_gcc();
    gcc_wrapper(&bin.join("gcc"), &real, &log, "first");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let libdir = || {
        let out = s
            .cmd(["--lua-version", "5.4", "config", "variables.LUA_LIBDIR"])
            .env("PATH", &path)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = libdir();
    assert_eq!(probes_logged(&log), 1, "the first command asks gcc");
    assert_eq!(libdir(), first);
    assert_eq!(libdir(), first);
    assert_eq!(
        probes_logged(&log),
        1,
        "later commands take the cached answer and spawn no gcc"
    );
    let cache = s.tmp.path().join("home/.cache/rockstore/probes");
    let records: Vec<_> = std::fs::read_dir(&cache).expect("probe cache").collect();
    assert_eq!(records.len(), 1, "one record, for the wrapper");

    // Same bytes, new times: hashed again, not probed again.
    let now = std::time::SystemTime::now();
    std::fs::File::options()
        .write(true)
        .open(bin.join("gcc"))
        .expect("open")
        .set_modified(now)
        .expect("touch");
    assert_eq!(libdir(), first);
    assert_eq!(
        probes_logged(&log),
        1,
        "a touched compiler is the same compiler"
    );

    // Other bytes: another compiler, asked again.
    gcc_wrapper(&bin.join("gcc"), &real, &log, "second, upgraded");
    assert_eq!(libdir(), first);
    assert_eq!(probes_logged(&log), 2, "a changed compiler is probed anew");
    assert_eq!(libdir(), first);
    assert_eq!(probes_logged(&log), 2);
}

/// Equal texts, or the first line where they part.
fn same(ours: &str, theirs: &str, what: &str) {
    if ours == theirs {
        return;
    }
    let at = ours
        .lines()
        .zip(theirs.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(ours.lines().count().min(theirs.lines().count()));
    panic!(
        "{what}: output differs from LuaRocks' at line {}: ours {:?}, LuaRocks' {:?} ({} against {} lines)",
        at + 1,
        ours.lines().nth(at),
        theirs.lines().nth(at),
        ours.lines().count(),
        theirs.lines().count()
    );
}

/// `search` prints what LuaRocks prints, byte for byte, on a manifest of
/// luarocks.org's size: first parsing the manifest (no index yet), then
/// from the index alone (the cached manifest itself deleted: no request
/// reaches the server, so nothing but the index answered).
#[test]
fn search_matches_luarocks_on_a_real_sized_manifest_with_and_without_the_index() {
    if !need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = s.dir("repo");
    std::fs::write(
        repo.join("manifest-5.4"),
        big_manifest::generate(big_manifest::REAL_VERSIONS, 29, &[]),
    )
    .expect("manifest");
    let server = HttpServer::start(repo);
    let cache = s.tmp.path().join("home/.cache/rockstore");
    let queries: [&[&str]; 5] = [
        &["search", "lpeg"],
        &["search", "--porcelain", "lpeg"],
        &["search", "json"],
        &["search", "--source", "lua"],
        &["search", "--all", "--porcelain"],
    ];
    for args in queries {
        let run = |side: &str| {
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &server.base])
                .args(args)
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "{side} {args:?}: {}",
                text(&out.stderr)
            );
            text(&out.stdout)
        };
        let theirs = run("luarocks");
        assert!(theirs.lines().count() > 10, "{args:?}: {theirs}");
        let _ = std::fs::remove_dir_all(cache.join("indexes"));
        same(
            &run("ours"),
            &theirs,
            &format!("{args:?}, parsing the manifest"),
        );
        let indexes: Vec<_> = std::fs::read_dir(cache.join("indexes"))
            .expect("an index was written")
            .collect();
        assert_eq!(indexes.len(), 1);
        std::fs::remove_dir_all(cache.join("blobs")).expect("drop the cached manifest");
        std::fs::create_dir(cache.join("blobs")).expect("blobs");
        server.clear();
        same(&run("ours"), &theirs, &format!("{args:?}, from the index"));
        assert!(
            !server.requests().iter().any(|r| r.contains("manifest")),
            "the index alone answered: {:?}",
            server.requests()
        );
    }
}

/// The index's bytes for the vector of `store-format/v1/manifest-index.md`:
/// the manifest `vectors/manifest-index/001-small.lua` gives exactly
/// `001-small.index`.
#[test]
fn manifest_index_vector() {
    let dir = crate::support::project_dir().join("store-format/v1/vectors/manifest-index");
    let manifest = std::fs::read(dir.join("001-small.lua")).expect("vector manifest");
    let parsed = rockstore::manifest::RepositoryManifest::from_bytes("manifest-5.4", &manifest)
        .expect("parse");
    // The JSON form check_vectors.py encodes from lists the same.
    let json = std::fs::read(dir.join("001-small.json")).expect("vector json");
    let from_json = rockstore::manifest::RepositoryManifest::from_bytes("manifest-5.4.json", &json)
        .expect("parse json");
    assert_eq!(from_json.repository, parsed.repository);
    let hash = *blake3::hash(&manifest).as_bytes();
    let bytes = rockstore::manifest::index::encode(&parsed.repository, &hash);
    let expected_path = dir.join("001-small.index");
    if std::env::var_os("ROCKSTORE_BLESS").is_some() {
        std::fs::write(&expected_path, &bytes).expect("bless");
    }
    let expected = std::fs::read(&expected_path).expect("vector index");
    assert_eq!(bytes, expected, "index bytes differ from the vector");
    let index = rockstore::manifest::index::ManifestIndex::decode(expected, &hash).expect("decode");
    assert_eq!(
        index.version_count().expect("every block"),
        parsed.version_count()
    );
    // One rock read by name alone, arches in manifest order.
    let lpeg = index.find("lpeg").expect("lpeg");
    let versions: Vec<(&str, Vec<&str>)> = index
        .versions(lpeg)
        .expect("lpeg's block")
        .iter()
        .map(|(v, a)| (v, a.collect()))
        .collect();
    assert_eq!(
        versions,
        [
            ("0.12.2-1", vec!["rockspec", "linux-x86_64"]),
            ("1.1.0-1", vec!["src", "rockspec"])
        ]
    );
}
