#!/usr/bin/env python3
"""Updater benchmarks: binary switch time and container update service gap.

Run by Benchmarks/run.sh after the release build (or alone: python3 Benchmarks/updater.py dist/nanoedge-agent).
Needs root, runc and busybox-static for the container part. Prints a Markdown section on stdout.
"""
import gzip, hashlib, io, json, os, shutil, statistics, subprocess, sys, tarfile, tempfile, time

AGENT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "dist/nanoedge-agent")
RUNS = int(os.environ.get("UPDATER_RUNS", "20"))
CONTAINER_RUNS = int(os.environ.get("UPDATER_CONTAINER_RUNS", "5"))
WORK = tempfile.mkdtemp(prefix="nanoedge-updater-bench.")


def update(state, *args, check=True, extra=()):
    result = subprocess.run([AGENT, "update", "--state-dir", state, "--board", "sim", *extra, *args],
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"update {args} failed: {result.stderr}")
    return result


def target_info(path, version, kind, extra=None):
    data = open(path, "rb").read()
    custom = {"kind": kind, "version": version, "boards": ["sim"], **(extra or {})}
    info = {"name": os.path.basename(path), "length": len(data),
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()}, "custom": custom}
    out = os.path.join(WORK, f"target-{kind}-{version}.json")
    json.dump(info, open(out, "w"))
    return out


def binary_switch():
    """activate → service restart (update boot + exec of current) → the new binary's first line."""
    state = os.path.join(WORK, "binary")
    first = target_info(AGENT, "1.0.0", "binary", {"file": "nanoedge-agent"})
    update(state, "install", "--target-info", first, "--artifact", AGENT)
    update(state, "commit")
    switch, restart = [], []
    for run in range(RUNS):
        info = target_info(AGENT, f"1.{run + 1}.0", "binary", {"file": "nanoedge-agent"})
        update(state, "stage", "--target-info", info, "--artifact", AGENT)
        start = time.monotonic()
        update(state, "activate")
        update(state, "boot")
        line = subprocess.run([os.path.join(state, "current/nanoedge-agent"), "--version"],
                              capture_output=True, text=True).stdout.splitlines()[0]
        switch.append((time.monotonic() - start) * 1000)
        assert line.startswith("nanoedge-agent"), line
        update(state, "commit")
        # Peer: the same restart without a switch.
        start = time.monotonic()
        update(state, "boot")
        subprocess.run([os.path.join(state, "current/nanoedge-agent"), "--version"], capture_output=True)
        restart.append((time.monotonic() - start) * 1000)
    return statistics.median(switch), max(switch), statistics.median(restart)


def tar_bytes(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


HEARTBEAT = b"""#!/bin/sh
trap 'exit 0' TERM
while true; do
    read up idle < /proc/uptime
    echo "$VERSION $up" >> /data/beats
    sleep 0.05
done
"""


def image(version):
    """An oci-archive: busybox-static (gzip layer) + the heartbeat script (zstd layer)."""
    base = tar_bytes([("bin", "dir", None, 0o755), ("bin/busybox", "file", open("/bin/busybox", "rb").read(), 0o755)]
                     + [(f"bin/{t}", "link", "busybox", 0o777) for t in ("sh", "sleep", "cat")]
                     + [("data", "dir", None, 0o755), ("tmp", "dir", None, 0o1777)])
    top = tar_bytes([("app", "dir", None, 0o755), ("app/run.sh", "file", HEARTBEAT, 0o755)])
    layout = os.path.join(WORK, f"layout-{version}")
    os.makedirs(os.path.join(layout, "blobs/sha256"))
    def blob(data, media):
        digest = hashlib.sha256(data).hexdigest()
        open(os.path.join(layout, "blobs/sha256", digest), "wb").write(data)
        return {"mediaType": media, "digest": "sha256:" + digest, "size": len(data)}
    zstd = subprocess.run(["zstd", "-q", "-c"], input=top, capture_output=True, check=True).stdout
    layers = [blob(gzip.compress(base, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"),
              blob(zstd, "application/vnd.oci.image.layer.v1.tar+zstd")]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = blob(json.dumps({"architecture": arch, "os": "linux",
                              "config": {"Entrypoint": ["/bin/sh", "/app/run.sh"], "Env": [f"VERSION={version}"]},
                              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest()
                                                                       for t in (base, top)]}}).encode(),
                  "application/vnd.oci.image.config.v1+json")
    manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": config, "layers": layers}).encode(), "application/vnd.oci.image.manifest.v1+json")
    json.dump({"schemaVersion": 2, "manifests": [manifest]}, open(os.path.join(layout, "index.json"), "w"))
    json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(layout, "oci-layout"), "w"))
    archive = os.path.join(WORK, f"image-{version}.tar")
    subprocess.run(["tar", "-C", layout, "-cf", archive, "."], check=True)
    return archive


def beats(data):
    out = []
    for line in open(os.path.join(data, "beats")).read().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out.append(float(parts[1]))
    return sorted(out)


def uptime():
    return float(open("/proc/uptime").read().split()[0])


def container_gap():
    """Longest time without a heartbeat from any version while `update install` replaces the container."""
    state = os.path.join(WORK, "apps")
    root = os.path.join(WORK, "runc")
    data = os.path.join(WORK, "data")
    os.makedirs(data)
    extra = ("--runtime-root", root, "--bind", f"{data}:/data")
    health = {"health": {"window_ms": 1000, "attempts": 2, "timeout_ms": 30000}, "container": "app"}
    first = image("1.0.0")
    update(state, "install", "--target-info", target_info(first, "1.0.0", "oci", health), "--artifact", first, extra=extra)
    gaps, totals = [], []
    for run in range(CONTAINER_RUNS):
        version = f"1.{run + 1}.0"
        archive = image(version)
        info = target_info(archive, version, "oci", health)
        update(state, "stage", "--target-info", info, "--artifact", archive, extra=extra)
        time.sleep(0.3)
        start_up, start = uptime(), time.monotonic()
        update(state, "activate", extra=extra)
        totals.append((time.monotonic() - start) * 1000)
        time.sleep(0.3)
        window = [t for t in beats(data) if start_up - 0.2 <= t <= uptime()]
        gaps.append(max(b - a for a, b in zip(window, window[1:])) * 1000)
    # Peer: stop the old container, then start the new one (an update without the overlap).
    status = json.loads(update(state, "status", extra=extra).stdout)
    slot = status["committed"]["slot"]
    bundle = os.path.join(state, "slots", slot, "bundle")
    runc = ["runc", "--root", root]
    peer = []
    for _ in range(CONTAINER_RUNS):
        time.sleep(0.3)
        start_up = uptime()
        subprocess.run(runc + ["kill", f"app-{slot}", "TERM"], check=True)
        while json.loads(subprocess.run(runc + ["state", f"app-{slot}"], capture_output=True, text=True).stdout
                         or '{"status":"stopped"}')["status"] == "running":
            time.sleep(0.01)
        subprocess.run(runc + ["delete", "--force", f"app-{slot}"], check=True)
        with open(os.path.join(state, "slots", slot, "container.log"), "a") as log:
            subprocess.run(runc + ["run", "--detach", "--bundle", bundle, "--pid-file", bundle + "/pid", f"app-{slot}"],
                           stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=True)
        time.sleep(0.3)
        window = [t for t in beats(data) if start_up - 0.2 <= t <= uptime()]
        peer.append(max(b - a for a, b in zip(window, window[1:])) * 1000)
    for slot in ("a", "b"):
        subprocess.run(runc + ["delete", "--force", f"app-{slot}"], capture_output=True)
    return statistics.median(gaps), max(gaps), statistics.median(totals), statistics.median(peer)


def main():
    switch_median, switch_max, restart_median = binary_switch()
    rows = [f"| binary switch: activate → restart (`update boot`) → new binary's first line, {RUNS} runs | median ≤ 1 s "
            f"| {switch_median:.1f} ms (max {switch_max:.1f} ms) | the same restart without a switch: "
            f"{restart_median:.1f} ms (ratio {switch_median / restart_median:.2f}) |"]
    if os.geteuid() == 0 and shutil.which("runc") and os.path.exists("/bin/busybox"):
        gap_median, gap_max, total_median, peer_median = container_gap()
        rows.append(f"| container update service gap (heartbeat every 50 ms), {CONTAINER_RUNS} updates | ≤ 2 s "
                    f"| {gap_median:.0f} ms (max {gap_max:.0f} ms); activate → committed {total_median:.0f} ms "
                    f"with a 1 s health window | stop old, then start new: {peer_median:.0f} ms |")
    else:
        rows.append("| container update service gap | ≤ 2 s | not measured (needs root, runc, busybox-static) | — |")
    print("\n## Updater\n")
    print("| what | target | measured | peer in the same run |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print("""
Notes:
- Binary switch: the release build of the agent is the artifact. Timed from the commit decision to
  activate (state.json written, `current` renamed, directory synced) through the service restart a
  systemd unit does (`update boot` from the factory binary, then the slot's binary) to the new
  binary's first line of output (`--version`). Registration with the gateway adds the figure of
  "process start → registered" above.
- Container gap: the image (busybox-static, gzip and zstd layers, an oci-archive) appends a
  heartbeat to a bind-mounted file every 50 ms; the gap is the longest interval without a heartbeat
  from either version between activate and 0.3 s after it returned. The old container runs until the
  new one passed its window, so the gap stays at the heartbeat period; the peer stops the old
  container before starting the new one, as an update without overlap would.""")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
