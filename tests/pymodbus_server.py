#!/usr/bin/python3
"""pymodbus_server: an independent Modbus TCP server for tests/e2e_pymodbus.sh.

The register image is built here, in Python, with the struct module and the orders
written out letter by letter as drivers/mb_point.h documents them - never with
Ganzhi's C encoder - so that Ganzhi's decoder and encoder cannot be wrong together.

Modes:
  pymodbus_server.py --port N --out-dir DIR
      serve the contract table: every type x every order x several values, edge
      values included; write DIR/points.csv (Ganzhi point table) and
      DIR/expected.txt ("TAG VALUE TYPE", engineering values computed here).
  pymodbus_server.py --port N --from-sim LIST VALUES
      serve the register image of ganzhi-sim's table: LIST is `ganzhi-sim --list`,
      VALUES is `ganzhi-sim --static --values`; each engineering value is encoded
      here as raw = (value - offset) / scale.
  pymodbus_server.py --port N --out-dir DIR --from-sim LIST VALUES
      both: unit 1 serves the contract table, unit 2 the simulator's (two
      devices behind one socket, as behind a serial device server).
  --rtu         RTU frames (CRC and all) over TCP, as a serial device server or
                a DTU in transparent mode carries them, instead of Modbus TCP.
  --check-only  build and print the image summary, do not serve.
Prints "listening" when the server accepts connections.
"""
import argparse
import asyncio
import csv
import io
import logging
import os
import struct
import sys
from fractions import Fraction

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import ModbusTcpServer
from pymodbus.transaction import ModbusRtuFramer

# Bytes of the value, most significant first, are A B C D (E F G H); each order
# names the bytes as they appear on the wire, register after register
# (mb_point.h: "For 16-bit types only the byte choice applies").
LAYOUT = {
    16: {"ABCD": "AB", "CDAB": "AB", "BADC": "BA", "DCBA": "BA"},
    32: {"ABCD": "ABCD", "CDAB": "CDAB", "BADC": "BADC", "DCBA": "DCBA"},
    64: {"ABCD": "ABCDEFGH", "CDAB": "GHEFCDAB", "BADC": "BADCFEHG", "DCBA": "HGFEDCBA"},
}
ORDERS = ["ABCD", "DCBA", "BADC", "CDAB"]
FMT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q",
       "uint64": ">Q", "float32": ">f", "float64": ">d"}
INT_TYPES = {"int16", "uint16", "int32", "uint32", "int64", "uint64"}


def encode(typ, order, raw):
    """Registers (list of 16-bit ints) holding raw as typ in order."""
    big = struct.pack(FMT[typ], raw)
    layout = LAYOUT[8 * len(big)][order or "ABCD"]
    wire = bytes(big[ord(ch) - ord("A")] for ch in layout)
    return [int.from_bytes(wire[i:i + 2], "big") for i in range(0, len(wire), 2)]


def f32(x):
    """The float32 nearest x, as a Python float."""
    return struct.unpack(">f", struct.pack(">f", x))[0]


# Values per type: edges, and byte patterns in which every byte differs so that
# any swap of bytes or words changes the value.
VALUES = {
    "int16": [0x1234, -2, 32767, -32768, 0, 1, -12345, 0x7F01],
    "uint16": [0x1234, 65535, 0, 1, 0xABCD, 32768, 255, 256],
    "int32": [0x12345678, -2, 2147483647, -2147483648, 0, -123456789, 65536, 0x01FF02FE],
    "uint32": [0x12345678, 4294967295, 0x89ABCDEF, 0, 65536, 0xFF00],
    "int64": [0x0102030405060708, -2, 2**53, -2**53, 2**53 - 1, -1234567890123,
              2**63 - 1, -2**63, 0, 0x0019283746556473, -0x0019283746556473],
    "uint64": [0x0102030405060708, 2**53, 2**64 - 1, 0xFEDCBA9876543210, 0, 2**53 - 1,
               0x0019283746556473],
    "float32": [0.1, -0.1, 1.0, -2.5, 3.4028234663852886e38, 1.1754943508222875e-38,
                1.401298464324817e-45, 0.0, 123456.789, 16777217.0, 1e-7, -0.61],
    "float64": [0.30000000000000004, -0.1, 1 / 3, 1.7976931348623157e308, 5e-324,
                2.2250738585072014e-308, -123456.789, 3.141592653589793, 1e-300,
                9007199254740993.0, 0.0, 123456789.12345679],
}
# (type, order, raw, scale, offset, unit): the scaled points.
SCALED = [
    ("int16", "ABCD", -12345, "0.1", "", "degC"),
    ("uint16", "BADC", 3215, "0.001", "", "m"),
    ("uint16", "ABCD", 748, "0.1", "-50", "degC"),
    ("int32", "CDAB", -62756, "0.001", "", "m3/h"),
    ("uint32", "DCBA", 12345678, "0.001", "100", "h"),
    ("int64", "BADC", -1234567, "0.01", "", "kg"),
    ("uint64", "DCBA", 8765432100, "0.001", "", "kWh"),
    ("int16", "DCBA", 1000, "2.5", "0.5", "x"),
]


class Image:
    def __init__(self):
        self.regs = {"holding": [0] * 65536, "input": [0] * 65536}
        self.bits = {"coil": [False] * 65536, "discrete": [False] * 65536}

    def put(self, area, address, words):
        for i, w in enumerate(words):
            self.regs[area][address + i] = w

    def slave(self):
        return ModbusSlaveContext(
            hr=ModbusSequentialDataBlock(0, self.regs["holding"]),
            ir=ModbusSequentialDataBlock(0, self.regs["input"]),
            co=ModbusSequentialDataBlock(0, self.bits["coil"]),
            di=ModbusSequentialDataBlock(0, self.bits["discrete"]),
            zero_mode=True)

    def context(self):
        return ModbusServerContext(slaves=self.slave(), single=True)


def contract_table(img):
    """Every type x order x value; returns rows (tag, area, address, type, order,
    scale, offset, unit, expected-text)."""
    rows = []
    nxt = {"holding": 0, "input": 0}

    def place(area, typ, order, raw, scale="", offset="", unit=""):
        words = encode(typ, order, raw)
        addr = nxt[area]
        nxt[area] += len(words) + 1          # a gap register between points
        img.put(area, addr, words)
        if scale or offset:
            exact = Fraction(raw) * Fraction(scale or "1") + Fraction(offset or "0")
            exp = repr(float(exact))
        elif typ in INT_TYPES:
            exp = str(raw)
        elif typ == "float32":
            exp = repr(f32(raw))
        else:
            exp = repr(float(raw))
        return addr, exp

    for typ, values in VALUES.items():
        for order in ORDERS:
            for k, raw in enumerate(values):
                area = "holding" if k % 2 == 0 else "input"
                addr, exp = place(area, typ, order, raw)
                tag = f"{typ.upper()}-{order}-{k}"
                rows.append((tag, area, addr, typ, order, "", "", "", exp))
    for k, (typ, order, raw, scale, offset, unit) in enumerate(SCALED):
        addr, exp = place("holding", typ, order, raw, scale, offset, unit)
        rows.append((f"SCALED-{k}", "holding", addr, typ, order, scale, offset, unit, exp))

    # bit:N of one register, both register areas; bool on registers (non-zero: 1).
    for area in ("holding", "input"):
        for reg, pattern in ((nxt[area], 0x8081), (nxt[area] + 1, 0x7F7E)):
            img.put(area, reg, [pattern])
            for n in (0, 1, 7, 8, 14, 15):
                rows.append((f"BIT-{area[0].upper()}{pattern:04X}-{n}", area, reg, f"bit:{n}",
                             "", "", "", "", str((pattern >> n) & 1)))
        nxt[area] += 3
    for k, reg_value in enumerate((0, 1, 0x8000, 0xFFFF, 0x0100)):
        addr = nxt["holding"]
        nxt["holding"] += 1
        img.put("holding", addr, [reg_value])
        rows.append((f"BOOLREG-{k}", "holding", addr, "bool", "", "", "", "",
                     str(int(reg_value != 0))))
    # coils and discrete inputs, true and false, not aligned on a byte.
    for area, pattern in (("coil", [1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1]),
                          ("discrete", [0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 1])):
        for addr, v in enumerate(pattern):
            img.bits[area][3 + addr] = bool(v)
            rows.append((f"{area.upper()}-{addr}", area, 3 + addr, "bool", "", "", "", "", str(v)))
    return rows


def write_outputs(rows, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "points.csv"), "w", newline="") as f:
        f.write("# written by tests/pymodbus_server.py: every type and order of the contract\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["tag", "area", "address", "type", "order", "scale", "offset", "unit"])
        for tag, area, addr, typ, order, scale, offset, unit, _ in rows:
            w.writerow([tag, area, addr, typ, order, scale, offset, unit])
    with open(os.path.join(out_dir, "expected.txt"), "w") as f:
        for tag, area, addr, typ, order, scale, offset, unit, exp in rows:
            f.write(f"{tag} {exp} {typ}\n")


def read_csv(path):
    with open(path, encoding="utf-8") as f:
        text = "".join(l for l in f if not l.startswith("#"))
    return list(csv.DictReader(io.StringIO(text)))


def from_sim(img, list_path, values_path):
    values = {}
    for line in open(values_path, encoding="utf-8"):
        if line.strip():
            tag, val = line.split()[:2]
            values[tag] = val
    n = 0
    for p in read_csv(list_path):
        tag, area, typ = p["tag"], p["area"], p["type"]
        addr = int(p["address"])
        if tag not in values:
            sys.exit(f"pymodbus_server: no value for {tag} in {values_path}")
        value = Fraction(values[tag])
        scale = Fraction(p.get("scale") or "1")
        offset = Fraction(p.get("offset") or "0")
        raw = (value - offset) / scale
        if area in ("coil", "discrete"):
            img.bits[area][addr] = raw != 0
        elif typ.startswith("bit:"):
            bit = int(typ[4:])
            if raw != 0:
                img.regs[area][addr] |= 1 << bit
            else:
                img.regs[area][addr] &= ~(1 << bit) & 0xFFFF
        elif typ == "bool":
            img.put(area, addr, [1 if raw != 0 else 0])
        elif typ in INT_TYPES:
            img.put(area, addr, encode(typ, p.get("order"), round(raw)))
        else:
            img.put(area, addr, encode(typ, p.get("order"), float(raw)))
        n += 1
    return n


async def serve(context, port, rtu):
    kw = {"framer": ModbusRtuFramer} if rtu else {}
    server = ModbusTcpServer(context, address=("127.0.0.1", port),
                             allow_reuse_address=True, **kw)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print("listening", flush=True)
    await task


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=5020)
    ap.add_argument("--out-dir")
    ap.add_argument("--from-sim", nargs=2, metavar=("LIST", "VALUES"))
    ap.add_argument("--rtu", action="store_true")
    ap.add_argument("--check-only", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    img = Image()
    if a.from_sim and a.out_dir:
        rows = contract_table(img)
        write_outputs(rows, a.out_dir)
        sim = Image()
        n = from_sim(sim, *a.from_sim)
        print(f"pymodbus_server: unit 1: {len(rows)} points, tables in {a.out_dir}; "
              f"unit 2: {n} points of the simulator's table", flush=True)
        if a.check_only:
            return
        context = ModbusServerContext(slaves={1: img.slave(), 2: sim.slave()}, single=False)
        asyncio.run(serve(context, a.port, a.rtu))
        return
    if a.from_sim:
        n = from_sim(img, *a.from_sim)
        print(f"pymodbus_server: {n} points of the simulator's table", flush=True)
    else:
        if not a.out_dir:
            ap.error("--out-dir is required without --from-sim")
        rows = contract_table(img)
        write_outputs(rows, a.out_dir)
        print(f"pymodbus_server: {len(rows)} points, tables in {a.out_dir}", flush=True)
    if a.check_only:
        return
    asyncio.run(serve(img.context(), a.port, a.rtu))


if __name__ == "__main__":
    main()
