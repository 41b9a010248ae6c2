//! Which installed distributions the handlers reach: their static imports followed through the
//! app's modules and the installed packages (as Python's import system finds them on the
//! image's search path), then the reached distributions' declared requirements. What static
//! reading cannot see makes a distribution "maybe", never "unused".

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::packages::{self, Distribution};
use super::scan::Tree;

/// Whether anything the functions run imports a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A handler reaches it by a static import, or a reached one requires it.
    Used,
    /// Static reading cannot tell: a computed import may load it, or it is a plugin.
    Maybe,
    /// No handler reaches it.
    Unused,
}

/// How the image runs Python, from its config.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// `WorkingDir`, no leading `/`.
    pub workdir: String,
    /// `Env` as `KEY=value`.
    pub env: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
}

impl Runtime {
    fn var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
    }

    /// Where the handlers' modules are: `LAMBDA_TASK_ROOT`, else the working folder, else
    /// Lambda's `/var/task`.
    pub fn task_root(&self) -> String {
        let root = self
            .var("LAMBDA_TASK_ROOT")
            .map(str::to_string)
            .or_else(|| (!self.workdir.is_empty()).then(|| self.workdir.clone()))
            .unwrap_or_else(|| "var/task".into());
        root.trim_matches('/').to_string()
    }
}

/// One distribution and what reaches it.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The distribution.
    pub dist: Distribution,
    /// Its files in the image.
    pub files: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why (the importing file, the requiring distribution, the computed import).
    pub why: String,
}

/// An import whose module name is computed, in a file the handlers reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Computed {
    /// The file, with a leading `/`.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// The distribution the file belongs to (none: the app's own code).
    pub package: Option<String>,
}

/// What the handlers reach.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Every distribution, in the order of the search path.
    pub dists: Vec<Reached>,
    /// The search path (folders, no leading `/`).
    pub path: Vec<String>,
    /// Each handler and whether its module was found.
    pub handlers: Vec<(String, bool)>,
    /// Computed imports in reached files.
    pub computed: Vec<Computed>,
}

/// Where a module is: the files importing it runs (its own, or its package's `__init__`) and,
/// for a package, its folders (several for a namespace package).
#[derive(Debug, Clone, Default)]
struct Location {
    files: Vec<String>,
    dirs: Vec<String>,
}

struct Finder<'a> {
    tree: &'a Tree,
    path: Vec<String>,
    found: HashMap<String, Option<Location>>,
}

impl Finder<'_> {
    /// Where `name` (dotted) is, as Python's path finder would find it.
    fn locate(&mut self, name: &str) -> Option<Location> {
        if let Some(known) = self.found.get(name) {
            return known.clone();
        }
        let dirs = match name.rsplit_once('.') {
            Some((parent, _)) => self.locate(parent)?.dirs,
            None => self.path.clone(),
        };
        let last = name.rsplit('.').next().unwrap_or(name);
        let mut portions = Vec::new();
        let mut found = None;
        for dir in &dirs {
            let base = if dir.is_empty() {
                last.to_string()
            } else {
                format!("{dir}/{last}")
            };
            if let Some(init) = ["__init__.py", "__init__.pyc"]
                .iter()
                .map(|f| format!("{base}/{f}"))
                .find(|p| self.tree.files.contains_key(p))
            {
                found = Some(Location {
                    files: vec![init],
                    dirs: vec![base],
                });
                break;
            }
            if let Some(file) = self.module_file(&base) {
                found = Some(Location {
                    files: vec![file],
                    dirs: Vec::new(),
                });
                break;
            }
            if self.tree.is_dir(&base) {
                portions.push(base);
            }
        }
        let found = found.or_else(|| {
            (!portions.is_empty()).then(|| Location {
                files: Vec::new(),
                dirs: portions,
            })
        });
        self.found.insert(name.to_string(), found.clone());
        found
    }

    /// `base.py`, `base.pyc`, or an extension module `base.*.so`.
    fn module_file(&self, base: &str) -> Option<String> {
        for suffix in [".py", ".pyc", ".so"] {
            let path = format!("{base}{suffix}");
            if self.tree.files.contains_key(&path) {
                return Some(path);
            }
        }
        let prefix = format!("{base}.");
        self.tree
            .under(&prefix)
            .map(|(p, _)| p)
            .find(|p| !p[prefix.len()..].contains('/') && p.ends_with(".so"))
            .cloned()
    }
}

/// The search path: the task root, `PYTHONPATH`, then every folder distributions are installed
/// in (and the folders their `.pth` files add), `/opt/python` (Lambda's layers) first.
fn search_path(tree: &Tree, runtime: &Runtime, dists: &[Distribution]) -> Vec<String> {
    let mut path = vec![runtime.task_root()];
    for dir in runtime.var("PYTHONPATH").unwrap_or("").split(':') {
        path.push(dir.trim_matches('/').to_string());
    }
    let mut sites: Vec<String> = dists.iter().map(|d| d.site.clone()).collect();
    sites.sort_by_key(|s| (!s.starts_with("opt/python"), s.clone()));
    sites.dedup();
    for site in sites {
        for line in pth_lines(tree, &site) {
            if !line.starts_with("import") {
                path.push(packages::join(&site, &line));
            }
        }
        path.push(site);
    }
    let mut seen = HashSet::new();
    path.retain(|p| !p.is_empty() && seen.insert(p.clone()));
    path
}

/// The lines of the `.pth` files directly in `site` (comments and blank lines left out).
fn pth_lines(tree: &Tree, site: &str) -> Vec<String> {
    let prefix = format!("{site}/");
    tree.under(&prefix)
        .filter(|(file, _)| file.ends_with(".pth") && !file[prefix.len()..].contains('/'))
        .filter_map(|(_, f)| f.text.as_deref())
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every distribution of the tree.
pub fn distributions(tree: &Tree) -> Vec<Distribution> {
    let mut metas: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (path, file) in &tree.files {
        if let (Some((meta, name)), Some(text)) = (packages::metadata_file(path), &file.text) {
            metas.entry(meta).or_default().insert(name, text);
        }
    }
    metas
        .iter()
        .filter_map(|(meta, texts)| packages::distribution(meta, texts))
        .collect()
}

/// The files a distribution owns in the tree: what its record lists, else what is under its
/// top-level names and its metadata folder.
fn files_of(tree: &Tree, dist: &Distribution) -> Vec<String> {
    match &dist.files {
        Some(files) => files
            .iter()
            .filter(|f| tree.files.contains_key(*f))
            .cloned()
            .collect(),
        None => {
            let mut out: Vec<String> = tree
                .under(&format!("{}/", dist.meta))
                .map(|(p, _)| p.clone())
                .collect();
            for top in &dist.top_level {
                let base = format!("{}/{top}", dist.site);
                out.extend(
                    tree.under(&base)
                        .filter(|(p, _)| {
                            p.len() == base.len() || matches!(p.as_bytes()[base.len()], b'/' | b'.')
                        })
                        .map(|(p, _)| p.clone()),
                );
            }
            out
        }
    }
}

/// Follows the handlers (`(who, "module.function")`) and the entrypoint's module through the
/// tree's imports.
pub fn reach(tree: &Tree, runtime: &Runtime, handlers: &[(String, String)]) -> Reach {
    let dists = distributions(tree);
    let path = search_path(tree, runtime, &dists);
    let files: Vec<Vec<String>> = dists.iter().map(|d| files_of(tree, d)).collect();
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (index, owned) in files.iter().enumerate() {
        for file in owned {
            if let Some((file, _)) = tree.files.get_key_value(file) {
                owner.entry(file.as_str()).or_insert(index);
            }
        }
    }
    let mut walk = Walk {
        finder: Finder {
            tree,
            path: path.clone(),
            found: HashMap::new(),
        },
        owner,
        names: dists.iter().map(|d| d.name.clone()).collect(),
        why: vec![None; dists.len()],
        seen: HashSet::new(),
        queue: VecDeque::new(),
        computed: Vec::new(),
        literals: Vec::new(),
    };
    let mut roots = Vec::new();
    for (who, handler) in handlers {
        let module = handler.rsplit_once('.').map_or("", |(m, _)| m);
        let module = module.replace('/', ".");
        let found = !module.is_empty() && walk.finder.locate(&module).is_some();
        roots.push((format!("{handler} ({who})"), found));
        walk.import(&module, &format!("the handler {handler}"));
    }
    if let Some(at) = runtime.entrypoint.iter().position(|a| a == "-m") {
        if let Some(module) = runtime.entrypoint.get(at + 1) {
            walk.import(module, "the image's entrypoint");
        }
    }
    for (site, file) in startup_imports(tree, &path, &dists) {
        walk.import(&file, &format!("a .pth file in /{site}"));
    }
    walk.run();
    let verdicts = walk.verdicts(&dists);
    Reach {
        dists: dists
            .into_iter()
            .zip(files)
            .zip(verdicts)
            .map(|((dist, files), (verdict, why))| Reached {
                dist,
                files,
                verdict,
                why,
            })
            .collect(),
        path,
        handlers: roots,
        computed: walk.computed,
    }
}

/// The modules `.pth` files in the distributions' folders import at startup.
fn startup_imports(tree: &Tree, path: &[String], dists: &[Distribution]) -> Vec<(String, String)> {
    let sites: HashSet<&str> = dists.iter().map(|d| d.site.as_str()).collect();
    let mut out = Vec::new();
    for site in path.iter().filter(|p| sites.contains(p.as_str())) {
        for line in pth_lines(tree, site) {
            let Some(rest) = line.strip_prefix("import ") else {
                continue;
            };
            for module in rest.split([';', ',']).map(str::trim) {
                if module.split('.').all(|p| !p.is_empty()) && !module.contains(' ') {
                    out.push((site.clone(), module.to_string()));
                }
            }
        }
    }
    out
}

struct Walk<'a> {
    finder: Finder<'a>,
    owner: HashMap<&'a str, usize>,
    /// The distributions' names.
    names: Vec<String>,
    /// Why each distribution is used, once it is.
    why: Vec<Option<String>>,
    seen: HashSet<String>,
    queue: VecDeque<(String, String)>,
    computed: Vec<Computed>,
    /// Names in strings beside computed imports: (name, where).
    literals: Vec<(String, String)>,
}

impl Walk<'_> {
    /// Imports `name`: its packages' `__init__`s and its own file, each followed once.
    fn import(&mut self, name: &str, why: &str) {
        let mut prefix = String::new();
        for part in name.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(part);
            let Some(location) = self.finder.locate(&prefix) else {
                return;
            };
            for file in location.files {
                if self.seen.insert(file.clone()) {
                    if let Some(&dist) = self.owner.get(file.as_str()) {
                        self.why[dist].get_or_insert_with(|| why.to_string());
                    }
                    self.queue.push_back((file, prefix.clone()));
                }
            }
        }
    }

    fn run(&mut self) {
        let tree = self.finder.tree;
        while let Some((file, module)) = self.queue.pop_front() {
            let Some(imports) = tree.files.get(&file).and_then(|f| f.imports.as_deref()) else {
                continue;
            };
            let package = if file.ends_with("/__init__.py") {
                module.clone()
            } else {
                module.rsplit_once('.').map_or("", |(p, _)| p).to_string()
            };
            let why = format!("imported by /{file}");
            for import in &imports.imports {
                let base = if import.level == 0 {
                    import.module.clone()
                } else {
                    let mut parts: Vec<&str> = package.split('.').collect();
                    parts.truncate(parts.len().saturating_sub(usize::from(import.level) - 1));
                    let mut base = parts.join(".");
                    if !import.module.is_empty() {
                        base = if base.is_empty() {
                            import.module.clone()
                        } else {
                            format!("{base}.{}", import.module)
                        };
                    }
                    base
                };
                self.import(&base, &why);
                for name in &import.names {
                    self.import(&format!("{base}.{name}"), &why);
                }
            }
            for &line in &imports.computed {
                self.computed.push(Computed {
                    file: format!("/{file}"),
                    line,
                    package: self
                        .owner
                        .get(file.as_str())
                        .map(|&d| self.names[d].clone()),
                });
                for literal in &imports.literals {
                    self.literals
                        .push((literal.clone(), format!("/{file}:{line}")));
                }
            }
        }
    }

    /// Each distribution's verdict and why: reached, required by a reached one (the first
    /// of that name on the search path), maybe, or unused.
    fn verdicts(&mut self, dists: &[Distribution]) -> Vec<(Verdict, String)> {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let order = &self.finder.path;
        let mut by_path: Vec<usize> = (0..dists.len()).collect();
        by_path.sort_by_key(|&i| order.iter().position(|p| *p == dists[i].site));
        for i in by_path {
            first.entry(dists[i].key.as_str()).or_insert(i);
        }
        let mut stack: Vec<usize> = (0..dists.len())
            .filter(|&i| self.why[i].is_some())
            .collect();
        while let Some(i) = stack.pop() {
            for required in &dists[i].requires {
                if let Some(&r) = first.get(required.as_str()) {
                    if self.why[r].is_none() {
                        self.why[r] = Some(format!("required by {}", dists[i].name));
                        stack.push(r);
                    }
                }
            }
        }
        let mut maybe: Vec<Option<String>> = vec![None; dists.len()];
        for (literal, at) in std::mem::take(&mut self.literals) {
            let top = literal.split('.').next().unwrap_or(&literal).to_string();
            for name in [literal.as_str(), top.as_str()] {
                let location = self.finder.locate(name).unwrap_or_default();
                for file in location.files.iter().chain(&location.dirs) {
                    let owned = self.owner.get(file.as_str()).copied().or_else(|| {
                        let prefix = format!("{file}/");
                        self.finder
                            .tree
                            .under(&prefix)
                            .find_map(|(p, _)| self.owner.get(p.as_str()).copied())
                    });
                    if let Some(d) = owned {
                        maybe[d].get_or_insert_with(|| {
                            format!("\"{literal}\" is named beside a computed import at {at}")
                        });
                    }
                }
            }
        }
        dists
            .iter()
            .enumerate()
            .map(|(i, dist)| match (&self.why[i], &maybe[i]) {
                (Some(why), _) => (Verdict::Used, why.clone()),
                (None, Some(why)) => (Verdict::Maybe, why.clone()),
                (None, None) if !dist.plugin_groups.is_empty() => (
                    Verdict::Maybe,
                    format!(
                        "a plugin: it declares entry points ({}) a loader may import",
                        dist.plugin_groups.join(", ")
                    ),
                ),
                (None, None) => (Verdict::Unused, "no handler imports it".into()),
            })
            .collect()
    }
}
