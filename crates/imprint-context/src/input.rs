//! One entry of the build context, as hashed.

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// A path (or link text) as text that tells every byte string apart: UTF-8 as it is, a
/// backslash as `\\`, and each byte that is not UTF-8 as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The kind of a context entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link, hashed as its text and never followed.
    Symlink,
}

impl InputKind {
    /// The byte that stands for the kind in a record.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::File => b'f',
            Self::Dir => b'd',
            Self::Symlink => b'l',
        }
    }
}

/// One entry the builder sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Path relative to the context root, `/`-separated, raw bytes.
    pub path: Vec<u8>,
    /// File, folder or symlink.
    pub kind: InputKind,
    /// Owner-executable bit (files only).
    pub executable: bool,
    /// Readable by others (files only): Lambda runs the code as a non-root user.
    pub other_readable: bool,
    /// Bytes hashed (files only).
    pub size: u64,
    /// BLAKE3 of the bytes (files only; zero until hashed).
    pub hash: [u8; 32],
    /// Link text (symlinks only).
    pub target: Vec<u8>,
}

impl Input {
    pub(crate) fn dir(path: Vec<u8>) -> Self {
        Self::new(path, InputKind::Dir)
    }

    pub(crate) fn file(path: Vec<u8>, mode: u32, size: u64) -> Self {
        let mut file = Self {
            size,
            ..Self::new(path, InputKind::File)
        };
        file.set_mode(mode);
        file
    }

    /// Takes a file's owner-executable and other-readable bits from its `mode`.
    pub(crate) fn set_mode(&mut self, mode: u32) {
        self.executable = mode & 0o100 != 0;
        self.other_readable = mode & 0o004 != 0;
    }

    pub(crate) fn symlink(path: Vec<u8>, target: Vec<u8>) -> Self {
        Self {
            target,
            ..Self::new(path, InputKind::Symlink)
        }
    }

    fn new(path: Vec<u8>, kind: InputKind) -> Self {
        Self {
            path,
            kind,
            executable: false,
            other_readable: false,
            size: 0,
            hash: [0; 32],
            target: Vec::new(),
        }
    }

    /// The path for display (lossy for non-UTF-8 names).
    pub fn display_path(&self) -> String {
        escape_bytes(&self.path)
    }

    /// The content hash in hex (files only).
    pub fn hash_hex(&self) -> Option<String> {
        (self.kind == InputKind::File).then(|| hex(&self.hash))
    }

    /// `ls`-like mode letters: `r` (others may read) and `x` (executable), or `-`.
    pub fn mode_letters(&self) -> &'static str {
        match (self.kind, self.other_readable, self.executable) {
            (InputKind::File, true, true) => "rx",
            (InputKind::File, true, false) => "r-",
            (InputKind::File, false, true) => "-x",
            (InputKind::File, false, false) => "--",
            _ => "  ",
        }
    }
}

impl Serialize for Input {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Input", 7)?;
        st.serialize_field("path", &self.display_path())?;
        st.serialize_field("kind", &self.kind)?;
        match self.kind {
            InputKind::File => {
                st.serialize_field("executable", &self.executable)?;
                st.serialize_field("other_readable", &self.other_readable)?;
                st.serialize_field("size", &self.size)?;
                st.serialize_field("hash", &hex(&self.hash))?;
            }
            InputKind::Symlink => {
                st.serialize_field("target", &escape_bytes(&self.target))?;
            }
            InputKind::Dir => {}
        }
        st.end()
    }
}

/// An entry an ignore pattern left out.
#[derive(Debug, Clone)]
pub struct Excluded {
    /// Path relative to the context root.
    pub path: Vec<u8>,
    /// The pattern that excluded it.
    pub pattern: String,
    /// Its line in the ignore file.
    pub line: usize,
}

impl Serialize for Excluded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Excluded", 3)?;
        st.serialize_field("path", &escape_bytes(&self.path))?;
        st.serialize_field("pattern", &self.pattern)?;
        st.serialize_field("line", &self.line)?;
        st.end()
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_string_gets_its_own_text() {
        assert_eq!(escape_bytes(b"handlers/debts.py"), "handlers/debts.py");
        assert_eq!(escape_bytes("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape_bytes(b"bad\xff\xfe.py"), "bad\\xff\\xfe.py");
        assert_eq!(escape_bytes(b"a\\xff"), "a\\\\xff");
        assert_ne!(escape_bytes(b"bad\xff.py"), escape_bytes(b"bad\xfe.py"));
    }
}
