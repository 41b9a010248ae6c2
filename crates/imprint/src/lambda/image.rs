//! Images as Lambda names them: the URI a function is given, the digest it resolved.

use serde::{Deserialize, Serialize};

/// An image as a function runs it (and as the journal records it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionImage {
    /// What Lambda is given: `host/path:tag` (or `host/path@sha256:…`).
    pub uri: String,
    /// The manifest digest.
    pub digest: Option<String>,
}

/// The digest after the last `@` of a ResolvedImageUri.
pub fn digest_of(resolved: &str) -> Option<String> {
    resolved
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .filter(|d| d.starts_with("sha256:"))
}

/// `host/path:tag` → `tag` (none for `@sha256:` references).
pub fn tag_of(image_uri: &str) -> Option<String> {
    if image_uri.contains('@') {
        return None;
    }
    let last = image_uri.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t.to_string())
}

/// `host/path:tag` or `host/path@sha256:…` → `host/path`.
pub fn repository_of(image_uri: &str) -> &str {
    let name = image_uri
        .split_once('@')
        .map_or(image_uri, |(name, _)| name);
    let last = name.rfind('/').map_or(0, |at| at + 1);
    match name[last..].find(':') {
        Some(colon) => &name[..last + colon],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_of_image_uris() {
        for uri in [
            "127.0.0.1:5000/a/b:t",
            "127.0.0.1:5000/a/b@sha256:00",
            "127.0.0.1:5000/a/b",
        ] {
            assert_eq!(repository_of(uri), "127.0.0.1:5000/a/b", "{uri}");
        }
        assert_eq!(
            repository_of("1.dkr.ecr.us-east-1.amazonaws.com/r:20250526-145140-9f6a1a2a"),
            "1.dkr.ecr.us-east-1.amazonaws.com/r"
        );
    }

    #[test]
    fn tags_of_image_uris() {
        assert_eq!(
            tag_of("1.dkr.ecr.us-east-1.amazonaws.com/a/b:20250526-145140-9f6a1a2a").as_deref(),
            Some("20250526-145140-9f6a1a2a")
        );
        assert_eq!(tag_of("127.0.0.1:5000/a:t").as_deref(), Some("t"));
        assert_eq!(tag_of("127.0.0.1:5000/a"), None);
        assert_eq!(tag_of("r.io/a@sha256:00"), None);
    }
}
