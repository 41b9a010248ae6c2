//! What this machine sent to the repositories of one registry, kept in the cache folder: each
//! layer's export member (name and size), what compressing it gave (digest, size, diff ID) and
//! the repositories it went to. A push reads it to skip work: a layer the repository already
//! holds is only checked, not compressed again; one another repository holds is mounted from
//! there. A lost or stale file only costs a push its shortcuts.

use std::collections::HashMap;
use std::path::PathBuf;

use super::archive::Layer;
use crate::registry::Repository;

/// Lines remembered per registry (one for each repository a layer went to).
const REMEMBERED: usize = 10_000;
/// The file's first line once a mount of this registry has worked.
const MOUNTS: &str = "# mounts";

/// One layer as compressed before.
#[derive(Debug, Clone)]
struct Remembered {
    layer: Layer,
    /// The repositories it went to, newest last.
    holders: Vec<String>,
}

/// The record for one registry, seen from one of its repositories.
#[derive(Debug, Default)]
pub(super) struct Sent {
    path: Option<PathBuf>,
    /// This push's repository path.
    repository: String,
    /// `size \t name \t digest \t compressed size \t diff ID \t repository`, oldest first.
    lines: Vec<String>,
    /// (name, size) → the layer.
    layers: HashMap<(String, u64), Remembered>,
    /// A mount from one repository of this registry into another has worked.
    mounts: bool,
}

impl Sent {
    /// The record for `repository`'s registry, reached at `address` (empty when there is
    /// none or no cache folder).
    pub(super) fn load(repository: &Repository, address: &str) -> Self {
        let path = crate::state::cache_dir().ok().map(|dir| {
            let registry = format!("{} {address}", repository.host);
            let key = crate::registry::sha256_digest(registry.as_bytes());
            dir.join("layers-sent").join(&key["sha256:".len()..][..32])
        });
        let text = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let mut sent = Self {
            path,
            repository: repository.path.clone(),
            ..Self::default()
        };
        for line in text.lines() {
            if line == MOUNTS {
                sent.mounts = true;
                continue;
            }
            let Some((key, layer, holder)) = parse(line) else {
                continue;
            };
            let remembered = sent.layers.entry(key).or_insert_with(|| Remembered {
                layer,
                holders: Vec::new(),
            });
            remembered.holders.retain(|h| *h != holder);
            remembered.holders.push(holder);
            sent.lines.push(line.to_string());
        }
        sent
    }

    /// Whether a layer of this export member was sent to some repository of the registry.
    pub(super) fn knows(&self, name: &str, size: u64) -> bool {
        self.layers.contains_key(&(name.to_string(), size))
    }

    /// The other repository `digest` went to most recently.
    pub(super) fn holder(&self, digest: &str) -> Option<String> {
        let remembered = self.layers.values().find(|r| r.layer.digest == digest)?;
        self.other_holder(remembered)
    }

    /// The other repository than this push's that `remembered` went to most recently.
    fn other_holder(&self, remembered: &Remembered) -> Option<String> {
        remembered
            .holders
            .iter()
            .rev()
            .find(|h| **h != self.repository)
            .cloned()
    }

    /// The layer this export member became when it was compressed before, when compressing
    /// it again can be skipped: this repository was sent it, or another was and this
    /// registry mounts. Its bytes must still be checked against the diff ID.
    pub(super) fn compressed(&self, name: &str, size: u64) -> Option<(Layer, Option<String>)> {
        let remembered = self.layers.get(&(name.to_string(), size))?;
        if remembered.holders.contains(&self.repository) {
            return Some((remembered.layer.clone(), None));
        }
        let holder = self.other_holder(remembered)?;
        self.mounts
            .then(|| (remembered.layer.clone(), Some(holder)))
    }

    /// Forgets an export member whose bytes were not what was remembered.
    pub(super) fn forget(&mut self, name: &str, size: u64) {
        self.layers.remove(&(name.to_string(), size));
        let prefix = format!("{size}\t{name}\t");
        self.lines.retain(|line| !line.starts_with(&prefix));
    }

    /// Remembers `layers` (export name, size, the layer) as sent to this repository, and
    /// whether a mount worked; a failure to write only costs a later push its shortcuts.
    pub(super) fn save(mut self, layers: &[(String, u64, Layer)], mounted: bool) {
        let Some(path) = self.path.take() else {
            return;
        };
        for (name, size, layer) in layers {
            let key = (name.clone(), *size);
            let stale = self.layers.get(&key).is_some_and(|r| {
                (&r.layer.digest, &r.layer.diff_id) != (&layer.digest, &layer.diff_id)
            });
            if stale {
                self.forget(name, *size);
            }
            let known = self
                .layers
                .get(&key)
                .is_some_and(|r| r.holders.contains(&self.repository));
            if known || name.contains('\t') || self.repository.contains('\t') {
                continue;
            }
            self.lines.push(format!(
                "{size}\t{name}\t{}\t{}\t{}\t{}",
                layer.digest, layer.size, layer.diff_id, self.repository
            ));
        }
        let start = self.lines.len().saturating_sub(REMEMBERED);
        let mut text = String::new();
        if self.mounts || mounted {
            text.push_str(MOUNTS);
            text.push('\n');
        }
        for line in &self.lines[start..] {
            text.push_str(line);
            text.push('\n');
        }
        if let Err(e) = crate::state::write_cache(&path, text.as_bytes()) {
            tracing::debug!("could not write {}: {e}", path.display());
        }
    }
}

/// A line's (name, size), layer and repository.
fn parse(line: &str) -> Option<((String, u64), Layer, String)> {
    let mut fields = line.split('\t');
    let size = fields.next()?.parse().ok()?;
    let name = fields.next()?.to_string();
    let layer = Layer {
        digest: fields.next()?.to_string(),
        size: fields.next()?.parse().ok()?,
        diff_id: fields.next()?.to_string(),
        path: None,
    };
    let holder = fields.next()?.to_string();
    let digests = [&layer.digest, &layer.diff_id];
    digests
        .iter()
        .all(|d| d.starts_with("sha256:"))
        .then_some(((name, size), layer, holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> Layer {
        Layer {
            digest: format!("sha256:{n:064x}"),
            size: 100 + u64::from(n),
            diff_id: format!("sha256:{:064x}", 200 + u32::from(n)),
            path: None,
        }
    }

    #[test]
    fn what_went_where_comes_back_and_decides_what_may_skip_compression() {
        let cache = tempfile::tempdir().unwrap();
        std::env::set_var("XDG_CACHE_HOME", cache.path());
        let repo = |path: &str| Repository::parse(&format!("127.0.0.1:5000/{path}")).unwrap();
        let address = "http://127.0.0.1:5000";

        let a = Sent::load(&repo("team/a"), address);
        assert!(!a.knows("l1", 10));
        a.save(
            &[("l1".into(), 10, layer(1)), ("l2".into(), 20, layer(2))],
            false,
        );

        // The same repository: known, skips compression, nothing to mount from.
        let a = Sent::load(&repo("team/a"), address);
        let (found, holder) = a.compressed("l1", 10).unwrap();
        assert_eq!(found.digest, layer(1).digest);
        assert_eq!(found.diff_id, layer(1).diff_id);
        assert_eq!(found.size, layer(1).size);
        assert_eq!(holder, None);
        assert!(a.compressed("l1", 11).is_none());

        // Another repository: known (not streamed), mounted from team/a, but compressed
        // again until a mount of this registry has worked.
        let b = Sent::load(&repo("team/b"), address);
        assert!(b.knows("l2", 20));
        assert_eq!(b.holder(&layer(2).digest).as_deref(), Some("team/a"));
        assert!(b.compressed("l2", 20).is_none());
        b.save(&[("l2".into(), 20, layer(2))], true);
        let c = Sent::load(&repo("team/c"), address);
        let (_, holder) = c.compressed("l2", 20).unwrap();
        assert_eq!(holder.as_deref(), Some("team/b"));

        // A member compressed to something else now: the new layer replaces the old.
        let mut other = layer(3);
        other.size = 7;
        Sent::load(&repo("team/a"), address).save(&[("l2".into(), 20, other.clone())], false);
        let a = Sent::load(&repo("team/a"), address);
        assert_eq!(a.compressed("l2", 20).unwrap().0.digest, other.digest);
        assert_eq!(a.holder(&layer(2).digest), None);
        Sent::load(&repo("team/a"), address).save(&[("l2".into(), 20, layer(2))], false);

        // Another registry knows nothing of these; a forgotten member is gone.
        assert!(!Sent::load(&repo("team/a"), "http://127.0.0.1:5001").knows("l1", 10));
        let mut a = Sent::load(&repo("team/a"), address);
        a.forget("l1", 10);
        a.save(&[], false);
        let a = Sent::load(&repo("team/a"), address);
        assert!(!a.knows("l1", 10));
        assert!(a.knows("l2", 20));
    }
}
