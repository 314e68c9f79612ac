#!/usr/bin/python3
"""pymodbus_check: compare `ganzhi read` output for tests/e2e_pymodbus.sh.

  pymodbus_check.py contract EXPECTED READ.json READ.txt
      every point of EXPECTED ("TAG VALUE TYPE", from pymodbus_server.py) is in both
      outputs of `ganzhi read` (--json and text), quality good, value equal:
      integers exactly up to 2^53 (beyond: as the nearest double), float64 as the
      same double, float32 as the same float32, scaled points as the double
      nearest the exact decimal.
  pymodbus_check.py same A.json B.json
      two `ganzhi read --json` outputs of one table: every tag, same value text,
      unit and quality, and all good.
Exit 0 when all agree; 1 with one line per difference.
"""
import json
import struct
import sys
from fractions import Fraction

INT_TYPES = {"int16", "uint16", "int32", "uint32", "int64", "uint64"}


def load_json(path):
    """tag -> (value text or None, unit, quality); numbers kept as their text."""
    arr = json.load(open(path, encoding="utf-8"), parse_float=str, parse_int=str)
    out = {}
    for x in arr:
        if x["tag"] in out:
            raise SystemExit(f"{path}: tag {x['tag']} twice")
        out[x["tag"]] = (x["value"], x["unit"], x["quality"])
    return out


def load_text(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        if line.strip():
            tag, value, unit, quality = line.split()
            out[tag] = (None if value == "-" else value, unit, quality)
    return out


def f32(x):
    return struct.unpack(">f", struct.pack(">f", x))[0]


def agrees(typ, exp, got):
    """Why got (text) differs from exp (text), or None."""
    try:
        g = Fraction(got)
    except (TypeError, ValueError):
        return f"not a number: {got!r}"
    if typ in INT_TYPES and "." not in exp and "e" not in exp:
        e = int(exp)
        if abs(e) <= 2**53:
            return None if g == e else "differs"
        return None if float(got) == float(e) else "differs (as double)"
    if typ == "float32":
        try:
            return None if f32(float(got)) == f32(float(exp)) else "differs (as float32)"
        except OverflowError:
            return "out of float32 range"
    if typ.startswith("bit:") or typ == "bool":
        return None if got in ("0", "1") and int(got) == int(exp) else "differs"
    # float64 and scaled points: the same double
    return None if float(got) == float(exp) else "differs (as double)"


def contract(expected, json_path, text_path):
    exp = {}
    for line in open(expected, encoding="utf-8"):
        if line.strip():
            tag, value, typ = line.split()
            exp[tag] = (value, typ)
    bad = []
    counted = 0
    for name, got in (("--json", load_json(json_path)), ("text", load_text(text_path))):
        for tag in sorted(set(got) - set(exp)):
            bad.append(f"{name}: {tag}: not in the expected table")
        for tag, (value, typ) in exp.items():
            if tag not in got:
                bad.append(f"{name}: {tag}: missing from the output")
                continue
            gv, unit, quality = got[tag]
            if quality != "good":
                bad.append(f"{name}: {tag} ({typ}): quality {quality}, expected good")
                continue
            why = agrees(typ, value, gv)
            if why:
                bad.append(f"{name}: {tag} ({typ}): got {gv}, expected {value}: {why}")
            counted += 1
    for b in bad:
        print(b)
    print(f"{counted} values compared, {len(bad)} differences")
    return 1 if bad else 0


def same(a_path, b_path):
    a, b = load_json(a_path), load_json(b_path)
    bad = []
    for tag in sorted(set(a) | set(b)):
        if tag not in a or tag not in b:
            bad.append(f"{tag}: only in {a_path if tag in a else b_path}")
            continue
        if a[tag][2] != "good" or b[tag][2] != "good":
            bad.append(f"{tag}: quality {a[tag][2]} / {b[tag][2]}")
        if a[tag] != b[tag]:
            bad.append(f"{tag}: ganzhi-sim {a[tag][0]} {a[tag][1]} {a[tag][2]}"
                       f"  pymodbus {b[tag][0]} {b[tag][1]} {b[tag][2]}")
    for x in bad:
        print(x)
    print(f"{len(a)} tags compared, {len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "contract":
        sys.exit(contract(*sys.argv[2:]))
    if len(sys.argv) == 4 and sys.argv[1] == "same":
        sys.exit(same(*sys.argv[2:]))
    sys.exit(__doc__)
