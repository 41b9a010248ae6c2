//! Tag templates: any text parses or is refused; what a parsed template renders is a valid
//! tag for any hash, any time imprint accepts (years 1970 to 9999) and any branch, version and
//! commit text.
#![no_main]

use imprint_context::{validate_tag, TagMetadata, TagTemplate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, i64, &str, &str)| {
    let (text, time, branch, version) = data;
    let time = time.rem_euclid(imprint_context::MAX_TAG_TIME + 1);
    if let Ok(template) = TagTemplate::parse(text) {
        let hash = "0123456789abcdef".repeat(4);
        let metadata = TagMetadata {
            commit: Some(version.chars().rev().collect()),
            branch: Some(branch.to_string()),
            version: Some(version.to_string()),
        };
        let tag = template
            .render(&hash, time, &metadata)
            .expect("every value is given");
        assert!(validate_tag(&tag).is_ok(), "{text:?} rendered {tag:?}");
    }
});
