//! `--pin`: the version (and, with `pin_items`, the item) each
//! dependency of a plan was satisfied with, and `luarocks.lock`'s text
//! for it.

use std::collections::BTreeMap;

use super::{By, InstallError, InstallPlan, Installer};

/// `luarocks.lock`'s text for `pins`, as LuaRocks' `deplocks.write_file`
/// writes it (`persist.save_as_module`).
pub fn lock_text(pins: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    use crate::lua::{Table, Value};
    let mut table = Table::new();
    for (key, deps) in pins {
        let mut t = Table::new();
        for (name, version) in deps {
            t.insert(name, Value::String(version.clone()));
        }
        table.insert(key, Value::Table(t));
    }
    crate::lua::persist::save_as_module(&table)
}

/// The `--pin` table of a plan.
fn pins_of(plan: &InstallPlan) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut pins: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let requested = plan.only_deps_of_requested.iter();
    for dep in requested.chain(plan.steps.iter().flat_map(|s| s.dependencies.iter())) {
        {
            let key = if dep.build {
                "build_dependencies"
            } else {
                "dependencies"
            };
            let Ok(parsed) = crate::rockspec::Dependency::parse(&dep.dependency) else {
                continue;
            };
            let version = match &dep.by {
                By::Provided { version } | By::Tree { version, .. } | By::Step { version, .. } => {
                    version.clone()
                }
            };
            pins.entry(key.to_owned())
                .or_default()
                .entry(parsed.name)
                .or_insert(version);
        }
    }
    pins
}

impl<'a> Installer<'a> {
    /// `pins_of` and, for `--pin`, each dependency's item by content hash
    /// (`rockstore_items`, which LuaRocks ignores).
    pub(super) fn pins_of_run(
        &self,
        plan: &InstallPlan,
        items: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, InstallError> {
        let mut pins = pins_of(plan);
        if !(self.settings.pin && self.settings.pin_items) {
            return Ok(pins);
        }
        let mut hashes = BTreeMap::new();
        for (step, item) in plan.steps.iter().zip(items) {
            if step.explicit {
                continue;
            }
            let Ok(name) = crate::store::item_name::ItemName::parse(item) else {
                continue;
            };
            if let Some(found) = self.builder.store.get(&name)? {
                hashes.insert(step.name.clone(), found.record.hash.to_string());
            }
        }
        if !hashes.is_empty() {
            pins.insert(crate::lockfile::ITEMS_KEY.to_owned(), hashes);
        }
        Ok(pins)
    }
}
