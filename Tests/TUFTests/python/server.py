#!/usr/bin/env python3
"""A static HTTP server for the TUF tests: serves --root (re-resolved on every request, so a
test can swap a symlink between repository states), answers single Range requests, and injects
faults listed in --faults (JSON, re-read on every request), and logs each request to --log:
    {"URL path": {"truncate_at": N}}   announce the full length but close after N body bytes of each response
    {"URL path": {"status": 500}}      answer with that status
Prints the port on stdout once listening; serves until killed."""

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def faults(self):
        try:
            with open(self.server.faults_file) as f:
                return json.load(f).get(self.path.split("?")[0], {})
        except (OSError, ValueError):
            return {}

    def do_GET(self):
        if self.server.log_file:
            with open(self.server.log_file, "a") as log:
                log.write(f"{self.path} {self.headers.get('Range', '-')}\n")
        fault = self.faults()
        if "status" in fault:
            self.send_response(fault["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = os.path.join(os.path.realpath(self.server.root), self.path.lstrip("/").split("?")[0])
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        status = 200
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            first, _, last = header[6:].partition("-")
            start = int(first)
            end = int(last) if last else size - 1
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        limit = fault.get("truncate_at")
        with open(path, "rb") as f:
            f.seek(start)
            remaining = end - start + 1
            sent = 0
            while remaining > 0:
                chunk = f.read(min(65536, remaining))
                if not chunk:
                    break
                if limit is not None and sent + len(chunk) > limit:
                    chunk = chunk[: max(0, limit - sent)]
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                sent += len(chunk)
                remaining -= len(chunk)


def main():
    # A child inherits its parent's blocked signals; make SIGTERM and SIGINT work again.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--faults", default="/nonexistent")
    parser.add_argument("--log", default=None, help="append 'PATH RANGE' per request")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.root = args.root
    server.faults_file = args.faults
    server.log_file = args.log
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
