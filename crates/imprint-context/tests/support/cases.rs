//! Generated build contexts for differential tests of the ignore rules: random trees (nested
//! and top-level names, dot files, unicode, spaces, symlinks, empty folders) and random ignore
//! files drawn from every feature of the pattern language, seeded; and the plain reference
//! walk that the fast one is held to. Shared by imprint-context's own test (fast walk against
//! the plain one) and imprint's test against the real engines (`#[path]`-included there).
#![allow(dead_code, clippy::unwrap_used)] // each includer uses part of it

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use imprint_context::ignore::{IgnoreRules, Matched};

/// One feature of the pattern language; every generated ignore file uses its case's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `*` in a name or as a whole component.
    Star,
    /// `?`.
    Question,
    /// `[ab]`, `[^a]`, `[a-c]`.
    Class,
    /// `**` at the start: `**/name`, `**.ext`, `**/*.ext`.
    DoubleStarStart,
    /// `a/**/b`.
    DoubleStarMiddle,
    /// `a/**`.
    DoubleStarEnd,
    /// `!` re-includes after an exclude that covers them.
    Reinclude,
    /// `\` escapes of special and plain punctuation.
    Escape,
    /// A leading `/` or `./`.
    Rooted,
    /// A trailing `/`.
    TrailingSlash,
    /// `..` inside or at the start.
    DotDot,
    /// `#` comments (and `#` that is not one), blank lines, spaces around patterns.
    CommentsAndSpaces,
}

/// Every feature, in the order cases take them.
pub const FEATURES: [Feature; 12] = [
    Feature::Star,
    Feature::Question,
    Feature::Class,
    Feature::DoubleStarStart,
    Feature::DoubleStarMiddle,
    Feature::DoubleStarEnd,
    Feature::Reinclude,
    Feature::Escape,
    Feature::Rooted,
    Feature::TrailingSlash,
    Feature::DotDot,
    Feature::CommentsAndSpaces,
];

/// Where a case's ignore file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreAt {
    /// `.dockerignore`, which every builder reads.
    DockerIgnore,
    /// `Dockerfile.dockerignore` (BuildKit, podman, buildah; the legacy builder refuses).
    BesideDockerfile,
    /// `.containerignore` (podman and buildah; Docker does not read it).
    ContainerIgnore,
}

impl IgnoreAt {
    pub fn name(self) -> &'static str {
        match self {
            Self::DockerIgnore => ".dockerignore",
            Self::BesideDockerfile => "Dockerfile.dockerignore",
            Self::ContainerIgnore => ".containerignore",
        }
    }
}

/// Files the comparisons leave out: the Dockerfile and every ignore file.
pub const LEFT_OUT: [&str; 4] = [
    "Dockerfile",
    ".dockerignore",
    "Dockerfile.dockerignore",
    ".containerignore",
];

/// One entry of a generated tree.
#[derive(Debug, Clone)]
pub enum Node {
    File { content: Vec<u8>, mode: u32 },
    Dir,
    Symlink(String),
}

/// A generated build context.
#[derive(Clone)]
pub struct Case {
    pub seed: u64,
    pub index: usize,
    pub feature: Feature,
    /// Every entry by path; parents come before what they hold.
    pub tree: BTreeMap<String, Node>,
    pub ignore: String,
    pub at: IgnoreAt,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "case {} of seed {} ({:?}), {} at {}:",
            self.index,
            self.seed,
            self.feature,
            self.tree.len(),
            self.at.name()
        )?;
        for line in self.ignore.lines() {
            writeln!(f, "    | {line}")?;
        }
        let paths: Vec<&str> = self.tree.keys().map(String::as_str).collect();
        write!(f, "  tree: {}", paths.join(", "))
    }
}

/// Names the trees are made of: plain, dotted, state folders, spaces, unicode and
/// characters that mean something in a pattern or a regular expression.
const NAMES: [&str; 22] = [
    "a",
    "b",
    "ab",
    "x.py",
    "y.pyc",
    "z.md",
    "keep.txt",
    "node_modules",
    "__pycache__",
    ".git",
    ".env",
    "build",
    "src",
    "sp ace",
    "ünï",
    "[x]",
    "c++",
    "st*r",
    "#h",
    "!b",
    "a.b",
    "a+b",
];

const DIR_NAMES: [&str; 8] = [
    "a",
    "b",
    "node_modules",
    "__pycache__",
    ".git",
    "build",
    "src",
    "sp ace",
];

/// Makes case `index` of `seed`; its feature is the index's turn through [`FEATURES`].
pub fn generate(seed: u64, index: usize) -> Case {
    let mut rng =
        fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let feature = FEATURES[index % FEATURES.len()];
    let mut tree = BTreeMap::new();
    add_dir(&mut rng, &mut tree, "", 0);
    let at = match rng.u8(0..10) {
        0 => IgnoreAt::BesideDockerfile,
        1 => IgnoreAt::ContainerIgnore,
        _ => IgnoreAt::DockerIgnore,
    };
    let ignore = ignore_file(&mut rng, &tree, feature);
    Case {
        seed,
        index,
        feature,
        tree,
        ignore,
        at,
    }
}

fn add_dir(rng: &mut fastrand::Rng, tree: &mut BTreeMap<String, Node>, dir: &str, depth: u32) {
    let count = match depth {
        0 => rng.usize(4..9),
        _ => rng.usize(0..5),
    };
    for _ in 0..count {
        let folder = depth < 3 && rng.u8(0..10) < 4;
        let name = match folder {
            true => *rng.choice(DIR_NAMES.iter()).unwrap(),
            false => *rng.choice(NAMES.iter()).unwrap(),
        };
        let path = join(dir, name);
        if tree.contains_key(&path) {
            continue;
        }
        if folder {
            tree.insert(path.clone(), Node::Dir);
            add_dir(rng, tree, &path, depth + 1);
        } else if rng.u8(0..12) == 0 {
            let target = *rng.choice(["x.py", "../nowhere", "a"].iter()).unwrap();
            tree.insert(path, Node::Symlink(target.to_string()));
        } else {
            let mode = *rng.choice([0o644, 0o755, 0o600].iter()).unwrap();
            let content = format!("{path} {}\n", rng.u32(..)).into_bytes();
            tree.insert(path, Node::File { content, mode });
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// A path of the tree to build a pattern from (its last component may be a file).
fn some_path(rng: &mut fastrand::Rng, tree: &BTreeMap<String, Node>) -> String {
    let paths: Vec<&String> = tree.keys().collect();
    match paths.is_empty() {
        true => "a".to_string(),
        false => (*rng.choice(paths).unwrap()).clone(),
    }
}

/// `text` with the characters that are special in a pattern escaped.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(
            c,
            '[' | ']' | '*' | '?' | '\\' | '+' | '{' | '}' | '(' | ')' | '|' | '^'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A pattern that uses `feature`, built from a path of the tree so that it matches something
/// (or nearly does).
fn pattern(rng: &mut fastrand::Rng, tree: &BTreeMap<String, Node>, feature: Feature) -> String {
    let mut path = some_path(rng, tree);
    if feature == Feature::DoubleStarStart && rng.bool() {
        // Half the time a top-level name, where `**/` has to match no folder at all.
        path = path.split('/').next().unwrap().to_string();
    }
    pattern_of(rng, &path, feature)
}

/// A pattern that uses `feature`, built from `path`.
fn pattern_of(rng: &mut fastrand::Rng, path: &str, feature: Feature) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let last = *parts.last().unwrap();
    let parent = parts[..parts.len() - 1].join("/");
    let escaped_path = || {
        parts
            .iter()
            .map(|p| escape(p))
            .collect::<Vec<_>>()
            .join("/")
    };
    let with_last = |replacement: String| match parent.is_empty() {
        true => replacement,
        false => format!("{}/{replacement}", escape(&parent)),
    };
    match feature {
        Feature::Star => match rng.u8(0..4) {
            0 => with_last("*".into()),
            1 => match last.rsplit_once('.') {
                Some((_, ext)) => with_last(format!("*.{}", escape(ext))),
                None => with_last(format!(
                    "{}*",
                    escape(&last.chars().take(1).collect::<String>())
                )),
            },
            2 => "*".into(),
            _ => with_last(format!(
                "{}*",
                escape(&last.chars().take(2).collect::<String>())
            )),
        },
        Feature::Question => {
            let chars: Vec<char> = last.chars().collect();
            let at = rng.usize(0..chars.len());
            let name: String = chars
                .iter()
                .enumerate()
                .map(|(i, c)| match i == at {
                    true => "?".to_string(),
                    false => escape(&c.to_string()),
                })
                .collect();
            with_last(name)
        }
        Feature::Class => {
            let chars: Vec<char> = last.chars().collect();
            let at = rng.usize(0..chars.len());
            let c = chars[at];
            let class = match rng.u8(0..3) {
                0 if c.is_ascii_alphanumeric() => format!("[{c}q]"),
                1 => "[^q]".to_string(),
                _ if c.is_ascii_lowercase() => format!("[a-{}]", (c as u8).max(b'b') as char),
                _ => "[^#]".to_string(),
            };
            let name: String = chars
                .iter()
                .enumerate()
                .map(|(i, c)| match i == at {
                    true => class.clone(),
                    false => escape(&c.to_string()),
                })
                .collect();
            with_last(name)
        }
        Feature::DoubleStarStart => match rng.u8(0..4) {
            0 => format!("**/{}", escape(last)),
            1 => match last.rsplit_once('.') {
                Some((_, ext)) => format!("**.{}", escape(ext)),
                None => format!("**{}", escape(last)),
            },
            2 => match last.rsplit_once('.') {
                Some((_, ext)) => format!("**/*.{}", escape(ext)),
                None => format!("**/**/{}", escape(last)),
            },
            _ => format!("**/{}", escaped_path()),
        },
        Feature::DoubleStarMiddle => match parts.len() {
            1 => format!("**/{}/**/{}", escape(last), escape(last)),
            _ => format!("{}/**/{}", escape(parts[0]), escape(last)),
        },
        Feature::DoubleStarEnd => match parent.is_empty() {
            true => format!("{}/**", escape(last)),
            false => format!("{}/**", escape(&parent)),
        },
        Feature::Reinclude => match rng.u8(0..4) {
            0 => format!("!{}", escaped_path()),
            1 => format!("!{}", pattern_of(rng, path, Feature::Star)),
            2 => format!("!**/{}", escape(last)),
            _ => format!("!{}/**/{}", escape(parts[0]), escape(last)),
        },
        // Escaped, or as it stands (`[x]` is then a class, `a+b` a regular expression to
        // podman, `#h` a comment, `!b` a re-include).
        Feature::Escape => match rng.bool() {
            true => escaped_path(),
            false => path.to_string(),
        },
        Feature::Rooted => match rng.bool() {
            true => format!("/{}", escaped_path()),
            false => format!("./{}", escaped_path()),
        },
        Feature::TrailingSlash => format!("{}/", escaped_path()),
        Feature::DotDot => match rng.u8(0..3) {
            0 => format!("zz/../{}", escaped_path()),
            1 => format!("../{}", escaped_path()),
            _ => format!("{}/../{}", escape(parts[0]), escaped_path()),
        },
        Feature::CommentsAndSpaces => match rng.u8(0..3) {
            0 => format!("  {}\t", escaped_path()),
            1 => format!(" #{}", escape(last)),
            _ => format!("! {}", escaped_path()),
        },
    }
}

/// An ignore file of one to five lines, at least one of them using `feature`.
fn ignore_file(rng: &mut fastrand::Rng, tree: &BTreeMap<String, Node>, feature: Feature) -> String {
    let mut lines = Vec::new();
    let count = rng.usize(0..4);
    for _ in 0..count {
        let other = *rng.choice(FEATURES.iter()).unwrap();
        lines.push(pattern(rng, tree, other));
    }
    let at = rng.usize(0..=lines.len());
    lines.insert(at, pattern(rng, tree, feature));
    if feature == Feature::Reinclude {
        // Something for the `!` to re-include from, and the `!` itself, about one path.
        let path = some_path(rng, tree);
        let top = escape(path.split('/').next().unwrap());
        let cover = match rng.u8(0..4) {
            0 => "*".to_string(),
            1 => "**".to_string(),
            2 => format!("{top}/**"),
            _ => top,
        };
        lines[at] = pattern_of(rng, &path, Feature::Reinclude);
        lines.insert(rng.usize(0..=at), cover);
    }
    if feature == Feature::CommentsAndSpaces {
        lines.insert(rng.usize(0..=lines.len()), "# a comment".into());
        lines.insert(rng.usize(0..=lines.len()), String::new());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

impl Case {
    /// Writes the case into the empty folder `root`: its tree, `FROM scratch` + `COPY . /ctx/`
    /// and its ignore file.
    pub fn write(&self, root: &Path) {
        for (path, node) in &self.tree {
            let full = root.join(path);
            match node {
                Node::Dir => fs::create_dir_all(&full).unwrap(),
                Node::File { content, mode } => {
                    fs::write(&full, content).unwrap();
                    fs::set_permissions(&full, fs::Permissions::from_mode(*mode)).unwrap();
                }
                Node::Symlink(target) => symlink(target, &full).unwrap(),
            }
        }
        fs::write(root.join("Dockerfile"), "FROM scratch\nCOPY . /ctx/\n").unwrap();
        fs::write(root.join(self.at.name()), &self.ignore).unwrap();
    }
}

/// What one entry is, for comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

/// The plain reference walk: every entry of `root` that `rules` send, decided one by one
/// with the plain matcher from the root down, in a single thread, with the parents that
/// re-included entries imply. Paths as `/`-separated bytes.
pub fn reference(root: &Path, rules: &IgnoreRules) -> BTreeMap<Vec<u8>, Kind> {
    let mut out = BTreeMap::new();
    walk(root, b"", &Matched::default(), rules, &mut out);
    let implied: Vec<Vec<u8>> = out
        .keys()
        .flat_map(|path| {
            path.iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'/')
                .map(|(i, _)| path[..i].to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    for parent in implied {
        out.insert(parent, Kind::Dir);
    }
    out
}

/// The first file (in path order) of a [`reference`] walk that BuildKit would send empty:
/// it has bytes, and moby's `MatchesOrParentMatches`, asked afresh of the file and each
/// folder above it, excludes it.
pub fn sent_empty(
    root: &Path,
    rules: &IgnoreRules,
    sent: &BTreeMap<Vec<u8>, Kind>,
) -> Option<Vec<u8>> {
    if !rules.checks_opened_files() {
        return None;
    }
    sent.iter()
        .filter(|(_, kind)| **kind == Kind::File)
        .map(|(path, _)| path)
        .find(|path| {
            let size = fs::metadata(root.join(std::ffi::OsStr::from_bytes(path)))
                .unwrap()
                .len();
            size > 0 && rules.opened_by_plain(path).is_some()
        })
        .cloned()
}

fn walk(
    root: &Path,
    rel: &[u8],
    matched: &Matched,
    rules: &IgnoreRules,
    out: &mut BTreeMap<Vec<u8>, Kind>,
) {
    let dir = root.join(std::ffi::OsStr::from_bytes(rel));
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let path = match rel.is_empty() {
            true => name.as_bytes().to_vec(),
            false => [rel, b"/", name.as_bytes()].concat(),
        };
        let file_type = entry.file_type().unwrap();
        let verdict = rules.verdict_plain(&path, matched);
        if verdict.by.is_some() {
            if file_type.is_dir() && rules.descends_into(&path) {
                walk(root, &path, &verdict.matched, rules, out);
            }
            continue;
        }
        let kind = if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_file() {
            Kind::File
        } else {
            continue;
        };
        out.insert(path.clone(), kind);
        if kind == Kind::Dir {
            walk(root, &path, &verdict.matched, rules, out);
        }
    }
}

/// The seed of a run: `IMPRINT_DIFF_SEED` when set (to repeat one), else the clock.
pub fn seed() -> u64 {
    match std::env::var("IMPRINT_DIFF_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("IMPRINT_DIFF_SEED={text} is not a number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// How many cases a run makes: `IMPRINT_DIFF_CASES` when set, else `default`.
pub fn count(default: usize) -> usize {
    match std::env::var("IMPRINT_DIFF_CASES") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("IMPRINT_DIFF_CASES={text} is not a number")),
        Err(_) => default,
    }
}
