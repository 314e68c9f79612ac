#!/bin/bash
# The field CLI over every transport, against peers that are not Ganzhi:
#  1. `ganzhi scan --host H:P --rtu-tcp` finds the units behind pymodbus serving
#     RTU framing over TCP (and without --rtu-tcp, Modbus TCP framing, none);
#     `scan -c FILE DEVICE` follows the device's driver = modbus-rtu-tcp.
#  2. `ganzhi read` of a modbus-rtu-tcp device gives pymodbus's values, and
#     --trace shows 8-byte RTU requests `01 03 ...` (and `01 04`) whose CRC is
#     right, each with its reply.
#  3. `ganzhi listen` with two DTUs (a Python script) dialling in at once: the
#     peers, the registrations (text, and hex:.. for a binary one), the
#     heartbeats and their interval (0.2 s), the summary line with dtu = and
#     heartbeat =, and nothing ever sent to the DTUs; beyond 16 connections
#     more are refused; SIGTERM ends it with exit 0 and the summary.
#  4. `ganzhi read` (and probe, and scan -c) of a dial-in device: waits for the
#     DTU, says who dialled in (a wrong registration refused), reads; with no
#     DTU and --wait 1 exits 1 naming the DTU and the listen address; with the
#     port held by another listener, a clear error.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import pymodbus' 2>/dev/null || { echo "SKIP: pymodbus not installed for $PY"; exit 77; }

# The Modbus RTU CRC, in Python (tests/sim_peer.py): for the DTU's replies and
# to check the trace.
export PYTHONPATH=$ROOT/tests
# A DTU that dials in: registration, a heartbeat every EVERY s, RTU read replies
# (holding/input register N holds N); says at the end how much it was sent.
cat > "$T/dtu.py" <<'PYEOF'
import select, socket, struct, sys, time
from sim_peer import crc as crc16
def packet(a):
    return bytes.fromhex(a[4:]) if a.startswith("hex:") else a.encode()
port, reg, hb = int(sys.argv[1]), packet(sys.argv[2]), packet(sys.argv[3])
every, end = float(sys.argv[4]), time.time() + float(sys.argv[5])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(reg)
nxt, buf, got = time.time() + every, b"", 0
while time.time() < end:
    r, _, _ = select.select([s], [], [], max(0, min(nxt, end) - time.time()))
    if r:
        d = s.recv(256)
        if not d:
            break
        got += len(d)
        buf += d
        while len(buf) >= 8:
            f, buf = buf[:8], buf[8:]
            if crc16(f[:6]) != f[6:] or f[1] not in (3, 4):
                buf = b""
                break
            addr, n = struct.unpack(">HH", f[2:6])
            body = bytes([f[0], f[1], 2 * n]) + b"".join(struct.pack(">H", addr + i) for i in range(n))
            s.sendall(body + crc16(body))
    if time.time() >= nxt:
        s.sendall(hb)
        nxt += every
print("dtu %s: received %d bytes" % (sys.argv[2], got), flush=True)
PYEOF
# dtu ARGS...: in the background, its output in $T/dtu.log
dtu() { "$PY" "$T/dtu.py" "$@" >> "$T/dtu.log" 2>&1 & PIDS+=($!); }

P=$(free_port)
mkdir -p "$T/c"
"$PY" "$ROOT/tests/pymodbus_server.py" --port "$P" --rtu --out-dir "$T/c" > "$T/pymodbus.log" 2>&1 &
PIDS+=($!)
wait_for 15 grep -q '^listening' "$T/pymodbus.log" || { cat "$T/pymodbus.log"; fail "pymodbus did not start"; }
# Six points of the contract table, with the values pymodbus serves.
head -8 "$T/c/points.csv" > "$T/c/six.csv"
LP=$(free_port)
cat > "$T/agent.conf" <<EOF
[agent]
enterprise_code = 1
gateway_code = G
data_dir = $T/data

[device bridged]
driver = modbus-rtu-tcp
host = 127.0.0.1
port = $P
timeout = 1s
points = c/six.csv

[device dial]
driver = modbus-rtu-tcp
listen = 127.0.0.1:$LP
dtu = GZ0001
heartbeat = hb
timeout = 1s
points = dial.csv
EOF
printf 'tag,area,address,type\nA,holding,5,uint16\nB,input,7,uint16\n' > "$T/dial.csv"
"$BIN/ganzhi" check -c "$T/agent.conf" || fail "check refused the test configuration"

log "1. scan --rtu-tcp: the units behind a serial device server"
"$BIN/ganzhi" scan --host "127.0.0.1:$P" --rtu-tcp --units 1-3 > "$T/scan.out" 2>&1; rc=$?
cat "$T/scan.out"
[ "$rc" = 0 ] || fail "scan --rtu-tcp exits $rc"
grep -q "on 127.0.0.1:$P (RTU over TCP)," "$T/scan.out" || fail "scan does not say it frames RTU over TCP"
grep -Eq "^unit   1: answers, [0-9.]+ ms \(holding 0 = [0-9]+\)$" "$T/scan.out" || fail "scan --rtu-tcp did not find unit 1"
grep -q "^3 of 3 unit ids answer$" "$T/scan.out" || fail "scan --rtu-tcp count"
"$BIN/ganzhi" scan --host "127.0.0.1:$P" --units 1-2 --timeout 200ms > "$T/scan-mbap.out" 2>&1; rc=$?
cat "$T/scan-mbap.out"
[ "$rc" = 1 ] && grep -q "^0 of 2 unit ids answer" "$T/scan-mbap.out" \
    || fail "scan in Modbus TCP framing found units on an RTU-over-TCP peer (rc $rc)"
"$BIN/ganzhi" scan -c "$T/agent.conf" bridged --units 1-1 > "$T/scan-c.out" 2>&1 || { cat "$T/scan-c.out"; fail "scan -c of a modbus-rtu-tcp device"; }
grep -q "(RTU over TCP)" "$T/scan-c.out" && grep -q "^unit   1: answers" "$T/scan-c.out" \
    || { cat "$T/scan-c.out"; fail "scan -c did not follow driver = modbus-rtu-tcp"; }
"$BIN/ganzhi" scan -c "$T/agent.conf" bridged --rtu-tcp > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "scan -c with --rtu-tcp exits $rc, not 2"

log "2. read of a modbus-rtu-tcp device, with --trace"
"$BIN/ganzhi" read -c "$T/agent.conf" bridged --trace > "$T/read.out" 2> "$T/read.trace"; rc=$?
cat "$T/read.out" "$T/read.trace"
[ "$rc" = 0 ] || fail "read of the rtu-tcp device exits $rc"
"$PY" - "$T/c/expected.txt" "$T/read.out" "$T/read.trace" <<'PYEOF' || fail "read over RTU framing (above)"
import re, sys
from sim_peer import crc as crc16
want = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")}
got = [l.split() for l in open(sys.argv[2])]
assert len(got) == 6, got
for tag, value, unit, quality in got:
    assert quality == "good" and abs(float(value) - want[tag]) <= 1e-9 * max(1, abs(want[tag])), (tag, value, want[tag])
reqs = [bytes.fromhex(m.group(1)) for m in re.finditer(r"ms > ((?:[0-9A-F]{2} ?)+)$", open(sys.argv[3]).read(), re.M)]
rsps = re.findall(r"ms < 01 0[34] ", open(sys.argv[3]).read())
assert len(rsps) == len(reqs) and any(r[:2] == b"\x01\x03" for r in reqs), "frames traced"
for r in reqs:   # the table has input and holding registers
    assert len(r) == 8 and r[0] == 1 and r[1] in (3, 4) and crc16(r[:6]) == r[6:], r.hex()
print("ok: 6 values as pymodbus serves them; %d RTU requests traced, CRC right" % len(reqs))
PYEOF

log "3. listen: two DTUs dialling in at once"
LQ=$(free_port)
"$BIN/ganzhi" listen --port "$LQ" --address 127.0.0.1 --seconds 3 --hex > "$T/listen.out" 2>&1 &
LISTEN=$!
wait_for 5 grep -q "^listening on 127.0.0.1:$LQ for 3 s" "$T/listen.out" || fail "listen did not listen"
dtu "$LQ" GZ0001 hb 0.2 5
dtu "$LQ" hex:01FE hex:00 0.3 5
wait "$LISTEN"; rc=$?
cat "$T/listen.out"
[ "$rc" = 0 ] || fail "listen --seconds 3 exits $rc"
grep -Eq "^#[12] 127\.0\.0\.1:[0-9]+ dialled in$" "$T/listen.out" || fail "listen does not say who dialled in"
grep -Eq "^#[12] \+0\.[0-9]{3} s registration, 6 bytes: GZ0001  \(hex: 47 5A 30 30 30 31\)$" "$T/listen.out" \
    || fail "no registration GZ0001 (with its hex)"
grep -Eq "^#[12] \+0\.[0-9]{3} s registration, 2 bytes: hex:01FE$" "$T/listen.out" || fail "no binary registration in hex"
grep -Eq "^#[12] \+[0-9.]+ s 2 bytes: hb  \(hex: 68 62\)  heartbeat, 0\.(19|20|21)[0-9] s since the last \(every 0\.(19|20|21)[0-9] s\)$" \
    "$T/listen.out" || fail "no heartbeat with its interval"
grep -Eq "^127\.0\.0\.1:[0-9]+  dtu = GZ0001  heartbeat = hb  \(every 0\.(19|20|21)[0-9] s, [0-9]+ heartbeats\)  \[1 connection\]$" \
    "$T/listen.out" || fail "no summary line for GZ0001"
grep -Eq "^127\.0\.0\.1:[0-9]+  dtu = hex:01FE  heartbeat = hex:00  \(every 0\.(29|30|31)[0-9] s, [0-9]+ heartbeats\)" \
    "$T/listen.out" || fail "no summary line for the binary DTU"
grep -q "^summary: 2 connections (0 refused, 0 sent nothing); 2 DTUs" "$T/listen.out" || fail "summary count"
wait_for 5 grep -q "dtu hex:01FE: received" "$T/dtu.log"
cat "$T/dtu.log"
[ "$(grep -c "received 0 bytes" "$T/dtu.log")" = 2 ] || fail "listen sent something to a DTU"

log "3b. listen: a 17th connection is refused; SIGTERM ends it with the summary"
LR=$(free_port)
"$BIN/ganzhi" listen --port "$LR" --address 127.0.0.1 > "$T/listen2.out" 2>&1 &
LISTEN=$!
wait_for 5 grep -q "^listening on 127.0.0.1:$LR until Ctrl-C" "$T/listen2.out" || fail "listen did not listen"
"$PY" - "$LR" <<'PYEOF'
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(17)]
time.sleep(0.5)
PYEOF
kill -TERM "$LISTEN"
wait "$LISTEN"; rc=$?
cat "$T/listen2.out"
[ "$rc" = 0 ] || fail "listen stopped by SIGTERM exits $rc"
grep -Eq "^127\.0\.0\.1:[0-9]+ dialled in: refused \(16 connections watched already\)$" "$T/listen2.out" \
    || fail "the 17th connection was not refused"
grep -q "^stopped by SIGTERM$" "$T/listen2.out" || fail "listen does not say SIGTERM stopped it"
grep -q "^summary: 16 connections (1 refused, 16 sent nothing); 0 DTUs: none registered$" "$T/listen2.out" \
    || fail "summary after SIGTERM"

log "4. read, probe and scan of a DTU that dials in"
"$BIN/ganzhi" read -c "$T/agent.conf" dial --wait 10 > "$T/dial.out" 2> "$T/dial.err" &
READ=$!
wait_for 5 grep -q "waiting up to 10 s for DTU GZ0001 to dial in to 127.0.0.1:$LP" "$T/dial.err" \
    || { cat "$T/dial.err"; fail "read does not say it waits for the DTU"; }
dtu "$LP" WRONG hb 0.2 2
wait_for 5 grep -q "registered as 'WRONG', not DTU GZ0001: refused" "$T/dial.err" || { cat "$T/dial.err"; fail "no refusal said"; }
dtu "$LP" GZ0001 hb 0.2 3
wait "$READ"; rc=$?
cat "$T/dial.out" "$T/dial.err"
[ "$rc" = 0 ] || fail "read of the dial-in device exits $rc"
grep -Eq "127\.0\.0\.1:[0-9]+ dialled in: DTU GZ0001 registered" "$T/dial.err" || fail "read does not say the DTU registered"
printf 'A 5 - good\nB 7 - good\n' | diff - "$T/dial.out" || fail "read of the dial-in device: wrong values"

dtu_when_waiting() {   # FILE: start the DTU once FILE says the CLI waits for it
    wait_for 5 grep -q "waiting up to" "$1" || { cat "$1"; fail "no wait said in $1"; }
    dtu "$LP" GZ0001 hb 0.2 3
}
"$BIN/ganzhi" probe -c "$T/agent.conf" dial --address 7 --area input --value 7 > "$T/probe.out" 2> "$T/probe.err" &
PROBE=$!
dtu_when_waiting "$T/probe.err"
wait "$PROBE"; rc=$?
cat "$T/probe.out" "$T/probe.err"
[ "$rc" = 0 ] && grep -q "^registers: 0007 0008 0009 000A" "$T/probe.out" || fail "probe of the dial-in device (rc $rc)"
"$BIN/ganzhi" scan -c "$T/agent.conf" dial --units 1-2 > "$T/scan-dial.out" 2> "$T/scan-dial.err" &
SCAN=$!
dtu_when_waiting "$T/scan-dial.err"
wait "$SCAN"; rc=$?
cat "$T/scan-dial.out"
[ "$rc" = 0 ] && grep -q "on rtu-tcp dtu GZ0001 (listen 127.0.0.1:$LP, from 127.0.0.1:" "$T/scan-dial.out" \
    && grep -q "^2 of 2 unit ids answer" "$T/scan-dial.out" || fail "scan -c of the dial-in device (rc $rc)"

start=$(date +%s.%N)
"$BIN/ganzhi" read -c "$T/agent.conf" dial --wait 1 > "$T/nodtu.out" 2>&1; rc=$?
cat "$T/nodtu.out"
[ "$rc" = 1 ] || fail "read with no DTU exits $rc, not 1"
grep -q "DTU GZ0001 did not dial in to 127.0.0.1:$LP within 1 s" "$T/nodtu.out" || fail "no message naming the DTU and the address"
"$PY" -c "import sys; sys.exit(not (1 <= $(date +%s.%N) - $start < 4))" || fail "--wait 1 did not wait about 1 s"

"$PY" - "$LP" > "$T/holder.log" 2>&1 <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("held", flush=True)
time.sleep(10)
PYEOF
PIDS+=($!)
wait_for 5 grep -q held "$T/holder.log" || { cat "$T/holder.log"; fail "could not hold the port"; }
"$BIN/ganzhi" read -c "$T/agent.conf" dial --wait 1 > "$T/held.out" 2>&1; rc=$?
cat "$T/held.out"
[ "$rc" = 1 ] || fail "read with the port held exits $rc, not 1"
grep -q "cannot listen for its DTU: listen 127.0.0.1:$LP: Address already in use: the port is held (is ganzhi-agent running?" \
    "$T/held.out" || fail "no clear error for a port held"
"$BIN/ganzhi" listen --port "$LP" --address 127.0.0.1 --seconds 1 > "$T/held2.out" 2>&1; rc=$?
[ "$rc" = 1 ] && grep -q "the port is held" "$T/held2.out" || { cat "$T/held2.out"; fail "listen on a port held (rc $rc)"; }
echo "PASS"
