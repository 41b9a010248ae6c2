//! Dependency steps: the one kind of `RUN` the native builder follows, an install of a
//! requirements file (`pip install -r FILE`, `uv pip install -r FILE`, or `uv export --frozen
//! … -o FILE && uv pip install -r FILE`), which imprint performs itself with uv on this
//! machine for the image's platform; and the requirements file's check (every package pinned
//! with its hashes, nothing editable or from a URL).

use std::collections::BTreeSet;

/// Who installs, as the Dockerfile says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installer {
    /// `pip install` (`pip3`, `python -m pip`): compiles bytecode unless told not to.
    Pip,
    /// `uv pip install`: compiles bytecode only when told to (`UV_COMPILE_BYTECODE`).
    Uv,
}

/// A dependency step, its words expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepStep {
    /// The installer.
    pub installer: Installer,
    /// `uv export`'s arguments (without `-o FILE`) when the step exports the lock first.
    pub export: Option<Vec<String>>,
    /// The requirements file, as the step names it (relative to the working folder).
    pub requirements: String,
    /// `--target DIR`, as the step names it.
    pub target: Option<String>,
    /// `--compile-bytecode`/`--compile` (true) or `--no-compile-bytecode`/`--no-compile`
    /// (false), when given.
    pub compile: Option<bool>,
}

/// Flags of an install that change nothing in the files it writes.
const HARMLESS: [&str; 9] = [
    "--no-cache-dir",
    "--no-cache",
    "--quiet",
    "-q",
    "--upgrade",
    "-U",
    "--no-installer-metadata",
    "--disable-pip-version-check",
    "--require-hashes",
];

/// `uv export` flags the native builder passes on as they are.
const EXPORT_FLAGS: [&str; 8] = [
    "--frozen",
    "--no-dev",
    "--no-emit-workspace",
    "--no-editable",
    "--no-header",
    "--quiet",
    "--all-extras",
    "--no-default-groups",
];

/// `uv export` flags that take a value.
const EXPORT_VALUES: [&str; 3] = ["--extra", "--group", "--only-group"];

/// Reads a `RUN`'s commands (each its words, split at `&&`) as a dependency step.
pub fn dependency_step(commands: &[Vec<String>]) -> Result<DepStep, String> {
    match commands {
        [install] => install_step(install, None),
        [export, install] => {
            let (export, output) = export_step(export)?;
            let step = install_step(install, Some(export))?;
            if step.requirements != output {
                return Err(format!(
                    "uv export writes {output}, but the install reads {}",
                    step.requirements
                ));
            }
            Ok(step)
        }
        _ => Err("the native builder runs one install of a requirements file (optionally after `uv export --frozen … -o FILE &&`), nothing else".into()),
    }
}

fn export_step(words: &[String]) -> Result<(Vec<String>, String), String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let ["uv", "export", rest @ ..] = words.as_slice() else {
        return Err(format!("`{}` is not `uv export`", words.join(" ")));
    };
    let (mut flags, mut output) = (Vec::new(), None);
    let mut rest = rest.iter();
    while let Some(&word) = rest.next() {
        let (flag, inline) = split_flag(word);
        match flag {
            "-o" | "--output-file" => output = Some(value(flag, inline, &mut rest)?),
            "--format" => {
                let format = value(flag, inline, &mut rest)?;
                if format != "requirements-txt" && format != "requirements.txt" {
                    return Err(format!(
                        "uv export --format {format}: the native builder reads requirements files"
                    ));
                }
            }
            f if EXPORT_FLAGS.contains(&f) => flags.push(f.to_string()),
            f if EXPORT_VALUES.contains(&f) => {
                let v = value(flag, inline, &mut rest)?;
                flags.extend([f.to_string(), v]);
            }
            other => {
                return Err(format!(
                    "uv export {other} is not supported by the native builder"
                ))
            }
        }
    }
    if !flags.iter().any(|f| f == "--frozen") {
        return Err("uv export without --frozen resolves the lock again: add --frozen".into());
    }
    let output = output.ok_or("uv export without -o FILE")?;
    Ok((flags, output))
}

fn install_step(words: &[String], export: Option<Vec<String>>) -> Result<DepStep, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (installer, rest) = match words.as_slice() {
        ["uv", "pip", "install", rest @ ..] => (Installer::Uv, rest),
        ["pip" | "pip3", "install", rest @ ..] => (Installer::Pip, rest),
        ["python" | "python3", "-m", "pip", "install", rest @ ..] => (Installer::Pip, rest),
        _ => {
            return Err(format!(
                "`{}`: the native builder runs no commands but an install of a requirements file",
                words.join(" ")
            ))
        }
    };
    let (mut requirements, mut target, mut compile) = (None, None, None);
    let mut rest = rest.iter();
    while let Some(&word) = rest.next() {
        let (flag, inline) = split_flag(word);
        match flag {
            "-r" | "--requirement" | "--requirements" => {
                if requirements.is_some() {
                    return Err("more than one requirements file".into());
                }
                requirements = Some(value(flag, inline, &mut rest)?);
            }
            "-t" | "--target" => target = Some(value(flag, inline, &mut rest)?),
            "--compile-bytecode" | "--compile" => compile = Some(true),
            "--no-compile-bytecode" | "--no-compile" => compile = Some(false),
            // uv: install into the interpreter's environment, where pip would.
            "--system" if installer == Installer::Uv => {}
            "--only-binary" if inline.or(rest.clone().next().copied()) == Some(":all:") => {
                let _ = value(flag, inline, &mut rest)?;
            }
            f if HARMLESS.contains(&f) => {}
            other if other.starts_with('-') => {
                return Err(format!("install {other} is not supported by the native builder"))
            }
            package => {
                return Err(format!(
                    "install {package}: the native builder installs a requirements file (-r FILE) alone"
                ))
            }
        }
    }
    Ok(DepStep {
        installer,
        export,
        requirements: requirements.ok_or("an install without -r FILE")?,
        target,
        compile,
    })
}

/// `--flag=value` as the flag and its value; anything else as it is.
fn split_flag(word: &str) -> (&str, Option<&str>) {
    match word.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (word, None),
    }
}

fn value<'a>(
    flag: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = &'a &'a str>,
) -> Result<String, String> {
    match inline {
        Some(v) => Ok(v.to_string()),
        None => rest
            .next()
            .map(|v| v.to_string())
            .ok_or_else(|| format!("{flag} needs a value")),
    }
}

/// Splits a `RUN`'s words into its commands at `&&`; any other shell operator is refused.
pub fn commands(words: Vec<String>) -> Result<Vec<Vec<String>>, String> {
    let mut out = vec![Vec::new()];
    for word in words {
        match word.as_str() {
            "&&" => out.push(Vec::new()),
            "||" | ";" | "|" | "&" | ">" | ">>" | "<" => {
                return Err(format!(
                    "`{word}`: the native builder runs no shell, only an install of a requirements file"
                ))
            }
            _ => match out.last_mut() {
                Some(last) => last.push(word),
                None => unreachable!("out starts with one command"),
            },
        }
    }
    Ok(out)
}

/// What is wrong with a requirements file for a native build, or the packages it pins.
pub fn check_requirements(text: &str) -> Result<BTreeSet<String>, String> {
    let mut pinned = BTreeSet::new();
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    for (index, line) in joined.lines().enumerate() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = index + 1;
        if line.starts_with('-') {
            let option = line.split_whitespace().next().unwrap_or_default();
            return Err(format!(
                "line {at}: {option}: the native builder takes pinned packages with their hashes only"
            ));
        }
        let spec = line.split(';').next().unwrap_or_default();
        let spec = spec.split(" --hash").next().unwrap_or_default().trim();
        let Some((name, version)) = spec.split_once("==") else {
            let name = spec
                .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.[]".contains(c)))
                .next()
                .unwrap_or(spec);
            return Err(format!(
                "line {at}: {name} is not pinned (name==version): `uv export --frozen` or `pip-compile --generate-hashes` write such files"
            ));
        };
        if name.contains(['@', '/', ':']) || version.contains(['*', ',', ' ']) {
            return Err(format!(
                "line {at}: `{spec}` is not one pinned version of a package"
            ));
        }
        if !line.contains("--hash=") {
            return Err(format!(
                "line {at}: {} has no --hash: the native builder installs only what the requirements file pins with hashes",
                name.trim()
            ));
        }
        pinned.insert(name.trim().to_ascii_lowercase());
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        commands(text.split_whitespace().map(str::to_string).collect()).unwrap()
    }

    #[test]
    fn the_documents_export_and_install_is_one_step() {
        let step = dependency_step(&words(
            "uv export --frozen --no-emit-workspace --no-dev --no-editable -o requirements.txt && uv pip install -r requirements.txt --target /var/task",
        ))
        .unwrap();
        assert_eq!(step.installer, Installer::Uv);
        assert_eq!(step.requirements, "requirements.txt");
        assert_eq!(step.target.as_deref(), Some("/var/task"));
        assert_eq!(
            step.export.unwrap(),
            [
                "--frozen",
                "--no-emit-workspace",
                "--no-dev",
                "--no-editable"
            ]
        );
        let step =
            dependency_step(&words("pip install --no-cache-dir -r requirements.txt")).unwrap();
        assert_eq!(
            (step.installer, step.target, step.compile),
            (Installer::Pip, None, None)
        );
        let step = dependency_step(&words(
            "python3 -m pip install --requirement=r.txt -t /opt/x --no-compile",
        ))
        .unwrap();
        assert_eq!(
            (step.target.as_deref(), step.compile),
            (Some("/opt/x"), Some(false))
        );
    }

    #[test]
    fn other_commands_and_flags_are_refused() {
        for text in [
            "pip install requests",
            "apt-get update",
            "pip install -r a.txt && pip install -r b.txt",
            "uv export -o r.txt && uv pip install -r r.txt",
            "uv export --frozen -o r.txt && uv pip install -r other.txt",
            "uv pip install -r r.txt --index-url http://x",
            "pip install -e .",
        ] {
            assert!(dependency_step(&words(text)).is_err(), "{text}");
        }
        assert!(commands(vec!["a".into(), ";".into(), "b".into()]).is_err());
    }

    #[test]
    fn requirements_must_be_pinned_with_hashes() {
        let good = "# via uv export\nanyio==4.4.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\nidna==3.7 ; python_version >= '3.8' --hash=sha256:cc\n";
        assert_eq!(
            check_requirements(good)
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["anyio", "idna"]
        );
        for (text, what) in [
            ("requests>=2\n", "requests is not pinned"),
            ("requests\n", "requests is not pinned"),
            ("requests==2.32.0\n", "has no --hash"),
            ("-e ./lib\n", "-e"),
            ("--index-url http://x\n", "--index-url"),
            ("pkg @ https://x/pkg.whl --hash=sha256:aa\n", "not pinned"),
        ] {
            let err = check_requirements(text).unwrap_err();
            assert!(err.contains(what), "{text}: {err}");
        }
    }
}
