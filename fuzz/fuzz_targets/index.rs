//! Image indexes and artifact manifests as `imprint lock` and the index lookup read them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imprint::fuzz::index(data));
