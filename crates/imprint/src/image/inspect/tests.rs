//! The whole analysis on generated trees: what the handlers reach through every kind of
//! import, what requirements carry, what is "maybe", what is unused.

use std::collections::BTreeMap;

use super::reach::{reach, Runtime, Verdict};
use super::scan::tests::layer;
use super::scan::{scan_layer, LayerScan, Tree};

/// A distribution's files in `site`: its modules (path, source) and its metadata.
fn dist(
    site: &str,
    name: &str,
    version: &str,
    requires: &[&str],
    modules: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let meta = format!("{site}/{name}-{version}.dist-info");
    let mut files: Vec<(String, String)> = modules
        .iter()
        .map(|(p, s)| (format!("{site}/{p}"), s.to_string()))
        .collect();
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        metadata.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let mut record: String = modules.iter().map(|(p, _)| format!("{p},,\n")).collect();
    record.push_str(&format!("{name}-{version}.dist-info/METADATA,,\n"));
    files.push((format!("{meta}/METADATA"), metadata));
    files.push((format!("{meta}/RECORD"), record));
    for (file, text) in extra {
        files.push((format!("{meta}/{file}"), text.to_string()));
    }
    files
}

fn tree(files: Vec<(String, String)>) -> Tree {
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, s)| (p.as_str(), s.as_str()))
        .collect();
    let mut tree = Tree::default();
    tree.read_layer(&layer(&refs)[..]).unwrap();
    tree
}

/// The layers applied as read, and as kept in the cache (through JSON) and read back.
fn both_ways(layers: &[Vec<u8>]) -> (Tree, Tree) {
    let (mut fresh, mut kept) = (Tree::default(), Tree::default());
    for bytes in layers {
        let scan = scan_layer(&bytes[..]).unwrap();
        let json = serde_json::to_vec(&scan).unwrap();
        kept.apply(serde_json::from_slice::<LayerScan>(&json).unwrap());
        fresh.apply(scan);
    }
    (fresh, kept)
}

fn verdicts(tree: &Tree, runtime: &Runtime, handler: &str) -> BTreeMap<String, (Verdict, String)> {
    reach(tree, runtime, &[("test".into(), handler.into())])
        .dists
        .into_iter()
        .map(|r| {
            (
                format!("{}@{}", r.dist.key, r.dist.site),
                (r.verdict, r.why),
            )
        })
        .collect()
}

fn runtime() -> Runtime {
    Runtime {
        workdir: "var/task".into(),
        env: vec!["PYTHONPATH=/opt/ric".into()],
        entrypoint: vec!["/usr/bin/python3".into(), "-m".into(), "ric".into()],
    }
}

/// A distribution of the sample: folder, name, version, requirements, modules (path, source).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const T: &str = "var/task";
const SYSTEM: &str = "usr/lib/python3/dist-packages";

/// The sample's distributions: pydantic's chain, requests' (nothing imports it), a codec named
/// beside a computed import, a namespace package's portion, the runtime's own packages (one
/// a second typing_extensions behind the task root), a `.pth` that imports at startup.
const SAMPLE: &[Spec] = &[
    (
        T,
        "pydantic",
        "2.9.0",
        &[
            "pydantic-core==2.23",
            "typing-extensions>=4",
            "email-validator>=2; extra == \"email\"",
        ],
        &[
            ("pydantic/__init__.py", "from .main import BaseModel\n"),
            ("pydantic/main.py", "import annotated_types\n"),
        ],
    ),
    (
        T,
        "pydantic_core",
        "2.23.0",
        &["typing-extensions>=4"],
        &[
            ("pydantic_core/__init__.py", "from ._core import *\n"),
            ("pydantic_core/_core.cpython-311-x86_64-linux-gnu.so", "ELF"),
        ],
    ),
    (
        T,
        "typing_extensions",
        "4.12.0",
        &[],
        &[("typing_extensions.py", "")],
    ),
    (
        T,
        "annotated-types",
        "0.7.0",
        &[],
        &[("annotated_types/__init__.py", "")],
    ),
    (
        T,
        "email_validator",
        "2.2.0",
        &["idna"],
        &[("email_validator/__init__.py", "")],
    ),
    (
        T,
        "requests",
        "2.32.3",
        &["urllib3", "idna", "certifi"],
        &[("requests/__init__.py", "import urllib3\nimport idna\n")],
    ),
    (T, "urllib3", "2.2.3", &[], &[("urllib3/__init__.py", "")]),
    (T, "idna", "3.10", &[], &[("idna/__init__.py", "")]),
    (
        T,
        "certifi",
        "2024.8.30",
        &[],
        &[("certifi/__init__.py", "")],
    ),
    (T, "six", "1.16.0", &[], &[("six.py", "")]),
    (T, "ns-part", "1.0", &[], &[("ns/part/__init__.py", "")]),
    (
        "opt/ric",
        "ric",
        "4.2.2",
        &["simplejson"],
        &[("ric/__init__.py", "import simplejson\n")],
    ),
    (
        "opt/ric",
        "simplejson",
        "4.3.0",
        &[],
        &[("simplejson/__init__.py", "")],
    ),
    (
        "opt/ric",
        "typing_extensions",
        "4.1.0",
        &[],
        &[("typing_extensions.py", "")],
    ),
    (
        SYSTEM,
        "hack",
        "1.0",
        &[],
        &[("_hack.py", ""), ("hack.pth", "import _hack\n")],
    ),
    (SYSTEM, "lonely", "1.0", &[], &[("lonely.py", "")]),
];

/// The sample's files: the app (a package with a relative import and a computed one), the
/// distributions, a plugin, another portion of the namespace package.
fn sample() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = [
        ("app/__init__.py", ""),
        ("app/handler.py", "from . import models\nimport importlib, os\ndef go():\n    return importlib.import_module(os.environ.get('CODEC', 'six'))\n"),
        ("app/models.py", "from pydantic import BaseModel\nfrom ns.part import x\n"),
    ]
    .iter()
    .map(|(p, s)| (format!("{T}/{p}"), s.to_string()))
    .collect();
    for (site, name, version, requires, modules) in SAMPLE {
        files.extend(dist(site, name, version, requires, modules, &[]));
    }
    let plugin = [("entry_points.txt", "[pytest11]\nplug = plug\n")];
    files.extend(dist(
        T,
        "plug",
        "1.0",
        &[],
        &[("plug/__init__.py", "")],
        &plugin,
    ));
    files.push(("opt/ric/ns/other.py".into(), String::new()));
    files
}

#[test]
fn the_handlers_imports_and_their_requirements_are_used_and_the_rest_unused() {
    let files = sample();
    let tree = tree(files);
    let got = verdicts(&tree, &runtime(), "app.handler.go");
    let verdict = |key: &str| got.get(key).unwrap_or_else(|| panic!("{key} in {got:?}")).0;
    for used in [
        "pydantic@var/task",
        "pydantic-core@var/task",
        "typing-extensions@var/task",
        "annotated-types@var/task",
        "ns-part@var/task",
        "ric@opt/ric",
        "simplejson@opt/ric",
        "hack@usr/lib/python3/dist-packages",
    ] {
        assert_eq!(verdict(used), Verdict::Used, "{used}: {got:?}");
    }
    for unused in [
        "requests@var/task",
        "urllib3@var/task",
        "idna@var/task",
        "certifi@var/task",
        "email-validator@var/task",
        "typing-extensions@opt/ric",
        "lonely@usr/lib/python3/dist-packages",
    ] {
        assert_eq!(verdict(unused), Verdict::Unused, "{unused}: {got:?}");
    }
    assert_eq!(verdict("six@var/task"), Verdict::Maybe);
    assert!(
        got["six@var/task"].1.contains("/var/task/app/handler.py:4"),
        "{got:?}"
    );
    assert_eq!(verdict("plug@var/task"), Verdict::Maybe);
    assert!(got["annotated-types@var/task"]
        .1
        .contains("/var/task/pydantic/main.py"));
    assert!(got["typing-extensions@var/task"]
        .1
        .starts_with("required by"));
}

#[test]
fn a_handler_whose_module_is_missing_reaches_nothing_and_says_so() {
    let mut files = dist(
        "var/task",
        "requests",
        "2.32.3",
        &[],
        &[("requests/__init__.py", "")],
        &[],
    );
    files.push(("var/task/app.py".into(), "import requests\n".into()));
    let tree = tree(files);
    let reached = reach(
        &tree,
        &runtime(),
        &[("cmd".into(), "missing.handler".into())],
    );
    assert_eq!(
        reached.handlers,
        [("missing.handler (cmd)".to_string(), false)]
    );
    assert_eq!(reached.dists[0].verdict, Verdict::Unused);
    let reached = reach(&tree, &runtime(), &[("cmd".into(), "app.handler".into())]);
    assert!(reached.handlers[0].1);
    assert_eq!(reached.dists[0].verdict, Verdict::Used);
}

#[test]
fn a_kept_scan_makes_the_same_tree_and_verdicts_as_reading_the_layer_again() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..20 {
        // Generated layers: modules importing each other, metadata, whiteouts of earlier ones.
        let mut layers = Vec::new();
        let mut made: Vec<String> = Vec::new();
        for l in 0..3 {
            let mut files: Vec<(String, String)> = Vec::new();
            for _ in 0..rng.usize(1..12) {
                let name = format!("m{}", rng.usize(0..15));
                let target = format!("m{}", rng.usize(0..15));
                let source = format!(
                    "import {target}\nfrom .{target} import x\ns = 'm{}'\n",
                    rng.usize(0..15)
                );
                files.push((format!("var/task/{name}.py"), source));
                made.push(format!("var/task/{name}.py"));
            }
            files.extend(dist(
                "var/task",
                &format!("d{l}"),
                "1.0",
                &["d0"],
                &[(&format!("m{l}.py"), "import m1\n")],
                &[],
            ));
            if l > 0 && rng.bool() {
                let gone = &made[rng.usize(0..made.len())];
                let (dir, name) = gone.rsplit_once('/').unwrap();
                files.push((format!("{dir}/.wh.{name}"), String::new()));
            }
            let refs: Vec<(&str, &str)> = files
                .iter()
                .map(|(p, s)| (p.as_str(), s.as_str()))
                .collect();
            layers.push(layer(&refs));
        }
        let (fresh, kept) = both_ways(&layers);
        assert_eq!(fresh.files, kept.files);
        assert_eq!(fresh.layers, kept.layers);
        let a = verdicts(&fresh, &runtime(), "m1.handler");
        let b = verdicts(&kept, &runtime(), "m1.handler");
        assert_eq!(a, b);
    }
}
