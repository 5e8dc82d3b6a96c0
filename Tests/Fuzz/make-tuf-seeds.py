#!/usr/bin/env python3
"""Writes the TUF metadata that FuzzTUFMetadata starts from, with python-tuf and fixed Ed25519 keys,
so the files are the same on every run (Ed25519 signatures are deterministic):

    python3 Tests/Fuzz/make-tuf-seeds.py Tests/Fuzz/seeds/tuf

1.root.json is the target's trusted root (copied into Sources/FuzzTUFMetadata/TrustedRoot.swift);
2.root.json rotates the root key; timestamp, snapshot and targets (with one delegation) chain from it.
Everything expires in 2099; the target's clock is fixed at 2030.
"""
import os
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (DelegatedRole, Delegations, Metadata, MetaFile, Root, Snapshot, TargetFile,
                              Targets, Timestamp)
from tuf.api.serialization.json import JSONSerializer

EXPIRES = datetime(2099, 1, 1, tzinfo=timezone.utc)


def signer(n):
    return CryptoSigner(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def main(out):
    os.makedirs(out, exist_ok=True)
    keys = {role: signer(n) for n, role in enumerate(["root", "timestamp", "snapshot", "targets", "releases"], 1)}
    compact = JSONSerializer(compact=True)

    def write(name, md, signers):
        md.signatures.clear()
        for s in signers:
            md.sign(s, append=True)
        data = md.to_bytes(compact)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        return data

    root = Metadata(Root(expires=EXPIRES, consistent_snapshot=True))
    for role in ["root", "timestamp", "snapshot", "targets"]:
        root.signed.add_key(keys[role].public_key, role)
    write("1.root.json", root, [keys["root"]])

    new_root_key = signer(9)
    root.signed.revoke_key(keys["root"].public_key.keyid, "root")
    root.signed.add_key(new_root_key.public_key, "root")
    root.signed.version = 2
    write("2.root.json", root, [keys["root"], new_root_key])

    targets = Metadata(Targets(expires=EXPIRES))
    info = TargetFile.from_data("nanoedge-agent-1.2.0", b"agent", ["sha256"])
    info.unrecognized_fields["custom"] = {
        "kind": "binary", "name": "nanoedge-agent", "version": "1.2.0", "boards": ["rpi4b", "rpi5"],
        "security_counter": 3, "min_version": "1.0.0", "health": {"window_seconds": 120, "attempts": 3}}
    targets.signed.targets[info.path] = info
    releases = keys["releases"].public_key
    targets.signed.delegations = Delegations(
        {releases.keyid: releases},
        roles={"releases": DelegatedRole("releases", [releases.keyid], 1, True, paths=["releases/*"])})
    targets_bytes = write("targets.json", targets, [keys["targets"]])

    snapshot = Metadata(Snapshot(expires=EXPIRES))
    snapshot.signed.meta["targets.json"] = MetaFile(version=1, length=len(targets_bytes))
    snapshot_bytes = write("snapshot.json", snapshot, [keys["snapshot"]])

    timestamp = Metadata(Timestamp(expires=EXPIRES))
    timestamp.signed.snapshot_meta = MetaFile.from_data(1, snapshot_bytes, ["sha256"])
    write("timestamp.json", timestamp, [keys["timestamp"]])


if __name__ == "__main__":
    main(sys.argv[1])
