#!/usr/bin/env python3
"""Fills a repository of the local registry with a long history, for bench/journal:

    journal-fill.py REGISTRY REPOSITORY IMAGES DEPLOYMENTS

IMAGES images as imprint pushes them (a tag `YYYYMMDD-HHMMSS-<8 hex>` and an index artifact
`imprint-<64 hex>` each, pushed days ago), and DEPLOYMENTS deployments of them as imprint
journals them: lease N naming the deployment's ID, its released marker, a begin and an end
record whose subject is the image (deployment k runs image k mod IMAGES, succeeded). With the
defaults (1,000 and 2,000): 10,000 tags. Written over the registry API, 8 connections at once.
"""
import hashlib
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

REGISTRY, REPO, IMAGES, DEPLOYMENTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
OCI = "application/vnd.oci.image.manifest.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
local = threading.local()


def conn():
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection(REGISTRY, timeout=60)
    return local.c


def request(method, path, body=b"", headers=None):
    c = conn()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return r


def blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = request("POST", f"/v2/{REPO}/blobs/uploads/").getheader("Location")
    location = location.split(REGISTRY, 1)[-1]
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
    return {"digest": digest, "size": len(data)}


def manifest(tag, body, media_type):
    data = json.dumps(body, separators=(",", ":")).encode()
    request("PUT", f"/v2/{REPO}/manifests/{tag}", data, {"Content-Type": media_type})
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def stamp(t):
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(t))


def rfc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


EMPTY = blob(b"{}")
LAYER = blob(b"bench layer\n" * 100)
START = int(time.time()) - 60 * 86400
RUNNER = {"host": "bench", "pid": 1}


def artifact(tag, artifact_type, media_type, body, subject, annotations):
    b = blob(json.dumps(body).encode())
    return manifest(tag, {
        "schemaVersion": 2, "mediaType": OCI, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", **EMPTY},
        "layers": [{"mediaType": media_type, **b}],
        **({"subject": subject} if subject else {}),
        "annotations": annotations,
    }, OCI)


def image(i):
    t = START + i * 60
    hash_ = hashlib.sha256(f"bench {i}".encode()).hexdigest()
    tag = f"{stamp(t)}-{hash_[:8]}"
    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"dev.imprint.content-hash": hash_}}, "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    desc = manifest(tag, {"schemaVersion": 2, "mediaType": DOCKER,
                          "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
                          "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", **LAYER}]}, DOCKER)
    artifact(f"imprint-{hash_}", "application/vnd.dev.imprint.inputs.v1", "application/vnd.dev.imprint.inputs.v1+json",
             {"format": 1, "hash": hash_, "inputs": []}, desc,
             {"dev.imprint.tag": tag, "dev.imprint.content-hash": hash_, "org.opencontainers.image.created": rfc(t)})
    return {"tag": tag, "desc": desc, "uri": f"{REGISTRY}/{REPO}:{tag}"}


def deployment(k, images):
    t = START + 86400 + k * 30
    img = images[k % len(images)]
    old = images[(k - 1) % len(images)]
    id_ = f"{stamp(t)}-000-{k:08x}"
    holder = {"id": f"{k:016x}", "caller": {}, "runner": RUNNER, "since": t, "until": t + 600, "deployment": id_}
    artifact(f"imprint-lease-{k}", "application/vnd.dev.imprint.lease.v1", "application/vnd.dev.imprint.lease.v1+json",
             holder, None, {"dev.imprint.lease.holder": holder["id"], "dev.imprint.lease.deployment": id_})
    base = {"format": 1, "id": id_, "action": "deploy", "time": rfc(t), "unix_time": t, "caller": {},
            "runner": RUNNER, "image": {"uri": img["uri"], "digest": img["desc"]["digest"]}, "tag": img["tag"]}
    functions = [{"name": "benchj-0", "old": {"uri": old["uri"], "digest": old["desc"]["digest"]},
                  "new": base["image"]}]
    results = [{"name": "benchj-0", "outcome": "updated", "image": base["image"]}]
    for kind, extra in (("begin", {"functions": functions}), ("end", {"outcome": "succeeded", "results": results})):
        artifact(f"imprint-journal-{id_}-{kind}", "application/vnd.dev.imprint.journal.v1",
                 "application/vnd.dev.imprint.journal.v1+json", {**base, "kind": kind, **extra}, img["desc"],
                 {"dev.imprint.journal.id": id_, "dev.imprint.journal.kind": kind, "dev.imprint.tag": img["tag"],
                  "org.opencontainers.image.created": rfc(t)})
    artifact(f"imprint-lease-{k}-released", "application/vnd.dev.imprint.lease.v1",
             "application/vnd.dev.imprint.lease.v1+json", holder, None, {"dev.imprint.lease.holder": holder["id"]})


with ThreadPoolExecutor(8) as pool:
    images = list(pool.map(image, range(IMAGES)))
    list(pool.map(lambda k: deployment(k, images), range(1, DEPLOYMENTS + 1)))
print(json.dumps({"first": images[0], "last": images[(DEPLOYMENTS) % IMAGES]}))
