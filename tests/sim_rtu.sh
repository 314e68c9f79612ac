#!/bin/bash
# sim_rtu: ganzhi-sim as RTU slaves on a socat pty pair, checked by independent clients
# (pymodbus 3.0 and plain pyserial with our own CRC), then on the paced 9600-baud link.
#  1. units 1 and 2 answer the same tank farm; unit 3, `silent` from the command line,
#     times out; the control file's `clear` brings it back without a restart.
#  2. `crc 1 100`: whole replies with a bad CRC; `truncate 2 100`: short replies;
#     `exception 2 4`, and with a range; `fussy 1`: reads over gaps or > 16 registers
#     refused with 02; `slow 1 300`: answered 300 ms late; `garbage 100`: noise, then a
#     silence, then the reply; a bad control line is reported and the directives kept.
#  3. a write is echoed and a broadcast (unit 0) is executed and never answered.
#  4. SIGUSR1 prints per-unit counters that match what the client provoked.
#  5. through tool_paced_pty at 9600 8N1: a 125-register read takes the wire time,
#     (8 + 5 + 250) bytes x 1.0417 ms = 274 ms +-15 %, and the link logs both frames.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
command -v socat >/dev/null || { echo "SKIP: socat not installed"; exit 77; }
"$PY" -c 'import pymodbus, serial' 2>/dev/null || { echo "SKIP: pymodbus or pyserial missing for $PY"; exit 77; }
export PYTHONPATH=$ROOT/tests
PACED=$BIN/tests/tool_paced_pty
[ -x "$PACED" ] || fail "$PACED not built"

log "socat pty pair, ganzhi-sim --rtu on one end, units 1,2,3 with 3 silent"
socat -d -d pty,raw,echo=0,link="$T/a" pty,raw,echo=0,link="$T/b" 2> "$T/socat.log" &
PIDS+=($!)
wait_for 10 test -e "$T/a" -a -e "$T/b" || fail "socat made no pty pair"
: > "$T/ctl"
"$BIN/ganzhi-sim" --rtu "$T/b" --units 1,2,3 --misbehave 'silent 3' --control "$T/ctl" \
    --static 2> "$T/sim.log" &
SIM_PID=$!
PIDS+=($SIM_PID)
wait_for 10 grep -q 'serving' "$T/sim.log" || { cat "$T/sim.log"; fail "ganzhi-sim did not start"; }

cat > "$T/client.py" <<'EOF'
import os, signal, struct, sys, time
import serial
from pymodbus.client import ModbusSerialClient

from sim_peer import check, crc, done

port, ctl, sim_pid = sys.argv[1], sys.argv[2], int(sys.argv[3])

def control(text):
    with open(ctl, "w") as f:
        f.write(text)
    time.sleep(0.4)     # the simulator looks every 100 ms

# pymodbus 3.0.0rc1 takes the timeout as int(): 1 s is its shortest.
c = ModbusSerialClient(port=port, baudrate=9600, timeout=1, retries=0)
check(c.connect(), "pymodbus connects to " + port)

def hold(unit, addr, n):
    return c.read_holding_registers(addr, n, slave=unit)

r1, r2, r3 = hold(1, 0, 6), hold(2, 0, 6), hold(3, 0, 6)
check(not r1.isError() and len(r1.registers) == 6, "unit 1 answers: %s" % r1)
check(not r2.isError() and r2.registers == r1.registers, "unit 2 serves the same farm: %s" % r2)
check(r3.isError(), "silent unit 3 times out: %s" % r3)

control("clear\n")
r3 = hold(3, 0, 6)
check(not r3.isError() and r3.registers == r1.registers, "after 'clear' unit 3 answers: %s" % r3)

# Raw frames, to see exactly what comes back.
s = serial.Serial(port, 9600, timeout=0.5)
def raw(unit, fc, addr, n, expect):
    s.reset_input_buffer()
    req = bytes([unit, fc]) + struct.pack('>HH', addr, n)
    req += crc(req)
    t = time.monotonic()
    s.write(req)
    got = s.read(expect)
    return got, time.monotonic() - t

control("crc 1 100\n")
r = hold(1, 0, 6)
check(r.isError(), "crc 1 100: pymodbus sees no valid reply: %s" % r)
got, _ = raw(1, 3, 0, 6, 17)
check(len(got) == 17 and got[:3] == bytes([1, 3, 12]) and crc(got[:-2]) != got[-2:],
      "crc 1 100: whole reply, bad CRC: %s" % got.hex())
got, _ = raw(2, 3, 0, 6, 17)
check(len(got) == 17 and crc(got[:-2]) == got[-2:], "crc 1 100: unit 2 unaffected")

control("truncate 2 100\n")
got, _ = raw(2, 3, 0, 6, 17)
check(0 < len(got) < 17, "truncate 2 100: reply cut to %d bytes" % len(got))

control("exception 2 4\n")
r = hold(2, 0, 6)
check(r.isError() and getattr(r, "exception_code", None) == 4, "exception 2 4: %s" % r)
control("exception 2 6 10-12\n")
r = hold(2, 0, 6)
check(not r.isError(), "exception 2 6 10-12: a read of 0..5 is served")
r = hold(2, 9, 2)
check(r.isError() and getattr(r, "exception_code", None) == 6, "exception 2 6 10-12: a read of 9..10: %s" % r)

control("fussy 1\n")
check(not hold(1, 0, 6).isError(), "fussy 1: holding 0..5, all points, served")
r = hold(1, 0, 12)
check(r.isError() and getattr(r, "exception_code", None) == 2, "fussy 1: holding 0..11 spans a gap: %s" % r)
r = hold(1, 10, 17)
check(r.isError() and getattr(r, "exception_code", None) == 2, "fussy 1: 17 registers refused: %s" % r)
check(not hold(1, 10, 8).isError(), "fussy 1: holding 10..17, all points, served")
check(not hold(2, 0, 12).isError(), "fussy 1: unit 2 still merges")

control("slow 1 300\n")
got, dt = raw(1, 3, 0, 6, 17)
check(len(got) == 17 and 0.28 <= dt <= 0.45, "slow 1 300: answered in %.0f ms" % (dt * 1000))

control("slow 1 300\nsilent 2\nbogus 7\n")
check(not hold(2, 0, 6).isError(), "a bad control file is refused whole: unit 2 still answers")

control("garbage 100\n")
s.reset_input_buffer()
req = bytes([1, 3, 0, 0, 0, 6]); req += crc(req)
s.write(req)
time.sleep(0.3)
got = s.read(s.in_waiting or 1)
check(len(got) > 17 and crc(got[-17:-2]) == got[-2:] and got[-17:-14] == bytes([1, 3, 12]),
      "garbage 100: %d noise bytes, then the reply" % (len(got) - 17))

control("clear\n")
# A write is echoed (6 bytes + CRC), a broadcast is executed and not answered.
s.reset_input_buffer()
req = bytes([1, 6, 0, 25, 0, 77]); req += crc(req)
s.write(req)
got = s.read(8)
check(got == req, "write single register echoed: %s" % got.hex())
s.reset_input_buffer()
req = bytes([0, 6, 0, 26, 0x12, 0x34]); req += crc(req)
s.write(req)
got = s.read(8)
check(got == b"", "broadcast not answered")
r = hold(3, 25, 2)
check(not r.isError() and r.registers == [77, 0x1234], "write and broadcast seen by unit 3: %s" % r)

os.kill(sim_pid, signal.SIGUSR1)
time.sleep(0.4)
c.close()
s.close()
sys.exit(done("client"))
EOF

log "client: pymodbus and raw frames"
"$PY" "$T/client.py" "$T/a" "$T/ctl" "$SIM_PID" || { cat "$T/sim.log"; fail "client checks"; }

log "SIGUSR1 counters"
grep 'stats' "$T/sim.log"
grep -q 'directives in force now' "$T/sim.log" || fail "no reload reported"
grep -q "$T/ctl:3: unknown directive 'bogus'" "$T/sim.log" || fail "bad control line not reported as FILE:LINE"
stat_of() {   # stat_of UNIT KEY: from the last SIGUSR1 print
    grep "stats unit=$1 " "$T/sim.log" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
[ "$(stat_of 3 silent)" = 1 ] || fail "unit 3 silent count $(stat_of 3 silent), want 1"
[ "$(stat_of 1 crc)" = 2 ] || fail "unit 1 crc count $(stat_of 1 crc), want 2"
[ "$(stat_of 2 truncated)" = 1 ] || fail "unit 2 truncated count $(stat_of 2 truncated), want 1"
[ "$(stat_of 2 injected)" = 2 ] || fail "unit 2 injected count $(stat_of 2 injected), want 2"
[ "$(stat_of 1 refused)" = 2 ] || fail "unit 1 refused count $(stat_of 1 refused), want 2"
[ "$(stat_of 1 delayed)" = 1 ] || fail "unit 1 delayed count $(stat_of 1 delayed), want 1"
grep 'stats bus' "$T/sim.log" | tail -1 | grep -q 'broadcasts=1 garbage=1 ' || fail "bus counters"
kill "$SIM_PID"
wait "$SIM_PID" 2>/dev/null
grep -q 'stats unit=1 ' <(sed -n '/stopped/,$p' "$T/sim.log") || fail "no counters on exit"

log "paced link at 9600 8N1: a 125-register read takes the wire time"
"$PACED" --a "$T/pa" --b "$T/pb" --baud 9600 --log "$T/paced.log" > "$T/paced.out" 2> "$T/paced.err" &
PACED_PID=$!
PIDS+=($PACED_PID)
wait_for 10 grep -q '^ready' "$T/paced.out" || { cat "$T/paced.err"; fail "tool_paced_pty not ready"; }
"$BIN/ganzhi-sim" --rtu "$T/pb" --units 1 --bench 125 --static 2> "$T/sim2.log" &
PIDS+=($!)
wait_for 10 grep -q 'serving' "$T/sim2.log" || { cat "$T/sim2.log"; fail "ganzhi-sim on the paced link"; }
"$PY" - "$T/pa" <<'EOF' || fail "paced read timing"
import struct, sys, time
import serial
from sim_peer import crc
s = serial.Serial(sys.argv[1], 9600, timeout=2)
wire = (8 + 5 + 250) * 10 / 9600
bad = 0
# One exchange untimed first: a simulator (a sanitizer build on a loaded machine)
# may take its first request late; the wire's timing is what is measured.
req = bytes([1, 3]) + struct.pack('>HH', 10000, 125)
s.write(req + crc(req))
s.read(255)
s.reset_input_buffer()
time.sleep(0.05)
for i in range(3):
    req = bytes([1, 3]) + struct.pack('>HH', 10000, 125)
    req += crc(req)
    t = time.monotonic()
    s.write(req)
    got = s.read(255)
    dt = time.monotonic() - t
    good = len(got) == 255 and crc(got[:-2]) == got[-2:] and abs(dt - wire) <= 0.15 * wire
    print("%s 125 registers in %.1f ms, wire time %.1f ms" % ("ok  " if good else "FAIL", dt * 1000, wire * 1000))
    bad += not good
    time.sleep(0.05)
sys.exit(1 if bad else 0)
EOF
kill "$PACED_PID"
wait "$PACED_PID" 2>/dev/null
cat "$T/paced.out"
cut -c1-80 "$T/paced.log"
grep -q 'a_to_b_frames=4 a_to_b_bytes=32 b_to_a_frames=4 b_to_a_bytes=1020 collisions=0' "$T/paced.out" \
    || fail "paced link summary"
[ "$(awk '$1 == "A>B" && $4 == 8 && $5 == "01032710007d8e9a"' "$T/paced.log" | wc -l)" = 4 ] \
    || fail "paced log: four 8-byte requests"
# A reply's frame spans its 255 bytes on the wire: 255 x 1.0417 ms = 265.6 ms.
awk '$1 == "B>A" { d = $3 - $2; if ($4 != 255 || d < 260000 || d > 272000) bad = 1; n++ }
     END { exit !(n == 4 && !bad) }' "$T/paced.log" || fail "paced log: reply frames"
echo "sim_rtu: ok"
