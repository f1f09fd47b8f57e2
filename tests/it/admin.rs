//! `admin` (what `luarocks-admin` does for a rocks server): make-manifest,
//! add and remove in a local server directory, refresh-cache.

use std::io::Read;
use std::path::Path;

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn admin_make_manifest_writes_what_luarocks_admin_writes() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut dirs = Vec::new();
    for side in ["ours", "theirs"] {
        let dir = s.dir(&format!("server-{side}"));
        for entry in std::fs::read_dir(&repo.dir).expect("repo").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // The rock files themselves; the manifests are to be made.
            if name.ends_with(".rockspec") || name.ends_with(".rock") {
                std::fs::copy(entry.path(), dir.join(&name)).expect("copy");
            }
        }
        let out = if side == "ours" {
            s.bare_cmd()
                .args(["admin", "make-manifest"])
                .arg(&dir)
                .output()
                .expect("make-manifest")
        } else {
            s.program("luarocks-admin")
                .args(["--lua-version", "5.4", "make_manifest"])
                .arg(&dir)
                .output()
                .expect("luarocks-admin")
        };
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        dirs.push(dir);
    }
    // The repository tables agree (and, for rockspecs alone, the bytes:
    // checked by hand). LuaRocks also fills `modules`/`commands` from the
    // binary rocks' rock_manifest; nothing reads them from a server's
    // manifest, so rockstore leaves them empty: the one difference.
    for file in ["manifest", "manifest-5.1", "manifest-5.3", "manifest-5.4"] {
        let read = |d: &Path| {
            let bytes = std::fs::read(d.join(file)).expect(file);
            let manifest =
                rockstore::manifest::RepositoryManifest::from_bytes(file, &bytes).expect("reads");
            manifest
                .repository
                .into_iter()
                .map(|(name, versions)| {
                    let versions: Vec<(String, Vec<String>)> = versions
                        .into_iter()
                        .map(|(v, e)| {
                            let mut arches = e.arches;
                            arches.sort();
                            (v, arches)
                        })
                        .collect();
                    (name, versions)
                })
                .collect::<Vec<_>>()
        };
        let ours = read(&dirs[0]);
        assert!(!ours.is_empty(), "{file}");
        assert_eq!(ours, read(&dirs[1]), "{file}");
    }
    // The index.html, byte for byte.
    let index = |d: &Path| std::fs::read_to_string(d.join("index.html")).expect("index.html");
    let (ours, theirs) = (index(&dirs[0]), index(&dirs[1]));
    let first_difference = ours.lines().zip(theirs.lines()).find(|(a, b)| a != b);
    assert_eq!(ours, theirs, "index.html: {first_difference:?}");
    assert!(ours.contains("External dependencies:</b> foo"), "{ours}");
}

/// `admin add` to a local server directory leaves what `luarocks-admin add
/// --server file://…` leaves (the files, `manifest`, `manifest-5.x` and
/// their zips); `admin remove` takes files out again, where LuaRocks
/// refuses anything but rsync.
#[test]
#[cfg_attr(not(has_luarocks), ignore = "needs luarocks")]
fn admin_add_and_remove_update_a_local_server_as_luarocks_admin() {
    if !need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let files = [
        "purelua-1.0-1.rockspec",
        "cmulti-1.0-1.src.rock",
        "binrock-1.0-1.all.rock",
    ];
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let server = s.dir(&format!("srv-{side}"));
        let home = s.dir(&format!("home-{side}"));
        // LuaRocks 3.8 copies through its cache and fails when the cache
        // directory is missing (recorded, not copied).
        let cache = home
            .join(".cache/luarocks")
            .join(server.display().to_string().replace('/', "_"));
        std::fs::create_dir_all(&cache).expect("cache");
        let mut cmd = if side == "ours" {
            let mut c = s.cmd::<[&str; 0], &str>([]);
            c.arg("admin");
            c
        } else {
            s.program("luarocks-admin")
        };
        let out = cmd
            .env("HOME", &home)
            .args(["add", "--no-refresh", "--server"])
            .arg(format!("file://{}", server.display()))
            .args(files.iter().map(|f| repo.dir.join(f)))
            .output()
            .expect("add");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let mut listing: Vec<(String, String)> = std::fs::read_dir(&server)
            .expect("server")
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let bytes = std::fs::read(e.path()).expect("read");
                let content = if name.ends_with(".zip") {
                    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
                    let mut inner = zip.by_index(0).expect("entry");
                    let mut text = format!("{}:", inner.name());
                    inner.read_to_string(&mut text).expect("unzip");
                    text
                } else {
                    text(&bytes)
                };
                (name, content)
            })
            .collect();
        listing.sort();
        seen.push(listing);
        let said = text(&out.stdout);
        assert_eq!(said.matches("Copying file").count(), 3, "{side}: {said}");
        assert!(said.contains("Updating manifest..."), "{side}: {said}");
    }
    assert_eq!(
        seen[0], seen[1],
        "the server directory: ours, then luarocks-admin's"
    );
    assert!(seen[0].iter().any(|(n, _)| n == "manifest-5.4.zip"));

    let server = s.tmp.path().join("srv-ours");
    let out = s
        .cmd(["admin", "remove", "--server"])
        .arg(&server)
        .arg("purelua-1.0-1.rockspec")
        .output()
        .expect("remove");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!server.join("purelua-1.0-1.rockspec").exists());
    let manifest = std::fs::read_to_string(server.join("manifest-5.4")).expect("manifest");
    assert!(
        !manifest.contains("purelua") && manifest.contains("cmulti"),
        "{manifest}"
    );
    let out = s
        .program("luarocks-admin")
        .args(["remove", "--server"])
        .arg(format!(
            "file://{}",
            s.tmp.path().join("srv-theirs").display()
        ))
        .arg("purelua-1.0-1.rockspec")
        .output()
        .expect("luarocks-admin remove");
    assert!(!out.status.success(), "LuaRocks removes only over rsync");
    let out = s
        .cmd(["admin", "add", "--server", "https://example.invalid/rocks"])
        .arg(repo.dir.join("purelua-1.0-1.rockspec"))
        .output()
        .expect("add remote");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("only a local rocks server directory"));
}

/// `admin refresh-cache` downloads a server's manifest anew: a rock the
/// server gained within the manifest's cache time is found after it.
#[test]
fn admin_refresh_cache_fetches_the_manifest_anew() {
    let s = Sandbox::new();
    let root = s.dir("fresh-repo");
    let server = crate::rocks_server::HttpServer::start(root.clone());
    let manifest = |names: &[&str]| {
        let entries: Vec<(String, String, String)> = names
            .iter()
            .map(|n| ((*n).to_owned(), "1.0-1".to_owned(), "rockspec".to_owned()))
            .collect();
        crate::rocks_server::render_manifest(&entries)
    };
    std::fs::write(root.join("manifest-5.4"), manifest(&["oldrock"])).expect("manifest");
    let search = || {
        let out = s
            .cmd([
                "--lua-version",
                "5.4",
                "--only-server",
                &server.base,
                "search",
                "rock",
                "--porcelain",
            ])
            .output()
            .expect("search");
        text(&out.stdout)
    };
    assert!(search().contains("oldrock"));
    std::fs::write(root.join("manifest-5.4"), manifest(&["oldrock", "newrock"])).expect("manifest");
    assert!(
        !search().contains("newrock"),
        "the cached manifest is used for a while"
    );
    let out = s
        .cmd([
            "--lua-version",
            "5.4",
            "--only-server",
            &server.base,
            "admin",
            "refresh-cache",
        ])
        .output()
        .expect("refresh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Refreshing cache"));
    assert!(search().contains("newrock"), "after the refresh");
}
