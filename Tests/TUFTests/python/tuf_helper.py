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
from urllib import parse

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey
from tuf.api import exceptions
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


def quote(role):
    """A role name as a file and URL name (python-tuf's client quotes it the same way)."""
    return parse.quote(role, "")


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
        for signer in self.signers[role] if signers is None else signers:
            md.sign(signer, append=True)

    def create(self, delegate, role_name="releases"):
        root = Root(expires=self.expiry)
        for role in ["root", "timestamp", "snapshot", "targets"]:
            root.add_key(self.new_key(role).public_key, role)
        self.md["root"] = Metadata(root)
        self.md["targets"] = Metadata(Targets(expires=self.expiry))
        if delegate:
            signer = self.new_key(role_name)
            role = DelegatedRole(role_name, [signer.public_key.keyid], 1, True, paths=["releases/*"])
            self.md["targets"].signed.delegations = Delegations(
                {signer.public_key.keyid: signer.public_key}, roles={role_name: role})
            self.md[role_name] = Metadata(Targets(expires=self.expiry))
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

    def publish(self, roles, bump=True, signers=None, expires=None, skip_write=(), meta_hashes=False):
        """Sign and write the targets roles in `roles`, then snapshot and timestamp. `signers` and
        `expires` override a role's signers and expiry; roles in `skip_write` are not written
        (a 404); `meta_hashes` makes snapshot list hashes and length of each targets role.
        Metadata files are named like python-tuf's client asks for them: N.quote(ROLE).json."""
        signers = signers or {}
        expires = expires or {}
        role_bytes = {}
        for role in roles:
            md = self.md[role]
            if bump and os.path.exists(os.path.join(self.meta_dir, f"{md.signed.version}.{quote(role)}.json")):
                md.signed.version += 1
            md.signed.expires = expires.get(role, self.expiry)
            self.sign(role, md, signers.get(role))
            role_bytes[role] = md.to_bytes(JSONSerializer(compact=False))
            if role not in skip_write:
                self.write(f"{md.signed.version}.{quote(role)}.json", md)
        snapshot = self.md.get("snapshot")
        if snapshot is None:
            snapshot = self.md["snapshot"] = Metadata(Snapshot(expires=self.expiry))
        elif bump:
            snapshot.signed.version += 1
        snapshot.signed.expires = expires.get("snapshot", self.expiry)
        for role, md in self.md.items():
            if role not in ("root", "snapshot", "timestamp"):
                if meta_hashes:
                    data = role_bytes.get(role) or md.to_bytes(JSONSerializer(compact=False))
                    snapshot.signed.meta[f"{role}.json"] = MetaFile.from_data(md.signed.version, data, ["sha256"])
                else:
                    snapshot.signed.meta[f"{role}.json"] = MetaFile(version=md.signed.version)
        self.sign("snapshot", snapshot, signers.get("snapshot"))
        if "snapshot" not in skip_write:
            self.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
        timestamp = self.md.get("timestamp")
        if timestamp is None:
            timestamp = self.md["timestamp"] = Metadata(Timestamp(expires=self.expiry))
        elif bump:
            timestamp.signed.version += 1
        timestamp.signed.expires = expires.get("timestamp", self.expiry)
        snapshot_bytes = snapshot.to_bytes(JSONSerializer(compact=False))
        timestamp.signed.snapshot_meta = MetaFile.from_data(snapshot.signed.version, snapshot_bytes, ["sha256"])
        self.sign("timestamp", timestamp, signers.get("timestamp"))
        self.write("timestamp.json", timestamp)

    def rotate(self, role, *more, expires=None):
        """Root N+1 with a new key (threshold 1) for `role` and each of `more`, signed by the old
        and the new root keys."""
        root_md = self.md["root"]
        old_root_signers = list(self.signers["root"])
        root = root_md.signed
        for each in (role, *more):
            for keyid in list(root.roles[each].keyids):
                root.revoke_key(keyid, each)
            self.signers[each] = []
            root.add_key(self.new_key(each).public_key, each)
            root.roles[each].threshold = 1
        root.version += 1
        root.expires = expires or self.expiry
        signers = old_root_signers + (self.signers["root"] if "root" in (role, *more) else [])
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


def fast_forward(repo, role, version):
    """What an attacker holding `role`'s key does: push its version far ahead (and what refers to it)."""
    if role == "timestamp":
        repo.md["timestamp"].signed.version = version - 1
        new_timestamp(repo)
    else:
        repo.md["snapshot"].signed.version = version - 1
        repo.publish([])


def overwrite_compact(repo, name, md):
    """The same signed metadata as other bytes (compact JSON): signatures valid, hashes not."""
    md.to_file(os.path.join(repo.meta_dir, name), JSONSerializer(compact=True))


ATTACKS = {}


def attack(name):
    def register(function):
        ATTACKS[name] = function
        return function
    return register


@attack("none")
def _none(repo, key_type, past):
    pass


@attack("expired-timestamp")
def _expired_timestamp(repo, key_type, past):
    new_timestamp(repo, expires=past)


@attack("snapshot-rollback")
def _snapshot_rollback(repo, key_type, past):
    with open(os.path.join(repo.meta_dir, "1.snapshot.json"), "rb") as f:
        new_timestamp(repo, snapshot_version=1, snapshot_bytes=f.read())


@attack("targets-rollback")
def _targets_rollback(repo, key_type, past):
    snapshot = repo.md["snapshot"]
    snapshot.signed.version += 1
    snapshot.signed.meta["targets.json"] = MetaFile(version=1)
    repo.sign("snapshot", snapshot)
    repo.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
    data = snapshot.to_bytes(JSONSerializer(compact=False))
    new_timestamp(repo, snapshot_version=snapshot.signed.version, snapshot_bytes=data)


@attack("mix-and-match")
def _mix_and_match(repo, key_type, past):
    # A new snapshot names targets v2, but 2.targets.json is the old (v1) targets file.
    import shutil
    snapshot = repo.md["snapshot"]
    snapshot.signed.version += 1
    snapshot.signed.meta["targets.json"] = MetaFile(version=2)
    repo.sign("snapshot", snapshot)
    repo.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
    shutil.copy(os.path.join(repo.meta_dir, "1.targets.json"), os.path.join(repo.meta_dir, "2.targets.json"))
    data = snapshot.to_bytes(JSONSerializer(compact=False))
    new_timestamp(repo, snapshot_version=snapshot.signed.version, snapshot_bytes=data)


@attack("too-few-signatures")
def _too_few(repo, key_type, past):
    new_timestamp(repo, signers=repo.signers["timestamp"][:1])


@attack("foreign-signature")
def _foreign(repo, key_type, past):
    new_timestamp(repo, signers=[repo.signers["timestamp"][0], generate(key_type)])


@attack("rotated-root")
def _rotated_root(repo, key_type, past):
    # Legitimate: root v2 with new root and timestamp keys, signed by old and new root keys.
    repo.rotate("root", "timestamp")
    new_timestamp(repo)


@attack("root-without-old-keys")
def _root_without_old_keys(repo, key_type, past):
    root = repo.md["root"].signed
    for keyid in list(root.roles["root"].keyids):
        root.revoke_key(keyid, "root")
    repo.signers["root"] = []
    root.add_key(repo.new_key("root").public_key, "root")
    root.version += 1
    repo.sign("root", repo.md["root"])
    repo.write("2.root.json", repo.md["root"])


@attack("root-version-mismatch")
def _root_version_mismatch(repo, key_type, past):
    # 2.root.json is correctly signed but says version 3.
    root = repo.md["root"].signed
    root.version = 3
    repo.sign("root", repo.md["root"])
    repo.write("2.root.json", repo.md["root"])


@attack("snapshot-drops-role")
def _snapshot_drops_role(repo, key_type, past):
    # A new, correctly signed snapshot that no longer lists the delegated role.
    snapshot = repo.md["snapshot"]
    snapshot.signed.version += 1
    for name in [name for name in snapshot.signed.meta if name != "targets.json"]:
        del snapshot.signed.meta[name]
    repo.sign("snapshot", snapshot)
    repo.write(f"{snapshot.signed.version}.snapshot.json", snapshot)
    data = snapshot.to_bytes(JSONSerializer(compact=False))
    new_timestamp(repo, snapshot_version=snapshot.signed.version, snapshot_bytes=data)


@attack("oversized-timestamp")
def _oversized(repo, key_type, past):
    new_timestamp(repo, pad=20000)


@attack("unknown-hash")
def _unknown_hash(repo, key_type, past):
    repo.md["targets"].signed.targets["agent.bin"].hashes["blake3"] = "00" * 32
    repo.publish(["targets"])


@attack("target-hash-mismatch")
def _target_hash_mismatch(repo, key_type, past):
    info = repo.md["targets"].signed.targets["agent.bin"]
    for prefixed in info.get_prefixed_paths():
        path = os.path.join(repo.targets_dir, prefixed)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[-1] ^= 1
        with open(path, "wb") as f:
            f.write(data)


# Persistence: each of these fails after a newer timestamp (and maybe snapshot) verified, which
# must then stay trusted on disk.

@attack("unsigned-snapshot")
def _unsigned_snapshot(repo, key_type, past):
    repo.publish([], signers={"snapshot": []})


@attack("badly-signed-snapshot")
def _badly_signed_snapshot(repo, key_type, past):
    repo.publish([], signers={"snapshot": [generate(key_type)]})


@attack("unsigned-targets")
def _unsigned_targets(repo, key_type, past):
    repo.publish(["targets"], signers={"targets": []})


@attack("badly-signed-targets")
def _badly_signed_targets(repo, key_type, past):
    repo.publish(["targets"], signers={"targets": [generate(key_type)]})


@attack("snapshot-404")
def _snapshot_404(repo, key_type, past):
    repo.publish([], skip_write={"snapshot"})


@attack("targets-404")
def _targets_404(repo, key_type, past):
    repo.publish(["targets"], skip_write={"targets"})


@attack("snapshot-hash-mismatch")
def _snapshot_hash_mismatch(repo, key_type, past):
    repo.publish([])
    snapshot = repo.md["snapshot"]
    overwrite_compact(repo, f"{snapshot.signed.version}.snapshot.json", snapshot)


@attack("targets-hash-mismatch")
def _targets_hash_mismatch(repo, key_type, past):
    repo.publish(["targets"], meta_hashes=True)
    targets = repo.md["targets"]
    overwrite_compact(repo, f"{targets.signed.version}.targets.json", targets)


@attack("snapshot-version-mismatch")
def _snapshot_version_mismatch(repo, key_type, past):
    # Timestamp names snapshot v2, and 2.snapshot.json is the (signed) v1.
    import shutil
    old = os.path.join(repo.meta_dir, "1.snapshot.json")
    shutil.copy(old, os.path.join(repo.meta_dir, "2.snapshot.json"))
    with open(old, "rb") as f:
        new_timestamp(repo, snapshot_version=2, snapshot_bytes=f.read())


@attack("rotated-root-expired-snapshot")
def _rotated_root_expired_snapshot(repo, key_type, past):
    repo.rotate("root")
    repo.publish([], expires={"snapshot": past})


@attack("rotated-root-expired-targets")
def _rotated_root_expired_targets(repo, key_type, past):
    repo.rotate("root")
    repo.publish(["targets"], expires={"targets": past})


@attack("rotated-root-expired")
def _rotated_root_expired(repo, key_type, past):
    # A good rotation whose new root has expired: it is trusted (and kept), then blocks timestamp.
    repo.rotate("root", expires=past)
    new_timestamp(repo)


@attack("expired-final-root")
def _expired_final_root(repo, key_type, past):
    # v2 is good, v3 (also correctly signed) has expired: the whole chain is walked first.
    repo.rotate("root")
    repo.rotate("root", expires=past)
    new_timestamp(repo)


@attack("missing-target")
def _missing_target(repo, key_type, past):
    repo.publish(["targets"])


@attack("ff-recovery-timestamp")
def _ff_recovery_timestamp(repo, key_type, past):
    # Before: an attacker pushed timestamp to v1000. Recovery: new timestamp keys, version reset.
    repo.rotate("timestamp")
    repo.md["timestamp"].signed.version = 1
    new_timestamp(repo)


@attack("ff-recovery-snapshot")
def _ff_recovery_snapshot(repo, key_type, past):
    # Before: snapshot pushed to v1000. Recovery rotates snapshot and timestamp keys (python-tuf
    # needs both: the old timestamp would still name snapshot v1000).
    repo.rotate("snapshot", "timestamp")
    repo.md["snapshot"].signed.version = 1
    repo.md["timestamp"].signed.version = 1
    repo.publish([])


@attack("ff-snapshot-key-only")
def _ff_snapshot_key_only(repo, key_type, past):
    # Only the snapshot key rotates: the trusted timestamp still verifies and names snapshot v1000,
    # so the new timestamp is a rollback. (The specification's 5.3.11 would delete it instead.)
    repo.rotate("snapshot")
    repo.md["snapshot"].signed.version = 1
    repo.publish([])


@attack("target-dotdot")
def _target_dotdot(repo, key_type, past):
    repo.add_target("targets", "../escape.bin", b"outside the targets directory")
    repo.publish(["targets"])


BEFORE = {"ff-recovery-timestamp": ("timestamp", 1000), "ff-recovery-snapshot": ("snapshot", 1000),
          "ff-snapshot-key-only": ("snapshot", 1000)}


def cmd_attack(args):
    """DIR/before: a good repository (two timestamp keys, threshold 2; a delegation named
    args.role_name). DIR/after: the same repository after the attack `args.attack` (or a
    legitimate change)."""
    import shutil

    if args.attack not in ATTACKS:
        raise ValueError(f"unknown attack {args.attack}")
    role_name = args.role_name
    repo = Repo(os.path.join(args.out, "before"), args.key_type)
    repo.create(delegate=True, role_name=role_name)
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
    repo.add_target(role_name, "releases/app.bin", b"delegated app", custom)
    repo.publish(["targets", role_name], bump=False)
    if args.attack in ("snapshot-rollback", "targets-rollback"):
        # One more release first, so there is something to roll back to.
        repo.publish(["targets"])
    if args.attack in BEFORE:
        fast_forward(repo, *BEFORE[args.attack])
    after = os.path.join(args.out, "after")
    shutil.copytree(repo.path, after)
    retarget(repo, after)
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    ATTACKS[args.attack](repo, args.key_type, past)
    infos = {}
    for role in ("targets", role_name):
        for name, info in repo.md[role].signed.targets.items():
            infos[name] = {"length": info.length, "url_path": info.get_prefixed_paths()[0]}
    out({"targets": infos})


# -- the shared TUF client command line, run by python-tuf ------------------------------------

def cmd_cli(args):
    """python-tuf's ngclient behind the TUF client CLI protocol (tuf-conformance CLIENT-CLI.md),
    over HTTP like `nanoedge-agent tuf`: exit 0 on complete success, 1 on any failure with its
    kind and python-tuf's exception on stderr."""
    kind = "verification"
    try:
        if args.command_word == "init":
            with open(args.word, "rb") as f:
                bootstrap = f.read()
            os.makedirs(args.metadata_dir, exist_ok=True)
            Updater(args.metadata_dir, "http://unused.invalid/", bootstrap=bootstrap)
        elif args.command_word == "refresh":
            Updater(args.metadata_dir, args.metadata_url, bootstrap=None).refresh()
        else:
            os.makedirs(args.target_dir, exist_ok=True)
            updater = Updater(args.metadata_dir, args.metadata_url, args.target_dir, args.target_base_url,
                              bootstrap=None)
            updater.refresh()
            for name in args.target_name:
                info = updater.get_targetinfo(name)
                if info is None:
                    kind = "unknown target"
                    raise LookupError(f"no target named {name}")
                if updater.find_cached_target(info) is None:
                    updater.download_target(info)
    except Exception as e:  # noqa: BLE001 - the kind and the class name are the answer
        if isinstance(e, exceptions.DownloadError):
            kind = "network"
        elif isinstance(e, OSError):
            kind = "storage"
        sys.stderr.write(f"{kind}: {type(e).__name__}: {e}\n")
        sys.exit(1)


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
    attack.add_argument("--role-name", default="releases")
    attack.set_defaults(func=cmd_attack)
    cli = sub.add_parser("cli")
    cli.add_argument("--metadata-dir", required=True)
    cli.add_argument("--metadata-url")
    cli.add_argument("--target-name", action="append", default=[])
    cli.add_argument("--target-dir")
    cli.add_argument("--target-base-url")
    cli.add_argument("command_word", choices=["init", "refresh", "download"])
    cli.add_argument("word", nargs="?")
    cli.set_defaults(func=cmd_cli)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
