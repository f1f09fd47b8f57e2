//! Signing keys for realisations: Ed25519, written `name:base64` as Nix
//! writes them. A secret key is the 32-byte seed followed by the 32-byte
//! public key (64 bytes); a public key is 32 bytes; a signature 64.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::format::{fingerprint, RealisationDoc};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not `name:base64`.
    #[error("`{0}` is not a key (expected NAME:BASE64)")]
    Malformed(String),
    /// A name with characters a file name or a key line cannot hold.
    #[error(
        "key name `{}` may only hold letters, digits and `.-_`, 1 to {MAX_NAME} of them",
        shown(.0)
    )]
    BadName(String),
    /// The bytes are not a key of this kind.
    #[error("`{name}` is not an Ed25519 {what} key")]
    NotAKey {
        /// The key's name.
        name: String,
        /// `secret` or `public`.
        what: &'static str,
    },
    /// No randomness for a new key.
    #[error("cannot read random bytes for a new key")]
    Random(#[source] std::io::Error),
}

fn split(text: &str) -> Result<(&str, Vec<u8>), KeyError> {
    let text = text.trim();
    let (name, data) = text
        .split_once(':')
        .ok_or_else(|| KeyError::Malformed(text.to_owned()))?;
    check_name(name)?;
    let bytes = B64
        .decode(data)
        .map_err(|_| KeyError::Malformed(text.to_owned()))?;
    Ok((name, bytes))
}

/// The longest key name.
pub const MAX_NAME: usize = 64;

/// Whether `name` may name a key: 1 to [`MAX_NAME`] of `[A-Za-z0-9._-]`,
/// and not `.` or `..`. A signer's name is printed and makes a file name
/// (`real/<key>/<signer>.json`), so it holds nothing a terminal acts on
/// and nothing that forms a path.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A name that is no key name, for a message: escaped (a newline too, so
/// that it cannot begin a line of its own, a forged `warning:`).
fn shown(name: &str) -> String {
    crate::printable::printable(name).replace('\n', "\\u{a}")
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(KeyError::BadName(name.to_owned()))
    }
}

/// A signer's secret key.
pub struct SecretKey {
    /// Its name (the signer).
    pub name: String,
    key: SigningKey,
}

/// A signer's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its name (the signer).
    pub name: String,
    key: VerifyingKey,
}

impl SecretKey {
    /// A new key named `name`.
    pub fn generate(name: &str) -> Result<SecretKey, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        let mut filled = 0;
        while filled < seed.len() {
            filled +=
                rustix::rand::getrandom(&mut seed[filled..], rustix::rand::GetRandomFlags::empty())
                    .map_err(|e| KeyError::Random(e.into()))?;
        }
        Ok(SecretKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The key with this 32-byte seed (test vectors; keys are made with
    /// [`SecretKey::generate`]).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SecretKey, KeyError> {
        check_name(name)?;
        Ok(SecretKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `name:base64(seed ‖ public)`.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let (name, bytes) = split(text)?;
        let not = || KeyError::NotAKey {
            name: name.to_owned(),
            what: "secret",
        };
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| not())?;
        let key = SigningKey::from_keypair_bytes(&bytes).map_err(|_| not())?;
        Ok(SecretKey {
            name: name.to_owned(),
            key,
        })
    }

    /// `name:base64`, as the key file holds it.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, B64.encode(self.key.to_keypair_bytes()))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `doc` (its `signature` is replaced).
    pub fn sign(&self, doc: &mut RealisationDoc) {
        doc.signature = self.sign_bytes(&fingerprint(doc));
    }

    /// `name:base64` of the signature of `fingerprint`.
    pub fn sign_bytes(&self, fingerprint: &[u8]) -> String {
        let signature = self.key.sign(fingerprint);
        format!("{}:{}", self.name, B64.encode(signature.to_bytes()))
    }
}

impl PublicKey {
    /// Parses `name:base64(32 bytes)`.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let (name, bytes) = split(text)?;
        let not = || KeyError::NotAKey {
            name: name.to_owned(),
            what: "public",
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| not())?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| not())?;
        Ok(PublicKey {
            name: name.to_owned(),
            key,
        })
    }

    /// `name:base64`, as `rockstore_trusted_public_keys` lists it.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, B64.encode(self.key.to_bytes()))
    }
}

/// Why a realisation's signature does not stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    /// It carries no signature.
    #[error("it is not signed")]
    Unsigned,
    /// It names a signer no key can have (escaped when shown): it is
    /// taken as unreadable.
    #[error(
        "it is signed under `{}`, which is no key name (letters, digits and `.-_`, 1 to {MAX_NAME}); taken as unreadable",
        shown(.0)
    )]
    BadSigner(String),
    /// Its signer is not among the trusted keys.
    #[error("it is signed by `{0}`, which is not a trusted key")]
    UnknownKey(String),
    /// The signature does not cover these fields.
    #[error("its signature by `{0}` does not match its fields (another item, Lua ABI, platform or recipe)")]
    Mismatch(String),
}

/// Checks `doc`'s signature against `trusted`.
pub fn check(doc: &RealisationDoc, trusted: &[PublicKey]) -> Result<(), SignatureProblem> {
    check_bytes(&doc.signature, &fingerprint(doc), trusted)
}

/// Checks `signature` (`name:base64`) over `fingerprint` against `trusted`.
pub fn check_bytes(
    signature: &str,
    fingerprint: &[u8],
    trusted: &[PublicKey],
) -> Result<(), SignatureProblem> {
    if signature.is_empty() {
        return Err(SignatureProblem::Unsigned);
    }
    let Some((name, data)) = signature.split_once(':') else {
        return Err(SignatureProblem::Unsigned);
    };
    if !valid_name(name) {
        return Err(SignatureProblem::BadSigner(name.to_owned()));
    }
    let Some(key) = trusted.iter().find(|k| k.name == name) else {
        return Err(SignatureProblem::UnknownKey(name.to_owned()));
    };
    let mismatch = || SignatureProblem::Mismatch(name.to_owned());
    let bytes: [u8; 64] = B64
        .decode(data)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(mismatch)?;
    key.key
        .verify_strict(fingerprint, &Signature::from_bytes(&bytes))
        .map_err(|_| mismatch())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cache::format::tests::sample_doc as doc;

    #[test]
    fn keys_round_trip_and_signatures_hold_only_for_their_fields() {
        let secret = SecretKey::generate("ci-1").expect("key");
        let again = SecretKey::parse(&secret.to_text()).expect("parse");
        let public = PublicKey::parse(&again.public().to_text()).expect("public");
        assert_eq!(public, secret.public());
        let mut d = doc();
        assert_eq!(
            check(&d, std::slice::from_ref(&public)),
            Err(SignatureProblem::Unsigned)
        );
        secret.sign(&mut d);
        assert_eq!(check(&d, std::slice::from_ref(&public)), Ok(()));
        let other = SecretKey::generate("other").expect("key").public();
        assert_eq!(
            check(&d, &[other]),
            Err(SignatureProblem::UnknownKey("ci-1".into()))
        );
        let mut moved = d.clone();
        moved.platform = "linux-aarch64".into();
        assert_eq!(
            check(&moved, &[public]),
            Err(SignatureProblem::Mismatch("ci-1".into()))
        );
        assert!(SecretKey::parse("nope").is_err());
        assert!(PublicKey::parse("a b:AAAA").is_err());
    }

    #[test]
    fn key_names_hold_nothing_a_terminal_or_a_path_acts_on() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../up",
            "esc\u{1b}[2K",
            "new\nline",
            "sp ace",
            "é",
            &"x".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
            assert!(SecretKey::generate(bad).is_err(), "{bad:?}");
            let text = format!("{bad}:{}", B64.encode([0u8; 32]));
            match PublicKey::parse(&text) {
                Err(e @ KeyError::BadName(_)) => {
                    assert!(!e.to_string().contains('\u{1b}'), "{e}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for good in ["ci-1", "a", "cache.example.org-1", "A_b", &"x".repeat(64)] {
            assert!(valid_name(good), "{good:?}");
        }
        // A signature naming no possible key is refused as unreadable,
        // its name escaped.
        let secret = SecretKey::generate("ci-1").expect("key");
        let mut d = doc();
        secret.sign(&mut d);
        let (_, sig) = d.signature.split_once(':').expect("sig");
        d.signature = format!("ci\u{1b}]0;owned\u{7}:{sig}");
        let e = check(&d, &[secret.public()]).expect_err("bad signer");
        assert!(matches!(e, SignatureProblem::BadSigner(_)), "{e:?}");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        assert!(e.to_string().contains("\\u{1b}"), "{e}");
    }
}
