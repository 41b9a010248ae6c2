//! Tag templates: any text parses or is refused; what a parsed template renders is a valid
//! tag for any hash and any time imprint accepts (years 1970 to 9999).
#![no_main]

use imprint_context::{validate_tag, TagTemplate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, i64)| {
    let (text, time) = data;
    let time = time.rem_euclid(imprint_context::MAX_TAG_TIME + 1);
    if let Ok(template) = TagTemplate::parse(text) {
        let hash = "0123456789abcdef".repeat(4);
        let tag = template.render(&hash, time);
        assert!(validate_tag(&tag).is_ok(), "{text:?} rendered {tag:?}");
    }
});
