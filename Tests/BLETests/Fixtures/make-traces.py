#!/usr/bin/env python3
"""Writes the .hcitrace fixtures of Tests/BLETests and the benchmark's load trace.

Each packet is assembled here field by field from the Core Specification's layouts (Vol 4 Part E
7.7.65.2 LE Advertising Report, 7.7.65.13 LE Extended Advertising Report, 7.7.14/7.7.15 Command
Complete/Status) and from the advertising payloads the devices named below send. Regenerate with
    python3 Tests/BLETests/Fixtures/make-traces.py Tests/BLETests/Fixtures
for the benchmark
    python3 Tests/BLETests/Fixtures/make-traces.py --load OUT.hcitrace --seconds 10 --rate 1000
and the fuzzers' seed corpora (one file per HCI packet, one per report's advertising data)
    python3 Tests/BLETests/Fixtures/make-traces.py --corpus DIR Tests/BLETests/Fixtures
"""
import argparse
import os
import random
import struct

ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND, SCAN_RSP = range(5)
PUBLIC, RANDOM = 0, 1


def addr(text):
    """'AA:BB:CC:DD:EE:FF' -> 6 bytes, least significant first, as HCI sends them."""
    return bytes(reversed(bytes.fromhex(text.replace(":", ""))))


def ad(ad_type, payload):
    return bytes([len(payload) + 1, ad_type]) + payload


def report(event_type, address_type, address, data, rssi):
    assert len(data) <= 31
    return bytes([event_type, address_type]) + addr(address) + bytes([len(data)]) + data + struct.pack("b", rssi)


def le_adv_event(*reports):
    params = bytes([0x02, len(reports)]) + b"".join(reports)
    return bytes([0x04, 0x3E, len(params)]) + params


def ext_report(event_type_bits, address_type, address, data, rssi, tx_power=127):
    return (struct.pack("<HB", event_type_bits, address_type) + addr(address)
            + bytes([0x01, 0x00, 0xFF]) + struct.pack("bb", tx_power, rssi)
            + struct.pack("<H", 0) + bytes([0x00]) + bytes(6) + bytes([len(data)]) + data)


def le_ext_event(*reports):
    params = bytes([0x0D, len(reports)]) + b"".join(reports)
    return bytes([0x04, 0x3E, len(params)]) + params


def command_complete(opcode, *return_params):
    params = bytes([0x01]) + struct.pack("<H", opcode) + bytes(return_params)
    return bytes([0x04, 0x0E, len(params)]) + params


def command_status(status, opcode):
    params = bytes([status, 0x01]) + struct.pack("<H", opcode)
    return bytes([0x04, 0x0F, len(params)]) + params


FLAGS_LE_GENERAL = ad(0x01, bytes([0x06]))


def ibeacon_data(uuid, major, minor, power):
    frame = bytes([0x02, 0x15]) + bytes.fromhex(uuid.replace("-", "")) + struct.pack(">HHb", major, minor, power)
    return FLAGS_LE_GENERAL + ad(0xFF, struct.pack("<H", 0x004C) + frame)


def eddystone(frame):
    return FLAGS_LE_GENERAL + ad(0x03, struct.pack("<H", 0xFEAA)) + ad(0x16, struct.pack("<H", 0xFEAA) + frame)


def write(directory, name, header, entries):
    with open(os.path.join(directory, name), "w") as out:
        for line in header.strip().splitlines():
            out.write("# " + line + "\n")
        for ms, packet in entries:
            out.write("%d %s\n" % (ms, " ".join("%02X" % b for b in packet)))


def fixtures(directory):
    # An iBeacon (the layout of Apple's AirLocate sample UUID), non-connectable, random static address.
    ibeacon = ibeacon_data("E2C56DB5-DFFB-48D2-B060-D0F5A71096E0", 1, 2, -59)
    write(directory, "ibeacon.hcitrace", """
iBeacon: UUID E2C56DB5-DFFB-48D2-B060-D0F5A71096E0, major 1, minor 2, measured power -59 dBm,
ADV_NONCONN_IND from random address C4:7C:8D:6A:12:34, every 100 ms, RSSI -63 -65 -64.
""", [(0, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "C4:7C:8D:6A:12:34", ibeacon, -63))),
      (100, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "C4:7C:8D:6A:12:34", ibeacon, -65))),
      (200, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "C4:7C:8D:6A:12:34", ibeacon, -64)))])

    # An Eddystone beacon rotating UID, URL and TLM frames from one address.
    uid = eddystone(bytes([0x00, 0xEE]) + bytes.fromhex("EDD1EBEAC04E5DEFA017") + bytes.fromhex("0BDB87539B67") + bytes(2))
    url = eddystone(bytes([0x10, 0xEB, 0x03]) + b"goo.gl/S6zT6P")
    url2 = eddystone(bytes([0x10, 0xF4, 0x01]) + b"example" + bytes([0x07]))
    tlm = eddystone(bytes([0x20, 0x00]) + struct.pack(">HhII", 3000, 0x1780, 0x1234, 0x1E240))
    write(directory, "eddystone.hcitrace", """
Eddystone beacon D0:39:72:A4:B1:22 (random static) rotating frames, ADV_NONCONN_IND:
UID namespace EDD1EBEAC04E5DEFA017 instance 0BDB87539B67 tx -18 dBm; URL https://goo.gl/S6zT6P tx -21 dBm;
TLM v0 3000 mV, 23.5 C (0x1780), 0x1234 PDUs, 12345.6 s; URL https://www.example.com tx -12 dBm.
""", [(0, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "D0:39:72:A4:B1:22", uid, -70))),
      (333, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "D0:39:72:A4:B1:22", url, -71))),
      (666, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "D0:39:72:A4:B1:22", tlm, -69))),
      (1000, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "D0:39:72:A4:B1:22", url2, -72)))])

    # Phones: an iPhone (Apple "Nearby" manufacturer data, not an iBeacon, TX power 12 dBm, resolvable
    # private address) and an Android phone (Google Fast Pair service data), plus their scan responses.
    iphone = ad(0x01, bytes([0x1A])) + ad(0x0A, bytes([0x0C])) + ad(0xFF, bytes.fromhex("4C0010050B1C3A7D55"))
    android = (FLAGS_LE_GENERAL + ad(0x03, struct.pack("<H", 0xFE2C))
               + ad(0x16, struct.pack("<H", 0xFE2C) + bytes.fromhex("00000000")))
    android_rsp = ad(0x09, b"Pixel 7") + ad(0x0A, bytes([0xF9]))
    entries = []
    rssi_iphone = [-58, -59, -57, -60, -58, -75, -76, -74, -75, -76]
    rssi_android = [-80, -81, -79, -80, -82, -81, -80, -79, -81, -80]
    for i in range(10):
        t = i * 100
        entries.append((t, le_adv_event(report(ADV_IND, RANDOM, "6B:1F:4A:2C:9D:E0", iphone, rssi_iphone[i]))))
        entries.append((t + 20, le_adv_event(report(ADV_IND, RANDOM, "5A:E3:61:0C:7B:44", android, rssi_android[i]),
                                             report(SCAN_RSP, RANDOM, "5A:E3:61:0C:7B:44", android_rsp, rssi_android[i]))))
    write(directory, "phones.hcitrace", """
An iPhone 6B:1F:4A:2C:9D:E0 (ADV_IND, flags 0x1A, TX power 12 dBm, Apple manufacturer data type 0x10)
moving away after 500 ms (RSSI about -58, then about -75), and an Android phone 5A:E3:61:0C:7B:44 (Fast
Pair service data FE2C) whose advertisement and scan response ("Pixel 7", TX power -7) come in one
two-report event. 10 rounds, 100 ms apart.
""", entries)

    # Several reports per event, as controllers batch them under load, and a named tag with a 128-bit list.
    tag = FLAGS_LE_GENERAL + ad(0x07, bytes.fromhex("6E400001B5A3F393E0A9E50E24DCCA9E")[::-1]) + ad(0x09, b"Alice")
    write(directory, "multi-report.hcitrace", """
Three reports in one LE Advertising Report event: a named tag "Alice" (public address 00:1B:DC:07:32:A1, complete
128-bit list with the Nordic UART service), the iBeacon, and an empty ADV_DIRECT_IND; then one extended report
event (BLE 5 controller) carrying a legacy ADV_IND and an extended non-legacy report with TX power 4 dBm.
""", [(0, le_adv_event(report(ADV_IND, PUBLIC, "00:1B:DC:07:32:A1", tag, -55),
                       report(ADV_NONCONN_IND, RANDOM, "C4:7C:8D:6A:12:34", ibeacon, -66),
                       report(ADV_DIRECT_IND, PUBLIC, "00:1B:DC:07:32:A2", b"", -90))),
      (5, le_ext_event(ext_report(0x0013, PUBLIC, "00:1B:DC:07:32:A1", tag, -54),
                       ext_report(0x0000, RANDOM, "F1:E2:D3:C4:B5:A6", ad(0x09, b"Ext") + ad(0x0A, bytes([0x04])), -61, 4)))])

    # The command exchange of a scan start as the controller answers it, and the failures.
    write(directory, "commands.hcitrace", """
Controller answers: Set Scan Enable (off) complete, Set Scan Parameters complete, Set Scan Enable (on)
complete, all status 0; then Set Scan Parameters refused with 0x0C (Command Disallowed) and a Command
Status 0x01 (Unknown HCI Command) for opcode 0x2041 (LE Set Extended Scan Parameters).
""", [(0, command_complete(0x200C, 0x00)), (2, command_complete(0x200B, 0x00)), (4, command_complete(0x200C, 0x00)),
      (10, command_complete(0x200B, 0x0C)), (12, command_status(0x01, 0x2041))])

    # What a scan sees between the beacons: malformed events a parser must survive.
    write(directory, "malformed.hcitrace", """
Malformed events, each rejected by the HCI parser, between two good iBeacon reports:
parameter length longer than the packet; Num_Reports 5 with one report's bytes; data length 40 (> 31);
data length past the end; a trailing byte after the last report; Num_Reports 0; an ACL packet (type 02).
""", [(0, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "C4:7C:8D:6A:12:34", ibeacon, -63))),
      (1, bytes([0x04, 0x3E, 0x2B]) + le_adv_event(report(ADV_IND, PUBLIC, "00:1B:DC:07:32:A1", b"", -50))[3:]),
      (2, bytes([0x04, 0x3E, 0x0C, 0x02, 0x05]) + report(ADV_IND, PUBLIC, "00:1B:DC:07:32:A1", b"", -50)),
      (3, bytes([0x04, 0x3E, 0x0C + 40, 0x02, 0x01, 0x00, 0x00]) + addr("00:1B:DC:07:32:A1") + bytes([40]) + bytes(40) + bytes([0xC0])),
      (4, bytes([0x04, 0x3E, 0x0F, 0x02, 0x01, 0x00, 0x00]) + addr("00:1B:DC:07:32:A1") + bytes([0x05, 0x02, 0x01, 0x06, 0xC0])),
      (5, bytes([0x04, 0x3E, 0x0D, 0x02, 0x01]) + report(ADV_IND, PUBLIC, "00:1B:DC:07:32:A1", b"", -50) + bytes([0x00])),
      (6, bytes([0x04, 0x3E, 0x02, 0x02, 0x00])),
      (7, bytes([0x02, 0x01, 0x20, 0x04, 0x00, 0x01, 0x02, 0x03, 0x04])),
      (8, le_adv_event(report(ADV_NONCONN_IND, RANDOM, "C4:7C:8D:6A:12:34", ibeacon, -64)))])


def load(path, seconds, rate, devices):
    """A busy room: `devices` tags (iBeacons, Eddystone, phones), `rate` reports a second in total,
    one report per event every 1000/rate ms, RSSI wandering."""
    rng = random.Random(7)
    payloads = []
    for d in range(devices):
        address = "%02X:%02X:%02X:%02X:%02X:%02X" % (0xC0 | (d >> 8 & 0x3F), d & 0xFF, 0x10, 0x20, 0x30, d % 251)
        kind = d % 3
        if kind == 0:
            data = ibeacon_data("E2C56DB5-DFFB-48D2-B060-D0F5A71096E0", d, d * 7 % 65536, -59)
        elif kind == 1:
            data = eddystone(bytes([0x10, 0xEB, 0x03]) + b"example.com/%d" % d)
        else:
            data = ad(0x01, bytes([0x1A])) + ad(0x0A, bytes([0x0C])) + ad(0xFF, bytes.fromhex("4C0010050B1C3A7D55"))
        payloads.append((address, data, rng.randint(-90, -50)))
    with open(path, "w") as out:
        out.write("# load trace: %d devices, %d reports/s, %d s\n" % (devices, rate, seconds))
        for i in range(seconds * rate):
            address, data, base = payloads[i % devices]
            packet = le_adv_event(report(ADV_NONCONN_IND, RANDOM, address, data, base + rng.randint(-4, 4)))
            out.write("%d %s\n" % (i * 1000 // rate, packet.hex().upper()))


def corpus(out, directory):
    """Seeds from the fixtures: DIR/hci/<trace>-<n> per packet, DIR/ad/<trace>-<n>-<r> per legacy report's data."""
    for sub in ("hci", "ad"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".hcitrace"):
            continue
        stem = name[:-len(".hcitrace")]
        lines = [l.split(None, 1) for l in open(os.path.join(directory, name)) if l.strip() and not l.startswith("#")]
        for n, (_, hexdigits) in enumerate(lines):
            packet = bytes.fromhex(hexdigits)
            with open(os.path.join(out, "hci", "%s-%d" % (stem, n)), "wb") as f:
                f.write(packet)
            # Legacy advertising reports, laid out one after the other; stop at anything that does not fit.
            if len(packet) > 5 and packet[:2] == b"\x04\x3e" and packet[3] == 0x02 and packet[2] == len(packet) - 3:
                p = 5
                for r in range(packet[4]):
                    if p + 9 > len(packet) or p + 9 + packet[p + 8] + 1 > len(packet):
                        break
                    length = packet[p + 8]
                    with open(os.path.join(out, "ad", "%s-%d-%d" % (stem, n, r)), "wb") as f:
                        f.write(packet[p + 9:p + 9 + length])
                    p += 9 + length + 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--load")
    parser.add_argument("--corpus")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=200)
    args = parser.parse_args()
    if args.load:
        load(args.load, args.seconds, args.rate, args.devices)
    if args.corpus:
        corpus(args.corpus, args.directory)
    elif args.directory:
        fixtures(args.directory)
