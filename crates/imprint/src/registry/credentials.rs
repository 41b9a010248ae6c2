//! Registry credentials, chosen by the repository's host: the docker config's `credHelpers`,
//! then `auths`, then `credsStore`, with helpers spoken to over the `docker-credential-*`
//! protocol (host on stdin, JSON on stdout). Secrets never reach argv, logs or errors.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// A secret string: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A user name and password (or token) for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password or token.
    pub secret: Secret,
    /// Where it came from, for messages (`docker config`, `helper docker-credential-x`).
    pub source: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("secret", &self.secret)
            .field("source", &self.source)
            .finish()
    }
}

impl Credential {
    /// `Basic base64(user:secret)`.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The docker config is unreadable or malformed.
    #[error("cannot read the docker config {}: {why}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A credential helper failed.
    #[error("the credential helper docker-credential-{helper} failed for {host}: {why}")]
    Helper {
        /// Helper name.
        helper: String,
        /// The host asked for.
        host: String,
        /// What it said (never the secret).
        why: String,
    },
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "cliPluginsExtraDirs")]
    cli_plugins_extra_dirs: Vec<PathBuf>,
    #[serde(default, rename = "currentContext")]
    current_context: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The docker CLI's configuration folder: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn config_path() -> Option<PathBuf> {
    docker_config_dir().map(|dir| dir.join("config.json"))
}

/// `https://host/v1/` → `host`: docker config keys may carry a scheme and a path.
fn normalize(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The docker config and where it is; `None` when there is none.
fn read_config() -> Result<Option<(PathBuf, DockerConfig)>, CredentialError> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialError::Config {
                path,
                why: e.to_string(),
            })
        }
    };
    match serde_json::from_str(&text) {
        Ok(config) => Ok(Some((path, config))),
        Err(e) => Err(CredentialError::Config {
            path,
            why: e.to_string(),
        }),
    }
}

/// The plugin folders the docker config names (`cliPluginsExtraDirs`); none without one.
pub fn extra_plugin_dirs() -> Result<Vec<PathBuf>, CredentialError> {
    Ok(read_config()?.map_or_else(Vec::new, |(_, config)| config.cli_plugins_extra_dirs))
}

/// The docker context the config selects (`currentContext`); none without one.
pub fn current_context() -> Result<Option<String>, CredentialError> {
    Ok(read_config()?.and_then(|(_, config)| config.current_context))
}

/// The credential for `host` (`host[:port]`), if any source has one.
pub fn for_host(host: &str) -> Result<Option<Credential>, CredentialError> {
    let Some((path, config)) = read_config()? else {
        return Ok(None);
    };
    if let Some(helper) = config
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize(k) == host)
        .map(|(_, v)| v)
    {
        return run_helper(helper, host);
    }
    if let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| normalize(k) == host)
        .map(|(_, v)| v)
    {
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Some(Credential {
                username: username.clone(),
                secret: Secret::new(password.clone()),
                source: format!("{} (auths)", path.display()),
            }));
        }
        if let Some(auth) = &entry.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
                .ok_or_else(|| CredentialError::Config {
                    path: path.clone(),
                    why: format!("the auth entry for {host} is not base64 of user:password"),
                })?;
            return Ok(Some(Credential {
                username: decoded.0,
                secret: Secret::new(decoded.1),
                source: format!("{} (auths)", path.display()),
            }));
        }
    }
    match &config.creds_store {
        Some(store) if !store.is_empty() => run_helper(store, host),
        _ => Ok(None),
    }
}

/// `docker-credential-<name> get` with the host on stdin.
fn run_helper(name: &str, host: &str) -> Result<Option<Credential>, CredentialError> {
    let fail = |why: String| CredentialError::Helper {
        helper: name.to_string(),
        host: host.to_string(),
        why,
    };
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string()
            + String::from_utf8_lossy(&out.stderr).trim();
        if said.to_ascii_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(fail(format!(
            "it exited with {}: {}",
            out.status,
            said.chars().take(200).collect::<String>()
        )));
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout)
        .map_err(|_| fail("its answer is not the helper protocol's JSON".into()))?;
    Ok(Some(Credential {
        username: reply.username,
        secret: Secret::new(reply.secret),
        source: format!("credential helper {program}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Credential {
            username: "ci".into(),
            secret: Secret::new("hunter2"),
            source: "test".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ci"));
        assert_eq!(c.basic_header(), "Basic Y2k6aHVudGVyMg==");
    }

    #[test]
    fn config_keys_are_normalized() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize("http://reg.io:443"), "reg.io:443");
    }
}
