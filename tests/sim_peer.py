"""sim_peer: what the tests/sim_*.sh scripts share to talk to ganzhi-sim as independent
peers over TCP: the Modbus CRC written out here (never the simulator's), RTU and MBAP
frames, reading a socket for a while, the control file, and the counters the simulator
prints on SIGUSR1. Imported by the Python the scripts run with /usr/bin/python3."""
import os
import signal
import socket
import struct
import time

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures += 1


def done(name):
    print("%s: %d failures" % (name, failures), flush=True)
    return 1 if failures else 0


def crc(b):
    c = 0xFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return struct.pack('<H', c)


def crc_ok(frame):
    return len(frame) >= 4 and crc(frame[:-2]) == frame[-2:]


def rtu(unit, fc, addr, n):
    """An RTU read request (or write single: n is the value), CRC appended."""
    req = bytes([unit, fc]) + struct.pack('>HH', addr, n)
    return req + crc(req)


def rtu_reply(unit, fc, regs):
    """The RTU reply to a register read that returns regs."""
    body = bytes([unit, fc, 2 * len(regs)]) + b''.join(struct.pack('>H', r) for r in regs)
    return body + crc(body)


def mbap(tid, unit, fc, addr, n):
    return struct.pack('>HHHBBHH', tid, 0, 6, unit, fc, addr, n)


def connect(host, port, timeout=2):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_for(sock, seconds, want=None):
    """Bytes received within `seconds`, or until `want` bytes came; and whether the
    peer closed the connection."""
    data, end = b'', time.monotonic() + seconds
    while want is None or len(data) < want:
        left = end - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            got = sock.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            return data, True
        if not got:
            return data, True
        data += got
    return data, False


def control(path, text, settle=0.4):
    """Replace the control file; the simulator looks at it every 100 ms."""
    with open(path, "w") as f:
        f.write(text)
    time.sleep(settle)


def stats(pid, log, settle=0.4):
    """SIGUSR1, then the last counters printed: {"unit=1": {...}, "bus": {...},
    "link": {...}, "line": {...}, "dial": {...}}."""
    os.kill(pid, signal.SIGUSR1)
    time.sleep(settle)
    out = {}
    for line in open(log, encoding="utf-8", errors="replace"):
        if not line.startswith("ganzhi-sim: stats "):
            continue
        words = line.split()[2:]
        key = words[0]
        out[key] = {k: v for k, _, v in (w.partition("=") for w in words[1:])}
    for fields in out.values():
        for k, v in fields.items():
            try:
                fields[k] = int(v)
            except ValueError:
                pass
    return out
