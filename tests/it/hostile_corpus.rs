//! The hostile corpus of `integration/hostile/`: rockspecs, archives and a
//! lying loopback server, each case run as a user would (`build`,
//! `install`, `search`), asserting for each that it is refused with an
//! error naming the input, that nothing outside the store changed (a
//! watched directory the attack aims at, snapshotted around each run), that
//! the store verifies clean with nothing admitted and nothing left in
//! `tmp/`, and that time and peak memory stay bounded — measured by GNU
//! time, not guessed. Debian's `luarocks` runs the cheap cases too, and its
//! verdicts are printed beside ours.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::rocks_server::{render_manifest, HttpServer};
use crate::support::{need, project_dir, snapshot, text, Sandbox};

/// Peak memory any case may reach (KiB). The largest is the 48 MB
/// manifest, held once in memory before it is refused.
const RSS_BOUND_KIB: u64 = 250 * 1024;
/// Wall-clock time any case may take; the network cases run with
/// `--timeout 2`.
const TIME_BOUND: Duration = Duration::from_secs(20);

/// One case: what to run and what the error must say.
struct Case {
    name: String,
    expect: String,
    args: Vec<String>,
    /// How Debian's luarocks runs the same thing, when cheap.
    luarocks: Option<Vec<String>>,
    /// A rockspec `rockstore lint` must refuse (the path is in a field).
    lint: Option<PathBuf>,
}

/// The watched directory the attacks aim at, outside every temp dir the
/// tools use, with a name free of dots so a module name can spell it.
struct Watch {
    dir: PathBuf,
}

impl Watch {
    fn new() -> Watch {
        let dir = std::env::temp_dir().join(format!("rshostile{}", std::process::id()));
        let watch = Watch { dir };
        watch.reset();
        watch
    }

    /// Puts the victim files back as they were.
    fn reset(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(self.dir.join("sub")).expect("watch dir");
        std::fs::write(self.dir.join("victim.txt"), "secret\n").expect("victim");
        std::fs::write(self.dir.join("sub/other.txt"), "other\n").expect("other");
        std::fs::write(self.dir.join("evil.c"), "int x;\n").expect("evil.c");
    }

    /// A source that would block whoever opens it for reading, beside
    /// (not in) the watched directory, which luarocks copies whole.
    fn fifo(&self) -> PathBuf {
        let fifo = self.dir.with_extension("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        fifo
    }

    /// Dotted module-name spelling of the directory (`/tmp/rshostile1`
    /// → `tmp.rshostile1`).
    fn dotted(&self) -> String {
        self.dir
            .display()
            .to_string()
            .trim_start_matches('/')
            .replace('/', ".")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("fifo"));
    }
}

/// A gzipped tarball from (path, entry) pairs written raw, bypassing the
/// tar crate's own checks, so the archive says exactly what an attacker
/// wrote.
enum Entry<'a> {
    File(&'a [u8]),
    Symlink(&'a str),
    HardLink(&'a str),
    CharDevice,
}

fn raw_tarball(entries: &[(&str, Entry<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        for (path, entry) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_mode(0o644);
            let data: &[u8] = match entry {
                Entry::File(bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    bytes
                }
                Entry::Symlink(target) | Entry::HardLink(target) => {
                    h.set_entry_type(if matches!(entry, Entry::Symlink(_)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                    b""
                }
                Entry::CharDevice => {
                    h.set_entry_type(tar::EntryType::Char);
                    b""
                }
            };
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append(&h, data).expect("raw entry");
        }
        tar.into_inner().expect("tar").finish().expect("gz");
    }
    out
}

/// Writes every archive the specs name into `served`.
fn write_archives(served: &Path, watch: &Watch) {
    let ok = &b"return 1\n"[..];
    let put = |name: &str, bytes: Vec<u8>| std::fs::write(served.join(name), bytes).expect(name);
    put(
        "ok-1.0.tar.gz",
        raw_tarball(&[("ok-1.0/ok.lua", Entry::File(ok))]),
    );
    // The chain of the issue: `c` climbs to the unpack root, `m.lua`
    // climbs ten more levels from there through `c`.
    let deep = "linkchain-1.0/a1/a2/a3/a4/a5/a6/a7/a8";
    let victim = format!(
        "c/../../../../../../../../../..{}/victim.txt",
        watch.dir.display()
    );
    put(
        "linkchain-1.0.tar.gz",
        raw_tarball(&[
            (
                &format!("{deep}/c"),
                Entry::Symlink("../../../../../../../../.."),
            ),
            (&format!("{deep}/m.lua"), Entry::Symlink(&victim)),
        ]),
    );
    // From anywhere in the unpack directory up to `/`, then down to the
    // watched directory.
    let climb = format!("../../../../../../../../../..{}", watch.dir.display());
    put(
        "linkout-1.0.tar.gz",
        raw_tarball(&[("linkout-1.0/out", Entry::Symlink(&climb))]),
    );
    let hard = format!("{climb}/victim.txt");
    put(
        "hardout-1.0.tar.gz",
        raw_tarball(&[("hardout-1.0/m.lua", Entry::HardLink(&hard))]),
    );
    let escaped = format!("entryup-1.0/{climb}/PWNED.lua");
    put(
        "entryup-1.0.tar.gz",
        raw_tarball(&[
            ("entryup-1.0/ok.lua", Entry::File(ok)),
            (&escaped, Entry::File(b"pwned")),
        ]),
    );
    let absolute = format!("{}/PWNED.lua", watch.dir.display());
    put(
        "entryabs-1.0.tar.gz",
        raw_tarball(&[
            ("entryabs-1.0/ok.lua", Entry::File(ok)),
            (&absolute, Entry::File(b"pwned")),
        ]),
    );
    put(
        "device-1.0.tar.gz",
        raw_tarball(&[
            ("device-1.0/ok.lua", Entry::File(ok)),
            ("device-1.0/null", Entry::CharDevice),
        ]),
    );
    for entry in std::fs::read_dir(project_dir().join("integration/hostile/archives"))
        .expect("archives")
        .flatten()
    {
        std::fs::copy(entry.path(), served.join(entry.file_name())).expect("copy archive");
    }
}

/// Hostile manifests: one that backtracks for ever, one that lists a
/// million versions (48 MB).
fn write_manifests(served: &Path) {
    let pattern = served.join("patternmf");
    std::fs::create_dir_all(&pattern).expect("dir");
    std::fs::write(
        pattern.join("manifest-5.4"),
        "repository = {}\nlocal x = (('a'):rep(40)):find(('a?'):rep(40) .. ('a'):rep(40))\n",
    )
    .expect("pattern manifest");
    let big = served.join("bigmf");
    std::fs::create_dir_all(&big).expect("dir");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(big.join("manifest-5.4")).expect("big manifest"),
    );
    out.write_all(b"commands = {}\nmodules = {}\nrepository = {\n  ok = {\n")
        .expect("write");
    for i in 0..1_000_000 {
        writeln!(out, "    [\"1.{i}-1\"] = {{ {{ arch = \"rockspec\" }} }},").expect("write");
    }
    out.write_all(b"  },\n}\n").expect("write");
}

/// The spec cases: `integration/hostile/specs/*.rockspec`, with their
/// `-- expect:`, `-- how:` and `-- luarocks:` header lines, rendered
/// into `served` (and listed in its manifest).
fn spec_cases(served: &Path, base: &str, watch: &Watch, tree: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut listed = Vec::new();
    let dir = project_dir().join("integration/hostile/specs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("specs")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let template = std::fs::read_to_string(&path).expect("spec");
        let header = |key: &str| {
            template
                .lines()
                .find_map(|l| l.strip_prefix(&format!("-- {key}: ")))
                .unwrap_or_else(|| panic!("{file}: no `-- {key}:` line"))
                .to_owned()
        };
        let text = template
            .replace("@BASE@", base)
            .replace("@WATCHMOD@", &watch.dotted())
            .replace("@FIFO@", &watch.fifo().display().to_string())
            .replace("@WATCH@", &watch.dir.display().to_string());
        let rendered = served.join(&file);
        std::fs::write(&rendered, text).expect("render");
        let name = file.split('-').next().expect("name").to_owned();
        listed.push((name.clone(), "1.0-1".to_owned(), "rockspec".to_owned()));
        let tree = tree.display().to_string();
        let (args, luarocks) = match header("how").as_str() {
            "build" => (
                vec![
                    "build".to_owned(),
                    "--no-install".to_owned(),
                    rendered.display().to_string(),
                ],
                vec![
                    "--tree".into(),
                    tree,
                    "build".into(),
                    rendered.display().to_string(),
                ],
            ),
            "install" => (
                vec![
                    "--only-server".into(),
                    base.to_owned(),
                    "install".into(),
                    name.clone(),
                ],
                vec![
                    "--tree".into(),
                    tree,
                    "--only-server".into(),
                    base.to_owned(),
                    "install".into(),
                    name.clone(),
                ],
            ),
            other => panic!("{file}: unknown how {other}"),
        };
        cases.push(Case {
            name,
            expect: header("expect"),
            args,
            luarocks: (header("luarocks") == "yes").then_some(luarocks),
            lint: template
                .contains("-- lint: refuses")
                .then(|| rendered.clone()),
        });
    }
    std::fs::write(served.join("manifest-5.4"), render_manifest(&listed)).expect("manifest");
    cases
}

/// The lying server and the hostile manifests. The slow ones run with
/// `--timeout 2`, which must bound them; the others with LuaRocks' 30 s,
/// so that a loaded machine cannot turn their refusal into a timeout.
fn server_cases(base: &str) -> Vec<Case> {
    let case = |name: &str, timeout: &str, command: &[&str], expect: &str| Case {
        name: name.to_owned(),
        expect: expect.to_owned(),
        args: [
            "--timeout",
            timeout,
            "--only-server",
            &format!("{base}/{name}"),
        ]
        .iter()
        .chain(command)
        .map(|s| (*s).to_owned())
        .collect(),
        luarocks: None,
        lint: None,
    };
    let within_2_s = "did not answer in full within 2 s";
    vec![
        case("trickle", "2", &["install", "ok"], within_2_s),
        case("hang", "2", &["install", "ok"], within_2_s),
        case("endless", "30", &["search", "ok"], "larger than 64 MiB"),
        case("huge", "30", &["search", "ok"], "larger than 64 MiB"),
        case("redirect", "30", &["search", "ok"], "redirect"),
        case("short", "30", &["search", "ok"], "the answer was cut short"),
        case("patternmf", "30", &["search", "ok"], "too costly"),
        case(
            "bigmf",
            "30",
            &["search", "ok"],
            "more than 250000 rock versions",
        ),
    ]
}

/// Runs rockstore under GNU time: (exit code, stderr, seconds, peak KiB).
fn measured(s: &Sandbox, args: &[String]) -> (Option<i32>, String, f64, u64) {
    let report = s.tmp.path().join("time.txt");
    let out = s
        .program("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&report)
        .arg(crate::support::bin())
        .arg("--store")
        .arg(s.store())
        // Its own tree: the default (as root, /usr/local) is not the
        // test's to touch, even to refuse.
        .arg("--tree")
        .arg(s.tmp.path().join("ours-tree"))
        // The corpus serves Lua 5.4 manifests; without this, a Debian
        // machine's default (its luarocks' Lua) would be asked.
        .args(["--lua-version", "5.4"])
        .args(args)
        .output()
        .expect("time");
    let figures = std::fs::read_to_string(&report).expect("time report");
    let last = figures.lines().last().unwrap_or_default().to_owned();
    let mut words = last.split_whitespace();
    let secs: f64 = words.next().and_then(|w| w.parse().ok()).expect("seconds");
    let kib: u64 = words.next().and_then(|w| w.parse().ok()).expect("max rss");
    (out.status.code(), text(&out.stderr), secs, kib)
}

fn assert_store_clean(s: &Sandbox, case: &str) {
    let verify = s.run(["verify"]);
    assert!(
        verify.status.success(),
        "{case}: the store must verify clean: {}",
        text(&verify.stderr)
    );
    assert!(s.items().is_empty(), "{case}: admitted {:?}", s.items());
    let tmp: Vec<_> = std::fs::read_dir(s.store().join("tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "{case}: left in tmp/: {tmp:?}");
}

/// Debian's luarocks on the same input: its verdict in a few words.
fn luarocks_verdict(s: &Sandbox, args: &[String], watch: &Watch) -> String {
    let before = snapshot(&watch.dir);
    let out = s
        .program("timeout")
        .args(["60", "luarocks", "--lua-version", "5.4"])
        .args(args)
        .output()
        .expect("luarocks");
    let wrote = snapshot(&watch.dir) != before;
    watch.reset();
    let verdict = match out.status.code() {
        Some(0) => "installed",
        Some(124) => "hung (killed after 60 s)",
        _ => "refused",
    };
    let said = text(&out.stderr)
        .lines()
        .chain(text(&out.stdout).lines())
        .find(|l| l.contains("Error") || l.contains("error"))
        .unwrap_or_default()
        .chars()
        .take(70)
        .collect::<String>();
    format!(
        "{verdict}{} {said}",
        if wrote { ", WROTE OUTSIDE" } else { "" }
    )
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn hostile_corpus_is_refused_bounded_and_writes_nothing_outside() {
    if !need(&["lua5.4"]) {
        return;
    }
    if !Path::new("/usr/bin/time").exists() {
        crate::support::skip_or_fail("GNU time (apt-get install time) measures peak memory");
        return;
    }
    let s = Sandbox::new();
    let watch = Watch::new();
    let served = s.dir("served");
    let server = HttpServer::start(served.clone());
    let luarocks_tree = s.dir("luarocks-tree");
    write_archives(&served, &watch);
    write_manifests(&served);
    let mut cases = spec_cases(&served, &server.base, &watch, &luarocks_tree);
    cases.extend(server_cases(&server.base));
    let has_luarocks = need(&["luarocks"]);

    let mut table = Vec::new();
    for case in &cases {
        let before = snapshot(&watch.dir);
        let (code, stderr, secs, kib) = measured(&s, &case.args);
        assert_eq!(
            code,
            Some(1),
            "{}: expected a clean refusal (exit 1), got {code:?}:\n{stderr}",
            case.name
        );
        assert!(
            stderr.contains(&case.expect),
            "{}: expected `{}` in:\n{stderr}",
            case.name,
            case.expect
        );
        assert!(
            stderr.contains(&case.name),
            "{}: the error must name the input:\n{stderr}",
            case.name
        );
        assert_eq!(
            snapshot(&watch.dir),
            before,
            "{}: something outside the store changed",
            case.name
        );
        assert!(
            Duration::from_secs_f64(secs) < TIME_BOUND,
            "{}: took {secs} s",
            case.name
        );
        assert!(kib < RSS_BOUND_KIB, "{}: peak RSS {kib} KiB", case.name);
        assert_store_clean(&s, &case.name);
        if let Some(spec) = &case.lint {
            let out = s.bare_cmd().arg("lint").arg(spec).output().expect("lint");
            assert!(
                !out.status.success()
                    && (text(&out.stdout).contains(&case.expect)
                        || text(&out.stderr).contains(&case.expect)),
                "{}: lint must name the unsafe path:\n{}{}",
                case.name,
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        let theirs = match (&case.luarocks, has_luarocks) {
            (Some(args), true) => luarocks_verdict(&s, args, &watch),
            _ => "not run (no cheap equivalent)".to_owned(),
        };
        let ours = stderr
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(70)
            .collect::<String>();
        table.push(format!(
            "{:<12} | refused in {secs:>5.2} s, {:>4} MiB: {ours}\n{:<12} | luarocks: {theirs}",
            case.name,
            kib / 1024,
            ""
        ));
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "\nhostile corpus, rockstore beside Debian's luarocks:");
    for row in &table {
        let _ = writeln!(err, "{row}");
    }
    assert!(cases.len() >= 29, "the corpus lost cases: {}", cases.len());
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn gc_through_another_spelling_of_the_store_keeps_every_rooted_item() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    let real = s.store();
    let init = s
        .bare_cmd()
        .args(["store", "init"])
        .arg(&real)
        .output()
        .expect("init");
    assert!(init.status.success(), "{}", text(&init.stderr));
    let link = s.tmp.path().join("store-link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let dotted = s.dir("sub").join("..").join("store");
    // Installed through the link: the generation links spell the store so.
    let out = s
        .bare_cmd()
        .arg("--store")
        .arg(&link)
        .args([
            "--only-server",
            &repo.server.base,
            "--lua-version",
            "5.4",
            "--tree",
        ])
        .arg(&tree)
        .args(["install", "purelua", "1.0"])
        .output()
        .expect("install");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let items = s.items();
    assert!(!items.is_empty());
    for spelling in [&real, &dotted, &link] {
        let out = s
            .bare_cmd()
            .arg("--store")
            .arg(spelling)
            .arg("gc")
            .output()
            .expect("gc");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "",
            "gc via {} freed items",
            spelling.display()
        );
        assert!(
            text(&out.stderr).contains("freed 0 items"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(s.items(), items);
    // The tree still resolves, through the store, to the module's bytes.
    let module = std::fs::read_to_string(tree.join("share/lua/5.4/purelua/init.lua"));
    assert!(
        module.is_ok_and(|m| m.contains("version")),
        "the tree broke"
    );
}

#[test]
fn gc_sweeps_what_killed_admissions_and_builds_leave() {
    let s = Sandbox::new();
    let src = s.dir("src");
    std::fs::write(src.join("a.lua"), "return 1").expect("file");
    s.add(&src, "x", "1.0-1");
    // What a kill leaves: an item directory whose record was never
    // written, a staging directory and a build directory.
    let orphan = s
        .store()
        .join("store/0000000000000000000000000000000000000000000000000000-gone-1.0-1");
    std::fs::create_dir_all(orphan.join("lua")).expect("orphan");
    std::fs::create_dir_all(s.store().join("tmp/build-killed/src")).expect("build dir");
    std::fs::create_dir_all(s.store().join("tmp/stage-killed")).expect("stage dir");
    let out = s.run(["gc"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("swept 3 leftovers"),
        "{}",
        text(&out.stderr)
    );
    assert!(!orphan.exists());
    let tmp: Vec<_> = std::fs::read_dir(s.store().join("tmp"))
        .expect("tmp")
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    assert!(s.run(["verify"]).status.success());
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn a_switch_removes_bin_links_a_killed_switch_left_and_nothing_else() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    let install = |rock: &str| {
        let out = s
            .cmd([
                "--only-server",
                &repo.server.base,
                "--lua-version",
                "5.4",
                "--tree",
            ])
            .arg(&tree)
            .args(["install", rock])
            .output()
            .expect("install");
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    install("purelua");
    // What a switch killed between making a new generation's bin/ links
    // and renaming `current` leaves: a link of ours to a command the
    // current generation lacks. Beside it, a file that is not ours.
    let bin = tree.join("bin");
    std::os::unix::fs::symlink("../.rockstore/current/bin/ghost", bin.join("ghost"))
        .expect("ghost");
    std::fs::write(bin.join("mine"), "#!/bin/sh\n").expect("mine");
    install("upg");
    assert!(
        std::fs::symlink_metadata(bin.join("ghost")).is_err(),
        "the dangling link of ours must go"
    );
    assert_eq!(
        std::fs::read_to_string(bin.join("mine")).ok().as_deref(),
        Some("#!/bin/sh\n")
    );
    assert!(
        bin.join("purelua-hello").exists(),
        "the current generation's commands stay"
    );
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn a_local_server_may_name_its_own_files_as_sources_and_no_others() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let watch = Watch::new();
    let server = s.dir("server");
    std::fs::write(
        server.join("ok-1.0.tar.gz"),
        raw_tarball(&[("ok-1.0/ok.lua", Entry::File(b"return 1\n"))]),
    )
    .expect("tarball");
    let spec = |name: &str, url: &str| {
        std::fs::write(
            server.join(format!("{name}-1.0-1.rockspec")),
            format!(
                "package = '{name}'\nversion = '1.0-1'\nsource = {{ url = '{url}' }}\n\
                 build = {{ type = 'builtin', modules = {{ ok = 'ok.lua' }} }}\n"
            ),
        )
        .expect("spec");
        (name.to_owned(), "1.0-1".to_owned(), "rockspec".to_owned())
    };
    let listed = [
        spec(
            "inside",
            &format!("file://{}/ok-1.0.tar.gz", server.display()),
        ),
        // Inside by its text, outside once `..` is resolved.
        spec(
            "dotdot",
            &format!(
                "file://{}/../../../../../../..{}/victim.txt",
                server.display(),
                watch.dir.display()
            ),
        ),
        spec("outside", &format!("{}/victim.txt", watch.dir.display())),
    ];
    std::fs::write(server.join("manifest-5.4"), render_manifest(&listed)).expect("manifest");
    let tree = s.tmp.path().join("tree");
    let install = |rock: &str| {
        s.cmd([
            "--only-server",
            &format!("file://{}", server.display()),
            "--lua-version",
            "5.4",
            "--tree",
        ])
        .arg(&tree)
        .args(["install", rock])
        .output()
        .expect("install")
    };
    let ok = install("inside");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    for rock in ["dotdot", "outside"] {
        let out = install(rock);
        assert!(!out.status.success(), "{rock} was installed");
        assert!(
            text(&out.stderr).contains("only files inside the server's directory"),
            "{rock}: {}",
            text(&out.stderr)
        );
    }
}
