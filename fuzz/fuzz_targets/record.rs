//! Journal records: anything read writes back the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imprint::fuzz::record(data));
