//! Plan documents: one signed file listing every rock of a resolved plan
//! with its recipe key and item, so a host installing the same plan learns
//! the whole closure in one request instead of one round of realisation
//! lookups per level of the plan's depth. A plan document is only a guide:
//! the installer recomputes each recipe key from the items the document
//! gives the rock's dependencies, and checks each entry against the signed
//! realisation it names (all asked at once); one entry that does not match
//! and the whole document is refused.

use serde::{Deserialize, Serialize};

use super::keys::{self, PublicKey, SecretKey, SignatureProblem};
use crate::store::content_hash::RecipeKey;

/// The plan document's format.
pub const PLAN_FORMAT: u32 = 1;
/// The domain of a plan document's fingerprint (and of its key).
pub const PLAN_DOMAIN: &str = "rockstore-plan-1";
/// Largest plan document read.
pub const MAX_PLAN_DOC: u64 = 1 << 20;

/// One rock of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEntry {
    /// `name version`.
    pub rock: String,
    /// Its recipe key, 64 hex.
    pub recipe_key: String,
    /// The item that recipe built.
    pub item: String,
    /// Its content hash, `blake3:<hex>` (its blob can be fetched at once,
    /// beside its realisation).
    pub hash: String,
}

/// `plan/<plan key hex>/<signer>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDoc {
    /// [`PLAN_FORMAT`].
    pub format: u32,
    /// The plan key, 64 hex ([`plan_key`]).
    pub plan_key: String,
    /// The Lua ABI built for.
    pub lua_abi: String,
    /// The platform.
    pub platform: String,
    /// Every rock built (or substituted) for the plan, dependencies first.
    pub entries: Vec<PlanEntry>,
    /// `signer:base64` over [`fingerprint`].
    pub signature: String,
}

/// Where `signer`'s plan document of `plan_key` lives.
pub fn plan_path(plan_key: &str, signer: &str) -> String {
    format!("plan/{plan_key}/{signer}.json")
}

fn field(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// The key of a plan, from what a host knows right after resolving and
/// before asking any cache: the Lua ABI, the platform, each rock to build
/// (`name version`, in plan order), and the recipe keys it can compute
/// without any cache (rocks whose dependencies are all installed): blake3
/// of the domain and these, each length-prefixed as in a fingerprint.
pub fn plan_key(lua_abi: &str, platform: &str, rocks: &[String], known: &[RecipeKey]) -> String {
    let mut out = Vec::new();
    field(&mut out, PLAN_DOMAIN);
    field(&mut out, lua_abi);
    field(&mut out, platform);
    field(&mut out, &rocks.len().to_string());
    for rock in rocks {
        field(&mut out, rock);
    }
    field(&mut out, &known.len().to_string());
    for key in known {
        field(&mut out, &key.to_hex());
    }
    blake3::hash(&out).to_hex().to_string()
}

/// The bytes a plan document's signature covers: the domain, `plan_key`,
/// `lua_abi`, `platform`, the number of entries in decimal, then each
/// entry's `rock`, `recipe_key`, `item` and `hash`; each as a little-endian u64
/// length and its UTF-8 bytes.
pub fn fingerprint(doc: &PlanDoc) -> Vec<u8> {
    let mut out = Vec::new();
    field(&mut out, PLAN_DOMAIN);
    field(&mut out, &doc.plan_key);
    field(&mut out, &doc.lua_abi);
    field(&mut out, &doc.platform);
    field(&mut out, &doc.entries.len().to_string());
    for e in &doc.entries {
        field(&mut out, &e.rock);
        field(&mut out, &e.recipe_key);
        field(&mut out, &e.item);
        field(&mut out, &e.hash);
    }
    out
}

/// Signs `doc` with `key` (its `signature` is replaced).
pub fn sign(doc: &mut PlanDoc, key: &SecretKey) {
    doc.signature = key.sign_bytes(&fingerprint(doc));
}

/// Why a plan document is refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanRefused {
    /// Its signature does not stand.
    #[error(transparent)]
    Signature(#[from] SignatureProblem),
    /// It is for another plan, Lua or platform, or of another format.
    #[error("it is for {0}")]
    Other(String),
}

/// Checks `doc`'s signature and that it is the plan asked for.
pub fn check(
    doc: &PlanDoc,
    plan_key: &str,
    lua_abi: &str,
    platform: &str,
    trusted: &[PublicKey],
) -> Result<(), PlanRefused> {
    keys::check_bytes(&doc.signature, &fingerprint(doc), trusted)?;
    if doc.format != PLAN_FORMAT {
        return Err(PlanRefused::Other(format!("plan format {}", doc.format)));
    }
    if doc.plan_key != plan_key {
        return Err(PlanRefused::Other("another plan".into()));
    }
    if doc.lua_abi != lua_abi || doc.platform != platform {
        return Err(PlanRefused::Other(format!(
            "Lua {} on {}",
            doc.lua_abi, doc.platform
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> PlanDoc {
        PlanDoc {
            format: PLAN_FORMAT,
            plan_key: plan_key("5.4", "linux-x86_64", &["cmulti 1.0-1".into()], &[]),
            lua_abi: "5.4".into(),
            platform: "linux-x86_64".into(),
            entries: vec![PlanEntry {
                rock: "cmulti 1.0-1".into(),
                recipe_key: "ab".repeat(32),
                item: "0123456789abcdef0123456789abcdef-cmulti-1.0-1".into(),
                hash: format!("blake3:{}", "cd".repeat(32)),
            }],
            signature: String::new(),
        }
    }

    #[test]
    fn a_signed_plan_holds_only_for_its_entries() {
        let key = SecretKey::from_seed("ci-1", [7; 32]).expect("key");
        let trusted = [key.public()];
        let mut doc = sample();
        sign(&mut doc, &key);
        let k = doc.plan_key.clone();
        assert!(check(&doc, &k, "5.4", "linux-x86_64", &trusted).is_ok());
        assert!(check(&doc, &k, "5.3", "linux-x86_64", &trusted).is_err());
        let mut forged = doc.clone();
        forged.entries[0].item = "fedcba9876543210fedcba9876543210-cmulti-1.0-1".into();
        assert!(matches!(
            check(&forged, &k, "5.4", "linux-x86_64", &trusted),
            Err(PlanRefused::Signature(SignatureProblem::Mismatch(_)))
        ));
        assert_ne!(
            plan_key(
                "5.4",
                "linux-x86_64",
                &["a 1-1".into(), "b 1-1".into()],
                &[]
            ),
            plan_key("5.4", "linux-x86_64", &["a 1-1b 1-1".into()], &[]),
            "the key's encoding is injective"
        );
    }
}
