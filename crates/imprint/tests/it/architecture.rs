//! The shape docs/architecture.md promises, read from the source: arrows between the layers
//! point down only, no file imports itself back through others, command files never import
//! each other, and no file or function grows past what a reader takes in at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first. A file may import its own layer and the ones below it.
const LAYERS: &[&[&str]] = &[
    &["error", "printer", "reporter", "retry", "state", "timeouts"],
    &["registry"],
    &["config"],
    &["lambda"],
    &["journal"],
    &["session"],
    &["image"],
    &["rollout"],
    &["gc"],
    &["iam"],
    &[
        "cli", "diagnose", "doctor", "commands", "lib", "fuzz", "version",
    ],
];
const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 100;

struct Source {
    /// Path below `src/`, e.g. `rollout/apply.rs`.
    path: String,
    /// The file's code before its `#[cfg(test)]` module.
    code: String,
    /// All of it.
    lines: usize,
}

fn sources() -> Vec<Source> {
    sources_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// Every `.rs` file below `root`, sorted by path.
fn sources_under(root: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = match text.find("\n#[cfg(test)]") {
                    Some(end) => text[..end].to_string(),
                    None => text.clone(),
                };
                out.push(Source {
                    path: rel(root, &path),
                    code,
                    lines: text.lines().count(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The top-level module a file belongs to (`lib` for lib.rs and main.rs).
fn module_of(path: &str) -> &str {
    match path.split_once('/') {
        Some((dir, _)) => dir,
        None => match path.trim_end_matches(".rs") {
            "main" => "lib",
            m => m,
        },
    }
}

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("{module} is in no layer of this test; add it"))
}

/// Every `crate::a::b` and `super::a` path in the code, as module paths from the crate root.
fn references(source: &Source) -> Vec<Vec<String>> {
    let own: Vec<String> = {
        let stem = source.path.trim_end_matches(".rs");
        let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
        if parts.last().is_some_and(|p| p == "mod") || stem == "lib" || stem == "main" {
            parts.pop();
        }
        parts
    };
    let mut out = Vec::new();
    let code = source.code.as_str();
    for (start, prefix) in code
        .match_indices("crate::")
        .map(|(i, _)| (i, "crate::"))
        .chain(code.match_indices("super::").map(|(i, _)| (i, "super::")))
    {
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[start + prefix.len()..];
        let segments = path_segments(rest);
        let mut path = if prefix == "super::" {
            let mut parent = own.clone();
            parent.pop();
            parent
        } else {
            Vec::new()
        };
        path.extend(segments);
        out.push(path);
    }
    // `use crate::x::{a, b::c}` and `pub use child::…` (in a folder's mod.rs) name files too.
    for line in code.lines() {
        let line = line.trim();
        let Some(used) = line
            .strip_prefix("pub use ")
            .or_else(|| line.strip_prefix("pub(crate) use "))
            .or_else(|| line.strip_prefix("use "))
        else {
            continue;
        };
        let first = used.split("::").next().unwrap_or_default();
        let is_child = source.path.ends_with("mod.rs")
            && !matches!(first, "crate" | "super" | "self" | "std")
            && first.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if is_child {
            let mut path = own.clone();
            path.extend(path_segments(used));
            out.push(path);
        }
    }
    out
}

/// `a::b::{c, d}` → `[a, b]`: the module part of a path, up to the first item or brace.
fn path_segments(rest: &str) -> Vec<String> {
    let mut segments = Vec::new();
    for part in rest.split("::") {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        let whole = name.len() == part.len();
        segments.push(name);
        if !whole {
            break;
        }
    }
    segments
}

/// The file a module path lands in: the deepest `a/b.rs` or `a/b/mod.rs` that exists.
fn file_of(files: &BTreeSet<String>, path: &[String]) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let stem = path[..n].join("/");
        [format!("{stem}.rs"), format!("{stem}/mod.rs")]
            .into_iter()
            .find(|f| files.contains(f))
    })
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let mut wrong = Vec::new();
    for source in sources() {
        let module = module_of(&source.path);
        let own = layer_of(module);
        for path in references(&source) {
            let Some(target) = path.first() else { continue };
            if layer_of(target) > own {
                wrong.push(format!("{} uses crate::{}", source.path, path.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "imports going up:\n{}", wrong.join("\n"));
}

#[test]
fn no_file_imports_itself_back() {
    let sources = sources();
    let files: BTreeSet<String> = sources.iter().map(|s| s.path.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        let targets = references(source)
            .iter()
            .filter_map(|p| file_of(&files, p))
            .filter(|t| *t != source.path)
            .collect();
        edges.insert(source.path.clone(), targets);
    }
    // Every file that reaches itself again is on a circle.
    let mut circled = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges[start].iter().collect();
        while let Some(next) = stack.pop() {
            if next == start {
                circled.push(start.clone());
                break;
            }
            if seen.insert(next.clone()) {
                stack.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
    assert!(circled.is_empty(), "files on an import circle: {circled:?}");
    // The check itself sees imports: commands reach the rollout through its mod.rs.
    assert!(edges["commands/deploy.rs"].contains("rollout/mod.rs"));
    assert!(edges["rollout/mod.rs"].contains("rollout/apply.rs"));
}

#[test]
fn command_files_never_import_each_other() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|s| s.path.starts_with("commands/") && s.code.contains("crate::commands"))
        .map(|s| s.path)
        .collect();
    assert!(offenders.is_empty(), "{offenders:?}");
}

/// Files outside `allowed` (path prefixes below `src/`) whose code names `word`.
fn naming(word: &str, allowed: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|s| !allowed.iter().any(|a| s.path.starts_with(a)))
        .filter(|s| {
            s.code.match_indices(word).any(|(i, _)| {
                let before = s.code[..i].chars().next_back();
                let after = s.code[i + word.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .map(|s| s.path)
        .collect()
}

#[test]
fn the_registry_kind_is_known_only_to_registry() {
    // A new registry kind is a `registry::Provider` variant, not a branch in every caller.
    let outside = naming("EcrHost", &["registry/"]);
    assert!(outside.is_empty(), "EcrHost outside registry/: {outside:?}");
    assert_eq!(
        naming("EcrHost", &[]),
        [
            "registry/delete.rs",
            "registry/ecr.rs",
            "registry/provider.rs"
        ]
    );
}

#[test]
fn the_layers_are_the_ones_docs_architecture_md_lists() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let table = doc
        .split("| layer (top first) | what it holds |")
        .nth(1)
        .expect("the layer table");
    // Each row's first cell names its files and folders: `iam.rs`, `gc/`.
    let listed: Vec<Vec<String>> = table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let cell = row.split('|').nth(1).unwrap_or_default();
            let mut names: Vec<String> = cell
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|n| n.trim_end_matches(".rs").trim_end_matches('/').to_string())
                .collect();
            names.sort();
            names
        })
        .collect();
    let layers: Vec<Vec<String>> = LAYERS
        .iter()
        .rev()
        .map(|layer| {
            let mut names: Vec<String> = layer.iter().map(|n| n.to_string()).collect();
            names.sort();
            names
        })
        .collect();
    assert_eq!(
        listed, layers,
        "docs/architecture.md's layer table, top first"
    );
}

#[test]
fn settings_are_resolved_in_config() {
    // Flags meet the file's sections in `config/` (`Settings::rollout`, `gc_policy`, …);
    // nothing else reads a raw section.
    for raw in ["sections", "envs"] {
        let outside: Vec<String> = sources()
            .into_iter()
            .filter(|s| !s.path.starts_with("config/"))
            .filter(|s| s.code.contains(&format!("config.{raw}")))
            .map(|s| s.path)
            .collect();
        assert!(
            outside.is_empty(),
            "config.{raw} read outside config/: {outside:?}"
        );
    }
}

#[test]
fn only_the_commands_talk_to_the_terminal() {
    // The library reports through `reporter::Reporter`; the printer behind it is the
    // commands' own.
    let allowed = ["commands/", "printer.rs", "lib.rs", "diagnose.rs"];
    let outside = naming("Printer", &allowed);
    assert!(
        outside.is_empty(),
        "Printer outside the commands: {outside:?}"
    );
    let outside = naming("indicatif", &allowed);
    assert!(
        outside.is_empty(),
        "progress bars outside the printer: {outside:?}"
    );
    // The check sees the printer where it is.
    assert!(naming("Printer", &[]).contains(&"commands/deploy.rs".to_string()));
}

#[test]
fn files_and_functions_stay_short() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut long = Vec::new();
    for dir in [
        "imprint/src",
        "imprint-context/src",
        "imprint/tests",
        "imprint-context/tests",
    ] {
        for source in sources_under(&crates.join(dir)) {
            if source.lines > MAX_FILE_LINES {
                long.push(format!("{dir}/{}: {} lines", source.path, source.lines));
            }
            // Test files: their length alone (a test may be a long story).
            if dir.ends_with("/tests") {
                continue;
            }
            for (name, lines) in functions(&source.code) {
                if lines > MAX_FN_LINES {
                    long.push(format!("{dir}/{}: fn {name}: {lines} lines", source.path));
                }
            }
        }
    }
    assert!(long.is_empty(), "too long:\n{}", long.join("\n"));
}

/// Each `fn` with a body: its name and its length in lines, from `fn` to the closing brace.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(at) = trimmed.find("fn ") else {
            continue;
        };
        let head = &trimmed[..at];
        let is_decl = head.split_whitespace().all(|w| {
            matches!(
                w,
                "pub" | "pub(crate)" | "pub(super)" | "async" | "const" | "unsafe"
            )
        });
        if !is_decl || trimmed.starts_with("//") {
            continue;
        }
        let name: String = trimmed[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if trimmed.trim_end().ends_with(';') {
            continue; // a declaration without a body
        }
        // The body ends at the first line that closes at the `fn`'s own indentation.
        let closing = format!("{}}}", &line[..line.len() - trimmed.len()]);
        let one_line = trimmed.contains('{') && trimmed.trim_end().ends_with('}');
        let end = if one_line {
            Some(i)
        } else {
            (i + 1..lines.len()).find(|&j| lines[j].starts_with(&closing))
        };
        let Some(end) = end else { continue };
        out.push((name, end - i + 1));
    }
    out
}

#[test]
fn the_length_check_measures_functions() {
    let code = "fn a() {\n    one();\n}\n\n    pub async fn b(\n        x: u8,\n    ) {\n        two();\n    }\nfn c() { three() }\n    fn d(&self);\n";
    assert_eq!(
        functions(code),
        vec![
            ("a".to_string(), 3),
            ("b".to_string(), 5),
            ("c".to_string(), 1)
        ]
    );
}
