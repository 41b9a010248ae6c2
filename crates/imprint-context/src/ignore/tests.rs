//! The ignore rules of each engine, case by case.

use super::read::clean;
use super::*;

fn parsed(text: &str, engine: Engine) -> IgnoreRules {
    IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes(), engine).unwrap()
}

fn rules(text: &str) -> IgnoreRules {
    parsed(text, Engine::GoArchive)
}

fn excluded(rules: &IgnoreRules, path: &str) -> bool {
    rules.excluded_by(path.as_bytes()).is_some()
}

const ALL: [Engine; 3] = [Engine::GoArchive, Engine::Fsutil, Engine::Copier];

#[test]
fn clean_matches_go() {
    assert_eq!(clean("a//b/./c/"), "a/b/c");
    assert_eq!(clean("/a/../b"), "/b");
    assert_eq!(clean("../a"), "../a");
    assert_eq!(clean("a/.."), ".");
    assert_eq!(clean("/.."), "/");
}

#[test]
fn star_does_not_cross_folders_but_double_star_does() {
    for engine in ALL {
        let r = parsed("*.md\n", engine);
        assert!(excluded(&r, "README.md"));
        assert!(!excluded(&r, "docs/README.md"));
        let r = parsed("**/*.md\n", engine);
        assert!(excluded(&r, "README.md"));
        assert!(excluded(&r, "docs/a/README.md"));
        let r = parsed("docs/**\n", engine);
        assert!(excluded(&r, "docs/a/b"));
        assert!(!excluded(&r, "doc"));
    }
}

#[test]
fn double_star_slash_name_matches_at_the_top_too() {
    for engine in ALL {
        for line in ["**/node_modules", "**/**/node_modules", "/**/node_modules"] {
            let r = parsed(&format!("{line}\n"), engine);
            assert!(excluded(&r, "node_modules"), "{line} {engine:?}");
            assert!(excluded(&r, "node_modules/m/i.js"), "{line} {engine:?}");
            assert!(excluded(&r, "a/b/node_modules"), "{line} {engine:?}");
            assert!(!excluded(&r, "xnode_modules"), "{line} {engine:?}");
        }
    }
}

#[test]
fn a_leading_double_star_is_a_suffix_for_moby_and_a_folder_span_for_podman() {
    // moby's suffix match: `**.pyc` is every name ending in .pyc, at any depth.
    let r = rules("**.pyc\n");
    assert!(excluded(&r, "top.pyc"));
    assert!(excluded(&r, "a/b/x.pyc"));
    // containers/storage's expression `^(.*/)?\.pyc(/.*)?$`: only names that are `.pyc`.
    let r = parsed("**.pyc\n", Engine::Copier);
    assert!(!excluded(&r, "top.pyc"));
    assert!(excluded(&r, "a/.pyc"));
}

#[test]
fn moby_inherits_only_what_a_folder_was_asked() {
    // `!d` was not asked of `d` (nothing was excluded yet), so `d/f` does not inherit it.
    let r = rules("d/f\n!d\n");
    assert!(excluded(&r, "d/f"));
    assert!(!excluded(&r, "d"));
    // containers/storage asks every pattern of every path: `!d` re-includes `d/f`.
    let r = parsed("d/f\n!d\n", Engine::Copier);
    assert!(!excluded(&r, "d/f"));
}

#[test]
fn buildkit_asks_again_when_it_opens_a_file_and_can_exclude_what_the_walk_sent() {
    let r = parsed("?\n!b/a/\\[x\\]\nb/**/a\n", Engine::Fsutil);
    assert!(r.checks_opened_files());
    // The walk: `b/**/a` is not asked of `b/a` (already excluded by `?`), so `b/a/[x]` stays.
    assert!(!excluded(&r, "b/a/[x]"));
    // Opening it: `b/**/a` matches the folder `b/a`.
    let mut above = Matched::default();
    for dir in ["b", "b/a"] {
        above = r.ancestry(dir.as_bytes(), &above);
    }
    assert_eq!(r.opened_by(b"b/a/[x]", &above), Some(2));
    assert_eq!(r.opened_by_plain(b"b/a/[x]"), Some(2));
    // With the `!` last, both checks send it.
    let r = parsed("?\nb/**/a\n!b/a/\\[x\\]\n", Engine::Fsutil);
    assert!(!excluded(&r, "b/a/[x]"));
    assert_eq!(r.opened_by_plain(b"b/a/[x]"), None);
    // Only BuildKit checks again, and only with a `!` pattern.
    assert!(!parsed("?\n!b/a/\\[x\\]\nb/**/a\n", Engine::GoArchive).checks_opened_files());
    assert!(!parsed("?\nb/**/a\n", Engine::Fsutil).checks_opened_files());
}

#[test]
fn parent_match_excludes_children() {
    for engine in ALL {
        let r = parsed("build\n", engine);
        assert!(excluded(&r, "build"));
        assert!(excluded(&r, "build/x/y.txt"));
        assert!(!excluded(&r, "src/build"));
    }
}

#[test]
fn last_match_wins_and_negation_reincludes() {
    for engine in ALL {
        let r = parsed("*.txt\n!keep.txt\n", engine);
        assert!(excluded(&r, "a.txt"));
        assert!(!excluded(&r, "keep.txt"));
        let r = parsed("!keep.txt\n*.txt\n", engine);
        assert!(excluded(&r, "keep.txt"));
    }
}

#[test]
fn a_reinclude_under_an_excluded_folder_counts_only_where_the_walk_goes() {
    let text = "build\nother\n!build/keep.txt\n!**/x.py\n";
    for engine in ALL {
        let r = parsed(text, engine);
        assert!(!excluded(&r, "build/keep.txt"), "{engine:?}");
        assert!(excluded(&r, "build/out.bin"), "{engine:?}");
        // Walked into for keep.txt, `build` has each entry decided.
        assert!(!excluded(&r, "build/x.py"), "{engine:?}");
    }
    // Only fsutil walks into `other` for a wildcard `!` pattern.
    assert!(!excluded(&parsed(text, Engine::Fsutil), "other/x.py"));
    assert!(excluded(&parsed(text, Engine::GoArchive), "other/x.py"));
    assert!(excluded(&parsed(text, Engine::Copier), "other/x.py"));
}

#[test]
fn each_engine_walks_into_excluded_folders_by_its_own_rule() {
    let r = |text: &str, engine| parsed(text, engine);
    for engine in ALL {
        assert!(!r("foo\n", engine).descends_into(b"foo"));
        assert!(r("foo\n!foo/bar\n", engine).descends_into(b"foo"));
        assert!(!r("foo\n!foo/bar\n", engine).descends_into(b"other"));
    }
    // copier compares without a slash after the folder: `fo` is a prefix of `foo/bar/`.
    assert!(r("fo\n!foo/bar\n", Engine::Copier).descends_into(b"fo"));
    assert!(!r("fo\n!foo/bar\n", Engine::GoArchive).descends_into(b"fo"));
    // fsutil cuts a trailing `/*` first, and any wildcard `!` walks every folder.
    assert!(r("a\n!a/*\n", Engine::Fsutil).descends_into(b"a"));
    assert!(r("a\n!**/keep.md\n", Engine::Fsutil).descends_into(b"zzz"));
    assert!(!r("a\n!**/keep.md\n", Engine::GoArchive).descends_into(b"zzz"));
}

#[test]
fn comments_only_at_line_start_and_leading_slash_dropped() {
    for engine in ALL {
        let r = parsed("# comment\n/a\n  #b\n", engine);
        assert!(excluded(&r, "a"), "{engine:?}");
        assert!(excluded(&r, "#b"), "{engine:?}");
        assert!(!excluded(&r, "# comment"), "{engine:?}");
    }
}

#[test]
fn a_slash_before_a_bang_is_a_reinclude() {
    // moby's reader drops the `/` after it has looked for `!`; its matcher then takes the
    // `!`; imagebuilder trims the `/` first. Either way `/!b` re-includes `b`.
    for engine in ALL {
        let r = parsed("*\n/!b\n", engine);
        assert!(!excluded(&r, "b"), "{engine:?}");
        assert!(excluded(&r, "!b"), "{engine:?}");
        assert!(r.patterns()[1].exclusion, "{engine:?}");
    }
}

#[test]
fn the_readers_differ_in_spaces_slashes_and_the_bom() {
    // moby trims after `!` and drops one leading `/` after trimming; imagebuilder trims `/`
    // before the spaces, so ` /a` stays rooted and never matches.
    let moby = rules("\u{feff}x\n /a\n! b\nb\n!b\n");
    let podman = parsed("\u{feff}x\n /a\n! b\nb\n!b\n", Engine::Copier);
    assert!(excluded(&moby, "x") && !excluded(&podman, "x"));
    assert!(excluded(&moby, "a") && !excluded(&podman, "a"));
    assert_eq!(podman.patterns()[2].text, " b");
    assert_eq!(moby.patterns()[2].text, "b");
}

#[test]
fn question_mark_and_classes() {
    for engine in ALL {
        let r = parsed("file?.py\n[ab]x\n[^c]y\n", engine);
        assert!(excluded(&r, "file1.py"));
        assert!(!excluded(&r, "file/.py"));
        assert!(excluded(&r, "bx"));
        assert!(!excluded(&r, "cx"));
        assert!(excluded(&r, "dy"));
        assert!(!excluded(&r, "cy"));
    }
    // One `?` is one character, however many bytes it takes.
    let r = rules("??\n");
    assert!(!excluded(&r, "é"));
    assert!(excluded(&r, "éé"));
}

#[test]
fn regular_expression_characters_are_literal_for_moby_and_not_for_podman() {
    let moby = rules("a+b\n(x)*\n");
    assert!(excluded(&moby, "a+b"));
    assert!(excluded(&moby, "(x)y"));
    let podman = parsed("a+b\n", Engine::Copier);
    assert!(!excluded(&podman, "a+b"));
    assert!(excluded(&podman, "aab"));
    assert!(excluded(&parsed("c\\+\\+\n", Engine::Copier), "c++"));
    for bad in ["c++", "a{2}", "(x"] {
        let text = format!("{bad}\n");
        assert!(
            IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes(), Engine::Copier)
                .is_err(),
            "{bad}"
        );
        assert!(IgnoreRules::parse(
            Path::new(".dockerignore"),
            text.as_bytes(),
            Engine::GoArchive
        )
        .is_ok());
    }
    // moby's exact match compares text: `a^b` is the name; in a regular expression `^` is
    // the start, so `*^b` matches `b` alone.
    assert!(excluded(&rules("a^b\n"), "a^b"));
    assert!(excluded(&rules("*^b\n"), "b"));
    assert!(!excluded(&rules("*^b\n"), "a^b"));
}

#[test]
fn malformed_patterns_name_their_line() {
    for engine in ALL {
        for bad in [
            "[abc", "foo\\", "[]", "!", "[z-a]", "\\d", "[*]", "[\\]]", "!/",
        ] {
            let text = format!("ok\n{bad}\n");
            match IgnoreRules::parse(Path::new(".dockerignore"), text.as_bytes(), engine) {
                Err(ContextError::BadPattern { line, .. }) => {
                    assert_eq!(line, 2, "{bad} {engine:?}")
                }
                other => panic!("{bad} {engine:?}: expected a bad pattern, got {other:?}"),
            }
        }
    }
}

#[test]
fn escapes_of_punctuation_are_the_character() {
    for engine in ALL {
        let r = parsed("\\[x\\].txt\nst\\*r\n", engine);
        assert!(excluded(&r, "[x].txt"), "{engine:?}");
        assert!(excluded(&r, "st*r"), "{engine:?}");
        assert!(!excluded(&r, "stXr"), "{engine:?}");
    }
}

#[test]
fn non_utf8_names_match_by_bytes() {
    for engine in ALL {
        let r = parsed("*.bin\n", engine);
        assert!(r.excluded_by(b"\xff\xfe.bin").is_some());
        let r = parsed("?.x\n", engine);
        assert!(r.excluded_by(b"\xff.x").is_some());
        assert!(r.excluded_by("é.x".as_bytes()).is_some());
        assert!(r.excluded_by(b"\xff\xfe.x").is_none());
    }
}

#[test]
fn the_pre_test_never_changes_a_verdict() {
    let r = rules("**/*.pyc\n*.md\n!keep.md\n**/x/\\[y\\]\na*b?c\n^z\n");
    let paths = [
        "a.pyc", "d/e.pyc", "x.md", "keep.md", "q/x/[y]", "x/[y]", "aXbYc", "z", "d/z",
    ];
    for path in paths {
        let mut all = Matched::default();
        (0..6).for_each(|i| all.set(i));
        for parent in [Matched::default(), all] {
            let (fast, plain) = (
                r.verdict(path.as_bytes(), &parent),
                r.verdict_plain(path.as_bytes(), &parent),
            );
            assert_eq!(fast.by, plain.by, "{path}");
            assert_eq!(fast.matched, plain.matched, "{path}");
        }
    }
}

#[test]
fn match_bits_past_the_first_word_are_kept() {
    let mut m = Matched::default();
    for i in [0, 63, 64, 200] {
        assert!(!m.get(i));
        m.set(i);
        assert!(m.get(i), "{i}");
    }
    assert!(!m.get(1) && !m.get(65) && !m.get(199) && !m.get(1000));
}

#[test]
fn a_huge_bad_line_is_quoted_short() {
    let text = format!("[{}\n", "a".repeat(1_000_000));
    let err = IgnoreRules::parse(
        Path::new(".dockerignore"),
        text.as_bytes(),
        Engine::GoArchive,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.len() < 600, "{} bytes", message.len());
    assert!(message.contains("(1000001 bytes)"), "{message}");
}
