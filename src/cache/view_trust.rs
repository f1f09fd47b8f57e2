//! What makes a file of the LuaRocks view one a trusted writer vouches
//! for. Anyone who can write a cache's storage can plant or replace files
//! in `luarocks/<abi>/<platform>/`, and stock LuaRocks installs whatever
//! the manifests list, so a writer lists only rocks it can check:
//!
//! - beside each rock, `<rock file>.json`, a [`RockAttestation`] signed
//!   (Ed25519, the realisations' keys) over the rock file's name, size and
//!   blake3 hash, its rockspec's hash, the item and recipe key it was packed
//!   from, and the Lua ABI and platform of the directory;
//! - a rock is listed when its attestation is signed by a trusted key, is
//!   this directory's, and the rock's bytes hash as it says ([`check_rock`]);
//! - a rockspec is listed when a listed rock's attestation names its hash.
//!
//! File names are checked first ([`ViewFile::parse`]): only what LuaRocks
//! itself could have named, derived back exactly, so no index entry can
//! reach out of the directory or into a manifest as something else.
//! Pure but for [`check_rock`], which reads through the cache's transport.

use serde::{Deserialize, Serialize};

use super::keys::{self, PublicKey, SecretKey, SignatureProblem};
use super::Cache;
use super::CacheError;

/// The attestation's format.
pub const ATTESTATION_FORMAT: u32 = 1;
/// What opens an attestation's fingerprint (and versions it).
pub const ATTESTATION_DOMAIN: &str = "rockstore-view-rock-1";
/// Largest attestation read.
const MAX_ATTESTATION: u64 = 64 << 10;
/// Largest rock read back to be checked, whatever its attestation says.
pub const MAX_ROCK: u64 = 1 << 30;

/// `<rock file>.json`: what a signer says a rock file of the view is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RockAttestation {
    /// [`ATTESTATION_FORMAT`].
    pub format: u32,
    /// The rock file's name (`lpeg-1.0.2-1.linux-x86_64.rock`).
    pub file: String,
    /// Its bytes.
    pub size: u64,
    /// Its blake3, `blake3:<hex>`.
    pub hash: String,
    /// Blake3 of its `name-version.rockspec`, `blake3:<hex>`; empty when
    /// the item holds none.
    pub rockspec_hash: String,
    /// The item it was packed from.
    pub item: String,
    /// The recipe key that item realises, hex.
    pub recipe_key: String,
    /// The directory's Lua ABI (`5.4`).
    pub lua_abi: String,
    /// The directory's platform (`linux-x86_64`).
    pub platform: String,
    /// `signer:base64`, over [`fingerprint`].
    pub signature: String,
}

/// The bytes an attestation's signature covers: the domain, then each
/// field as a little-endian u64 length and its UTF-8 bytes, in the order
/// of the document (`format` and `signature` are not covered).
pub fn fingerprint(a: &RockAttestation) -> Vec<u8> {
    let size = a.size.to_string();
    let mut out = Vec::new();
    for field in [
        ATTESTATION_DOMAIN,
        a.file.as_str(),
        size.as_str(),
        a.hash.as_str(),
        a.rockspec_hash.as_str(),
        a.item.as_str(),
        a.recipe_key.as_str(),
        a.lua_abi.as_str(),
        a.platform.as_str(),
    ] {
        out.extend_from_slice(&(field.len() as u64).to_le_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// `blake3:<hex>` of `bytes`.
pub fn hash_of(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

/// Signs `a` with `key` (its `signature` is replaced).
pub fn sign(a: &mut RockAttestation, key: &SecretKey) {
    a.signature = key.sign_bytes(&fingerprint(a));
}

/// Where the attestation of rock file `file` lives, in its directory.
pub fn attestation_name(file: &str) -> String {
    format!("{file}.json")
}

/// A file name a view directory may list: `name-version.arch.rock` or
/// `name-version.rockspec`, as LuaRocks names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewFile {
    /// The rock's name.
    pub name: String,
    /// Its version, with revision (`1.0-1`).
    pub version: String,
    /// `all`, a platform, or `None` for a rockspec.
    pub arch: Option<String>,
}

impl ViewFile {
    /// Parses `file` when it is a name this directory (of `platform`) may
    /// list and it derives back to exactly `file`: a name of
    /// `[A-Za-z0-9._+-]` not opening with `.` or `-`, a version of
    /// `[A-Za-z0-9._]` then `-` and a revision of digits, and an arch of
    /// `all` or the directory's platform (never `src`: a source rock is
    /// built, and so runs its build, on the client). Anything else (`/`,
    /// `..`, NUL, newlines, quotes, an absolute path) is `None`.
    pub fn parse(file: &str, platform: &str) -> Option<ViewFile> {
        if file.len() > 255 {
            return None;
        }
        let (stem, arch) = if let Some(stem) = file.strip_suffix(".rockspec") {
            (stem, None)
        } else {
            let stem = file.strip_suffix(".rock")?;
            let (stem, arch) = stem.rsplit_once('.')?;
            if arch != "all" && arch != platform {
                return None;
            }
            (stem, Some(arch.to_owned()))
        };
        let (rest, revision) = stem.rsplit_once('-')?;
        let (name, version) = rest.rsplit_once('-')?;
        let name_ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
            && !name.starts_with(['.', '-']);
        let version_ok = version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'));
        let revision_ok = revision.chars().all(|c| c.is_ascii_digit());
        if name.is_empty()
            || version.is_empty()
            || revision.is_empty()
            || !(name_ok && version_ok && revision_ok)
        {
            return None;
        }
        let parsed = ViewFile {
            name: name.to_owned(),
            version: format!("{version}-{revision}"),
            arch,
        };
        (parsed.file_name() == file).then_some(parsed)
    }

    /// The file name it derives to.
    pub fn file_name(&self) -> String {
        match &self.arch {
            Some(arch) => format!("{}-{}.{arch}.rock", self.name, self.version),
            None => format!("{}-{}.rockspec", self.name, self.version),
        }
    }

    /// The rockspec of the same rock version.
    pub fn rockspec_name(&self) -> String {
        format!("{}-{}.rockspec", self.name, self.version)
    }
}

/// Why a rock of the view is not vouched for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// No attestation beside it.
    #[error("no attestation ({0}) is beside it")]
    NoAttestation(String),
    /// The attestation does not parse.
    #[error("its attestation is not one")]
    Malformed,
    /// Its signature does not stand.
    #[error(transparent)]
    Signature(#[from] SignatureProblem),
    /// The attestation is another file's or another directory's.
    #[error("its attestation is for {0}")]
    Elsewhere(String),
    /// The bytes are not those attested.
    #[error("its bytes are not the ones its attestation signs ({0})")]
    Bytes(String),
}

/// What [`check_rock`] found.
#[derive(Debug)]
pub enum RockCheck {
    /// The rock is not there.
    Absent,
    /// It is there and vouched for.
    Trusted(RockAttestation),
    /// It is there and is not.
    Untrusted(Untrusted),
}

/// Reads rock file `file` of view directory `dir` (`luarocks/<abi>/<platform>`)
/// and its attestation, and checks them against `trusted`.
pub fn check_rock(
    cache: &Cache,
    dir: &str,
    lua_abi: &str,
    platform: &str,
    file: &str,
    trusted: &[PublicKey],
) -> Result<RockCheck, CacheError> {
    let t = cache.transport();
    let att_path = format!("{dir}/{}", attestation_name(file));
    let attestation = match t.get(&att_path, MAX_ATTESTATION) {
        Ok(Some(bytes)) => serde_json::from_slice::<RockAttestation>(&bytes).ok(),
        Ok(None) => {
            // Absent rock and absent attestation: nothing to say.
            return Ok(match t.head(&format!("{dir}/{file}"))? {
                None => RockCheck::Absent,
                Some(_) => RockCheck::Untrusted(Untrusted::NoAttestation(cache.shown(&att_path))),
            });
        }
        // Larger than any attestation: not one.
        Err(super::transport::TransportError::TooLarge { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let verdict = match attestation {
        None => Err(Untrusted::Malformed),
        Some(a) => keys::check_bytes(&a.signature, &fingerprint(&a), trusted)
            .map_err(Untrusted::from)
            .and_then(|()| {
                if a.file == file && a.lua_abi == lua_abi && a.platform == platform {
                    Ok(a)
                } else {
                    Err(Untrusted::Elsewhere(format!(
                        "{} in {}/{}",
                        a.file, a.lua_abi, a.platform
                    )))
                }
            }),
    };
    let a = match verdict {
        Ok(a) => a,
        Err(why) => {
            return Ok(match t.head(&format!("{dir}/{file}"))? {
                None => RockCheck::Absent,
                Some(_) => RockCheck::Untrusted(why),
            })
        }
    };
    // The signed size bounds the read: a planted file cannot make the
    // check read more than the rock it replaced.
    let bytes = match t.get(&format!("{dir}/{file}"), a.size.min(MAX_ROCK)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(RockCheck::Absent),
        Err(super::transport::TransportError::TooLarge { .. }) => {
            return Ok(RockCheck::Untrusted(Untrusted::Bytes(format!(
                "larger than {} bytes",
                a.size
            ))))
        }
        Err(e) => return Err(e.into()),
    };
    let got = hash_of(&bytes);
    Ok(if got == a.hash && bytes.len() as u64 == a.size {
        RockCheck::Trusted(a)
    } else {
        RockCheck::Untrusted(Untrusted::Bytes(got))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_luarocks_could_give_parse_and_they_derive_back() {
        let p = "linux-x86_64";
        let rock = ViewFile::parse("lua-cjson-2.1.0.10-1.linux-x86_64.rock", p).expect("rock");
        assert_eq!(
            (rock.name.as_str(), rock.version.as_str()),
            ("lua-cjson", "2.1.0.10-1")
        );
        assert_eq!(rock.rockspec_name(), "lua-cjson-2.1.0.10-1.rockspec");
        assert!(ViewFile::parse("dmtop-1.0-1.all.rock", p).is_some());
        assert!(ViewFile::parse("luasocket-scm-1.rockspec", p).is_some());
        for bad in [
            "../x-1.0-1.all.rock",
            "/etc/x-1.0-1.all.rock",
            "a/x-1.0-1.all.rock",
            "x-1.0-1.src.rock",
            "x-1.0-1.linux-aarch64.rock",
            "x\0-1.0-1.all.rock",
            "x\n-1.0-1.all.rock",
            "x\"]]-1.0-1.all.rock",
            "x'-1.0-1.all.rock",
            ".x-1.0-1.all.rock",
            "-x-1.0-1.all.rock",
            "x-1.0-r.all.rock",
            "x-1 0-1.all.rock",
            "x-1.0-1.all.rock.json",
            "manifest",
            "x-1.0-1.all.rock/..",
        ] {
            assert_eq!(ViewFile::parse(bad, p), None, "{bad:?}");
        }
    }

    #[test]
    fn an_attestation_signature_covers_every_field() {
        let key = SecretKey::from_seed("ci", [7; 32]).expect("key");
        let mut a = RockAttestation {
            format: 1,
            file: "x-1.0-1.all.rock".into(),
            size: 3,
            hash: hash_of(b"abc"),
            rockspec_hash: String::new(),
            item: "i-x-1.0-1".into(),
            recipe_key: "ab".repeat(32),
            lua_abi: "5.4".into(),
            platform: "linux-x86_64".into(),
            signature: String::new(),
        };
        sign(&mut a, &key);
        let trusted = [key.public()];
        assert_eq!(
            keys::check_bytes(&a.signature, &fingerprint(&a), &trusted),
            Ok(())
        );
        for change in [
            |a: &mut RockAttestation| a.file.push('x'),
            |a: &mut RockAttestation| a.size += 1,
            |a: &mut RockAttestation| a.hash.push('0'),
            |a: &mut RockAttestation| a.rockspec_hash.push('0'),
            |a: &mut RockAttestation| a.item.push('x'),
            |a: &mut RockAttestation| a.recipe_key.push('0'),
            |a: &mut RockAttestation| a.lua_abi.push('1'),
            |a: &mut RockAttestation| a.platform.push('x'),
        ] {
            let mut other = a.clone();
            change(&mut other);
            assert!(keys::check_bytes(&other.signature, &fingerprint(&other), &trusted).is_err());
        }
    }
}
