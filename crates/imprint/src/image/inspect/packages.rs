//! Installed Python distributions as their metadata folders say (`*.dist-info`, and the
//! `*.egg-info` of system packages): name, version, declared requirements, the files each
//! owns, the entry-point groups it plugs into.

use std::collections::BTreeMap;

/// A distribution installed in a folder of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    /// Its name as its metadata spells it.
    pub name: String,
    /// Its normalized name (PEP 503: lower case, runs of `-_.` as one `-`).
    pub key: String,
    /// Its version.
    pub version: String,
    /// The folder it is installed in (the metadata folder's parent), no leading `/`.
    pub site: String,
    /// Its metadata folder.
    pub meta: String,
    /// The normalized names it requires (requirements of an extra are left out).
    pub requires: Vec<String>,
    /// The files it says it owns, as paths in the image; `None` when it lists none (then its
    /// top-level names stand for them).
    pub files: Option<Vec<String>>,
    /// The top-level names it installs (`top_level.txt`), when it says.
    pub top_level: Vec<String>,
    /// Entry-point groups other than scripts: a loader may import it by them.
    pub plugin_groups: Vec<String>,
}

/// PEP 503's normalized name.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
            continue;
        }
        if dash && !out.is_empty() {
            out.push('-');
        }
        dash = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The normalized name a requirement (`name[extra] (>=1)`, PEP 508) begins with; `None` when
/// it begins with none.
pub fn requirement_name(requirement: &str) -> Option<String> {
    let requirement = requirement.trim();
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    (end > 0).then(|| normalize(&requirement[..end]))
}

/// The metadata folder a path is in (`…/x.dist-info`, `…/x.egg-info`) and the file's name.
pub fn metadata_file(path: &str) -> Option<(&str, &str)> {
    let (dir, file) = path.rsplit_once('/')?;
    let is_meta = dir.ends_with(".dist-info") || dir.ends_with(".egg-info");
    let wanted = matches!(
        file,
        "METADATA" | "PKG-INFO" | "RECORD" | "installed-files.txt" | "top_level.txt"
    ) || file == "entry_points.txt";
    (is_meta && wanted).then_some((dir, file))
}

/// The distribution of one metadata folder `meta` from its files' texts (file name → bytes).
pub fn distribution(meta: &str, texts: &BTreeMap<&str, &str>) -> Option<Distribution> {
    let metadata = texts.get("METADATA").or_else(|| texts.get("PKG-INFO"))?;
    let (mut name, mut version, mut requires) = (None, String::new(), Vec::new());
    for line in metadata.lines() {
        if line.is_empty() {
            break; // the body (the description) follows the headers
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("Requires-Dist:") {
            let (requirement, marker) = v.split_once(';').unwrap_or((v, ""));
            if marker.contains("extra") {
                continue;
            }
            requires.extend(requirement_name(requirement));
        }
    }
    let name = name?;
    let site = meta
        .rsplit_once('/')
        .map_or("", |(site, _)| site)
        .to_string();
    let files = texts
        .get("RECORD")
        .map(|record| record_files(&site, record))
        .or_else(|| {
            texts
                .get("installed-files.txt")
                .map(|listed| record_files(meta, listed))
        });
    let lines = |file: &str| -> Vec<String> {
        texts
            .get(file)
            .copied()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let plugin_groups = lines("entry_points.txt")
        .into_iter()
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']').map(str::to_string))
        .filter(|g| g != "console_scripts" && g != "gui_scripts")
        .collect();
    Some(Distribution {
        key: normalize(&name),
        name,
        version,
        meta: meta.to_string(),
        site,
        requires,
        files,
        top_level: lines("top_level.txt"),
        plugin_groups,
    })
}

/// The paths of a `RECORD` (CSV: path, hash, size) or an `installed-files.txt` (a path a
/// line), each relative to `base`, as paths in the image.
fn record_files(base: &str, text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let path = match line.strip_prefix('"') {
                Some(quoted) => quoted.split_once('"')?.0,
                None => line.split(',').next()?,
            };
            (!path.is_empty()).then(|| join(base, path))
        })
        .collect()
}

/// `base/relative` with `.` and `..` resolved, no leading `/`.
pub fn join(base: &str, relative: &str) -> String {
    let mut parts: Vec<&str> = if relative.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_as_pep_503_says() {
        assert_eq!(normalize("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a__-.b"), "a-b");
    }

    #[test]
    fn metadata_record_and_entry_points_are_read() {
        let metadata = "Metadata-Version: 2.1\nName: Requests\nVersion: 2.32.3\nRequires-Dist: charset_normalizer<4,>=2\nRequires-Dist: idna (<4,>=2.5)\nRequires-Dist: PySocks!=1.5.7,>=1.5.6; extra == \"socks\"\nRequires-Dist: urllib3[brotli]>=1.21 ; python_version >= \"3\"\n\nRequires-Dist: not-a-header\n";
        let record = "requests/__init__.py,sha256=x,494\n\"requests/a,b.py\",,\nrequests-2.32.3.dist-info/RECORD,,\n../../bin/tool,sha256=y,10\n";
        let entry_points =
            "[console_scripts]\ntool = requests:main\n\n[pytest11]\nplug = requests.plug\n";
        let texts: BTreeMap<&str, &str> = [
            ("METADATA", metadata),
            ("RECORD", record),
            ("entry_points.txt", entry_points),
        ]
        .into();
        let d = distribution("var/task/requests-2.32.3.dist-info", &texts).unwrap();
        assert_eq!((d.name.as_str(), d.key.as_str()), ("Requests", "requests"));
        assert_eq!(d.version, "2.32.3");
        assert_eq!(d.site, "var/task");
        assert_eq!(d.requires, ["charset-normalizer", "idna", "urllib3"]);
        assert_eq!(
            d.files.unwrap(),
            [
                "var/task/requests/__init__.py",
                "var/task/requests/a,b.py",
                "var/task/requests-2.32.3.dist-info/RECORD",
                "bin/tool"
            ]
        );
        assert_eq!(d.plugin_groups, ["pytest11"]);
    }

    #[test]
    fn a_folder_without_metadata_is_no_distribution() {
        assert_eq!(distribution("x/y.dist-info", &BTreeMap::new()), None);
        assert_eq!(
            metadata_file("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO"),
            Some((
                "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
                "PKG-INFO"
            ))
        );
        assert_eq!(metadata_file("var/task/requests/METADATA"), None);
    }
}
