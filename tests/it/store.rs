//! The store through the real binary: identity, tampering, hostile trees,
//! crashes at every admission step, concurrent admissions, lock waits.

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{add_args, skip_or_fail, snapshot, text, Sandbox};

fn write(path: &Path, content: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A small rock-shaped tree.
fn rock_tree(root: &Path) {
    write(
        &root.join("share/lua/5.4/foo.lua"),
        "return { answer = 42 }\n",
        0o644,
    );
    write(
        &root.join("lib/lua/5.4/foo/core.so"),
        "\x7fELF not really",
        0o755,
    );
    write(&root.join("bin/foo"), "#!/bin/sh\necho foo\n", 0o755);
    std::os::unix::fs::symlink("foo.lua", root.join("share/lua/5.4/bar.lua")).expect("link");
}

fn item_name(path: &Path) -> String {
    path.file_name()
        .expect("item")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn same_tree_twice_is_one_item_and_every_change_is_another() {
    let s = Sandbox::new();
    let a = s.dir("a");
    rock_tree(&a);
    let first = s.add(&a, "foo", "1.0-1");
    let copy = s.dir("copy");
    rock_tree(&copy);
    assert_eq!(
        s.add(&copy, "foo", "1.0-1"),
        first,
        "identical content must give the identical item"
    );
    assert_eq!(s.items().len(), 1);

    let mut seen = vec![first.clone()];
    let mut check_new = |label: &str, change: &dyn Fn(&Path)| {
        let dir = s.dir(&format!("variant-{label}"));
        rock_tree(&dir);
        change(&dir);
        let item = s.add(&dir, "foo", "1.0-1");
        assert!(
            !seen.contains(&item),
            "{label}: changed tree must be a different item"
        );
        seen.push(item);
    };
    check_new("content", &|d| {
        write(&d.join("share/lua/5.4/foo.lua"), "return {}\n", 0o644)
    });
    check_new("exec-bit", &|d| {
        std::fs::set_permissions(d.join("bin/foo"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod")
    });
    check_new("link-target", &|d| {
        std::fs::remove_file(d.join("share/lua/5.4/bar.lua")).expect("rm");
        std::os::unix::fs::symlink("./foo.lua", d.join("share/lua/5.4/bar.lua")).expect("link");
    });
    check_new("extra-empty-dir", &|d| {
        std::fs::create_dir(d.join("doc")).expect("mkdir")
    });

    // Item files are read-only with fixed mtimes, whatever the source had.
    let lua = first.join("share/lua/5.4/foo.lua");
    let meta = std::fs::metadata(&lua).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o444);
    assert_eq!(
        std::fs::metadata(first.join("bin/foo"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777,
        0o555
    );
    assert_eq!(
        std::fs::metadata(&first)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777,
        0o555
    );
    assert_eq!(
        meta.modified().expect("mtime"),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1)
    );
    s.ok(["verify", "--contents"]);
}

#[test]
fn modes_do_not_depend_on_the_umask_or_source_modes() {
    let s = Sandbox::new();
    let a = s.dir("a");
    write(&a.join("x.lua"), "x", 0o600);
    write(&a.join("run"), "#!", 0o700);
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // The same tree admitted into two stores, under umask 077 and 022.
    let mut layouts = Vec::new();
    for umask in ["077", "022"] {
        let store = s.tmp.path().join(format!("store-{umask}"));
        let out = s
            .program("sh")
            .args(["-c", &format!("umask {umask}; exec \"$0\" \"$@\"")])
            .arg(crate::support::bin())
            .arg("--store")
            .arg(&store)
            .args(add_args(&a, "m", "1"))
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let item = PathBuf::from(text(&out.stdout).trim());
        let mut snap = snapshot(&item);
        snap.sort();
        assert_eq!(
            snap,
            vec!["run 555 2".to_owned(), "x.lua 444 1".to_owned()],
            "umask {umask}"
        );
        let root_mode = std::fs::metadata(&item).expect("stat").permissions().mode() & 0o7777;
        // Item and record files; the store's own directories follow the
        // umask in a per-user store (explicit modes come with shared stores).
        let records: Vec<String> = snapshot(&store.join("db"))
            .into_iter()
            .filter(|line| !line.contains("/ "))
            .collect();
        layouts.push((snap, root_mode, records));
    }
    assert_eq!(layouts[0].1, 0o555);
    assert_eq!(
        layouts[0], layouts[1],
        "item and record modes must not depend on the umask"
    );
}

/// Runs `verify --contents`, expects failure, returns stdout.
fn verify_problems(s: &Sandbox) -> String {
    let (stdout, _) = s.fails(["verify", "--contents"]);
    stdout
}

fn make_writable(path: &Path) {
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn tampering_is_named_by_verify_contents() {
    let s = Sandbox::new();
    let a = s.dir("a");
    rock_tree(&a);
    let item = s.add(&a, "foo", "1.0-1");
    let name = item_name(&item);
    s.ok(["verify", "--contents"]);

    // A changed byte.
    let lua = item.join("share/lua/5.4/foo.lua");
    make_writable(&lua);
    std::fs::write(&lua, "return { answer = 43 }\n").expect("tamper");
    let out = verify_problems(&s);
    assert!(
        out.contains(&name) && out.contains("share/lua/5.4/foo.lua: contents changed"),
        "{out}"
    );
    assert!(
        out.contains("share/lua/5.4/foo.lua: has mode 0644"),
        "{out}"
    );
    std::fs::write(&lua, "return { answer = 42 }\n").expect("restore");
    std::fs::set_permissions(&lua, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    s.ok(["verify", "--contents"]);

    // A mode: the exec bit taken away.
    let bin = item.join("bin/foo");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let out = verify_problems(&s);
    assert!(out.contains("bin/foo: lost its executable bit"), "{out}");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o555)).expect("chmod");

    // An added file.
    make_writable(&item.join("share/lua/5.4"));
    write(&item.join("share/lua/5.4/evil.lua"), "os.exit()", 0o444);
    let out = verify_problems(&s);
    assert!(out.contains("share/lua/5.4/evil.lua: was added"), "{out}");
    std::fs::remove_file(item.join("share/lua/5.4/evil.lua")).expect("rm");

    // A removed file.
    std::fs::remove_file(&lua).expect("rm");
    let out = verify_problems(&s);
    assert!(out.contains("share/lua/5.4/foo.lua: is missing"), "{out}");

    // Repair removes the corrupt item; the next add restores it whole.
    s.ok(["verify", "--contents", "--repair"]);
    assert!(s.items().is_empty());
    s.ok(["verify", "--contents"]);
    assert_eq!(s.add(&a, "foo", "1.0-1"), item);
    s.ok(["verify", "--contents"]);
}

/// An item name that exists is checked before it is reused: a damaged
/// item is replaced by the new admission's known-good copy, and a second
/// admission never adds references to the first one's record.
#[test]
fn a_damaged_item_is_replaced_not_reused_and_records_are_never_merged() {
    let s = Sandbox::new();
    let a = s.dir("a");
    rock_tree(&a);
    let item = s.add(&a, "foo", "1.0-1");
    let lua = item.join("share/lua/5.4/foo.lua");
    make_writable(&lua);
    std::fs::write(&lua, "return { answer = 666 }\n").expect("tamper");
    // The same bytes admitted again: the item is replaced, not reused.
    assert_eq!(s.add(&a, "foo", "1.0-1"), item);
    assert_eq!(
        std::fs::read_to_string(&lua).expect("lua"),
        "return { answer = 42 }\n"
    );
    s.ok(["verify", "--contents"]);
    // A reference declared by a later admission of the same content is
    // not added to the record (it would keep its item alive for everyone).
    let dep = s.dir("dep");
    write(&dep.join("x"), "x", 0o644);
    let dep_item = item_name(&s.add(&dep, "dep", "1.0-1"));
    let mut args = add_args(&a, "foo", "1.0-1");
    args.extend(["--ref".into(), dep_item.clone().into()]);
    assert_eq!(PathBuf::from(s.ok(args).trim()), item);
    let info: serde_json::Value =
        serde_json::from_str(&s.ok(["store", "info", &item_name(&item), "--json"])).expect("json");
    assert_eq!(info["references"], serde_json::json!([]), "{info}");
}

#[test]
fn record_without_item_is_a_problem_that_repair_fixes() {
    let s = Sandbox::new();
    let a = s.dir("a");
    rock_tree(&a);
    let item = s.add(&a, "foo", "1.0-1");
    let name = item_name(&item);
    make_writable(&item);
    for sub in [
        "share/lua/5.4",
        "share/lua",
        "share",
        "lib/lua/5.4/foo",
        "lib/lua/5.4",
        "lib/lua",
        "lib",
        "bin",
    ] {
        make_writable(&item.join(sub));
    }
    std::fs::remove_dir_all(&item).expect("rm item");
    let (out, _) = s.fails(["verify"]);
    assert!(
        out.contains(&name) && out.contains("record without item"),
        "{out}"
    );
    s.ok(["verify", "--repair"]);
    s.ok(["verify"]);
    assert!(s.items().is_empty());
}

/// Asserts that `store add` of `dir` fails mentioning `needle`, and that the
/// store is exactly as it was.
fn refused(s: &Sandbox, dir: &Path, needle: &str) {
    let before = snapshot(&s.store());
    let (_, stderr) = s.fails(add_args(dir, "bad", "1"));
    assert!(stderr.contains(needle), "expected `{needle}` in:\n{stderr}");
    assert!(
        stderr.contains("hint:"),
        "a refusal says what to do:\n{stderr}"
    );
    assert_eq!(
        snapshot(&s.store()),
        before,
        "the store changed after a refused add"
    );
    s.ok(["verify"]);
}

#[test]
fn hostile_trees_are_refused_and_leave_the_store_unchanged() {
    let s = Sandbox::new();
    let good = s.dir("good");
    rock_tree(&good);
    s.add(&good, "foo", "1.0-1");

    let fifo = s.dir("fifo");
    rock_tree(&fifo);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fifo.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    refused(&s, &fifo, "`pipe` is a FIFO");

    let setuid = s.dir("setuid");
    rock_tree(&setuid);
    std::fs::set_permissions(
        setuid.join("bin/foo"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .expect("chmod");
    refused(&s, &setuid, "`bin/foo` has the setuid or setgid bit");

    let non_utf8 = s.dir("non-utf8");
    rock_tree(&non_utf8);
    std::fs::write(
        non_utf8.join(std::ffi::OsStr::from_bytes(b"caf\xe9.lua")),
        "x",
    )
    .expect("write");
    refused(&s, &non_utf8, "is not valid UTF-8");

    for (case, target) in [
        ("abs", "/etc/passwd"),
        ("up", "../../../../../etc/passwd"),
        ("sneaky", "foo.lua/../../../../../x"),
    ] {
        let dir = s.dir(&format!("link-{case}"));
        rock_tree(&dir);
        std::os::unix::fs::symlink(target, dir.join("share/lua/5.4/evil.lua")).expect("link");
        refused(&s, &dir, "symlink `share/lua/5.4/evil.lua`");
    }
    let other_item = s.dir("link-item");
    rock_tree(&other_item);
    std::os::unix::fs::symlink(
        "../../../../some-item/x",
        other_item.join("share/lua/5.4/evil.lua"),
    )
    .expect("link");
    refused(&s, &other_item, "not one of this item's references");

    let device = s.dir("device");
    rock_tree(&device);
    match rustix::fs::mknodat(
        rustix::fs::CWD,
        device.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 3),
    ) {
        Ok(()) => refused(&s, &device, "`null` is a character device"),
        Err(e) => skip_or_fail(&format!(
            "creating a device node needs root (CAP_MKNOD): {e}"
        )),
    }
}

const ADMISSION_POINTS: &[&str] = &[
    "stage-file@1",
    "stage-file@150",
    "after-ingest",
    "after-sync",
    "after-rename",
    "after-listing",
    "after-record",
    "after-realisation",
];

/// A tree big enough that killing mid-copy leaves real partial state.
fn big_tree(root: &Path) {
    for d in 0..10 {
        for f in 0..30 {
            write(
                &root.join(format!("d{d}/f{f}.lua")),
                &format!("return {d} * {f}\n{}", "x".repeat(f * 100)),
                0o644,
            );
        }
    }
    rock_tree(root);
}

/// Starts `store add` stopped at `point`, and SIGKILLs it there.
fn kill_at(s: &Sandbox, dir: &Path, point: &str) {
    let mut child = s
        .cmd(add_args(dir, "big", "1"))
        .env("ROCKSTORE_FAILPOINT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("read stderr");
    assert!(
        line.contains(&format!(
            "failpoint {} reached",
            point.split('@').next().unwrap_or(point)
        )),
        "{point}: {line}"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[test]
fn sigkill_at_any_admission_step_leaves_no_partial_item() {
    let mut items_seen = std::collections::BTreeSet::new();
    for point in ADMISSION_POINTS {
        let s = Sandbox::new();
        let dir = s.dir("big");
        big_tree(&dir);
        kill_at(&s, &dir, point);
        // Clean after the crash: no problems, whatever garbage is left.
        let out = s.run(["verify", "--contents"]);
        assert!(
            out.status.success(),
            "{point}: verify after crash:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        // Visible items are whole: none before the record is written, the
        // complete item after.
        let visible = s.items();
        let expected = usize::from(matches!(*point, "after-record" | "after-realisation"));
        assert_eq!(visible.len(), expected, "{point}: {visible:?}");
        // The next admission succeeds (replacing any leftover) and is whole.
        let item = s.add(&dir, "big", "1");
        s.ok(["verify", "--contents"]);
        // 10 directories of 30 files, plus the 12 entries of rock_tree.
        assert_eq!(
            snapshot(&item).len(),
            10 * 31 + 12,
            "{point}: item is complete"
        );
        items_seen.insert(item_name(&item));
        // Repair sweeps every leftover; afterwards tmp/ is empty.
        s.ok(["verify", "--repair"]);
        assert!(
            std::fs::read_dir(s.store().join("tmp"))
                .expect("tmp")
                .next()
                .is_none(),
            "{point}"
        );
        s.ok(["verify", "--contents"]);
    }
    assert_eq!(
        items_seen.len(),
        1,
        "the same content is the same item in every store"
    );
}

#[test]
fn eight_concurrent_admissions_of_overlapping_trees() {
    let s = Sandbox::new();
    let trees: Vec<PathBuf> = (0..4)
        .map(|i| {
            let dir = s.dir(&format!("t{i}"));
            big_tree(&dir);
            write(&dir.join("which.lua"), &format!("return {}", i % 2), 0o644);
            dir
        })
        .collect();
    // Trees 0 and 2 have identical content, as do 1 and 3: two distinct items,
    // each added by four processes at once.
    let children: Vec<_> = (0..8)
        .map(|i| {
            let dir = &trees[i % 4];
            s.cmd(add_args(dir, "c", "1"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut paths = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
        paths.insert(text(&out.stdout).trim().to_owned());
    }
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_eq!(s.items().len(), 2);
    assert_eq!(
        std::fs::read_dir(s.store().join("store"))
            .expect("store")
            .count(),
        2,
        "exactly one copy of each item"
    );
    assert!(
        std::fs::read_dir(s.store().join("tmp"))
            .expect("tmp")
            .next()
            .is_none(),
        "no staging left"
    );
    s.ok(["verify", "--contents"]);
}

#[test]
fn a_waiting_process_says_what_it_waits_for() {
    let s = Sandbox::new();
    let mut init = s.cmd(["store", "init"]);
    assert!(init.arg(s.store()).status().expect("init").success());
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(s.store().join("locks/store.lock"))
        .expect("lock file");
    fs2::FileExt::lock_exclusive(&lock).expect("hold the store lock");
    let dir = s.dir("a");
    rock_tree(&dir);
    let mut child = s
        .cmd(add_args(&dir, "w", "1"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("read");
    assert!(line.contains("waiting for the store lock"), "{line}");
    fs2::FileExt::unlock(&lock).expect("unlock");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(s.items().len(), 1);
}

#[test]
fn unknown_store_format_and_foreign_directories_are_refused() {
    let s = Sandbox::new();
    let foreign = s.dir("foreign");
    std::fs::write(foreign.join("precious.txt"), "keep me").expect("write");
    let out = s
        .cmd(["store", "ls"])
        .arg("--store")
        .arg(&foreign)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not empty and not a rockstore store"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious.txt")).expect("kept"),
        "keep me"
    );

    let mut init = s.cmd(["store", "init"]);
    assert!(init.arg(s.store()).status().expect("init").success());
    let marker = s.store().join("store-format");
    make_writable(&marker);
    std::fs::write(&marker, "rockstore store format 99\n").expect("write");
    let (_, stderr) = s.fails(["store", "ls"]);
    assert!(
        stderr.contains("format `rockstore store format 99`"),
        "{stderr}"
    );
}

#[test]
fn info_and_path_find_items_by_name_prefix_and_hash() {
    let s = Sandbox::new();
    let a = s.dir("a");
    rock_tree(&a);
    let item = s.add(&a, "foo", "1.0-1");
    let name = item_name(&item);
    let info: serde_json::Value =
        serde_json::from_str(&s.ok(["store", "info", "foo", "--json"])).expect("json");
    assert_eq!(info["item"], name.as_str());
    assert_eq!(info["file_count"], 3);
    let hash = info["hash"].as_str().expect("hash").to_owned();
    for query in [
        &name[..8],
        hash.as_str(),
        item.to_str().expect("utf8"),
        "foo",
    ] {
        assert_eq!(
            s.ok(["store", "path", query]).trim(),
            item.to_str().expect("utf8"),
            "{query}"
        );
    }
    let (_, stderr) = s.fails(["store", "info", "nope"]);
    assert!(
        stderr.contains("no item in the store matches `nope`"),
        "{stderr}"
    );
}

#[test]
fn global_flags_may_follow_the_command_and_env_sets_the_store() {
    let s = Sandbox::new();
    let a = s.dir("a");
    rock_tree(&a);
    // --store after the command (and after the subcommand's own flags).
    let after = s.tmp.path().join("after-store");
    let out = s
        .bare_cmd()
        .args(add_args(&a, "e", "1"))
        .arg("--store")
        .arg(&after)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(after.to_str().expect("utf8")));

    // $ROCKSTORE_STORE when there is no flag.
    let from_env = s.tmp.path().join("env-store");
    let out = s
        .bare_cmd()
        .env("ROCKSTORE_STORE", &from_env)
        .args(add_args(&a, "e", "1"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(from_env.to_str().expect("utf8")));
}

#[test]
fn staged_builds_are_admitted_in_place_with_realisations() {
    use rockstore::store::content_hash::RecipeKey;
    use rockstore::store::db::ItemKind;
    use rockstore::store::{ItemSpec, Store, StoreOptions};

    let s = Sandbox::new();
    let store = Store::open(&s.store(), StoreOptions::default()).expect("open");
    let key = RecipeKey(*blake3::hash(b"recipe: foo 1.0-1").as_bytes());
    assert!(store.realisation(&key).expect("lookup").is_none());

    // A file outside the staging directory, hard-linked into it as a careless
    // build might: admission must not chmod the outside file.
    let outside = s.dir("outside").join("shared.lua");
    write(&outside, "return 'shared'\n", 0o644);

    let _build_lock = store.lock_recipe(&key).expect("recipe lock");
    let staging = store.stage().expect("stage");
    let out = staging.path();
    write(&out.join("share/lua/5.4/foo.lua"), "return 1\n", 0o664);
    std::fs::hard_link(&outside, out.join("share/lua/5.4/shared.lua")).expect("hard link");
    let spec = ItemSpec {
        name: "foo".into(),
        version: "1.0-1".into(),
        kind: ItemKind::Rock,
        references: vec![],
        recipe_key: Some(key),
    };
    let item = store.admit(staging, &spec).expect("admit");

    assert_eq!(
        std::fs::metadata(&outside)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777,
        0o644,
        "outside file untouched"
    );
    assert_eq!(
        std::fs::read_to_string(item.path.join("share/lua/5.4/shared.lua")).expect("read"),
        "return 'shared'\n"
    );
    let found = store.realisation(&key).expect("lookup").expect("realised");
    assert_eq!(found.path, item.path);
    assert_eq!(found.record.recipe_key, Some(key));
    assert!(
        std::fs::read_dir(s.store().join("tmp"))
            .expect("tmp")
            .next()
            .is_none(),
        "staging consumed"
    );

    // A staging directory dropped without admission leaves nothing behind.
    let abandoned = store.stage().expect("stage");
    write(&abandoned.path().join("x"), "x", 0o644);
    drop(abandoned);
    assert!(
        std::fs::read_dir(s.store().join("tmp"))
            .expect("tmp")
            .next()
            .is_none(),
        "abandoned staging removed"
    );
    s.ok(["verify", "--contents"]);
}

/// A mistyped `--store` for a command that only reads or collects is an
/// error naming the path, and makes nothing there: it once made a new
/// empty store and reported it clean ("freed 0 items").
#[test]
fn reading_or_collecting_a_store_that_is_not_there_makes_none() {
    let s = Sandbox::new();
    let typo = s.tmp.path().join("no-such-store");
    for args in [
        &["gc"][..],
        &["gc", "--dry-run"],
        &["verify"],
        &["store", "ls"],
        &["store", "why", "x"],
    ] {
        let out = s
            .bare_cmd()
            .arg("--store")
            .arg(&typo)
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("no store at {}", typo.display())),
            "{args:?}: {stderr}"
        );
        assert!(!typo.exists(), "{args:?} made {}", typo.display());
    }
    // A command that admits makes the store, as before.
    let dir = s.dir("rock");
    rock_tree(&dir);
    let out = s
        .bare_cmd()
        .arg("--store")
        .arg(&typo)
        .args(add_args(&dir, "foo", "1.0-1"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(typo.join("store").is_dir());
}
