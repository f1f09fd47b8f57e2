//! Attacks on a cache by someone who can write its storage but holds no
//! signing key, on real engines (a directory, nginx): a `copy --from`
//! fetch that a zstd bomb and a lying item document would make stage
//! gigabytes, and a LuaRocks view with planted, tampered and
//! hostile-indexed rocks, read back by Debian's stock `luarocks` 3.8.

use std::io::Write;
use std::path::Path;

use rockstore::store::content_hash::ContentHash;
use rockstore::store::item_name::ItemName;

use crate::cache::file_engine;
use crate::support::{need, text, Sandbox};

/// Plants, in the cache at `root`, an item document for `name 1.0-1` that
/// claims `size` bytes and a blob made of `write`'s bytes, compressed as
/// a push compresses (level 3). Returns the item's name.
pub(crate) fn plant_item(
    root: &Path,
    name: &str,
    size: u64,
    write: impl Fn(&mut dyn Write),
) -> String {
    // Any hash: the fetch must stop long before it could check one.
    let hash = ContentHash(*blake3::hash(name.as_bytes()).as_bytes());
    let item = ItemName::new(&hash, name, "1.0-1").expect("name");
    let hex = hash.to_hex();
    let blob = root.join(format!("blob/{}/{hex}.zst", &hex[..2]));
    std::fs::create_dir_all(blob.parent().expect("dir")).expect("blob dir");
    let file = std::fs::File::create(&blob).expect("blob");
    let mut encoder = zstd::stream::write::Encoder::new(file, 3).expect("zstd");
    write(&mut encoder);
    encoder.finish().expect("finish");
    let blob_size = std::fs::metadata(&blob).expect("blob").len();
    std::fs::create_dir_all(root.join("item")).expect("item dir");
    std::fs::write(
        root.join(format!("item/{}.json", item.as_str())),
        serde_json::to_vec_pretty(&serde_json::json!({
            "hash": format!("blake3:{hex}"), "name": name, "version": "1.0-1",
            "size": size, "blob_size": blob_size,
        }))
        .expect("json"),
    )
    .expect("item doc");
    std::fs::write(root.join("rockstore-cache-info"), "rockstore cache 1\n").expect("info");
    item.as_str().to_owned()
}

/// `copy --from` of `item` under a file size limit of 512 MiB (so a
/// fetch that did not stop would be killed by SIGXFSZ, not fill the
/// disk), with its own TMPDIR; returns (success, stderr, TMPDIR).
fn fetch(s: &Sandbox, url: &str, item: &str, extra: &[&str]) -> (bool, String, Vec<String>) {
    let tmpdir = s.dir("fetch-tmp");
    let out = s
        .program("prlimit")
        .arg(format!("--fsize={}", 512u64 << 20))
        .arg("--")
        .arg(crate::support::bin())
        .env("TMPDIR", &tmpdir)
        .arg("--store")
        .arg(s.store())
        .args(["copy", "--from", url, item])
        .args(extra)
        .output()
        .expect("prlimit");
    let left: Vec<String> = std::fs::read_dir(&tmpdir)
        .expect("tmpdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    (out.status.success(), text(&out.stderr), left)
}

/// A 30 KB blob of 768 MiB of zeros under a document claiming 10 GB:
/// the fetch stops at the ratio bound (64 MiB staged, not 768 MiB, not
/// 10 GB), names the cache and the item, and leaves nothing behind.
#[test]
fn a_zstd_bomb_under_a_lying_document_stops_at_the_ratio_bound() {
    if !need(&["prlimit"]) {
        return;
    }
    let s = Sandbox::new();
    let engine = file_engine(s.tmp.path());
    let zeros = vec![0u8; 1 << 20];
    let item = plant_item(&engine.root, "bomb", 10_000_000_000, |w| {
        for _ in 0..768 {
            w.write_all(&zeros).expect("write");
        }
    });
    let (ok, said, left) = fetch(&s, &engine.url, &item, &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&engine.url) && said.contains(&item) && said.contains("zstd bomb"),
        "{said}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
    let listed = text(&s.cmd(["store", "ls"]).output().expect("ls").stdout);
    assert!(!listed.contains("bomb"), "{listed}");
}

/// A blob that compresses barely (it is pseudo-random) and unpacks to
/// 3 MiB, under a document claiming 10 GB: `--max-item-size 1M` stops
/// it, whatever the document says.
#[test]
fn the_size_bound_is_the_users_not_the_documents() {
    if !need(&["prlimit"]) {
        return;
    }
    let s = Sandbox::new();
    let engine = file_engine(s.tmp.path());
    let item = plant_item(&engine.root, "noise", 10_000_000_000, |w| {
        // xorshift64: incompressible enough, and the same every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut block = Vec::with_capacity(3 << 20);
        while block.len() < 3 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        w.write_all(&block).expect("write");
    });
    let (ok, said, left) = fetch(&s, &engine.url, &item, &["--max-item-size", "1M"]);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&engine.url) && said.contains(&item) && said.contains("--max-item-size"),
        "{said}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The rock `zip` with entry `lua/<module>.lua` (any other entry kept)
/// now `source`: what someone who can write the storage makes of a rock.
fn with_module(rock: &[u8], module: &str, source: &str) -> Vec<u8> {
    let mut from = zip::ZipArchive::new(std::io::Cursor::new(rock)).expect("rock zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let wanted = format!("lua/{module}.lua");
    let mut replaced = false;
    for i in 0..from.len() {
        let mut entry = from.by_index(i).expect("entry");
        let name = entry.name().to_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).expect("read");
        if name == wanted {
            bytes = source.as_bytes().to_vec();
            replaced = true;
        }
        out.start_file(name, options).expect("start");
        out.write_all(&bytes).expect("write");
    }
    if !replaced {
        out.start_file(wanted, options).expect("start");
        out.write_all(source.as_bytes()).expect("write");
    }
    out.finish().expect("finish").into_inner()
}

/// The rock names (`name version arch,…`) a manifest of the view lists.
fn manifest_rocks(view: &Path, file: &str) -> Vec<String> {
    let bytes = std::fs::read(view.join(file)).expect(file);
    let m = rockstore::manifest::RepositoryManifest::from_bytes(file, &bytes).expect(file);
    let mut out = Vec::new();
    for (name, versions) in &m.repository {
        for (version, entries) in versions {
            out.push(format!("{name} {version} {}", entries.arches.join(",")));
        }
    }
    out
}

/// Rewrites the view's index as someone without a key would: `files`.
fn write_index(view: &Path, files: &[&str]) {
    std::fs::write(
        view.join("rockstore-view.json"),
        serde_json::to_vec_pretty(&serde_json::json!({ "format": 1, "files": files }))
            .expect("json"),
    )
    .expect("index");
}

/// On nginx (no listing: the index is all a writer knows of the view),
/// someone with write access to the storage and no key plants a foreign
/// binary rock with its rockspec and an attestation signed by their own
/// key, replaces the genuine `dmtop` rock with one whose module says
/// `pwned`, and lists all of it in the index and the manifests. Stock
/// LuaRocks would install both. After the next trusted push of the same
/// tree: the manifests list neither, the foreign files are gone, the
/// genuine rock is back byte for byte, each was warned about once, and
/// stock `luarocks --only-server … install dmtop` loads the genuine module
/// while `install evil` finds nothing.
#[test]
fn planted_and_tampered_rocks_are_not_laundered_by_a_trusted_push() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let Some(engine) = crate::cache::nginx_engine(s.tmp.path()) else {
        return;
    };
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let view = engine.root.join("luarocks/5.4").join(&platform);
    let a = crate::cache::host(&s, &repo, "a", &engine);
    a.ok(&["install", "dmtop"]);
    a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    let genuine = std::fs::read(view.join("dmtop-1.0-1.all.rock")).expect("dmtop rock");
    let listed = vec![
        "dmdep 1.0-1 all,rockspec".to_owned(),
        "dmtop 1.0-1 all,rockspec".to_owned(),
    ];
    assert_eq!(manifest_rocks(&view, "manifest-5.4"), listed);

    // The attack: files only, no key of the fleet.
    let evil = format!("evil-1.0-1.{platform}.rock");
    std::fs::write(
        view.join(&evil),
        with_module(&genuine, "evil", "return 'pwned'"),
    )
    .expect("evil");
    std::fs::write(
        view.join("evil-1.0-1.rockspec"),
        "package = 'evil'\nversion = '1.0-1'\nsource = { url = 'x' }\nbuild = { type = 'builtin', modules = {} }\n",
    )
    .expect("evil spec");
    let out = s
        .bare_cmd()
        .args(["cache", "keygen", "view-ci", "--out"])
        .arg(s.tmp.path().join("attacker.secret"))
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let other_key = text(&out.stdout).trim().to_owned();
    // Their own key, under the fleet key's name: the signature cannot
    // verify with the fleet's public key.
    let forged = serde_json::json!({
        "format": 1, "file": evil, "size": 1, "hash": "blake3:00", "rockspec_hash": "",
        "item": "x", "recipe_key": "00", "lua_abi": "5.4", "platform": platform,
        "signature": format!("view-ci:{}", other_key.split_once(':').expect("key").1),
    });
    std::fs::write(
        view.join(format!("{evil}.json")),
        serde_json::to_vec(&forged).expect("json"),
    )
    .expect("forged attestation");
    let tampered = with_module(&genuine, "dmtop", "return { pwned = true }");
    std::fs::write(view.join("dmtop-1.0-1.all.rock"), &tampered).expect("tamper");
    write_index(
        &view,
        &[
            "dmdep-1.0-1.all.rock",
            "dmdep-1.0-1.rockspec",
            "dmtop-1.0-1.all.rock",
            "dmtop-1.0-1.rockspec",
            &evil,
            "evil-1.0-1.rockspec",
        ],
    );

    // The next trusted push.
    let said = a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    for file in ["manifest", "manifest-5.4", "manifest-5.4.zip"] {
        assert_eq!(manifest_rocks(&view, file), listed, "{file}\n{said}");
    }
    assert_eq!(
        std::fs::read(view.join("dmtop-1.0-1.all.rock")).expect("dmtop rock"),
        genuine,
        "the genuine rock is back\n{said}"
    );
    assert!(!view.join(&evil).exists(), "{said}");
    assert!(!view.join("evil-1.0-1.rockspec").exists(), "{said}");
    let warned = |what: &str| {
        said.lines()
            .filter(|l| l.starts_with("warning:") && l.contains(what))
            .count()
    };
    assert_eq!(warned(&evil), 1, "{said}");
    assert_eq!(warned("evil-1.0-1.rockspec"), 1, "{said}");
    assert_eq!(warned("dmtop-1.0-1.all.rock"), 1, "{said}");
    assert!(said.contains("replaced"), "{said}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(view.join("rockstore-view.json")).expect("index"))
            .expect("index json");
    assert_eq!(
        index["files"],
        serde_json::json!([
            "dmdep-1.0-1.all.rock",
            "dmdep-1.0-1.rockspec",
            "dmtop-1.0-1.all.rock",
            "dmtop-1.0-1.rockspec"
        ])
    );

    // Stock LuaRocks, from the view only.
    let tree = s.tmp.path().join("lr-tree");
    let server = format!("{}/luarocks/5.4/{platform}", engine.url);
    let luarocks = |args: &[&str]| {
        s.program("luarocks")
            .args(["--lua-version", "5.4", "--only-server", &server, "--tree"])
            .arg(&tree)
            .args(args)
            .output()
            .expect("luarocks")
    };
    let out = luarocks(&["install", "dmtop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = luarocks(&["install", "evil"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let out = s
        .program("lua5.4")
        .env("LUA_PATH_5_4", tree.join("share/lua/5.4/?.lua"))
        .args([
            "-e",
            "local m = require('dmtop') print(m.pwned, m.top, m.dep.dep)",
        ])
        .output()
        .expect("lua");
    assert_eq!(
        text(&out.stdout).trim(),
        "nil\ttrue\ttrue",
        "{}",
        text(&out.stderr)
    );
}

/// A hostile index on a directory engine (which lists, so the files are
/// all there to be found): entries for a rock that is not there, names
/// that would leave the directory (`../`, absolute, `/` inside), NUL, a
/// newline, quotes that would break out of the Lua manifest, a source
/// rock, another platform's rock. The push lists only the genuine rocks,
/// says one thing about each bad entry, rewrites the index to what
/// stands, and touches nothing the bad names point at.
#[test]
fn a_hostile_index_lists_nothing_and_reaches_nothing() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let engine = file_engine(s.tmp.path());
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let view = engine.root.join("luarocks/5.4").join(&platform);
    let a = crate::cache::host(&s, &repo, "a", &engine);
    a.ok(&["install", "dmtop"]);
    a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    let genuine = std::fs::read(view.join("dmtop-1.0-1.all.rock")).expect("rock");
    // A genuine rock, attestation and all, one directory up: what
    // `../dmtop-1.0-1.all.rock` would name.
    let up = view.parent().expect("abi dir");
    std::fs::write(up.join("dmtop-1.0-1.all.rock"), &genuine).expect("up");
    // (Its attestation too, where the view has one: the name must not
    // reach it even when it would check.)
    let attestation = view.join("dmtop-1.0-1.all.rock.json");
    if attestation.exists() {
        std::fs::copy(&attestation, up.join("dmtop-1.0-1.all.rock.json")).expect("up attestation");
    }
    let abs = format!("{}/dmtop-1.0-1.all.rock", up.display());
    let hostile = [
        "ghost-1.0-1.all.rock",
        "ghost-1.0-1.rockspec",
        "../dmtop-1.0-1.all.rock",
        abs.as_str(),
        "sub/dmtop-1.0-1.all.rock",
        "nul\0-1.0-1.all.rock",
        "line\n-1.0-1.all.rock",
        "q\"]]-1.0-1.all.rock",
        "dmtop-1.0-1.src.rock",
        "dmtop-1.0-1.linux-nothing.rock",
    ];
    let mut files = vec!["dmdep-1.0-1.all.rock", "dmtop-1.0-1.all.rock"];
    files.extend(hostile);
    write_index(&view, &files);
    let said = a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    let listed = vec![
        "dmdep 1.0-1 all,rockspec".to_owned(),
        "dmtop 1.0-1 all,rockspec".to_owned(),
    ];
    for file in ["manifest", "manifest-5.4", "manifest-5.4.zip"] {
        assert_eq!(manifest_rocks(&view, file), listed, "{file}\n{said}");
    }
    let warnings: Vec<&str> = said.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), hostile.len(), "{said}");
    for bad in hostile {
        let shown = format!("{bad:?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(bad) || w.contains(&shown)),
            "no warning for {shown}:\n{said}"
        );
    }
    assert_eq!(
        std::fs::read(up.join("dmtop-1.0-1.all.rock")).expect("untouched"),
        genuine
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(view.join("rockstore-view.json")).expect("index"))
            .expect("index json");
    assert_eq!(
        index["files"],
        serde_json::json!([
            "dmdep-1.0-1.all.rock",
            "dmdep-1.0-1.rockspec",
            "dmtop-1.0-1.all.rock",
            "dmtop-1.0-1.rockspec"
        ])
    );
}

/// `cmd` run by `prlimit` with `limits` (its program, arguments,
/// environment and working directory kept).
fn under_prlimit(cmd: &std::process::Command, limits: &[String]) -> std::process::Command {
    let mut wrapped = std::process::Command::new("prlimit");
    wrapped
        .args(limits)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// A project's `luarocks.lock` pins dmdep to an item whose blob, in a
/// cache anyone can write, is a zstd bomb (30 KB unpacking to 768 MiB).
/// `make` refuses it with a warning naming the cache and the bomb,
/// admits nothing of that hash and builds dmdep from its source. It runs
/// under a 256 MiB data limit (holding the archive in memory, as a
/// pinned item's used to be, passes it and aborts) and a 512 MiB file
/// size limit, with its own TMPDIR, left empty.
#[test]
fn a_pinned_items_zstd_bomb_is_refused_in_bounded_memory_and_nothing_admitted() {
    if !need(&["lua5.4", "prlimit"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let engine = file_engine(s.tmp.path());
    let zeros = vec![0u8; 1 << 20];
    // plant_item's version is 1.0-1, dmdep's.
    let item = plant_item(&engine.root, "dmdep", 10_000_000_000, |w| {
        for _ in 0..768 {
            w.write_all(&zeros).expect("write");
        }
    });
    let hash = ContentHash(*blake3::hash(b"dmdep").as_bytes()).to_hex();
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
    let b = crate::cache::host(&s, &repo, "b", &engine);
    let tmpdir = s.dir("make-tmp");
    let mut cmd = under_prlimit(
        &b.cmd_in(&project, &["make", "--substituter", &engine.url]),
        &[
            format!("--data={}", 256u64 << 20),
            format!("--fsize={}", 512u64 << 20),
        ],
    );
    cmd.env("TMPDIR", &tmpdir);
    let out = cmd.output().expect("prlimit");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(
        said.lines().any(|l| l.contains("warning:")
            && l.contains(&engine.url)
            && l.contains(&hash)
            && l.contains("zstd bomb")),
        "a warning names the cache, the blob and the bomb:\n{said}"
    );
    assert!(!said.contains("dmdep 1.0-1: pinned item"), "{said}");
    let left: Vec<_> = std::fs::read_dir(&tmpdir)
        .expect("tmpdir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let listed = text(
        &s.bare_cmd()
            .arg("--store")
            .arg(b.store())
            .args(["store", "ls"])
            .output()
            .expect("ls")
            .stdout,
    );
    assert!(!listed.contains(&item), "admitted: {listed}");
    assert!(listed.contains("dmdep"), "dmdep was built: {listed}");
    assert_eq!(b.lua("local app = require('app') print(app.dep)"), "true");
}

/// Someone who can write a cache's storage plants, where the blob of an
/// item about to be pushed belongs, a sparse file of 100 GiB. A trusted
/// push finds a blob "there" and used to sign its size as the item's
/// `blob_size`, which readers take as their download's deadline (30 s
/// plus 100 GiB at 1 MiB/s: 28 hours). The push now refuses it, naming
/// the file, and signs nothing of the item; beside a genuine blob it
/// signs that blob's size.
#[test]
fn a_push_signs_no_planted_blobs_absurd_size() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let (secret, _) = crate::cache::keygen(&s, "ci-1");
    let secret = secret.display().to_string();
    let first = file_engine(s.tmp.path());
    let a = crate::cache::host(&s, &repo, "a", &first);
    a.ok(&[
        "install",
        "dmdep",
        "--push-to",
        &first.url,
        "--secret-key-file",
        &secret,
    ]);
    let doc_file = std::fs::read_dir(first.root.join("item"))
        .expect("item dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("-dmdep-"))
        .expect("dmdep's item document")
        .path();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&doc_file).expect("doc")).expect("json");
    let item = doc_file
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    let hex = doc["hash"]
        .as_str()
        .expect("hash")
        .trim_start_matches("blake3:")
        .to_owned();
    let blob_rel = format!("blob/{}/{hex}.zst", &hex[..2]);
    let genuine = std::fs::read(first.root.join(&blob_rel)).expect("genuine blob");

    let planted_root = s.dir("planted-cache");
    let planted = planted_root.join(&blob_rel);
    std::fs::create_dir_all(planted.parent().expect("shard")).expect("shard");
    std::fs::File::create(&planted)
        .and_then(|f| f.set_len(100 << 30))
        .expect("sparse blob");
    let url = format!("file://{}", planted_root.display());
    let out = a.run(&["copy", "--to", &url, "--secret-key-file", &secret, &item]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&planted.display().to_string()) && err.contains("remove the file"),
        "the error names the planted file:\n{err}"
    );
    let signed: Vec<_> = walk_files(&planted_root.join("real"));
    assert!(signed.is_empty(), "signed: {signed:?}");

    // Beside the genuine blob (another host's push): its size is signed.
    let other_root = s.dir("other-cache");
    std::fs::create_dir_all(other_root.join(&blob_rel).parent().expect("shard")).expect("shard");
    std::fs::write(other_root.join(&blob_rel), &genuine).expect("genuine");
    let url = format!("file://{}", other_root.display());
    a.ok(&["copy", "--to", &url, "--secret-key-file", &secret, &item]);
    let reals = walk_files(&other_root.join("real"));
    assert_eq!(reals.len(), 1, "{reals:?}");
    let real: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reals[0]).expect("real")).expect("json");
    assert_eq!(real["blob_size"].as_u64(), Some(genuine.len() as u64));
}

/// The files below `dir` (none when it is absent).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    // Bounded: a test cache holds a handful of files.
    for _ in 0..10_000 {
        let Some(d) = todo.pop() else { break };
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Someone without a key rewrites a view's index to list 200,001 rocks
/// that are not there. Each name listed costs a push requests (its
/// attestation, the rock) and a warning; past the 200,000 an index may
/// list, the index is refused whole, with one warning, and rebuilt from
/// what the directory holds.
#[test]
fn a_view_index_listing_more_files_than_an_index_may_is_refused_whole() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let engine = file_engine(s.tmp.path());
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let view = engine.root.join("luarocks/5.4").join(&platform);
    let a = crate::cache::host(&s, &repo, "a", &engine);
    a.ok(&["install", "dmtop"]);
    a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    let ghosts: Vec<String> = (0..=200_000)
        .map(|i| format!("ghost{i}-1.0-1.all.rock"))
        .collect();
    let mut files: Vec<&str> = vec!["dmdep-1.0-1.all.rock", "dmtop-1.0-1.all.rock"];
    files.extend(ghosts.iter().map(String::as_str));
    write_index(&view, &files);
    let said = a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    let warnings: Vec<&str> = said.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "{:?}",
        &warnings[..warnings.len().min(5)]
    );
    assert!(
        warnings[0].contains("rockstore-view.json") && warnings[0].contains("more than the 200000"),
        "{}",
        warnings[0]
    );
    assert_eq!(
        manifest_rocks(&view, "manifest"),
        [
            "dmdep 1.0-1 all,rockspec".to_owned(),
            "dmtop 1.0-1 all,rockspec".to_owned()
        ]
    );
}

/// On nginx (the index is all a writer knows of the view), someone
/// without a key plants a 900 KB rockspec no rock's attestation names and
/// lists it in the index. The next trusted push removes it, with a
/// warning, without reading its bytes (only a rockspec a listed rock
/// names can stand; an index may list 200,000 rockspecs of up to 1 MiB):
/// nginx's access log shows no GET of it.
#[test]
fn a_rockspec_no_rock_names_is_removed_without_reading_its_bytes() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let Some(engine) = crate::cache::nginx_engine(s.tmp.path()) else {
        return;
    };
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let view = engine.root.join("luarocks/5.4").join(&platform);
    let a = crate::cache::host(&s, &repo, "a", &engine);
    a.ok(&["install", "dmtop"]);
    a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    std::fs::write(view.join("ghost-1.0-1.rockspec"), "-- x\n".repeat(180_000))
        .expect("ghost rockspec");
    write_index(
        &view,
        &[
            "dmdep-1.0-1.all.rock",
            "dmdep-1.0-1.rockspec",
            "dmtop-1.0-1.all.rock",
            "dmtop-1.0-1.rockspec",
            "ghost-1.0-1.rockspec",
        ],
    );
    let said = a.ok(&["copy", "--to", &engine.url, "--luarocks-view"]);
    assert!(
        said.lines().any(|l| l.starts_with("warning:")
            && l.contains("ghost-1.0-1.rockspec")
            && l.contains("removed")),
        "{said}"
    );
    assert!(!view.join("ghost-1.0-1.rockspec").exists());
    assert_eq!(
        manifest_rocks(&view, "manifest"),
        [
            "dmdep 1.0-1 all,rockspec".to_owned(),
            "dmtop 1.0-1 all,rockspec".to_owned()
        ]
    );
    let log = std::fs::read_to_string(engine.root.parent().expect("nginx dir").join("access.log"))
        .expect("access log");
    let ghost = format!("/luarocks/5.4/{platform}/ghost-1.0-1.rockspec");
    let asked: Vec<&str> = log.lines().filter(|l| l.contains(&ghost)).collect();
    assert!(!asked.is_empty(), "the ghost was not looked at:\n{log}");
    assert!(
        !asked.iter().any(|l| l.contains("\"GET ")),
        "its bytes were read: {asked:?}"
    );
}

/// An item document whose hash or field names carry an escape sequence
/// (retitle the terminal) and a newline forging a `warning:` line: the
/// error `copy --from` prints quotes them escaped, and every line it
/// prints after its first is indented, so none passes for ours.
#[test]
fn a_hostile_item_document_cannot_write_to_the_terminal_through_an_error() {
    if !need(&["prlimit"]) {
        return;
    }
    let s = Sandbox::new();
    let engine = file_engine(s.tmp.path());
    let item = plant_item(&engine.root, "noise", 10, |w| {
        let _ = w.write_all(b"0123456789");
    });
    let doc_path = engine.root.join(format!("item/{item}.json"));
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&doc_path).expect("doc")).expect("json");
    let mut bad_hash = good.clone();
    bad_hash["hash"] = serde_json::json!("blake3:\u{1b}[31m\nwarning: f1");
    let mut bad_field = good.clone();
    bad_field["\u{1b}]0;T\u{7}\nwarning: f3"] = serde_json::json!(1);
    for doc in [bad_hash, bad_field] {
        std::fs::write(&doc_path, serde_json::to_vec(&doc).expect("json")).expect("plant");
        let (ok, err, _) = fetch(&s, &engine.url, &item, &[]);
        assert!(!ok, "{err}");
        assert!(
            !err.contains('\u{1b}') && !err.contains('\u{7}'),
            "raw: {err:?}"
        );
        assert!(
            !err.lines().any(|l| l.starts_with("warning:")),
            "a forged line: {err}"
        );
        assert!(err.contains("\\u{1b}"), "said, escaped: {err}");
    }
}
