//! `imprint inspect`'s readers: a Python source's imports, a layer's tar, the verdicts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imprint::fuzz::inspect(data));
