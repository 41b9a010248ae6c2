//! Answering a registry's `WWW-Authenticate` challenge: Basic with the host's credential, or
//! a Bearer token from the realm, which gets the credential only on the registry's own domain.

use std::collections::BTreeMap;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use url::Url;

use super::client::{read_limited, Registry};
use super::error::{unreachable, RegistryError};
use super::reference::is_loopback_host;

/// `realm="…",service="…"` into a map.
fn parse_challenge(params: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

/// The largest token answer read.
const MAX_TOKEN: u64 = 1 << 20;

/// Whether what goes to `url` stays private: TLS, or this machine.
fn is_private(url: &Url) -> bool {
    url.scheme() == "https" || url.host_str().is_some_and(is_loopback_host)
}

/// A token realm on another host is trusted with credentials only when it is a subdomain
/// sibling of the registry (e.g. auth.example.com for registry.example.com).
fn realm_is_trusted(realm: &Url, registry_host: &str) -> bool {
    let registry = registry_host.split(':').next().unwrap_or(registry_host);
    let parent = |h: &str| h.split_once('.').map(|(_, p)| p.to_string());
    match (realm.host_str(), parent(registry)) {
        (Some(host), Some(p)) if p.contains('.') => host == p || host.ends_with(&format!(".{p}")),
        _ => false,
    }
}

impl Registry {
    /// Sends a request built by `build` on `client`, with the current authorization, once
    /// (each try of [`Registry::send`] is one of these). On a 401 it answers the challenge
    /// (Basic with the host's credential, or a Bearer token from the realm) and sends the
    /// request again, once.
    pub(super) async fn send_on(
        &self,
        client: &reqwest::Client,
        build: impl Fn(&reqwest::Client) -> Result<reqwest::RequestBuilder, RegistryError>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut answered = false;
        loop {
            let mut request = build(client)?;
            if let Some(value) = self.current_authorization() {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request.send().await.map_err(unreachable(self.address()))?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            if answered {
                return Err(self.refused());
            }
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Basic")
                .to_string();
            let value = self.answer(&challenge).await?;
            if let Ok(mut slot) = self.authorization.lock() {
                *slot = Some(value);
            }
            answered = true;
        }
    }

    /// The registry refused this client's credential (or wants one it does not have).
    fn refused(&self) -> RegistryError {
        RegistryError::Denied {
            host: self.repository.host.clone(),
            from: self
                .credential
                .as_ref()
                .map(|c| format!("{} (user {})", c.source, c.username)),
        }
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|slot| slot.clone())
    }

    /// The `Authorization` value that answers a `WWW-Authenticate` challenge.
    async fn answer(&self, challenge: &str) -> Result<String, RegistryError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let params = parse_challenge(params);
        // Basic or Bearer, what answers the challenge is a credential (or made from one).
        if self.credential.is_some() && !is_private(&self.base) {
            return Err(RegistryError::Insecure {
                host: self.repository.host.clone(),
                address: self.address(),
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            return match &self.credential {
                Some(c) => Ok(c.basic_header()),
                None => Err(self.refused()),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(RegistryError::Status {
                method: Method::GET,
                url: self.address(),
                status: StatusCode::UNAUTHORIZED,
                body: format!("unsupported authentication scheme `{scheme}`"),
                retry_after: None,
            });
        }
        let realm = params.get("realm").cloned().unwrap_or_default();
        let mut url = Url::parse(&realm).map_err(|e| RegistryError::Status {
            method: Method::GET,
            url: self.address(),
            status: StatusCode::UNAUTHORIZED,
            body: format!("bad token realm `{realm}`: {e}"),
            retry_after: None,
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            let scope = params
                .get("scope")
                .cloned()
                .unwrap_or_else(|| format!("repository:{}:pull,push", self.repository.path));
            query.append_pair("scope", &scope);
        }
        self.bearer_token(url).await
    }

    /// A Bearer token from the realm at `url` (its query made), with the host's credential
    /// when the realm may have it.
    async fn bearer_token(&self, url: Url) -> Result<String, RegistryError> {
        let mut request = self.http.requests.get(url.clone());
        // Credentials go to the token realm only when it is on the registry's own host (or a
        // sibling domain), and only over TLS or on this machine.
        if let Some(c) = &self.credential {
            if url.host_str() == self.base.host_str()
                || realm_is_trusted(&url, &self.repository.host)
            {
                if !is_private(&url) {
                    return Err(RegistryError::Insecure {
                        host: self.repository.host.clone(),
                        address: url.origin().ascii_serialization(),
                    });
                }
                request = request.header(AUTHORIZATION, c.basic_header());
            }
        }
        let response = request
            .send()
            .await
            .map_err(unreachable(url.origin().ascii_serialization()))?;
        if response.status() == StatusCode::UNAUTHORIZED
            || response.status() == StatusCode::FORBIDDEN
        {
            return Err(self.refused());
        }
        if !response.status().is_success() {
            return Err(Self::unexpected(Method::GET, &url, response).await);
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_limited(response, MAX_TOKEN, "token answer").await?;
        let token: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Status {
            method: Method::GET,
            url: url.origin().ascii_serialization(),
            status: StatusCode::OK,
            body: format!("the token answer is not JSON: {e}"),
            retry_after: None,
        })?;
        let token = token
            .token
            .or(token.access_token)
            .ok_or_else(|| RegistryError::Status {
                method: Method::GET,
                url: url.origin().ascii_serialization(),
                status: StatusCode::OK,
                body: "the token service answered without a token".into(),
                retry_after: None,
            })?;
        Ok(format!("Bearer {token}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull""#,
        );
        assert_eq!(
            c.get("realm").map(String::as_str),
            Some("https://auth.docker.io/token")
        );
        assert_eq!(
            c.get("service").map(String::as_str),
            Some("registry.docker.io")
        );
        assert_eq!(
            c.get("scope").map(String::as_str),
            Some("repository:library/python:pull")
        );
        let c = parse_challenge(r#"Realm=plain, error="invalid_token""#);
        assert_eq!(c.get("realm").map(String::as_str), Some("plain"));
        assert_eq!(c.get("error").map(String::as_str), Some("invalid_token"));
    }

    #[test]
    fn token_realms_get_credentials_only_on_the_registry_domain() {
        let realm = |u: &str| Url::parse(u).unwrap();
        assert!(realm_is_trusted(
            &realm("https://auth.example.com/token"),
            "registry.example.com"
        ));
        assert!(realm_is_trusted(
            &realm("https://example.com/token"),
            "registry.example.com:443"
        ));
        assert!(!realm_is_trusted(
            &realm("https://evil.io/token"),
            "registry.example.com"
        ));
        assert!(!realm_is_trusted(
            &realm("https://com/token"),
            "example.com"
        ));
    }

    fn answered(endpoint: &str, challenge: &str) -> Result<String, RegistryError> {
        use super::super::credentials::{Credential, Secret};
        use super::super::reference::Repository;
        let timeouts = crate::timeouts::Timeouts::default();
        let http = super::super::client::http_client(None, &timeouts).unwrap();
        let repository = Repository::parse("registry.example.com/app").unwrap();
        let mut registry =
            Registry::with_http(http, repository, Some(endpoint), timeouts.call).unwrap();
        registry.set_credential(Credential {
            username: "ci".into(),
            secret: Secret::new("hunter2"),
            source: "test".into(),
        });
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(registry.answer(challenge))
    }

    #[test]
    fn credentials_go_only_over_tls_or_to_this_machine() {
        for endpoint in ["http://registry.example.com:5000", "http://10.0.0.8"] {
            for challenge in [
                "Basic realm=x",
                "Bearer realm=\"https://registry.example.com/t\"",
            ] {
                let refused = answered(endpoint, challenge).unwrap_err();
                assert!(
                    matches!(refused, RegistryError::Insecure { .. }),
                    "{endpoint} {challenge}: {refused}"
                );
                assert!(refused.is_usage());
            }
        }
        for endpoint in [
            "https://registry.example.com",
            "http://127.0.0.1:5000",
            "http://localhost:5000",
            "http://[::1]:5000",
        ] {
            assert_eq!(
                answered(endpoint, "Basic realm=x").unwrap(),
                "Basic Y2k6aHVudGVyMg==",
                "{endpoint}"
            );
        }
    }
}
