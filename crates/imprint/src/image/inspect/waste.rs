//! Files that should not ship in a Lambda image: bytecode for another Python, test folders
//! of installed packages, `.git` folders, type stubs; each kind with its size and where most
//! of it is.

use std::collections::BTreeMap;

use serde::Serialize;

use super::scan::Tree;

/// One kind of file that should not ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waste {
    /// What they are.
    pub what: &'static str,
    /// How many files.
    pub files: u64,
    /// Their bytes on disk.
    pub size: u64,
    /// The folders holding most of them, largest first (at most five): path, bytes.
    pub places: Vec<(String, u64)>,
}

/// The image's Python (`3.12`), from its standard library's `os.py`.
pub fn python_version(tree: &Tree) -> Option<String> {
    tree.files.keys().find_map(|path| {
        let dir = path.strip_suffix("/os.py")?;
        let (lib, version) = dir.rsplit_once('/')?;
        let version = version.strip_prefix("python")?;
        (lib.ends_with("lib") && version.split('.').count() == 2).then(|| version.to_string())
    })
}

/// What of the tree above its `base` bottom layers (the base image's) should not ship, under
/// the folders Python imports from (`path`) and, for `.git`, anywhere.
pub fn waste(tree: &Tree, base: usize, path: &[String], python: Option<&str>) -> Vec<Waste> {
    let tag = python.map(|v| format!(".cpython-{}", v.replace('.', "")));
    type Rule<'a> = (&'static str, Box<dyn Fn(&str, bool) -> Option<usize> + 'a>);
    let rules: Vec<Rule> = vec![
        (
            "bytecode for another Python",
            Box::new(|p: &str, _| {
                let tag = tag.as_deref()?;
                let at = p.find("/__pycache__/")?;
                let name = &p[at + "/__pycache__/".len()..];
                (name.contains(".cpython-") && !name.contains(tag) && name.ends_with(".pyc"))
                    .then_some(at + "/__pycache__".len())
            }),
        ),
        (
            "test folders of packages",
            Box::new(|p: &str, importable| {
                if !importable {
                    return None;
                }
                let mut at = 0;
                for part in p.split('/') {
                    at += part.len() + 1;
                    if (part == "tests" || part == "test") && at <= p.len() {
                        return Some(at - 1);
                    }
                }
                None
            }),
        ),
        (
            ".git folders",
            Box::new(|p: &str, _| {
                let at = p
                    .find(".git/")
                    .filter(|&i| i == 0 || p.as_bytes()[i - 1] == b'/')?;
                Some(at + ".git".len())
            }),
        ),
        (
            "type stubs",
            Box::new(|p: &str, importable| {
                if !importable {
                    return None;
                }
                if let Some(at) = p.find("-stubs/") {
                    return Some(at + "-stubs".len());
                }
                p.ends_with(".pyi").then(|| p.rfind('/').unwrap_or(0))
            }),
        ),
    ];
    let mut found: Vec<(u64, u64, BTreeMap<String, u64>)> =
        vec![(0, 0, BTreeMap::new()); rules.len()];
    for (file, facts) in tree.files.iter().filter(|(_, f)| f.layer >= base) {
        let under = path.iter().find(|dir| {
            file.starts_with(dir.as_str()) && file.as_bytes().get(dir.len()) == Some(&b'/')
        });
        for (index, (_, rule)) in rules.iter().enumerate() {
            let inside = under.map_or(file.as_str(), |dir| &file[dir.len() + 1..]);
            let Some(end) = rule(inside, under.is_some()) else {
                continue;
            };
            let place = match under {
                Some(dir) => format!("/{dir}/{}", &inside[..end]),
                None => format!("/{}", &inside[..end]),
            };
            let entry = &mut found[index];
            entry.0 += 1;
            entry.1 += facts.size;
            *entry.2.entry(place).or_default() += facts.size;
            break;
        }
    }
    rules
        .iter()
        .zip(found)
        .filter(|(_, (files, _, _))| *files > 0)
        .map(|((what, _), (files, size, places))| {
            let mut places: Vec<(String, u64)> = places.into_iter().collect();
            places.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            places.truncate(5);
            Waste {
                what,
                files,
                size,
                places,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::inspect::scan::tests::layer;

    #[test]
    fn each_kind_is_found_where_python_imports_from_and_git_anywhere() {
        let mut tree = Tree::default();
        tree.read_layer(
            &layer(&[
                ("usr/lib/python3.11/os.py", ""),
                ("usr/lib/python3.11/test/x.py", "1234"),
                ("var/task/pkg/__pycache__/m.cpython-311.pyc", "ok"),
                ("var/task/pkg/__pycache__/m.cpython-312.pyc", "12345"),
                ("var/task/pkg/tests/test_m.py", "123"),
                ("var/task/pkg/m.pyi", "12"),
                ("var/task/foo-stubs/a.pyi", "1"),
                ("opt/src/.git/HEAD", "ref"),
            ])[..],
        )
        .unwrap();
        let python = python_version(&tree);
        assert_eq!(python.as_deref(), Some("3.11"));
        let found = waste(&tree, 0, &["var/task".into()], python.as_deref());
        assert!(waste(&tree, 1, &["var/task".into()], python.as_deref()).is_empty());
        let summary: Vec<(&str, u64, u64, &str)> = found
            .iter()
            .map(|w| (w.what, w.files, w.size, w.places[0].0.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "bytecode for another Python",
                    1,
                    5,
                    "/var/task/pkg/__pycache__"
                ),
                ("test folders of packages", 1, 3, "/var/task/pkg/tests"),
                (".git folders", 1, 3, "/opt/src/.git"),
                ("type stubs", 2, 3, "/var/task/pkg"),
            ]
        );
    }
}
