#!/usr/bin/env python3
"""Writes a small OCI image layout (an `oci:` directory skopeo can copy), with no network.

Usage: make_oci.py DIR TEXT

DIR gets `oci-layout`, `index.json` (one manifest, ref name `latest`) and `blobs/sha256/`:
one uncompressed layer tar holding `/aistack.txt` with TEXT, the image config naming that
layer, and the manifest. A different TEXT gives a different image (different digests), which
is how the tests move a tag. The tar is built deterministically (fixed mtime, owner, mode),
so the same TEXT always gives the same digests.
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def layer_tar(text):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        body = text.encode()
        info = tarfile.TarInfo("aistack.txt")
        info.size, info.mtime, info.mode, info.uid, info.gid = len(body), 0, 0o644, 0, 0
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_oci.py DIR TEXT")
    root, text = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    layer = blob(root, layer_tar(text))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/aistack.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }
    cfg = blob(root, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **cfg),
        "layers": [dict(mediaType="application/vnd.oci.image.layer.v1.tar", **layer)],
    }
    man = blob(root, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            dict(
                mediaType="application/vnd.oci.image.manifest.v1+json",
                annotations={"org.opencontainers.image.ref.name": "latest"},
                **man,
            )
        ],
    }
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(man["digest"])


if __name__ == "__main__":
    main()
