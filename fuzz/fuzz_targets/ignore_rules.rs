//! The ignore-file reader and matcher: any bytes parse or are refused, never panic; every
//! accepted rule set answers for any path.
#![no_main]

use imprint_context::IgnoreRules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is a path to match; the rest is the ignore file.
    let (path, file) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    if let Ok(rules) = IgnoreRules::parse(std::path::Path::new(".dockerignore"), file) {
        let _ = rules.excluded_by(path);
        let _ = rules.may_reinclude_under(path);
        for pattern in rules.patterns() {
            let _ = pattern.display();
        }
    }
});
