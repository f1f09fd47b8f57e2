//! The credentials of an S3 cache, found where the AWS tools look for
//! them (kept apart from the transport that signs requests with them).

use std::path::{Path, PathBuf};

/// Credentials for an S3 cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub key: String,
    /// The secret access key.
    pub secret: String,
    /// A session token, when the credentials are temporary.
    pub token: Option<String>,
}

impl S3Credentials {
    /// The credentials the AWS tools would use: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the profile
    /// `AWS_PROFILE` (default `default`) of `AWS_SHARED_CREDENTIALS_FILE`
    /// (default `~/.aws/credentials`). `env` is [`crate::env_vars::EnvVars::aws`].
    pub fn resolve(env: &[Option<String>; 5], home: Option<&Path>) -> Option<S3Credentials> {
        let [key, secret, token, file, profile] = env;
        if let (Some(key), Some(secret)) = (key, secret) {
            return Some(S3Credentials {
                key: key.clone(),
                secret: secret.clone(),
                token: token.clone(),
            });
        }
        let file = file
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".aws/credentials")))?;
        let text = std::fs::read_to_string(file).ok()?;
        let want = profile.as_deref().unwrap_or("default");
        let mut in_profile = false;
        let (mut key, mut secret, mut token) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_profile = name.trim() == want;
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if !in_profile {
                continue;
            }
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => key = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
        Some(S3Credentials {
            key: key?,
            secret: secret?,
            token,
        })
    }
}
