//! imprint.toml: any text parses or is refused with a ConfigError; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imprint::fuzz::config(data));
