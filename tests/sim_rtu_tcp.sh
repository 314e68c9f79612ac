#!/bin/bash
# sim_rtu_tcp: ganzhi-sim --rtu-tcp (RTU frames inside TCP, a serial device server), checked
# by independent peers: pymodbus 3.0 with its RTU framer over TCP and raw sockets with the
# CRC written out in tests/sim_peer.py.
#  1. On [::1], units 1,2,3 on one socket: every point of `--list` reads as `--values` says
#     (encoded by tests/pymodbus_server.py's encoder), through each unit.
#  2. Raw frames: a frame with a bad CRC gets no reply and the next good one does; two
#     frames in one write are two requests; two connections each get their own replies.
#  3. Directives from the control file: `echo on` (the request comes back first),
#     `garbage 100` (noise, then a whole reply), `other 2 100` (unit 3's id, CRC good),
#     `crc 1 100`, `silent 3`, `slow 1 300`, `exception 2 4`, `hangup 100` (the connection
#     is closed instead of a reply); the counters on SIGUSR1 match.
#  4. --paced at 9600 8N1: a 125-register read (8 + 255 bytes + 3.5 characters) takes at
#     least its wire time, N reads at least N times it, and two connections reading at
#     once queue behind each other (at least 2N times); overlaps=0, queue_max >= 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import pymodbus' 2>/dev/null || { echo "SKIP: pymodbus missing for $PY"; exit 77; }
export PYTHONPATH=$ROOT/tests

"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"

log "ganzhi-sim --rtu-tcp on [::1], units 1,2,3"
PORT=$(free_port)
: > "$T/ctl"
"$BIN/ganzhi-sim" --rtu-tcp --address ::1 --port "$PORT" --units 1,2,3 --static \
    --control "$T/ctl" 2> "$T/sim.log" &
SIM_PID=$!
PIDS+=($SIM_PID)
wait_for 10 grep -q 'serving .* on \[::1\]:' "$T/sim.log" || { cat "$T/sim.log"; fail "ganzhi-sim did not start"; }

"$PY" - "$PORT" "$T/ctl" "$SIM_PID" "$T/sim.log" "$T/sim.csv" "$T/sim-values.txt" <<'EOF' \
    || { cat "$T/sim.log"; fail "RTU over TCP checks"; }
import sys, threading, time
from pymodbus.client import ModbusTcpClient
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus_server import Image, from_sim, read_csv
from sim_peer import *

port, ctl, pid, simlog = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
img = Image()
npoints = from_sim(img, sys.argv[5], sys.argv[6])
points = read_csv(sys.argv[5])
WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4,
         "uint64": 4, "float64": 4}

c = ModbusTcpClient("::1", port=port, framer=ModbusRtuFramer, timeout=1, retries=0)
check(c.connect(), "pymodbus connects to [::1]:%d with RTU framing" % port)
for unit in (1, 2, 3):
    bad = []
    for p in points:
        area, addr, typ = p["area"], int(p["address"]), p["type"]
        if area in ("coil", "discrete"):
            r = (c.read_coils if area == "coil" else c.read_discrete_inputs)(addr, 1, slave=unit)
            ok = not r.isError() and bool(r.bits[0]) == img.bits[area][addr]
        else:
            n = 1 if typ.startswith("bit:") or typ == "bool" else WIDTH[typ]
            rd = c.read_holding_registers if area == "holding" else c.read_input_registers
            r = rd(addr, n, slave=unit)
            ok = not r.isError() and r.registers == img.regs[area][addr:addr + n]
        if not ok:
            bad.append("%s: %s" % (p["tag"], r))
    check(not bad and npoints == len(points) > 30,
          "unit %d: all %d points read as --values says %s" % (unit, len(points), bad[:3]))
c.close()

s = connect("::1", port)
def ask(frame, seconds=0.5, want=None):
    s.sendall(frame)
    return recv_for(s, seconds, want)

want = rtu_reply(1, 3, img.regs["holding"][0:6])
got, _ = ask(rtu(1, 3, 0, 6), want=len(want))
check(got == want, "raw read of unit 1: %s" % got.hex())
bad = bytearray(rtu(1, 3, 0, 6)); bad[-1] ^= 0x55
got, _ = ask(bytes(bad), 0.4)
check(got == b"", "a frame with a bad CRC gets no reply: %s" % got.hex())
got, _ = ask(rtu(2, 3, 0, 6), want=len(want))
check(got == rtu_reply(2, 3, img.regs["holding"][0:6]), "the next good frame is answered")
got, _ = ask(rtu(1, 3, 0, 6) + rtu(3, 3, 0, 6), want=2 * len(want))
check(got == want + rtu_reply(3, 3, img.regs["holding"][0:6]),
      "two frames in one write: two replies in order")
s2 = connect("::1", port)
s2.sendall(rtu(2, 3, 3, 2))
s.sendall(rtu(3, 3, 0, 1))
g2, _ = recv_for(s2, 1, 9)
g1, _ = recv_for(s, 1, 7)
check(g2 == rtu_reply(2, 3, img.regs["holding"][3:5]) and g1 == rtu_reply(3, 3, img.regs["holding"][0:1]),
      "two connections each get their own reply")
s2.close()

control(ctl, "echo on\n")
req = rtu(1, 3, 0, 6)
got, _ = ask(req, want=len(req) + len(want))
check(got == req + want, "echo on: the request, then the reply: %s" % got.hex())

control(ctl, "garbage 100\n")
for i in range(4):
    got, _ = ask(rtu(1, 3, 0, 6), 0.3)
    check(len(got) > len(want) and got.endswith(want),
          "garbage 100: %d noise bytes, then the whole reply" % (len(got) - len(want)))

control(ctl, "other 2 100\n")
got, _ = ask(rtu(2, 3, 0, 6), want=len(want))
check(got == rtu_reply(3, 3, img.regs["holding"][0:6]),
      "other 2 100: unit 2's reply comes as unit 3's, CRC good: %s" % got.hex())

control(ctl, "crc 1 100\nsilent 3\nslow 2 300\n")
got, _ = ask(rtu(1, 3, 0, 6), want=len(want))
check(len(got) == len(want) and got[:-2] == want[:-2] and not crc_ok(got),
      "crc 1 100: whole reply, bad CRC")
got, _ = ask(rtu(3, 3, 0, 6), 0.4)
check(got == b"", "silent 3: no reply")
t = time.monotonic()
got, _ = ask(rtu(2, 3, 0, 6), 1.0, len(want))
dt = time.monotonic() - t
check(got == rtu_reply(2, 3, img.regs["holding"][0:6]) and 0.28 <= dt <= 0.6,
      "slow 2 300: answered in %.0f ms" % (dt * 1000))
control(ctl, "exception 1 4 100-200\n")
got, _ = ask(rtu(1, 3, 150, 2), want=5)
check(len(got) == 5 and got[:3] == bytes([1, 0x83, 4]) and crc_ok(got),
      "exception 1 4 100-200: %s" % got.hex())

control(ctl, "hangup 100\n")
got, closed = ask(rtu(2, 3, 0, 6), 1.0)
check(got == b"" and closed, "hangup 100: the connection is closed instead of a reply")
s.close()
control(ctl, "clear\n")
s = connect("::1", port)
got, _ = ask(rtu(2, 3, 0, 6), want=len(want))
check(got == rtu_reply(2, 3, img.regs["holding"][0:6]), "clear: a new connection is answered")
s.close()

st = stats(pid, simlog)
print(st)
u1, u2, u3, bus, link, line = (st.get(k, {}) for k in ("unit=1", "unit=2", "unit=3", "bus", "link", "line"))
check(u1.get("crc") == 1 and u1.get("injected") == 1, "unit 1 counters: crc=1 injected=1")
check(u2.get("other") == 1 and u2.get("delayed") == 1, "unit 2 counters: other=1 delayed=1")
check(u3.get("silent") == 1, "unit 3 counters: silent=1")
check(bus.get("bad_frames") == 1 and bus.get("garbage") == 4, "bus: bad_frames=1 garbage=4")
check(line.get("echoes") == 1 and line.get("overlaps") == 0 and line.get("paced") == 0,
      "line: echoes=1 overlaps=0 paced=0")
check(link.get("mode") == "rtu-tcp" and link.get("hangups") == 1 and link.get("accepted") == 4,
      "link: mode=rtu-tcp hangups=1 accepted=4")
sys.exit(done("rtu-tcp"))
EOF

log "--paced at 9600 8N1 on 127.0.0.1"
PORT2=$(free_port)
"$BIN/ganzhi-sim" --rtu-tcp --paced --baud 9600 --port "$PORT2" --units 1,2 --bench 125 \
    --static 2> "$T/sim2.log" &
SIM2=$!
PIDS+=($SIM2)
wait_for 10 grep -q 'serving .* paced' "$T/sim2.log" || { cat "$T/sim2.log"; fail "paced ganzhi-sim did not start"; }
"$PY" - "$PORT2" "$SIM2" "$T/sim2.log" <<'EOF' || { cat "$T/sim2.log"; fail "paced checks"; }
import sys, threading, time
from sim_peer import *
port, pid, simlog = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
CH = 10 / 9600
WIRE = (8 + 255) * CH + 3.5 * CH       # 277.6 ms
N = 4

def reader(unit, n, out):
    s = connect("127.0.0.1", port, 5)
    for i in range(n):
        t = time.monotonic()
        s.sendall(rtu(unit, 3, 10000, 125))
        got, _ = recv_for(s, 5, 255)
        out.append((time.monotonic() - t, got))
    s.close()

one = []
t0 = time.monotonic()
reader(1, N, one)
total = time.monotonic() - t0
check(all(len(g) == 255 and crc_ok(g) for _, g in one), "%d whole replies" % N)
check(min(dt for dt, _ in one) >= WIRE, "each read takes at least the wire time %.1f ms: %s"
      % (WIRE * 1000, ["%.1f" % (dt * 1000) for dt, _ in one]))
check(total >= N * WIRE, "%d reads in %.0f ms >= %.0f ms" % (N, total * 1000, N * WIRE * 1000))

a, b = [], []
t0 = time.monotonic()
ts = [threading.Thread(target=reader, args=(1, N, a)), threading.Thread(target=reader, args=(2, N, b))]
for t in ts: t.start()
for t in ts: t.join()
total = time.monotonic() - t0
check(len(a) == len(b) == N and all(len(g) == 255 and crc_ok(g) for _, g in a + b),
      "two connections: %d whole replies each" % N)
check(total >= 2 * N * WIRE, "two connections, %d reads each, queue on one line: %.0f ms >= %.0f ms"
      % (N, total * 1000, 2 * N * WIRE * 1000))
line = stats(pid, simlog).get("line", {})
print(line)
check(line.get("paced") == 1 and line.get("overlaps") == 0 and line.get("queue_max", 0) >= 2
      and line.get("served") == 3 * N, "line: paced=1 overlaps=0 queue_max>=2 served=%d" % (3 * N))
check(line.get("busy_ms", 0) >= 3 * N * WIRE * 1000 * 0.99, "line busy for the wire time")
sys.exit(done("paced"))
EOF
kill "$SIM_PID" "$SIM2"
wait "$SIM_PID" "$SIM2" 2>/dev/null
grep -q 'stats line paced=1 ' "$T/sim2.log" || fail "no line counters on exit"
echo "sim_rtu_tcp: ok"
