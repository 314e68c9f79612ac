#!/bin/bash
# sim_tcp_misbehave: ganzhi-sim's directives in TCP mode, against a pymodbus TCP client:
# several unit ids on one server, 0 and 255 answered as the first; `exception`, `silent`,
# `slow`, `crc` (a garbled reply) and `truncate` (a short one); changed at run time
# through the control file; per-unit counters on SIGUSR1.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import pymodbus' 2>/dev/null || { echo "SKIP: pymodbus not installed for $PY"; exit 77; }

PORT=$(free_port)
echo 'exception 2 4' > "$T/ctl"
start_sim "$PORT" --units 1,2 --control "$T/ctl" --static
"$PY" - "$PORT" "$T/ctl" "$SIM_PID" <<'EOF_PY' || { cat "$T/sim.log"; fail "client checks"; }
import os, signal, sys, time
from pymodbus.client import ModbusTcpClient
port, ctl, sim_pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
failures = 0
def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    failures += not cond
def control(text):
    with open(ctl, "w") as f:
        f.write(text)
    time.sleep(0.4)
def client():
    # pymodbus 3.0.0rc1 takes the timeout as int(): 1 s is its shortest.
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    c.connect()
    return c
c = client()
r1 = c.read_holding_registers(0, 6, slave=1)
check(not r1.isError(), "unit 1 answers: %s" % r1)
for u in (0, 255):
    r = c.read_holding_registers(0, 6, slave=u)
    check(not r.isError() and r.registers == r1.registers, "unit %d answered as unit 1" % u)
r = c.read_holding_registers(0, 6, slave=2)
check(r.isError() and getattr(r, "exception_code", None) == 4, "exception 2 4: %s" % r)
r = c.read_holding_registers(0, 6, slave=7)
check(r.isError(), "unit 7 not served: %s" % r)
c.close()

control("silent 1\n")
c = client()
check(c.read_holding_registers(0, 6, slave=1).isError(), "silent 1: no answer")
c.close()
control("slow 1 300\n")
c = client()
t = time.monotonic()
r = c.read_holding_registers(0, 6, slave=1)
dt = time.monotonic() - t
check(not r.isError() and 0.28 <= dt <= 0.6, "slow 1 300: answered in %.0f ms" % (dt * 1000))
check(not c.read_holding_registers(0, 6, slave=2).isError(), "unit 2 behaves (file replaced the exception)")
c.close()
control("crc 1 100\n")
c = client()
check(c.read_holding_registers(0, 6, slave=1).isError(), "crc 1 100: garbled reply refused")
c.close()
control("truncate 2 100\n")
c = client()
check(c.read_holding_registers(0, 6, slave=2).isError(), "truncate 2 100: short reply refused")
c.close()
control("clear\n")
c = client()
check(not c.read_holding_registers(0, 6, slave=2).isError(), "clear: unit 2 answers")
c.close()
os.kill(sim_pid, signal.SIGUSR1)
time.sleep(0.4)
sys.exit(1 if failures else 0)
EOF_PY
grep stats "$T/sim.log"
grep -q 'stats unit=1 requests=6 replies=5 exceptions=0 silent=1 delayed=1 crc=1 truncated=0' "$T/sim.log" \
    || fail "unit 1 counters"
grep -q 'stats unit=2 requests=4 replies=4 exceptions=1 silent=0 delayed=0 crc=0 truncated=1 injected=1' "$T/sim.log" \
    || fail "unit 2 counters"
grep -q 'stats bus .* other_units=1 ' "$T/sim.log" || fail "bus counters"
echo "sim_tcp_misbehave: ok"
