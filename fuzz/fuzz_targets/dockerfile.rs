//! The Dockerfile reader, its check and its pinning: any text, never a panic; pinning with no
//! digests gives the text back unchanged.
#![no_main]

use std::collections::BTreeMap;

use imprint_context::dockerfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args = BTreeMap::from([("BASE".to_string(), "python:3.12".to_string())]);
    let _ = imprint_context::check_dockerfile(text, &args);
    let parsed = dockerfile::parse(text, &args);
    let digests: BTreeMap<String, String> = parsed
        .references()
        .into_iter()
        .map(|r| (r.to_string(), format!("sha256:{}", "0".repeat(64))))
        .collect();
    let _ = parsed.pinned(text, &digests);
    assert_eq!(parsed.pinned(text, &BTreeMap::new()), text);
});
