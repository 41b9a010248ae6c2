//! Inputs the fuzz targets (fuzz/) once stopped on, kept as tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use imprint_context::{dockerfile, validate_tag, TagTemplate, MAX_TAG_TIME};

fn input(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fuzz-regressions/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn pinning_nothing_gives_the_text_back() {
    let bytes = input("dockerfile-pinning");
    let text = std::str::from_utf8(&bytes).unwrap();
    let parsed = dockerfile::parse(text, &BTreeMap::new());
    assert_eq!(parsed.pinned(text, &BTreeMap::new()), text);
    let _ = imprint_context::check_dockerfile(text, &BTreeMap::new());
}

#[test]
fn a_long_template_renders_a_valid_tag_up_to_the_last_time_a_tag_can_carry() {
    // The fuzzer's input: a template near the 128-byte limit, rendered in year 22833955 (a
    // time imprint now refuses: SOURCE_DATE_EPOCH must be within years 1970 to 9999).
    let bytes = input("tag-template-far-future");
    let text = String::from_utf8_lossy(&bytes);
    let template_text = text.split('\0').next().unwrap_or_default();
    let template = "ooguogoog.{hash}cuuuugGuogouuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuUuuuuuuuuuuuuuuuuuuuuuuuuuuuoog.{timestamp}";
    assert!(template_text.starts_with("ooguogoog.{hash}"));
    let parsed = TagTemplate::parse(template).unwrap();
    let hash = "0123456789abcdef".repeat(4);
    for time in [0, 1_795_914_123, MAX_TAG_TIME] {
        let tag = parsed
            .render(&hash, time, &imprint_context::TagMetadata::default())
            .unwrap();
        assert!(validate_tag(&tag).is_ok(), "{time}: {tag}");
    }
}
