"""Reads Prometheus text exposition on stdin with prometheus_client's reference parser and prints
every sample as JSON; a format error exits non-zero with the parser's message."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
samples = []
try:
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "gauge", "histogram", "summary", "untyped", "unknown"):
            raise ValueError(f"{family.name}: unexpected type {family.type}")
        for sample in family.samples:
            samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
except Exception as error:  # the parser raises ValueError and friends on malformed input
    print(f"invalid exposition: {error}")
    sys.exit(1)
if not samples:
    print("no samples")
    sys.exit(1)
print(json.dumps(samples))
