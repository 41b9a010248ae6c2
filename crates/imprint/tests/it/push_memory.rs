//! What a push remembers of the layers it sent to a registry: a layer another repository of
//! the registry holds is mounted, one a repository holds is not compressed again, and a
//! memory that turns out wrong is corrected; every image the same as a push that remembers
//! nothing makes.

use std::path::Path;

use crate::push::{large_layer, repository, scratch_project};
use crate::support::{docker, Project};

/// `push` of the project's image to `repository` (`-v`), with imprint's cache in `cache`
/// when given: the report and what it said.
fn push_to(p: &Project, repository: &str, cache: Option<&Path>) -> (serde_json::Value, String) {
    let mut cmd = p.command(&["-v", "push", "--repository", repository, "--json"]);
    if let Some(cache) = cache {
        cmd.env("XDG_CACHE_HOME", cache);
    }
    let run = crate::support::output(cmd.output().unwrap()).success();
    (run.json(), run.stderr)
}

#[test]
fn layers_sent_before_are_mounted_into_another_repository_and_not_compressed_again() {
    let id = std::process::id();
    let repo = |name: &str| repository(&format!("sent-{name}-{id}"));
    let (p, _) = scratch_project(&format!("sent-{id}"));
    large_layer(&p);
    p.file(
        "Dockerfile",
        "FROM scratch\nCOPY big.bin /data/\nCOPY main.py /app/\n",
    );
    p.run(&["build"]).success();
    let (first, _) = push_to(&p, &repo("a"), None);
    assert!(
        first["bytes_uploaded"].as_u64().unwrap() > 24 << 20,
        "{first}"
    );

    // Another repository of the registry: the large layer is mounted, no bytes go but the
    // small layer's and the config's.
    let (second, said) = push_to(&p, &repo("b"), None);
    assert_eq!(second["digest"], first["digest"], "{second}");
    assert!(
        second["bytes_uploaded"].as_u64().unwrap() < 64 << 10,
        "{second}"
    );
    assert!(
        said.contains(&format!("mounted from it/sent-a-{id}")),
        "{said}"
    );
    // Now that this registry mounts, a third repository's push does not even compress it.
    let (third, said) = push_to(&p, &repo("c"), None);
    assert_eq!(third["digest"], first["digest"], "{third}");
    assert!(said.contains("checked, not compressed again"), "{said}");
    assert!(said.contains("mounted from it/sent-b-"), "{said}");
    let pulled = docker(&[
        "pull",
        &format!("{}:{}", repo("c"), third["tag"].as_str().unwrap()),
    ]);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);

    // An edit: the unchanged large layer is checked, not compressed again, on its way back to
    // the first repository; the image is the one a push that remembers nothing makes.
    p.file("main.py", "print('edited')\n");
    p.run(&["build"]).success();
    let (edited, said) = push_to(&p, &repo("a"), None);
    assert_ne!(edited["digest"], first["digest"]);
    assert!(said.contains("checked, not compressed again"), "{said}");
    assert!(
        edited["bytes_uploaded"].as_u64().unwrap() < 64 << 10,
        "{edited}"
    );
    let cache = tempfile::tempdir().unwrap();
    let (plain, said) = push_to(&p, &repo("plain"), Some(cache.path()));
    assert!(!said.contains("not compressed again"), "{said}");
    assert_eq!(plain["digest"], edited["digest"], "{plain}");
    assert!(
        plain["bytes_uploaded"].as_u64().unwrap() > 24 << 20,
        "{plain}"
    );

    // A memory that no longer matches the export (every diff ID wrong): the push says so,
    // reads the export again compressing everything, and the image is still the right one.
    let dir = p.home().join(".cache/imprint/layers-sent");
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let zeros = format!("sha256:{}", "0".repeat(64));
        let wrong: String = text
            .lines()
            .map(|line| {
                let mut fields: Vec<&str> = line.split('\t').collect();
                if fields.len() == 6 {
                    fields[4] = &zeros;
                }
                fields.join("\t") + "\n"
            })
            .collect();
        std::fs::write(&path, wrong).unwrap();
    }
    let (again, said) = push_to(&p, &repo("d"), None);
    assert!(
        said.contains("is not the one this machine compressed before"),
        "{said}"
    );
    assert_eq!(again["digest"], edited["digest"], "{again}");
    let (_, said) = push_to(&p, &repo("e"), None);
    assert!(!said.contains("is not the one"), "{said}");
}
