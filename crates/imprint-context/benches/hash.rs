//! Hashing synthetic contexts beside a read-every-byte floor (the same files read in parallel,
//! nothing hashed). `IMPRINT_BENCH_LARGE=1` adds the 50,000-file / 600 MB context.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use imprint_context::{hash_context, BuilderKind, InputKind, Quiet};
use rayon::prelude::*;

#[path = "../tests/support/mod.rs"]
mod support;

use support::params;

/// A deterministic byte stream (xorshift), so every run hashes the same trees.
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// `files` files totalling about `bytes`, spread over folders of 50, plus `ignored` small
/// files under `ignored_dir`, which the ignore file excludes.
fn make_context(root: &Path, files: usize, bytes: usize, ignored_dir: &str, ignored: usize) {
    let mut rng = Bytes(0x9E37_79B9_7F4A_7C15);
    fs::write(root.join("Dockerfile"), "FROM scratch\nCOPY . /app/\n").unwrap();
    fs::write(
        root.join(".dockerignore"),
        format!("{ignored_dir}\n**/__pycache__\n"),
    )
    .unwrap();
    let per_file = bytes / files.max(1);
    let mut buf = vec![0u8; per_file];
    for i in 0..files {
        let dir = root.join(format!("src/pkg{:03}", i / 50));
        fs::create_dir_all(&dir).unwrap();
        rng.fill(&mut buf);
        fs::write(dir.join(format!("module_{i}.py")), &buf).unwrap();
    }
    for i in 0..ignored {
        let dir = root.join(format!("{ignored_dir}/lib/pkg{:03}", i / 100));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}.py")), b"x = 1\n").unwrap();
    }
}

/// The floor: read every byte of the same files, in parallel, without hashing.
fn read_all(paths: &[PathBuf]) -> u64 {
    paths
        .par_iter()
        .map(|p| {
            let mut f = fs::File::open(p).unwrap();
            let mut buf = [0u8; 64 * 1024];
            let mut n = 0u64;
            loop {
                let read = f.read(&mut buf).unwrap();
                if read == 0 {
                    break n;
                }
                n += read as u64;
            }
        })
        .sum()
}

fn bench_context(
    c: &mut Criterion,
    name: &str,
    files: usize,
    bytes: usize,
    ignored_dir: &str,
    ignored: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    make_context(dir.path(), files, bytes, ignored_dir, ignored);
    let p = params(dir.path(), BuilderKind::Buildkit);
    let hashed = hash_context(dir.path(), &p, &Quiet).unwrap();
    let paths: Vec<PathBuf> = hashed
        .inputs
        .iter()
        .filter(|i| i.kind == InputKind::File)
        .map(|i| dir.path().join(i.display_path()))
        .collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(hashed.bytes));
    if hashed.bytes > 100_000_000 {
        group.sample_size(10);
    }
    group.bench_function("hash_context", |b| {
        b.iter(|| hash_context(dir.path(), &p, &Quiet).unwrap())
    });
    group.bench_function("read_floor", |b| b.iter(|| read_all(&paths)));
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_context(c, "example", 15, 5_000, ".venv", 0);
    bench_context(c, "5k_files_60MB", 5_000, 60_000_000, ".venv", 20_000);
    if std::env::var_os("IMPRINT_BENCH_LARGE").is_some() {
        bench_context(
            c,
            "50k_files_600MB",
            50_000,
            600_000_000,
            "node_modules",
            60_000,
        );
    }
}

criterion_group!(hash, benches);
criterion_main!(hash);
