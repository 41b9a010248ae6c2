#!/usr/bin/env python3
"""Writes bench/compare's build contexts, byte for byte the same on every machine.

    bench/compare-context.py DIR large|small

large: 55,000 files sent to the builder (355 MB: mostly small sources, a few large assets),
in 1,100 folders, plus an ignored 60,000-file node_modules. small: 5,000 files, 40 MB, and a
20,000-file .venv. The file contents come from a seeded generator; nothing depends on time.
"""
import os
import random
import sys

SHAPES = {
    # files, total bytes, ignored folder, ignored files
    "large": (55_000, 355_000_000, "node_modules", 60_000),
    "small": (5_000, 40_000_000, ".venv", 20_000),
}


def sizes(rng, files, total):
    """Source-like sizes (a long tail), then scaled to make exactly `total` bytes."""
    raw = [int(rng.lognormvariate(8.2, 1.3)) + 1 for _ in range(files)]
    scale = total / sum(raw)
    out = [max(1, int(s * scale)) for s in raw]
    out[-1] += total - sum(out)
    return out


def main():
    root, shape = sys.argv[1], sys.argv[2]
    files, total, ignored_dir, ignored = SHAPES[shape]
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return
    rng = random.Random(20261201)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write("FROM scratch\nCOPY . /app/\n")
    with open(os.path.join(root, ".dockerignore"), "w") as f:
        f.write(f"{ignored_dir}\n**/__pycache__\n.complete\n")
    pool = rng.randbytes(1 << 22)
    for i, size in enumerate(sizes(rng, files, total)):
        folder = os.path.join(root, "src", f"pkg{i // 500:03d}", f"mod{i // 50 % 10}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"m{i}.py"), "wb") as f:
            f.write(i.to_bytes(8, "little"))
            left = size - 8
            while left > 0:
                start = rng.randrange(len(pool) - min(left, len(pool)) + 1)
                piece = pool[start:start + min(left, len(pool))]
                f.write(piece)
                left -= len(piece)
    for i in range(ignored):
        folder = os.path.join(root, ignored_dir, f"lib{i // 1000:02d}", f"pkg{i // 100 % 10}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"f{i}.js"), "w") as f:
            f.write(f"module.exports = {i};\n")
    open(marker, "w").close()


if __name__ == "__main__":
    main()
