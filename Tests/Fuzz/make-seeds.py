#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets other than BLE's (make fuzz):

    python3 Tests/Fuzz/make-seeds.py OUT

writes OUT/<corpus>/ for each target, from the repository's own valid inputs: the board profiles and
the TOML and JSON examples in docs/, the TUF metadata in Tests/Fuzz/seeds/tuf (see make-tuf-seeds.py),
the wire messages of docs/protocol.md's shapes, tar layers in each of the formats layers come in,
and entry names with the scalars that once hid a "/". Each file is small: the fuzzer grows the rest.
"""
import glob
import io
import json
import os
import re
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def doc_blocks(language):
    blocks = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        text = open(path, encoding="utf-8").read()
        blocks += re.findall(r"```%s\n(.*?)```" % language, text, re.S)
    return blocks


def compact(document):
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def write_all(out, name, items):
    directory = os.path.join(out, name)
    os.makedirs(directory, exist_ok=True)
    for n, data in enumerate(items):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(directory, "%s-%03d" % (name, n)), "wb") as f:
            f.write(data)


AT = 1_764_000_000_000
SIGNED_CONFIG = {"signed": {"role": "guidance", "version": 3, "issued_at": AT,
                            "settings": {"guidance.chase_step_ms": 120, "guidance.blink_period_ms": 400}},
                 "keyid": "ab" * 32, "sig": "30440220" + "11" * 32 + "0220" + "22" * 32}
SITE = [
    {"roles": ["presence", "scanner"], "location": "entrance", "board": "rpi4b", "version": "1.2.0",
     "epoch": "e-1f2e", "buffered": 3},
    {"device": "pi-entrance", "commands": "dev/pi-entrance/cmd", "last_seq": 41, "gateway_boot": "b-77"},
    {"device": "pi-entrance", "commands": "dev/pi-entrance/cmd", "last_seq": None, "gateway_boot": "b-77"},
    {"epoch": "e-1f2e", "seq": 1, "kind": "motion", "at": AT, "state": "start"},
    {"epoch": "e-1f2e", "seq": 2, "kind": "motion", "at": AT + 5, "state": "end"},
    {"epoch": "e-1f2e", "seq": 3, "kind": "scan", "at": AT, "visit": 7,
     "tags": [{"id": "tag-ana", "rssi": -61}, {"id": "tag-bo", "rssi": -80}]},
    {"epoch": "e-1f2e", "seq": 4, "kind": "guidance", "at": AT, "active": True, "visit": 7},
    {"epoch": "e-1f2e", "seq": 5, "kind": "presented", "at": AT, "visit": 7, "meeting": "m-1"},
    {"epoch": "e-1f2e", "seq": 6, "kind": "fault", "at": AT, "error": "hci0 down"},
    {"rev": 9, "scan": {"id": 2, "visit": 7, "window_ms": 3000}, "guidance": {"visit": 7, "pattern": "chase"},
     "display": {"visit": 7, "meeting": "m-1", "title": "Weekly"}, "configs": [SIGNED_CONFIG]},
    {"rev": 0, "scan": None, "guidance": None, "display": None, "configs": []},
    {"id": "p-ana", "name": "Ana"},
    {"id": "tag-ana", "person": "p-ana", "label": "badge"},
    {"id": "room-1", "name": "Blue room", "kind": "meeting", "guidance": "backward"},
    {"id": "m-1", "title": "Weekly", "room": "room-1", "starts_at": AT, "ends_at": AT + 3_600_000,
     "invitees": ["p-ana"], "content": "https://intranet/weekly"},
    SIGNED_CONFIG,
]
CUSTOM = {"kind": "oci", "name": "meeting-display", "version": "2.1.0-rc.1+build.5", "boards": ["rpi5"],
          "security_counter": 4, "min_version": "2.0.0", "health": {"window_seconds": 90, "attempts": 2}}
BODIES = [
    {"version": "1.2.0", "slot": "a", "health": "ok", "target": "nanoedge-agent-1.2.0", "last_error": None},
    {"version": "0.0.0", "slot": "b", "health": "degraded", "last_error": "health check timed out"},
    {"deployment": 3, "target": "nanoedge-agent-1.2.0", "outcome": "success", "error": None},
    {"deployment": 3, "target": "nanoedge-agent-1.2.0", "outcome": "failure", "error": "crash loop"},
    {"target": "nanoedge-agent-1.2.0", "group": "lobby", "waves": ["10%", "50%"], "max_failures": "1",
     "soak_s": 600, "allow_downgrade": False},
    {"target": "x", "group": "all", "waves": ["1", 5, "100%"]},
    {"waves": ["25%", "2"], "max_failures": "10%", "soak_ms": 60000},
    {"deployment": 3, "target": "meeting-display-2.1.0", "custom": CUSTOM},
    {"deployment": None, "target": None, "custom": None},
    CUSTOM,
    {"name": "lobby"},
    {"id": "pi-7", "board": "rpi4b", "group": "lobby"},
    {"reason": "halted by an operator"},
]


def tuf_seeds():
    directory = os.path.join(ROOT, "Tests", "Fuzz", "seeds", "tuf")
    files = {name: open(os.path.join(directory, name), "rb").read() for name in os.listdir(directory)}
    chain = [files["timestamp.json"], files["snapshot.json"], files["targets.json"]]
    return ([files[name] for name in sorted(files)]
            + [b"\0".join(chain), b"\0".join([files["2.root.json"]] + chain),
               b"\0".join([files["timestamp.json"], files["timestamp.json"], files["snapshot.json"]])])


def tar_seeds():
    def layer(fmt, members):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        # tarfile pads to 10 KiB records; the end-of-archive marker is two zero blocks.
        content = buffer.getvalue().rstrip(b"\0")
        return content + b"\0" * (-len(content) % 512 + 1024)

    def member(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, **extra):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.linkname, info.mtime = kind, mode, link, 1_700_000_000
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        for key, value in extra.items():
            setattr(info, key, value)
        return info, (data if kind == tarfile.REGTYPE else None)

    simple = [member("usr/", tarfile.DIRTYPE, mode=0o755), member("usr/bin/app", data=b"#!/bin/sh\necho hi\n", mode=0o755),
              member("usr/bin/sh", tarfile.SYMTYPE, link="/bin/busybox"), member("usr/bin/ln", tarfile.LNKTYPE, link="usr/bin/app")]
    long_name = "opt/" + "d" * 120 + "/file"
    return [
        layer(tarfile.USTAR_FORMAT, simple),
        layer(tarfile.GNU_FORMAT, [member(long_name, data=b"x"), member("lnk", tarfile.SYMTYPE, link="t" * 150)]),
        layer(tarfile.PAX_FORMAT, [member(long_name, data=b"pax"), member("caf\u00e9/\u0301x", data=b"u"),
                                   member("big", data=b"", uid=3_000_000, gid=70_000)]),
        layer(tarfile.USTAR_FORMAT, [member("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
                                     member("fifo", tarfile.FIFOTYPE), member("suid", data=b"s", mode=0o4755)]),
        layer(tarfile.USTAR_FORMAT, [member("./etc/./passwd", data=b"root:x:0:0::/root:/bin/sh\n")]),
    ]


OCI_PATHS = ["usr/bin/app", "./etc/passwd", "usr//lib/", "a/./b/.", ".", "", "caf\u00e9", "x\u0301/y",
             "\u0600/etc", "dir/\u202eexe.txt", "\u0000", "a/../b", "../x", "/abs", "..a/b..", "\U0001F600/\u200d/z"]


def main(out):
    boards = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(ROOT, "boards", "*.toml")))]
    tomls = boards + [open(os.path.join(ROOT, "ota", "deb", "gateway.toml"), "rb").read()] + doc_blocks("toml")
    write_all(out, "toml", tomls)
    write_all(out, "json", [compact(d) for d in SITE + BODIES] + doc_blocks("json") + tuf_seeds()[:5]
              + [b'{"a":[1,-0,1e3,2.5e-3,-12345678901234567890,"\\u00e9\\ud83d\\ude00\\n"],"b":{"c":null,"d":true}}'])
    write_all(out, "site", [compact(d) for d in SITE])
    write_all(out, "tuf", tuf_seeds())
    write_all(out, "tar", tar_seeds())
    write_all(out, "ocipath", OCI_PATHS)
    write_all(out, "bodies", [compact(d) for d in BODIES])


if __name__ == "__main__":
    main(sys.argv[1])
