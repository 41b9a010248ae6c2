//! Image names: `[registry] repository` and the references a Dockerfile or a user gives.

use std::fmt;
use std::net::IpAddr;

use crate::error::UsageError;

/// `host[:port]/path` of an image repository, without tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Registry host, with port when given.
    pub host: String,
    /// Repository path inside the registry.
    pub path: String,
}

impl Repository {
    /// Parses `[registry] repository`; the host is required (no Docker Hub defaulting).
    pub fn parse(text: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| {
            UsageError::new(
                format!("bad repository `{text}`: {why}"),
                "write it as host/path, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app or 127.0.0.1:5000/my-app",
            )
        };
        let (host, path) = text
            .split_once('/')
            .ok_or_else(|| bad("it has no registry host"))?;
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            return Err(bad("the part before the first `/` is not a registry host"));
        }
        if path.contains(':') || path.contains('@') {
            return Err(bad(
                "a repository takes no tag or digest; imprint chooses the tag",
            ));
        }
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !path.split('/').all(valid_component) {
            return Err(bad(
                "path components are lower-case letters, digits and . _ - separators",
            ));
        }
        Ok(Self {
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// `host/path:tag`, the image name Lambda is given.
    pub fn uri(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.host, self.path)
    }

    /// Whether the host is on this machine (then plain HTTP is the default).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

/// Whether `host[:port]` (an IPv6 address in brackets) names this machine: `localhost` or a
/// loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An image reference split for the registry API: `reg.io/a/b:tag`, `reg.io/a/b@sha256:…`, or
/// a Docker Hub short name (`python:3.12` is `registry-1.docker.io/library/python:3.12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// Where the image lives.
    pub repository: Repository,
    /// Tag or digest to fetch.
    pub reference: String,
}

impl ImageName {
    /// Parses a reference as `docker pull` would read it.
    pub fn parse(text: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| {
            UsageError::new(
                format!("bad image reference `{text}`: {why}"),
                "write it as [host/]path[:tag][@sha256:digest]",
            )
        };
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        let (host, path) = match name.split_once('/') {
            Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), p.to_string())
            }
            _ => (
                "registry-1.docker.io".to_string(),
                if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                },
            ),
        };
        let host = if host == "docker.io" || host == "index.docker.io" {
            "registry-1.docker.io".to_string()
        } else {
            host
        };
        // A tag is after the last `:` of the last path component.
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p.to_string(), Some(t.to_string())),
            _ => (path, None),
        };
        if path.is_empty() {
            return Err(bad("it names no repository"));
        }
        let reference = match (digest, tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t,
            (None, None) => "latest".to_string(),
        };
        Ok(Self {
            repository: Repository { host, path },
            reference,
        })
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        let parts = |text: &str| {
            let n = ImageName::parse(text).unwrap();
            (n.repository.host, n.repository.path, n.reference)
        };
        let owned = |h: &str, p: &str, r: &str| (h.to_string(), p.to_string(), r.to_string());
        assert_eq!(
            parts("python:3.12"),
            owned("registry-1.docker.io", "library/python", "3.12")
        );
        assert_eq!(
            parts("127.0.0.1:5000/a/b@sha256:abc"),
            owned("127.0.0.1:5000", "a/b", "sha256:abc")
        );
        assert_eq!(
            parts("public.ecr.aws/lambda/python"),
            owned("public.ecr.aws", "lambda/python", "latest")
        );
    }

    #[test]
    fn repositories() {
        let r = Repository::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/debt/api").unwrap();
        assert_eq!(r.host, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(r.path, "debt/api");
        assert!(!r.is_loopback());
        assert_eq!(
            r.uri("t1"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/debt/api:t1"
        );
        assert!(Repository::parse("127.0.0.1:5000/x").unwrap().is_loopback());
        assert!(Repository::parse("localhost:5000/x").unwrap().is_loopback());
        assert!(Repository::parse("[::1]:5000/x").unwrap().is_loopback());
        for host in [
            "127.0.0.1",
            "127.0.0.2:80",
            "localhost",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.8:5000",
            "registry.example.com",
            "[2001:db8::1]:443",
            "::1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        for bad in [
            "debt-api",
            "library/python",
            "host.io/Upper",
            "host.io/x:tag",
            "host.io/a//b",
            "host.io/-a",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
    }
}
