#!/bin/bash
# sim_gateway: ganzhi-sim --gateway (a Modbus TCP to RTU gateway, Moxa MGate style) against
# pymodbus 3.0's TCP client and raw sockets:
#  1. units 1 and 2 answer the farm's values; `silent 3` is answered exception 0x0B after
#     --gateway-timeout (200 ms), unit 9 (not on the line) exception 0x0A at once.
#  2. The line behind is paced at 9600 8N1: a 125-register read takes at least
#     (8 + 255 + 3.5) characters; two clients reading at once queue behind each other
#     (at least 2N wire times), overlaps=0 and queue_max >= 2 in the counters.
#  3. --max-clients 2: a third connection is accepted and closed at once (refused=1), and
#     once a client leaves a new one is served.
#  4. `close-after-reply on`: the reply, then the connection is closed.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import pymodbus' 2>/dev/null || { echo "SKIP: pymodbus missing for $PY"; exit 77; }
export PYTHONPATH=$ROOT/tests

"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"
PORT=$(free_port)
: > "$T/ctl"
start_sim "$PORT" --gateway --units 1,2,3 --max-clients 2 --gateway-timeout 200 --baud 9600 \
    --bench 125 --static --misbehave 'silent 3' --control "$T/ctl"
grep -q 'serving .*(gateway), unit 1,2,3, line 9600 8N1 paced' "$T/sim.log" \
    || { cat "$T/sim.log"; fail "gateway banner"; }

"$PY" - "$PORT" "$T/ctl" "$SIM_PID" "$T/sim.log" "$T/sim.csv" "$T/sim-values.txt" <<'EOF' \
    || { cat "$T/sim.log"; fail "gateway checks"; }
import struct, sys, threading, time
from pymodbus.client import ModbusTcpClient
from pymodbus_server import Image, from_sim
from sim_peer import *

port, ctl, pid, simlog = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
img = Image()
from_sim(img, sys.argv[5], sys.argv[6])
CH = 10 / 9600
WIRE = (8 + 255) * CH + 3.5 * CH       # the RTU side of a 125-register read: 277.6 ms

def timed(f, *a, **k):
    t = time.monotonic()
    r = f(*a, **k)
    return r, time.monotonic() - t

c = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
check(c.connect(), "pymodbus connects")
for unit in (1, 2):
    r = c.read_holding_registers(0, 6, slave=unit)
    check(not r.isError() and r.registers == img.regs["holding"][0:6], "unit %d: %s" % (unit, r))
    r = c.read_input_registers(0, 4, slave=unit)
    check(not r.isError() and r.registers == img.regs["input"][0:4], "unit %d inputs: %s" % (unit, r))
r, dt = timed(c.read_holding_registers, 0, 6, slave=3)
check(r.isError() and getattr(r, "exception_code", None) == 0x0B and 0.2 <= dt < 0.9,
      "silent unit 3: exception 0x0B after %.0f ms: %s" % (dt * 1000, r))
r, dt = timed(c.read_holding_registers, 0, 6, slave=9)
check(r.isError() and getattr(r, "exception_code", None) == 0x0A and dt < 0.15,
      "unit 9, not on the line: exception 0x0A in %.0f ms: %s" % (dt * 1000, r))
r, dt = timed(c.read_holding_registers, 10000, 125, slave=1)
check(not r.isError() and len(r.registers) == 125 and dt >= WIRE,
      "125 registers in %.1f ms >= the line's %.1f ms" % (dt * 1000, WIRE * 1000))

# --max-clients 2: pymodbus holds one, s2 the other; s3 is refused.
s2 = connect("127.0.0.1", port)
s2.sendall(mbap(7, 2, 3, 0, 6))
got, _ = recv_for(s2, 1, 9 + 12)
check(len(got) == 21 and got[:2] == b"\x00\x07" and got[7] == 3, "second client served")
s3 = connect("127.0.0.1", port)
s3.sendall(mbap(8, 1, 3, 0, 6))
got, closed = recv_for(s3, 1.5)
check(got == b"" and closed, "third client: closed at once, no reply")
s3.close()
s2.close()
time.sleep(0.2)
s4 = connect("127.0.0.1", port)
s4.sendall(mbap(9, 1, 3, 0, 6))
got, _ = recv_for(s4, 1, 21)
check(len(got) == 21 and got[:2] == b"\x00\x09", "after one left, a new client is served")
s4.close()
c.close()
time.sleep(0.2)

N = 4
def reader(unit, out):
    s = connect("127.0.0.1", port, 5)
    for i in range(N):
        t = time.monotonic()
        s.sendall(mbap(100 + i, unit, 3, 10000, 125))
        got, _ = recv_for(s, 5, 9 + 250)
        out.append((time.monotonic() - t, got))
    s.close()
a, b = [], []
t0 = time.monotonic()
ts = [threading.Thread(target=reader, args=(1, a)), threading.Thread(target=reader, args=(2, b))]
for t in ts: t.start()
for t in ts: t.join()
total = time.monotonic() - t0
check(len(a) == len(b) == N and all(len(g) == 259 and g[7] == 3 for _, g in a + b),
      "two clients: %d whole replies each" % N)
check(total >= 2 * N * WIRE, "two clients, %d reads each, one line: %.0f ms >= %.0f ms"
      % (N, total * 1000, 2 * N * WIRE * 1000))

control(ctl, "close-after-reply on\n")
s = connect("127.0.0.1", port)
s.sendall(mbap(5, 1, 3, 0, 6))
got, closed = recv_for(s, 1.5)
check(len(got) == 21 and closed, "close-after-reply on: the reply, then the close")
s.close()
control(ctl, "")

st = stats(pid, simlog)
print(st)
link, line, u3 = st.get("link", {}), st.get("line", {}), st.get("unit=3", {})
check(link.get("mode") == "gateway" and link.get("refused") == 1 and link.get("closed_after_reply") == 1,
      "link: mode=gateway refused=1 closed_after_reply=1")
check(line.get("overlaps") == 0 and line.get("queue_max", 0) >= 2 and line.get("paced") == 1,
      "line: paced=1 overlaps=0 queue_max>=2")
check(line.get("target_failed") == 1 and line.get("path_unavailable") == 1,
      "line: target_failed=1 path_unavailable=1")
check(u3.get("silent") == 1, "unit 3: silent=1")
sys.exit(done("gateway"))
EOF
kill "$SIM_PID"
wait "$SIM_PID" 2>/dev/null
grep -q 'stats line paced=1 .* overlaps=0 ' "$T/sim.log" || fail "no line counters on exit"
echo "sim_gateway: ok"
