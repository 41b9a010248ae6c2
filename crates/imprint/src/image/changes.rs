//! What changed between a deployed image and the local tree: the deployed image's content
//! hash (its label), its recorded inputs (its index artifact), and a diff of the two.

use std::collections::BTreeMap;

use anyhow::Context as _;
use imprint_context::{Input, InputKind};
use serde::Serialize;

use super::build::HASH_LABEL;
use super::push::index::{self, RecordedInput};
use super::tag::Tagged;
use crate::registry::Registry;

/// One image the functions that would change run now, against the local tree.
#[derive(Debug, Serialize)]
pub struct Deployed {
    /// The image URI the functions run.
    pub image_uri: String,
    /// Its digest, as Lambda resolved it.
    pub digest: Option<String>,
    /// The functions that run it.
    pub functions: Vec<String>,
    /// Its compressed size, when the repository holds it.
    pub size: Option<u64>,
    /// The content it was built from, when imprint built it.
    pub content_hash: Option<String>,
    /// The input files that differ; none when they cannot be compared (`note` says why).
    pub files: Option<FileChanges>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why the files cannot be compared, or what else to know.
    pub note: Option<String>,
}

/// Input files added, removed and changed, from the deployed image to the local tree.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileChanges {
    /// New in the local tree.
    pub added: Vec<String>,
    /// Gone from the local tree.
    pub removed: Vec<String>,
    /// Path and what changed: `content`, `mode`, `link`, or `kind`.
    pub changed: Vec<(String, &'static str)>,
}

impl FileChanges {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What differs between a deployed image and the local tree.
pub async fn compare(
    registry: &Registry,
    image_uri: String,
    digest: Option<String>,
    functions: Vec<String>,
    local: &Tagged,
) -> anyhow::Result<Deployed> {
    let mut out = Deployed {
        image_uri,
        digest,
        functions,
        size: None,
        content_hash: None,
        files: None,
        note: None,
    };
    let ours = [
        format!("{}:", registry.repository),
        format!("{}@", registry.repository),
    ];
    if !ours.iter().any(|p| out.image_uri.starts_with(p.as_str())) {
        out.note = Some(format!(
            "an image from outside {}; its files cannot be compared",
            registry.repository
        ));
        return Ok(out);
    }
    let Some(digest) = &out.digest else {
        out.note = Some("Lambda reports no digest for it; its files cannot be compared".into());
        return Ok(out);
    };
    out.size = registry
        .image_size(digest)
        .await
        .with_context(|| format!("failed to read the image {digest}"))?;
    let Some(hash) = index::image_hash(registry, digest)
        .await
        .with_context(|| format!("failed to read the image {digest}"))?
    else {
        out.note = Some(format!(
            "{digest} has no {} label (not built by imprint, or gone from the registry); its files cannot be compared",
            HASH_LABEL
        ));
        return Ok(out);
    };
    out.content_hash = Some(hash.clone());
    if hash == local.hash() {
        out.files = Some(FileChanges::default());
        out.note = Some("the same content as the local tree, under another tag".into());
        return Ok(out);
    }
    let Some(recorded) = index::recorded_inputs(registry, &hash)
        .await
        .with_context(|| format!("failed to read the index artifact of {digest}"))?
    else {
        out.note = Some(format!(
            "no index artifact {} in the registry (pushed without imprint?); its files cannot be compared",
            index::artifact_tag(&hash)
        ));
        return Ok(out);
    };
    let files = diff(&recorded, &local.hashed.inputs);
    if files.is_empty() {
        out.note = Some("no input file differs; the build settings do (builder, Dockerfile path, target, platform, build arguments or base image digests)".into());
    }
    out.files = Some(files);
    Ok(out)
}

/// How an entry compares: kind, file hash and mode, link text.
#[derive(PartialEq, Eq)]
struct FileSignature<'a> {
    kind: &'a str,
    hash: Option<String>,
    mode: Option<(bool, bool)>,
    target: Option<String>,
}

fn local_signature(i: &Input) -> FileSignature<'static> {
    let kind = match i.kind {
        InputKind::File => "file",
        InputKind::Dir => "dir",
        InputKind::Symlink => "symlink",
    };
    FileSignature {
        kind,
        hash: i.hash_hex(),
        mode: (i.kind == InputKind::File).then_some((i.executable, i.other_readable)),
        target: (i.kind == InputKind::Symlink).then(|| imprint_context::escape_bytes(&i.target)),
    }
}

fn recorded_signature(r: &RecordedInput) -> FileSignature<'_> {
    FileSignature {
        kind: &r.kind,
        hash: r.hash.clone(),
        mode: (r.kind == "file").then_some((
            r.executable.unwrap_or(false),
            r.other_readable.unwrap_or(false),
        )),
        target: r.target.clone(),
    }
}

/// Entries added, removed or changed from `recorded` to `local`. A folder is listed only
/// when nothing listed lies under it (an empty folder), so a new file is one line.
fn diff(recorded: &[RecordedInput], local: &[Input]) -> FileChanges {
    let before: BTreeMap<&str, FileSignature> = recorded
        .iter()
        .map(|r| (r.path.as_str(), recorded_signature(r)))
        .collect();
    let after: BTreeMap<String, FileSignature> = local
        .iter()
        .map(|i| (i.display_path(), local_signature(i)))
        .collect();
    let mut changes = FileChanges::default();
    let mut dirs = Vec::new();
    for (path, now) in &after {
        match before.get(path.as_str()) {
            None if now.kind == "dir" => dirs.push((path.clone(), true)),
            None => changes.added.push(path.clone()),
            Some(was) if was == now => {}
            Some(was) => changes.changed.push((
                path.clone(),
                if was.kind != now.kind {
                    "kind"
                } else if was.hash != now.hash {
                    "content"
                } else if was.target != now.target {
                    "link"
                } else {
                    "mode"
                },
            )),
        }
    }
    for (path, was) in &before {
        if !after.contains_key(*path) {
            if was.kind == "dir" {
                dirs.push((path.to_string(), false));
            } else {
                changes.removed.push(path.to_string());
            }
        }
    }
    for (dir, added) in dirs {
        let inside = format!("{dir}/");
        let listed = changes
            .added
            .iter()
            .chain(&changes.removed)
            .any(|p| p.starts_with(&inside));
        if !listed {
            let shown = format!("{dir}/");
            if added {
                changes.added.push(shown);
            } else {
                changes.removed.push(shown);
            }
        }
    }
    changes.added.sort();
    changes.removed.sort();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(path: &str, kind: &str, hash: Option<&str>, exec: bool) -> RecordedInput {
        RecordedInput {
            path: path.into(),
            kind: kind.into(),
            executable: (kind == "file").then_some(exec),
            other_readable: (kind == "file").then_some(true),
            hash: hash.map(str::to_string),
            target: None,
        }
    }

    fn local(path: &str, kind: InputKind, byte: u8, exec: bool) -> Input {
        let mut hash = [0u8; 32];
        hash[0] = byte;
        Input {
            path: path.as_bytes().to_vec(),
            kind,
            executable: exec,
            other_readable: kind == InputKind::File,
            size: 1,
            hash: if kind == InputKind::File {
                hash
            } else {
                [0; 32]
            },
            target: Vec::new(),
        }
    }

    fn hex_of(byte: u8) -> String {
        let mut hash = [0u8; 32];
        hash[0] = byte;
        imprint_context::hex(&hash)
    }

    #[test]
    fn diff_names_added_removed_and_changed_entries() {
        let before = vec![
            recorded("Dockerfile", "file", Some(&hex_of(1)), false),
            recorded("handlers", "dir", None, false),
            recorded("handlers/debts.py", "file", Some(&hex_of(2)), false),
            recorded("old", "dir", None, false),
            recorded("run.sh", "file", Some(&hex_of(3)), false),
            recorded("gone.py", "file", Some(&hex_of(4)), false),
        ];
        let after = vec![
            local("Dockerfile", InputKind::File, 1, false),
            local("handlers", InputKind::Dir, 0, false),
            local("handlers/debts.py", InputKind::File, 9, false),
            local("new", InputKind::Dir, 0, false),
            local("new/a.json", InputKind::File, 5, false),
            local("run.sh", InputKind::File, 3, true),
        ];
        let changes = diff(&before, &after);
        assert_eq!(changes.added, vec!["new/a.json"]);
        assert_eq!(changes.removed, vec!["gone.py", "old/"]);
        assert_eq!(
            changes.changed,
            vec![
                ("handlers/debts.py".to_string(), "content"),
                ("run.sh".to_string(), "mode")
            ]
        );
        assert!(diff(&before, &before_as_local()).is_empty());
    }

    fn before_as_local() -> Vec<Input> {
        vec![
            local("Dockerfile", InputKind::File, 1, false),
            local("gone.py", InputKind::File, 4, false),
            local("handlers", InputKind::Dir, 0, false),
            local("handlers/debts.py", InputKind::File, 2, false),
            local("old", InputKind::Dir, 0, false),
            local("run.sh", InputKind::File, 3, false),
        ]
    }
}
