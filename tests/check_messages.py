#!/usr/bin/python3
"""check_messages: assertions over what a subscriber received (one JSON message a
line, generic profile). Used by the end-to-end tests.

  check_messages.py seq FILE...            seqs contiguous from first to last, no gap
  check_messages.py values EXPECTED FILE   good readings equal the simulator's values
  check_messages.py count FILE             print the number of distinct seqs
"""
import json
import math
import sys


def readings(files):
    for name in files:
        with open(name, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError as e:
                    sys.exit(f"{name}:{n}: not JSON: {e}: {line[:120]}")
                for key in ("enterprise", "gateway", "resend", "readings"):
                    if key not in msg:
                        sys.exit(f"{name}:{n}: no '{key}' in message")
                for r in msg["readings"]:
                    for key in ("seq", "tag", "device", "value", "unit", "quality", "ts"):
                        if key not in r:
                            sys.exit(f"{name}:{n}: reading without '{key}': {r}")
                    yield msg, r


def seq(files):
    # A seq may arrive twice (a resend after a reconnect or crash), but every copy
    # must be the same reading: renumbering would corrupt an upstream's history.
    first = {}
    for _, r in readings(files):
        key = (r["tag"], r["device"], r["value"], r["quality"], r["ts"])
        old = first.setdefault(r["seq"], key)
        if old != key:
            sys.exit(f"seq {r['seq']} arrived as two different readings: {old} and {key}")
    seqs = set(first)
    if not seqs:
        sys.exit("no readings received")
    lo, hi = min(seqs), max(seqs)
    missing = sorted(set(range(lo, hi + 1)) - seqs)
    if missing:
        sys.exit(f"{len(missing)} seqs missing in {lo}..{hi}, first {missing[:10]}")
    print(f"seq {lo}..{hi}: {len(seqs)} readings, none missing")


def values(expected_file, files):
    expected = {}
    with open(expected_file, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                expected[parts[0]] = float(parts[1])
    seen = {}
    for _, r in readings(files):
        if r["quality"] != "good":
            sys.exit(f"reading of {r['tag']} has quality {r['quality']}")
        want = expected.get(r["tag"])
        if want is None:
            sys.exit(f"tag {r['tag']} is not one the simulator serves")
        got = r["value"]
        if not math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9):
            sys.exit(f"{r['tag']}: published {got}, simulator served {want}")
        seen[r["tag"]] = got
    missing = sorted(set(expected) - set(seen))
    if missing:
        sys.exit(f"never published: {missing}")
    print(f"{len(seen)} tags published with the simulator's values")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "seq":
        seq(sys.argv[2:])
    elif cmd == "values":
        values(sys.argv[2], sys.argv[3:])
    elif cmd == "count":
        print(len(set(r["seq"] for _, r in readings(sys.argv[2:]))))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
