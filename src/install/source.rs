//! A rock without its docs: LuaRocks' `--no-doc`, as a new item.

use crate::backend::StoreBackend;
use crate::build::BuildError;

/// The item `name` without its top-level `doc/` and `docs/` (LuaRocks'
/// `--no-doc` deletes them from the installed rock): a new item, since
/// items never change. The same item when it has neither.
pub(crate) fn without_docs(backend: &dyn StoreBackend, name: &str) -> Result<String, BuildError> {
    let store = backend.store();
    let parsed =
        crate::store::item_name::ItemName::parse(name).map_err(|e| BuildError::Store(e.into()))?;
    let Some(item) = store.get(&parsed)? else {
        return Ok(name.to_owned());
    };
    let docs = ["doc", "docs"];
    if !docs.iter().any(|d| item.path.join(d).exists()) {
        return Ok(name.to_owned());
    }
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let temp = tempfile::tempdir().map_err(io(&std::env::temp_dir()))?;
    let copy = temp.path().join("item");
    copy_tree(&item.path, &copy, &docs).map_err(io(&copy))?;
    let spec = crate::store::ItemSpec {
        name: item.record.name.clone(),
        version: item.record.version.clone(),
        kind: crate::store::db::ItemKind::Rock,
        references: Vec::new(),
        recipe_key: None,
    };
    Ok(backend.add_dir(&copy, &spec)?.name.as_str().to_owned())
}

/// Copies a tree of files, directories and links, leaving out the
/// top-level entries named in `skip`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, &[])?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
