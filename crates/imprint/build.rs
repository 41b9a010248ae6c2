//! Build facts for `imprint --version`: the commit and its date, and the target.
//!
//! The commit comes from the package's `.cargo_vcs_info.json` when built from a published
//! package (it names the commit, not its date), else from git when built in a checkout;
//! neither (a source archive): the version line names the target alone.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let (commit, date) = packaged_commit(&dir)
        .map(|commit| (commit, String::new()))
        .or_else(|| checkout_commit(&dir))
        .unwrap_or_default();
    let short = &commit[..commit.len().min(7)];
    let detail = match (short, date.as_str()) {
        ("", _) => target.clone(),
        (short, "") => format!("{short}, {target}"),
        (short, date) => format!("{short} {date}, {target}"),
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=BUILT_TARGET={target}");
    println!("cargo:rustc-env=BUILT_COMMIT={commit}");
    println!("cargo:rustc-env=BUILT_COMMIT_DATE={date}");
    println!("cargo:rustc-env=BUILT_LONG_VERSION={version} ({detail})");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The commit `cargo package` recorded.
fn packaged_commit(dir: &Path) -> Option<String> {
    // Only a packaged crate has it (from the start): a path that is missing would make every
    // build run this again.
    let info = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&info).ok()?;
    println!("cargo:rerun-if-changed={}", info.display());
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    let sha = &rest[start..start + len];
    sha.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| sha.to_owned())
}

/// The checkout's commit and its date; the build runs again when HEAD moves.
fn checkout_commit(dir: &Path) -> Option<(String, String)> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_owned())
    };
    let git_dir = PathBuf::from(git(&["rev-parse", "--absolute-git-dir"])?);
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Some(reference) = std::fs::read_to_string(&head)
        .ok()
        .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_owned()))
    {
        // The branch's ref is a loose file or a line of packed-refs (whichever exists: a
        // missing path would make every build run this again).
        for path in [git_dir.join(reference), git_dir.join("packed-refs")] {
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let line = git(&["log", "-1", "--format=%H %cs"])?;
    let (commit, date) = line.split_once(' ')?;
    Some((commit.to_owned(), date.to_owned()))
}
