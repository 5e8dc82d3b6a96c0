#!/usr/bin/env python3
"""python-tuf's side of the interop tests: the reference implementation signs, verifies,
canonicalizes and builds repositories, so the Swift tests can compare against it.

Every command prints one JSON document on stdout; failures print {"error": ..., "message": ...}
and exit 1.
"""

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig


def out(document):
    json.dump(document, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


# -- canonical JSON, keys and signatures ------------------------------------------------------

def cmd_canonical(_args):
    """stdin: a JSON array of documents; out: the hex of each one's canonical bytes."""
    documents = json.load(sys.stdin)
    out([encode_canonical(d).encode("utf-8").hex() for d in documents])


def cmd_verify_signature(_args):
    """stdin: {"key": key dict, "keyid", "payload_hex", "sig"}; out: {"ok", "keyid"}."""
    request = json.load(sys.stdin)
    key_dict = dict(request["key"])
    computed = SSlibKey.from_dict(request["keyid"], key_dict)
    from securesystemslib.signer._utils import compute_default_keyid

    default_id = compute_default_keyid(computed.keytype, computed.scheme, computed.keyval)
    ok = True
    try:
        computed.verify_signature(Signature(request["keyid"], request["sig"]),
                                  bytes.fromhex(request["payload_hex"]))
    except Exception:  # noqa: BLE001 - any failure is "not verified"
        ok = False
    out({"ok": ok, "keyid": default_id})


def generate(key_type):
    if key_type == "ed25519":
        return CryptoSigner.generate_ed25519()
    if key_type == "ecdsa":
        return CryptoSigner.generate_ecdsa()
    if key_type == "rsa":
        return CryptoSigner.generate_rsa()
    raise ValueError(key_type)


def cmd_sign(args):
    """A fresh python key signs stdin (hex); out: key dict, keyid, sig, private PEM."""
    signer = generate(args.key_type)
    payload = bytes.fromhex(sys.stdin.read().strip())
    sig = signer.sign(payload)
    out({"key": signer.public_key.to_dict(), "keyid": signer.public_key.keyid, "sig": sig.signature,
         "private_pem": signer.private_bytes.decode()})


# -- reading repositories (the python client) -------------------------------------------------

class DirectoryFetcher(FetcherInterface):
    """Serves http://repo/metadata/… and http://repo/targets/… from a repository directory."""

    def __init__(self, root):
        self.root = root

    def _fetch(self, url):
        prefix = "http://repo/"
        if not url.startswith(prefix):
            raise DownloadHTTPError(f"unexpected {url}", 404)
        path = os.path.join(self.root, url[len(prefix):])
        if not os.path.isfile(path):
            raise DownloadHTTPError(f"{url} not found", 404)
        with open(path, "rb") as f:
            data = f.read()
        return iter([data])


def summary(updater, names, download_dir):
    trusted = updater._trusted_set  # noqa: SLF001 - the versions are what the tests compare
    result = {
        "root_version": trusted.root.version,
        "timestamp_version": trusted.timestamp.version,
        "snapshot_version": trusted.snapshot.version,
        "targets_version": trusted.targets.version,
        "targets": {},
    }
    for name in names:
        info = updater.get_targetinfo(name)
        if info is None:
            result["targets"][name] = None
            continue
        path = updater.download_target(info, os.path.join(download_dir, name.replace("/", "_")))
        with open(path, "rb") as f:
            content = f.read()
        result["targets"][name] = {"length": info.length, "hashes": info.hashes, "custom": info.custom,
                                   "content_hex": content.hex()}
    return result


def cmd_client(args):
    """python-tuf's ngclient reads the repository in args.repo, pinned to args.root."""
    with open(args.root, "rb") as f:
        bootstrap = f.read()
    os.makedirs(args.work, exist_ok=True)
    updater = Updater(metadata_dir=args.work, metadata_base_url="http://repo/metadata/",
                      target_base_url="http://repo/targets/", target_dir=args.work,
                      fetcher=DirectoryFetcher(args.repo), config=UpdaterConfig(), bootstrap=bootstrap)
    try:
        updater.refresh()
        out(summary(updater, args.target, args.work))
    except Exception as e:  # noqa: BLE001 - the test reads the class name
        out({"error": type(e).__name__, "message": str(e)})
        sys.exit(1)


# -- writing repositories ---------------------------------------------------------------------

class Repo:
    """A python-tuf repository in nanoedge's layout: metadata/N.role.json, timestamp.json,
    targets/HASH.name (consistent snapshots)."""

    def __init__(self, path, key_type):
        self.path = path
        self.key_type = key_type
        self.meta_dir = os.path.join(path, "metadata")
        self.targets_dir = os.path.join(path, "targets")
        os.makedirs(self.meta_dir, exist_ok=True)
        os.makedirs(self.targets_dir, exist_ok=True)
        self.signers = {}
        self.md = {}
        self.expiry = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=30)

    def new_key(self, role):
        signer = generate(self.key_type)
        self.signers.setdefault(role, []).append(signer)
        return signer

    def write(self, name, md):
        md.to_file(os.path.join(self.meta_dir, name), JSONSerializer(compact=False))

    def sign(self, role, md, signers=None):
        md.signatures.clear()
        for signer in signers or self.signers[role]:
            md.sign(signer, append=True)

    def create(self, delegate):
        root = Root(expires=self.expiry)
        for role in ["root", "timestamp", "snapshot", "targets"]:
            root.add_key(self.new_key(role).public_key, role)
        self.md["root"] = Metadata(root)
        self.md["targets"] = Metadata(Targets(expires=self.expiry))
        if delegate:
            signer = self.new_key("releases")
            role = DelegatedRole("releases", [signer.public_key.keyid], 1, True, paths=["releases/*"])
            self.md["targets"].signed.delegations = Delegations(
                {signer.public_key.keyid: signer.public_key}, roles={"releases": role})
            self.md["releases"] = Metadata(Targets(expires=self.expiry))
        self.sign("root", self.md["root"])
        self.write("1.root.json", self.md["root"])
        self.write("root.json", self.md["root"])

    def add_target(self, role, name, content, custom=None):
        info = TargetFile.from_data(name, content)
        if custom is not None:
            info.unrecognized_fields["custom"] = custom
        self.md[role].signed.targets[name] = info
        for prefixed in info.get_prefixed_paths():
            dest = os.path.join(self.targets_dir, prefixed)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(content)

    def publish(self, roles, bump=True):
        """Sign and write the targets roles in `roles`, then snapshot and timestamp."""
        for role in roles:
            md = self.md[role]
            if bump and os.path.exists(os.path.join(self.meta_dir, f"{md.signed.version}.{role}.json")):
                md.signed.version += 1
            md.signed.expires = self.expiry
            self.sign(role, md)
            self.write(f"{md.signed.version}.{role}.json", md)
        snapshot = self.md.get("snapshot")
        if snapshot is None:
            snapshot = self.md["snapshot"] = Metadata(Snapshot(expires=self.expiry))
        elif bump:
            snapshot.signed.version += 1
        for role, md in self.md.items():
            if role not in ("root", "snapshot", "timestamp"):
                snapshot.signed.meta[f"{role}.json"] = MetaFile(version=md.signed.version)
        self.sign("snapshot", snapshot)
        self.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
        timestamp = self.md.get("timestamp")
        if timestamp is None:
            timestamp = self.md["timestamp"] = Metadata(Timestamp(expires=self.expiry))
        elif bump:
            timestamp.signed.version += 1
        snapshot_bytes = snapshot.to_bytes(JSONSerializer(compact=False))
        timestamp.signed.snapshot_meta = MetaFile.from_data(snapshot.signed.version, snapshot_bytes, ["sha256"])
        self.sign("timestamp", timestamp)
        self.write("timestamp.json", timestamp)

    def rotate(self, role):
        """Root N+1 with a new key for `role`, signed by the old and the new root keys."""
        root_md = self.md["root"]
        old_root_signers = list(self.signers["root"])
        root = root_md.signed
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        self.signers[role] = []
        root.add_key(self.new_key(role).public_key, role)
        root.version += 1
        signers = old_root_signers + (self.signers["root"] if role == "root" else [])
        self.sign("root", root_md, signers)
        self.write(f"{root.version}.root.json", root_md)
        self.write("root.json", root_md)


def cmd_make_repo(args):
    repo = Repo(args.out, args.key_type)
    repo.create(args.delegate)
    for spec in args.target:
        role, name, content = spec.split(":", 2)
        custom = {"kind": "binary", "version": "1.0.0", "boards": ["rpi4b"], "security_counter": 1,
                  "health": {"window_seconds": 60, "attempts": 3}}
        repo.add_target(role, name, content.encode(), custom)
    roles = ["targets"] + (["releases"] if args.delegate else [])
    repo.publish(roles, bump=False)
    if args.rotate_root:
        repo.rotate("root")
    if args.rotate_targets:
        repo.rotate("targets")
        repo.publish(["targets"])
    out({"root_version": repo.md["root"].signed.version,
         "targets_version": repo.md["targets"].signed.version,
         "snapshot_version": repo.md["snapshot"].signed.version,
         "timestamp_version": repo.md["timestamp"].signed.version})


# -- attacks ------------------------------------------------------------------------------------

def retarget(repo, path):
    """Point the repository's writers at another directory (a copy of the current state)."""
    repo.path = path
    repo.meta_dir = os.path.join(path, "metadata")
    repo.targets_dir = os.path.join(path, "targets")


def new_timestamp(repo, expires=None, signers=None, pad=0, snapshot_version=None, snapshot_bytes=None):
    ts = repo.md["timestamp"]
    ts.signed.version += 1
    ts.signed.expires = expires or repo.expiry
    if snapshot_version is not None:
        ts.signed.snapshot_meta = MetaFile.from_data(snapshot_version, snapshot_bytes, ["sha256"])
    if pad:
        ts.signed.unrecognized_fields["padding"] = "x" * pad
    repo.sign("timestamp", ts, signers)
    repo.write("timestamp.json", ts)


def cmd_attack(args):
    """DIR/before: a good repository (two timestamp keys, threshold 2; a delegation).
    DIR/after: the same repository after the attack `args.attack` (or a legitimate change)."""
    import shutil

    repo = Repo(os.path.join(args.out, "before"), args.key_type)
    repo.create(delegate=True)
    # Timestamp needs 2 of 2 signatures.
    root = repo.md["root"].signed
    root.add_key(repo.new_key("timestamp").public_key, "timestamp")
    root.roles["timestamp"].threshold = 2
    repo.sign("root", repo.md["root"])
    repo.write("1.root.json", repo.md["root"])
    repo.write("root.json", repo.md["root"])
    custom = {"kind": "binary", "version": "1.0.0", "boards": ["rpi4b"], "security_counter": 1,
              "health": {"window_seconds": 60, "attempts": 3}}
    repo.add_target("targets", "agent.bin", b"agent-1.0.0 " * 1000, custom)
    repo.add_target("releases", "releases/app.bin", b"delegated app", custom)
    repo.publish(["targets", "releases"], bump=False)
    if args.attack in ("snapshot-rollback", "targets-rollback"):
        # One more release first, so there is something to roll back to.
        repo.publish(["targets"])
    after = os.path.join(args.out, "after")
    shutil.copytree(repo.path, after)
    retarget(repo, after)
    attack = args.attack
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    if attack == "none":
        pass
    elif attack == "expired-timestamp":
        new_timestamp(repo, expires=past)
    elif attack == "snapshot-rollback":
        old = os.path.join(repo.meta_dir, "1.snapshot.json")
        with open(old, "rb") as f:
            new_timestamp(repo, snapshot_version=1, snapshot_bytes=f.read())
    elif attack == "targets-rollback":
        snapshot = repo.md["snapshot"]
        snapshot.signed.version += 1
        snapshot.signed.meta["targets.json"] = MetaFile(version=1)
        repo.sign("snapshot", snapshot)
        repo.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
        data = snapshot.to_bytes(JSONSerializer(compact=False))
        new_timestamp(repo, snapshot_version=snapshot.signed.version, snapshot_bytes=data)
    elif attack == "mix-and-match":
        # A new snapshot names targets v2, but 2.targets.json is the old (v1) targets file.
        snapshot = repo.md["snapshot"]
        snapshot.signed.version += 1
        snapshot.signed.meta["targets.json"] = MetaFile(version=2)
        repo.sign("snapshot", snapshot)
        repo.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
        shutil.copy(os.path.join(repo.meta_dir, "1.targets.json"), os.path.join(repo.meta_dir, "2.targets.json"))
        data = snapshot.to_bytes(JSONSerializer(compact=False))
        new_timestamp(repo, snapshot_version=snapshot.signed.version, snapshot_bytes=data)
    elif attack == "too-few-signatures":
        new_timestamp(repo, signers=repo.signers["timestamp"][:1])
    elif attack == "foreign-signature":
        new_timestamp(repo, signers=[repo.signers["timestamp"][0], generate(args.key_type)])
    elif attack == "rotated-root":
        # Legitimate: root v2 with new root and timestamp keys, signed by old and new root keys.
        old_root = list(repo.signers["root"])
        root = repo.md["root"].signed
        for role in ("root", "timestamp"):
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            repo.signers[role] = []
        root.add_key(repo.new_key("root").public_key, "root")
        root.add_key(repo.new_key("timestamp").public_key, "timestamp")
        root.roles["timestamp"].threshold = 1
        root.version += 1
        repo.sign("root", repo.md["root"], old_root + repo.signers["root"])
        repo.write("2.root.json", repo.md["root"])
        new_timestamp(repo)
    elif attack == "root-without-old-keys":
        root = repo.md["root"].signed
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        repo.signers["root"] = []
        root.add_key(repo.new_key("root").public_key, "root")
        root.version += 1
        repo.sign("root", repo.md["root"])
        repo.write("2.root.json", repo.md["root"])
    elif attack == "oversized-timestamp":
        new_timestamp(repo, pad=20000)
    elif attack == "unknown-hash":
        info = repo.md["targets"].signed.targets["agent.bin"]
        info.hashes["blake3"] = "00" * 32
        repo.publish(["targets"])
    elif attack == "target-hash-mismatch":
        info = repo.md["targets"].signed.targets["agent.bin"]
        for prefixed in info.get_prefixed_paths():
            path = os.path.join(repo.targets_dir, prefixed)
            with open(path, "rb") as f:
                data = bytearray(f.read())
            data[-1] ^= 1
            with open(path, "wb") as f:
                f.write(data)
    else:
        raise ValueError(f"unknown attack {attack}")
    infos = {}
    for role in ("targets", "releases"):
        for name, info in repo.md[role].signed.targets.items():
            infos[name] = {"length": info.length, "url_path": info.get_prefixed_paths()[0]}
    out({"targets": infos})


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("canonical").set_defaults(func=cmd_canonical)
    sub.add_parser("verify-signature").set_defaults(func=cmd_verify_signature)
    sign = sub.add_parser("sign")
    sign.add_argument("key_type")
    sign.set_defaults(func=cmd_sign)
    client = sub.add_parser("client")
    client.add_argument("--repo", required=True)
    client.add_argument("--root", required=True)
    client.add_argument("--work", required=True)
    client.add_argument("--target", action="append", default=[])
    client.set_defaults(func=cmd_client)
    make = sub.add_parser("make-repo")
    make.add_argument("--out", required=True)
    make.add_argument("--key-type", default="ed25519")
    make.add_argument("--delegate", action="store_true")
    make.add_argument("--rotate-root", action="store_true")
    make.add_argument("--rotate-targets", action="store_true")
    make.add_argument("--target", action="append", default=[], help="ROLE:NAME:CONTENT")
    make.set_defaults(func=cmd_make_repo)
    attack = sub.add_parser("attack")
    attack.add_argument("--out", required=True)
    attack.add_argument("--attack", required=True)
    attack.add_argument("--key-type", default="ed25519")
    attack.set_defaults(func=cmd_attack)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
