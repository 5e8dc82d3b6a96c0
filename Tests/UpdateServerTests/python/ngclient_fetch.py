#!/usr/bin/env python3
"""Refreshes from a running update server with python-tuf's ngclient and downloads targets.

usage: ngclient_fetch.py BASE_URL ROOT_FILE WORK_DIR TARGET...
Prints one JSON object: the trusted versions and, per target, its length, sha256 and custom.
"""
import hashlib
import json
import os
import sys

from tuf.ngclient import Updater


def main():
    base, root_file, work = sys.argv[1], sys.argv[2], sys.argv[3]
    names = sys.argv[4:]
    metadata_dir = os.path.join(work, "metadata")
    download_dir = os.path.join(work, "downloads")
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(download_dir, exist_ok=True)
    with open(root_file, "rb") as handle:
        root = handle.read()
    updater = Updater(metadata_dir=metadata_dir, metadata_base_url=base + "/metadata/",
                      target_dir=download_dir, target_base_url=base + "/targets/", bootstrap=root)
    updater.refresh()
    result = {"targets": {}}
    for name in names:
        info = updater.get_targetinfo(name)
        if info is None:
            print(json.dumps({"error": "no target " + name}))
            return 2
        path = updater.download_target(info)
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        result["targets"][name] = {"length": info.length, "sha256": digest, "custom": info.custom}
    trusted = updater._trusted_set
    result["versions"] = {"root": trusted.root.version, "timestamp": trusted.timestamp.version,
                          "snapshot": trusted.snapshot.version, "targets": trusted.targets.version}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
