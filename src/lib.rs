//! rockstore: a LuaRocks-compatible package installer on a content-addressed
//! store (see `../shared/DESIGN.md` for the concepts and `store-format/` for
//! the normative on-disk format).
//!
//! # Map
//! | concept (DESIGN.md) | module |
//! | --- | --- |
//! | item, content hash, canonical encoding | [`store::canonical`], [`store::content_hash`] |
//! | item names, entry names | [`store::item_name`] |
//! | reading/normalising a tree from disk | [`store::ingest`] |
//! | admission, lookups, realisations, delete | [`store`] (`store/admit.rs`, `store/items.rs`, `store/recipes.rs`) |
//! | records under `db/` (bincode) | [`store::db`] |
//! | locks and their order | [`store::lock`] |
//! | verify and repair | [`store::verify`] |
//! | crash-test stopping points | [`store::failpoint`] |
//! | atomic small-file writes | [`fs_atomic`] |
//! | answers from a header's bytes kept while the file is unchanged | [`file_memo`] |
//! | configuration and the environment | [`config`], [`env_vars`] |
//! | evaluating untrusted Lua (rockspecs, manifests, config) | [`lua`] |
//! | rockspecs: model, schema, platform overrides | [`rockspec`] |
//! | versions, constraints, dependency strings | [`rockspec::version`], [`rockspec::dependency`] |
//! | repository manifests (read), tree manifests (write) | [`manifest`] |
//! | rocks servers, search, choosing a rock | [`servers`] |
//! | a local rocks server directory: manifests, zips, index.html (`admin`) | [`server_dir`] |
//! | downloads and the download cache | [`fetch`] |
//! | unpacking archives written by strangers | [`archive`] |
//! | the item archive (a tree on the wire): writing, reading and checking it | [`store::item_archive`] |
//! | `unpack`: a rock or rockspec laid out for `make` | [`unpack`] |
//! | paths a stranger's file names, checked once | [`rel_path`] |
//! | Lua installations (5.1–5.4, LuaJIT) | [`lua_install`] |
//! | the search paths `path` prints (LuaRocks' `cleanup_path`) | [`lua_paths`] |
//! | building rocks into items, recipe keys | [`build`] |
//! | LuaRocks config files; what `config` shows; rewriting one (`config KEY VALUE`) | [`luarocks_config`], [`config_view`], [`config_edit`] |
//! | LuaRocks project directories (`lua_modules`); making one (`init`) | [`project`], [`project_init`] |
//! | trees as profiles, generations, switching; per-entry links | [`tree`], [`tree::links`] |
//! | a switch a kill or a full disk stopped; temporary names in a tree | [`tree::switching`], [`tree::temp_name`] |
//! | adopting LuaRocks trees and releasing them | [`adopt`] |
//! | install/remove, deps modes, resolution: plan, solver, parallel executor | [`install`] |
//! | the store daemon (multi-user), its protocol, clients; one connection per request kind | [`daemon`] (`daemon/server/session/`) |
//! | a daemon store; items sealed immutable | [`store::daemon_store`], [`store::seal`] |
//! | build users' isolation (build user, bubblewrap) | [`build::isolation`] |
//! | `luarocks.lock` pins | [`lockfile`] |
//! | a project's test suite (`test`): its runner, needs and command | [`test_suite`] |
//! | garbage collection, `store why` | [`gc`] |
//! | what config, flags and environment resolve to (trees, deps mode, servers, variables) | [`settings`] |
//! | a command's rocks-server session; packing, signing, writing rockspecs | [`ops`] ([`ops::session`], [`ops::pack`], [`ops::sign`], [`ops::write_rockspec`]) |
//! | typed events the library tells people (status, notes, warnings) | [`reporter`] |
//! | a stranger's text (a cache's words) made safe for a terminal | [`printable`] |
//! | which rock: name and version, `name version` as text | [`rock_id`] |
//! | the command line (binary only) | `src/cli/` |
//!
//! # On-disk files and their owners
//! `<store>/store/*` and `db/listings/*`: `store` (via `ingest`, `canonical`);
//! `db/items`, `db/realisations`, `db/sources`, `db/trees`: `store::db`;
//! `locks/*`: `store::lock`; `tmp/*`: `store` (staging) and
//! `store::verify` (sweeping); `daemon.socket`: `daemon::server`;
//! `daemon-store`: `store::daemon_store`.
//! In a tree: `.rockstore/*` and the links into it: `tree`; the download
//! cache: `fetch`.

pub mod adopt;
pub mod archive;
pub mod backend;
pub mod build;
pub mod build_watch;
pub mod cache;
pub mod cfg_defaults;
pub mod config;
pub mod config_edit;
pub mod config_view;
pub mod daemon;
pub mod env_vars;
pub mod fetch;
pub mod file_memo;
pub mod fs_atomic;
pub mod gc;
pub mod hint;
pub mod install;
pub mod lockfile;
pub mod lua;
pub mod lua_install;
pub mod lua_paths;
pub mod luarocks_config;
pub mod manifest;
pub mod md5sum;
pub mod ops;
pub mod printable;
pub mod project;
pub mod project_init;
pub mod rel_path;
pub mod reporter;
pub mod rock_file;
pub mod rock_id;
pub mod rockspec;
pub mod server_dir;
pub mod servers;
pub mod settings;
pub mod store;
pub mod stores;
pub mod test_suite;
pub mod toolchain;
pub mod tree;
pub mod units;
pub mod unpack;
pub mod upload;
pub mod users;

/// An error and its causes, one line: what the daemon sends its clients.
pub fn report_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// Every hint the errors of `error`'s chain give, in order, without
/// repeats: what the command line prints as `hint:` lines, and what the
/// daemon sends its clients beside a failure.
pub fn hints_of(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    use hint::Hint;
    let mut hints: Vec<String> = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        // Transparent wrappers hide their inner error from `source()`:
        // each wrapper says its inner error's hints itself.
        let found = if let Some(x) = e.downcast_ref::<install::InstallError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<build::BuildError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<adopt::AdoptError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<store::StoreError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<store::remote::RemoteError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<lua::EvalError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<build::isolation::IsolationError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<tree::profile::ProfileError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<tree::TreeError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<ops::session::SessionError>() {
            x.hints()
        } else if let Some(x) = e.downcast_ref::<ops::write_rockspec::WriteRockspecError>() {
            x.hints()
        } else {
            Vec::new()
        };
        for h in found {
            if !hints.contains(&h) {
                hints.push(h);
            }
        }
        cause = e.source();
    }
    hints
}
