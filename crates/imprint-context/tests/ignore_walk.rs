//! The walk's fast paths (the literal-tail pre-test, what each folder hands its entries, the
//! parallel walk) against the plain reference walk, on generated contexts for every builder.
//! The engines themselves are compared in imprint's `docker_diff` test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use imprint_context::ignore::IgnoreRules;
use imprint_context::{hash_context, BuilderKind, ContextError, InputKind, Quiet};

mod support;

use support::cases::{self, Kind, LEFT_OUT};

const BUILDERS: [BuilderKind; 4] = [
    BuilderKind::DockerLegacy,
    BuilderKind::Buildkit,
    BuilderKind::Podman,
    BuilderKind::Buildah,
];

#[test]
fn the_fast_walk_sends_what_the_plain_one_does() {
    let seed = cases::seed();
    let count = cases::count(400);
    let (mut compared, mut sent_empty) = (0, 0);
    for index in 0..count {
        let case = cases::generate(seed, index);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        case.write(root);
        let params = |builder| support::params(root, builder);
        for builder in BUILDERS {
            let fast = hash_context(root, &params(builder), &Quiet);
            let ignore = builder.ignore_file(root, &root.join("Dockerfile"));
            let rules = ignore.and_then(|found| match found {
                Some(path) => {
                    IgnoreRules::parse(&path, &std::fs::read(&path).unwrap(), builder.engine())
                }
                None => Ok(IgnoreRules::none(builder.engine())),
            });
            let (fast, rules) = match (fast, rules) {
                (Ok(fast), Ok(rules)) => (fast, rules),
                (Err(ContextError::SentEmpty { path, .. }), Ok(rules)) => {
                    let plain = cases::reference(root, &rules);
                    let empty = cases::sent_empty(root, &rules, &plain);
                    assert_eq!(
                        empty.map(|p| imprint_context::escape_bytes(&p)),
                        Some(path),
                        "{builder}: the fast walk and the plain check differ on what BuildKit sends empty\n{case:?}"
                    );
                    (compared, sent_empty) = (compared + 1, sent_empty + 1);
                    continue;
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{case:?}");
                    continue;
                }
                (fast, rules) => panic!(
                    "{builder}: the walk says {:?}, the rules {:?}\n{case:?}",
                    fast.err(),
                    rules.err()
                ),
            };
            let fast: BTreeMap<Vec<u8>, Kind> = fast
                .inputs
                .iter()
                .map(|i| {
                    let kind = match i.kind {
                        InputKind::Dir => Kind::Dir,
                        InputKind::File => Kind::File,
                        InputKind::Symlink => Kind::Symlink,
                    };
                    (i.path.clone(), kind)
                })
                .collect();
            let plain = cases::reference(root, &rules);
            assert_eq!(
                cases::sent_empty(root, &rules, &plain),
                None,
                "{builder}: the plain check finds a file BuildKit sends empty, the fast walk none\n{case:?}"
            );
            let without = |set: BTreeMap<Vec<u8>, Kind>| -> BTreeMap<Vec<u8>, Kind> {
                set.into_iter()
                    .filter(|(p, _)| !LEFT_OUT.iter().any(|l| l.as_bytes() == p.as_slice()))
                    .collect()
            };
            assert_eq!(
                without(fast),
                without(plain),
                "{builder}: fast and plain walks differ\n{case:?}"
            );
            compared += 1;
        }
    }
    eprintln!("seed {seed}: {count} generated contexts, {compared} walks compared, {sent_empty} of them refused as sent empty by BuildKit");
    assert!(compared > count * 3, "too few cases compared: {compared}");
}

#[test]
fn every_feature_of_the_language_is_generated() {
    let seed = cases::seed();
    for (index, feature) in cases::FEATURES.iter().enumerate() {
        let case = cases::generate(seed, index);
        assert_eq!(case.feature, *feature);
        assert!(!case.ignore.trim().is_empty(), "{case:?}");
    }
}
