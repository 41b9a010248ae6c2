//! The ignore-file readers and matchers: any bytes parse or are refused, never panic; every
//! accepted rule set answers for any path, and its fast matcher agrees with the plain one.
#![no_main]

use imprint_context::ignore::{Engine, IgnoreRules, Matched};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is a path to match; the rest is the ignore file.
    let (path, file) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    for engine in [Engine::GoArchive, Engine::Fsutil, Engine::Copier] {
        let Ok(rules) = IgnoreRules::parse(std::path::Path::new(".dockerignore"), file, engine)
        else {
            continue;
        };
        let _ = rules.excluded_by(path);
        let _ = rules.descends_into(path);
        let parent = Matched::default();
        let (fast, plain) = (rules.verdict(path, &parent), rules.verdict_plain(path, &parent));
        assert_eq!(fast.by, plain.by);
        assert_eq!(fast.matched, plain.matched);
        for pattern in rules.patterns() {
            let _ = pattern.display();
        }
    }
});
