//! `inspect` itself: the image read, the handlers' imports followed, the report assembled.

use std::collections::BTreeMap;

use anyhow::Context as _;

use super::packages;
use super::reach::{self, Reach, Runtime, Verdict};
use super::read::{self, Commands, Subject};
use super::report::{
    Advice, Copy, Duplicate, Handler, Inspection, LayerReport, PackageReport, Unused,
};
use super::scan::Tree;
use super::waste;
use crate::session::Session;

/// Reads the image `subject` names and says what it holds, the functions' commands read from
/// where `commands` says.
pub async fn inspect(
    session: &Session,
    subject: Subject<'_>,
    commands: Commands,
) -> anyhow::Result<Inspection> {
    let image = read::find(session, subject).await?;
    let config: serde_json::Value = serde_json::from_slice(&image.config)
        .with_context(|| format!("the config of {} is not JSON", image.name))?;
    let tree = read::layers(session, &image).await?;
    let mut notes = Vec::new();
    let handlers = read::handlers(session, &config, commands, &mut notes).await;
    let base = read::base_layers(session, &image, &config, &mut notes).await;
    let reached = reach::reach(&tree, &runtime_of(&config), &handlers);
    let facts = Facts {
        image,
        config,
        tree,
        reached,
        base,
        notes,
    };
    Ok(report(facts, &session.settings.build.context))
}

/// What `inspect` found out, for the report.
struct Facts {
    image: read::Found,
    config: serde_json::Value,
    tree: Tree,
    reached: Reach,
    /// How many bottom layers are the base image's, and which it is.
    base: (usize, Option<String>),
    notes: Vec<String>,
}

/// How the config says the image runs.
fn runtime_of(config: &serde_json::Value) -> Runtime {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    Runtime {
        workdir: config["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("")
            .trim_matches('/')
            .to_string(),
        env: strings(&config["config"]["Env"]),
        entrypoint: strings(&config["config"]["Entrypoint"]),
    }
}

/// The instructions of the layers: the config's history entries that made one.
fn instructions(config: &serde_json::Value) -> Vec<Option<String>> {
    config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .map(|h| h["created_by"].as_str().map(str::to_string))
        .collect()
}

/// The report of `facts` (`project`: the build context, where a uv project's pyproject.toml
/// is).
fn report(facts: Facts, project: &std::path::Path) -> Inspection {
    let Facts {
        image,
        config,
        tree,
        reached,
        base: (base_layers, base_image),
        notes,
    } = facts;
    let tree = &tree;
    let made_by = instructions(&config);
    let layers: Vec<LayerReport> = image
        .layers
        .iter()
        .zip(&tree.layers)
        .enumerate()
        .map(|(index, ((digest, size), facts))| LayerReport {
            digest: digest.clone(),
            size: *size,
            size_on_disk: facts.size,
            entries: facts.entries,
            created_by: made_by.get(index).cloned().flatten(),
            base: index < base_layers,
        })
        .collect();
    let in_base = |files: &[String]| {
        !files.is_empty()
            && files
                .iter()
                .all(|f| tree.files.get(f).is_some_and(|f| f.layer < base_layers))
    };
    let mut packages: Vec<PackageReport> = reached
        .dists
        .iter()
        .map(|r| PackageReport {
            name: r.dist.name.clone(),
            version: r.dist.version.clone(),
            location: r.dist.site.clone(),
            files: r.files.len(),
            provides: provides(&r.dist.site, &r.files),
            largest_files: largest(tree, &r.files),
            size: r
                .files
                .iter()
                .filter_map(|f| tree.files.get(f))
                .map(|f| f.size)
                .sum(),
            verdict: r.verdict,
            why: r.why.clone(),
            base: in_base(&r.files),
        })
        .collect();
    let duplicates = duplicates(&reached, &packages);
    packages.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
    let unused_list: Vec<&PackageReport> = packages
        .iter()
        .filter(|p| p.verdict == Verdict::Unused && !p.base)
        .collect();
    let unused = Unused {
        packages: unused_list.len(),
        size: unused_list.iter().map(|p| p.size).sum(),
        names: unused_list.iter().map(|p| p.name.clone()).collect(),
    };
    let advice = advice(project, &unused_list);
    let python = waste::python_version(tree);
    Inspection {
        image: image.name,
        digest: image.digest,
        read_from: image.read_from,
        size: image.layers.iter().map(|(_, s)| s).sum(),
        size_on_disk: tree.files.values().map(|f| f.size).sum(),
        should_not_ship: waste::waste(tree, base_layers, &reached.path, python.as_deref()),
        python,
        base_image,
        layers,
        handlers: reached
            .handlers
            .iter()
            .map(|(handler, found)| Handler {
                handler: handler.clone(),
                found: *found,
            })
            .collect(),
        search_path: reached.path.iter().map(|p| format!("/{p}")).collect(),
        packages,
        unused,
        duplicates,
        computed_imports: reached.computed.clone(),
        unread: tree.unread.clone(),
        advice,
        notes,
    }
}

/// The five largest of `files`, with their sizes.
fn largest(tree: &Tree, files: &[String]) -> Vec<(String, u64)> {
    let mut sized: Vec<(String, u64)> = files
        .iter()
        .filter_map(|f| Some((format!("/{f}"), tree.files.get(f)?.size)))
        .collect();
    sized.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sized.truncate(5);
    sized
}

/// The top-level names files under `site` make importable: `pkg/…` and `mod.py` or
/// `mod.cpython-312-x86_64-linux-gnu.so` (metadata, bytecode folders and scripts left out).
fn provides(site: &str, files: &[String]) -> Vec<String> {
    let prefix = format!("{site}/");
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(&prefix))
        .filter_map(|inside| {
            let (top, nested) = match inside.split_once('/') {
                Some((top, _)) => (top, true),
                None => (inside, false),
            };
            let name = match nested {
                true => top,
                false => top.split('.').next().filter(|_| {
                    [".py", ".pyc", ".so", ".pyd"]
                        .iter()
                        .any(|s| top.ends_with(s))
                })?,
            };
            let meta = top.ends_with(".dist-info") || top.ends_with(".egg-info");
            (!meta && name != "__pycache__" && !name.is_empty()).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The distributions installed in more than one folder, in search-path order.
fn duplicates(reached: &Reach, packages: &[PackageReport]) -> Vec<Duplicate> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, r) in reached.dists.iter().enumerate() {
        by_key.entry(r.dist.key.as_str()).or_default().push(index);
    }
    let position = |site: &str| reached.path.iter().position(|p| p == site);
    by_key
        .into_values()
        .filter(|copies| copies.len() > 1)
        .map(|mut copies| {
            copies.sort_by_key(|&i| position(&reached.dists[i].dist.site));
            Duplicate {
                name: reached.dists[copies[0]].dist.name.clone(),
                copies: copies
                    .iter()
                    .map(|&i| Copy {
                        version: packages[i].version.clone(),
                        location: packages[i].location.clone(),
                        base: packages[i].base,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// For a uv project (`pyproject.toml` in the build context): the unused packages it lists
/// itself, and the dependency group to move them to (one the project has besides `dev`, else
/// `infra`).
fn advice(project: &std::path::Path, unused: &[&PackageReport]) -> Option<Advice> {
    let text = std::fs::read_to_string(project.join("pyproject.toml")).ok()?;
    let parsed: toml::Value = toml::from_str(&text).ok()?;
    let listed: Vec<String> = parsed
        .get("project")
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| packages::requirement_name(d.as_str()?))
        .collect();
    let direct: Vec<String> = unused
        .iter()
        .filter(|p| listed.contains(&packages::normalize(&p.name)))
        .map(|p| p.name.clone())
        .collect();
    if direct.is_empty() {
        return None;
    }
    let group = parsed
        .get("dependency-groups")
        .and_then(|g| g.as_table())
        .and_then(|g| g.keys().find(|k| *k != "dev").cloned())
        .unwrap_or_else(|| "infra".into());
    let names = direct.join(" ");
    Some(Advice {
        commands: vec![
            format!("uv remove {names}"),
            format!("uv add --group {group} {names}"),
        ],
        direct,
        group,
    })
}

/// For the fuzz target: any bytes as a Python source, as a layer, and as the handler's module
/// of a layer followed to the verdicts; a refusal is fine, a panic is not.
#[cfg(feature = "fuzzing")]
pub fn fuzz(data: &[u8]) {
    let _ = super::python::imports(data);
    let _ = super::scan::scan_layer(data);
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    if layer
        .append_data(&mut header, "var/task/app.py", data)
        .is_err()
    {
        return;
    }
    let Ok(bytes) = layer.into_inner() else {
        return;
    };
    let Ok(scan) = super::scan::scan_layer(&bytes[..]) else {
        return;
    };
    let mut tree = Tree::default();
    tree.apply(scan);
    let runtime = Runtime::default();
    let reached = reach::reach(&tree, &runtime, &[("fuzz".into(), "app.handler".into())]);
    let _ = waste::waste(&tree, 0, &reached.path, Some("3.12"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_distribution_provides_its_top_level_packages_and_modules() {
        let files: Vec<String> = [
            "t/pydantic_core/__init__.py",
            "t/pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so",
            "t/six.py",
            "t/_cffi_backend.cpython-311-x86_64-linux-gnu.so",
            "t/six-1.17.0.dist-info/RECORD",
            "t/__pycache__/six.cpython-311.pyc",
            "t/README.txt",
            "bin/tool",
        ]
        .iter()
        .map(|f| f.to_string())
        .collect();
        assert_eq!(
            super::provides("t", &files),
            ["_cffi_backend", "pydantic_core", "six"]
        );
    }
}
