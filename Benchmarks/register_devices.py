#!/usr/bin/env python3
"""Creates a group and COUNT devices on an update server over one keep-alive connection and writes
their check-in tokens, one per line. usage: register_devices.py PORT ADMIN_TOKEN GROUP COUNT OUT"""
import http.client
import json
import sys

port, token, group, count, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
connection = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


def post(path, body):
    connection.request("POST", path, json.dumps(body), headers)
    response = connection.getresponse()
    data = response.read()
    if response.status not in (200, 201):
        sys.exit(f"{path}: {response.status} {data!r}")
    return json.loads(data)


post("/api/v1/groups", {"name": group})
with open(out, "w") as handle:
    for index in range(count):
        device = post("/api/v1/devices", {"id": f"{group}-{index:05d}", "board": "rpi4b", "group": group})
        handle.write(device["token"] + "\n")
