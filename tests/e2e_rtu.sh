#!/bin/bash
# Modbus RTU buses end to end, with ganzhi-sim's RTU slaves.
# (1) A socat pty pair, three devices on one port, unit 3 silent: units 1 and 2
#     keep their 500 ms poll interval within 10 %, unit 3 is published comm_fail
#     and quarantined, and restored when it answers again; `ganzhi scan` finds 1
#     and 2; `ganzhi read --trace` shows the frames.
# (2) The paced 9600-baud link (tests/tool_paced_pty), unit 1 corrupting CRCs and
#     truncating replies, unit 2 slow: requests never overlap and keep the 3.5
#     character silence, no reply is taken for another request (every good value
#     is the simulator's), the bad frames are counted and the bus goes on.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat is not installed (tests/deps.sh installs it)"
PY=/usr/bin/python3
"$BIN/ganzhi-sim" --static --values > "$T/expected.txt"

# Point tables: the simulator's table once per unit, tags prefixed U1-, U2-, U3-.
mkdir -p "$T/points"
for u in 1 2 3; do
    awk -v p="U$u-" -F, '/^#/ { next } !hdr { hdr = 1; print; next } { $1 = p $1; print }' OFS=, \
        "$ROOT/conf/demo/points/tank_farm.csv" > "$T/points/u$u.csv"
done
rtu_conf() { # FILE PORT INTERVAL TIMEOUT UNITS...
    local file=$1 port=$2 interval=$3 timeout=$4; shift 4
    {
        printf '[agent]\nenterprise_code = 220102000001\ngateway_code = GW01\n'
        printf 'data_dir = %s\nstatus_interval = 1s\ncommit_interval = 100ms\n' "$T/data-$(basename "$file")"
        for u in "$@"; do
            printf '\n[device plc%s]\ndriver = modbus-rtu\nserial = %s\nbaud = 9600\n' "$u" "$port"
            printf 'unit_id = %s\ninterval = %s\ntimeout = %s\nbackoff_max = 2s\npoints = points/u%s.csv\n' \
                "$u" "$interval" "$timeout" "$u"
        done
        printf '\n[uplink county]\nurl = mqtt://127.0.0.1:%s\n' "$MQ"
    } > "$file"
}
check_values() { # SUBSCRIBER_FILE: every good reading is the simulator's value
    $PY - "$1" "$T/expected.txt" <<'PY'
import json, math, sys
exp = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[2]) if l.strip())
good = bad = 0
for line in open(sys.argv[1]):
    for r in json.loads(line)["readings"]:
        if r["quality"] != "good":
            continue
        want = exp[r["tag"].split("-", 1)[1]]
        if not math.isclose(r["value"], want, rel_tol=1e-6, abs_tol=1e-9):
            sys.exit(f"{r['tag']} = {r['value']}, the simulator serves {want}: a reply taken for another request?")
        good += 1
print(f"{good} good readings, every one the simulator's value")
PY
}
MQ=$(free_port)
start_broker one "$MQ"

log "(1) three devices on one pty, unit 3 silent"
socat -d -d pty,raw,echo=0,link="$T/a" pty,raw,echo=0,link="$T/b" 2> "$T/socat.log" &
PIDS+=($!)
wait_for 10 test -e "$T/a" -a -e "$T/b" || fail "socat made no pty pair"
: > "$T/ctl"
"$BIN/ganzhi-sim" --rtu "$T/b" --units 1,2,3 --static --misbehave 'silent 3' --control "$T/ctl" \
    2> "$T/sim.log" &
PIDS+=($!)
wait_for 10 grep -q serving "$T/sim.log" || fail "ganzhi-sim --rtu did not start"
rtu_conf "$T/bus.conf" "$T/a" 500ms 200ms 1 2 3
"$BIN/ganzhi" check -c "$T/bus.conf" || fail "check"
"$BIN/ganzhi" scan --serial "$T/a" --units 1-4 --timeout 150ms > "$T/scan.out" 2>&1
cat "$T/scan.out"
grep -q "unit   1: answers" "$T/scan.out" && grep -q "unit   2: answers" "$T/scan.out" || fail "scan missed a unit"
grep -q "unit   3" "$T/scan.out" && fail "scan found the silent unit"
grep -q "2 of 4 unit ids answer" "$T/scan.out" || fail "scan count"
"$BIN/ganzhi" read -c "$T/bus.conf" plc1 U1-LT-101 U1-PT-102 --trace > "$T/read.out" 2> "$T/trace.out" || fail "read plc1"
cat "$T/read.out" "$T/trace.out"
grep -q "^U1-LT-101 3.215 m good" "$T/read.out" || fail "read value"
grep -qE "ms > 01 03 00 00 00 06 C5 C8" "$T/trace.out" || fail "no request frame in the trace"

subscribe bus "$MQ" 'ganzhi/220102000001/realtime'
start_agent "$T/bus.conf"
sleep 10
status() { $PY -c "import json,sys; s=json.load(open(sys.argv[1])); d={x['name']:x for x in s['devices']}; print($2)" "$T/data-bus.conf/status.json"; }
status x 'd["plc3"]'
[ "$(status x 'd["plc3"]["quarantined"]')" = True ] || fail "unit 3 not quarantined"
log "the live units kept their interval"
$PY - "$T/bus.sub" <<'PY' || fail "poll interval"
import json, sys, datetime, statistics
ts = {"U1-XA-101": [], "U2-XA-101": []}
q3 = set()
for line in open(sys.argv[1]):
    for r in json.loads(line)["readings"]:
        if r["tag"] in ts:
            ts[r["tag"]].append(datetime.datetime.fromisoformat(r["ts"]).timestamp())
        if r["tag"].startswith("U3-"):
            q3.add(r["quality"])
for tag, t in ts.items():
    gaps = [b - a for a, b in zip(t, t[1:])]
    med = statistics.median(gaps)
    print(f"{tag}: {len(t)} polls, median interval {med*1000:.0f} ms")
    assert 0.45 <= med <= 0.55, med
    assert len(t) >= 16, len(t)
assert q3 == {"comm_fail"}, q3
PY
log "unit 3 answers again"
echo clear > "$T/ctl"
back() { grep -q "device\[plc3\]: answering again" "$T/agent.log"; }
wait_for 15 back || fail "unit 3 was not restored"
sleep 2
[ "$(status x 'd["plc3"]["quarantined"]')" = False ] || fail "unit 3 still quarantined"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
grep -q '"tag":"U3-LT-101"[^}]*"quality":"good"' "$T/bus.sub" || fail "no good reading from unit 3 after it came back"
check_values "$T/bus.sub" || fail "values"

log "(2) the paced 9600-baud link: unit 1 corrupts CRCs and cuts replies, unit 2 is slow"
"$BIN/tests/tool_paced_pty" --a "$T/pa" --b "$T/pb" --baud 9600 --log "$T/wire.log" > "$T/paced.out" 2>&1 &
PACED_PID=$!
PIDS+=($PACED_PID)
wait_for 10 grep -q ready "$T/paced.out" || fail "paced link not ready"
"$BIN/ganzhi-sim" --rtu "$T/pb" --units 1,2 --static --misbehave 'crc 1 15' \
    --misbehave 'truncate 1 10' --misbehave 'slow 2 40' 2> "$T/sim2.log" &
SIM2=$!
PIDS+=($SIM2)
wait_for 10 grep -q serving "$T/sim2.log" || fail "ganzhi-sim on the paced link"
rtu_conf "$T/paced.conf" "$T/pa" 200ms 400ms 1 2
subscribe paced "$MQ" 'ganzhi/220102000001/realtime'
: > "$T/agent.log"
start_agent "$T/paced.conf"
sleep 20
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
kill -TERM "$PACED_PID"; wait "$PACED_PID" 2>/dev/null
kill -USR1 "$SIM2"; sleep 0.3
grep "stats unit" "$T/sim2.log" | tail -2
cat "$T/paced.out"
$PY - "$T/wire.log" <<'PY' || fail "wire timing"
import sys
frames = []
for line in open(sys.argv[1]):
    p = line.split()
    frames.append((p[0], int(p[1]), int(p[2]), int(p[3]), "collision" in line))
char_us = 11 / 9600 * 1e6 * 10 / 11     # 8N1: 10 bits
gap_us = 3.5 * char_us
reqs = [f for f in frames if f[0] == "A>B"]
assert len(reqs) > 50, len(reqs)
assert not any(f[4] for f in frames), "collision on the bus"
short = 0
for prev, cur in zip(frames, frames[1:]):
    if cur[0] == "A>B" and cur[1] - prev[2] < gap_us * 0.95:
        short += 1
# A request goes out only after the previous one's reply or timeout.
overlap = 0
pending = None
for f in frames:
    if f[0] == "A>B":
        if pending is not None and f[1] < pending + 0:   # never before the last request ended
            overlap += 1
        pending = f[2]
print(f"{len(reqs)} requests, {len(frames) - len(reqs)} replies; silences under 3.5 chars: {short}; overlaps: {overlap}")
assert short == 0 and overlap == 0
PY
s=$T/data-paced.conf/status.json
$PY - "$s" <<'PY' || fail "bad frames not counted"
import json, sys
d = {x["name"]: x for x in json.load(open(sys.argv[1]))["devices"]}
p1 = d["plc1"]
print({k: p1[k] for k in ("requests", "errors_comm", "errors_reply")}, "plc2:",
      {k: d["plc2"][k] for k in ("requests", "errors_comm", "errors_reply")})
assert p1["errors_reply"] + p1["errors_comm"] > 0
assert p1["requests"] > 100 and d["plc2"]["requests"] > 100
PY
check_values "$T/paced.sub" || fail "a reply was taken for the wrong request"
grep -c '"quality":"good"' "$T/paced.sub" > /dev/null || fail "nothing good on the paced link"
echo PASS
