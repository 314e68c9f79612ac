#!/bin/bash
# bench_links.sh (part of `make bench`): the TCP paths to serial devices,
# against ganzhi-sim on loopback, each figure a ratio to a limit or a baseline of the
# same run:
#   1. RTU over TCP on a paced link: `ganzhi-sim --rtu-tcp --paced --baud 9600`, the
#      demo table polled back to back (driver = modbus-rtu-tcp, baud = 9600); readings/s
#      achieved against the wire limit for the same plan: request 8 bytes, reply 5 +
#      data bytes, and the line's two silences a request (3.5 characters before the
#      request, the agent's frame_gap, and 3.5 before the reply, which the paced sim
#      keeps as a conforming slave must). Goal >= 90 %. The figure against
#      bench_rtu.sh's formula (one silence: a slave answering the instant the request
#      ends, as ganzhi-sim on a pty does) and the sim's own line occupancy (busy_ms)
#      are printed beside it.
#   2. Eight units behind one Modbus TCP to RTU gateway (`ganzhi-sim --gateway
#      --max-clients 1`, 9600 baud): eight modbus-tcp devices on its host:port, the demo
#      table each (tags prefixed U1-..U8-), link = shared (the default): readings/s
#      against the gateway's serial limit (same formula over the eight plans), goal
#      >= 90 %, with overlaps=0 and refused=0 in the sim's counters. Then the same eight
#      with link = own: how many devices get read when the gateway takes one connection.
#   3. The per-transport cost: round trips/s of the agent polling 400 single-register
#      reads from one unit with no pacing, RTU over TCP (frame_gap = 0) against Modbus
#      TCP (`ganzhi-sim --port`), both at once in one agent (same machine load), static
#      values and a deadband so the store stays idle; and their ratio.
# Summary in $BUILD/bench-links.txt. Exit 0 whatever the figures; non-zero only when
# something broke. Knobs: BENCH_LINKS_WINDOW (12 s), BENCH_LINKS_WARMUP (3 s),
# BENCH_LINKS_RTT_WINDOW (4 s).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
OUT=$ROOT/$BUILD/bench-links.txt
WINDOW=${BENCH_LINKS_WINDOW:-12}
WARMUP=${BENCH_LINKS_WARMUP:-3}
RTT_WINDOW=${BENCH_LINKS_RTT_WINDOW:-4}
UNITS=8
RTT_POINTS=400
[ -x "$BIN/ganzhi-sim" ] && [ -x "$BIN/ganzhi-agent" ] || fail "$BIN/ganzhi-sim or ganzhi-agent missing: run make first"
: > "$OUT"

# ---- helpers ---------------------------------------------------------------------
# sim NAME PORT OPTIONS...: a ganzhi-sim of its own, stderr in $T/NAME.sim.log; SIM_PID.
sim() {
    local name=$1 port=$2; shift 2
    "$BIN/ganzhi-sim" --port "$port" "$@" 2> "$T/$name.sim.log" &
    SIM_PID=$!
    PIDS+=($SIM_PID)
    wait_for 10 grep -q serving "$T/$name.sim.log" || { cat "$T/$name.sim.log"; fail "ganzhi-sim $name"; }
}

# sim_stats NAME TAG: SIGUSR1 to $SIM_PID, and its counters written to $T/NAME.TAG.sim
# as "TIME served busy_ms overlaps accepted refused" (the line and link counters).
sim_stats() {
    local log=$T/$1.sim.log n t
    n=$(grep -c 'stats link' "$log")
    t=$(date +%s.%N)
    kill -USR1 "$SIM_PID"
    wait_for 5 eval '[ "$(grep -c "stats line" "$log")" -gt "$n" ]' || fail "no stats from ganzhi-sim $1"
    $PY - "$log" "$t" > "$T/$1.$2.sim" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
get = lambda kind: dict(re.findall(r"(\w+)=(\S+)", [l for l in lines if "stats " + kind + " " in l][-1]))
line, link = get("line"), get("link")
print(sys.argv[2], line["served"], line["busy_ms"], line["overlaps"], link["accepted"], link["refused"])
PY
}

# snap NAME TAG: wait for the agent to rewrite status.json, keep it as
# $T/NAME.TAG.json and its write time (mtime) in $T/NAME.TAG.t.
snap() {
    local f=$T/$1/data/status.json m0 i
    m0=$(stat -c %.9Y "$f" 2>/dev/null)
    for i in $(seq 1 60); do
        [ "$(stat -c %.9Y "$f" 2>/dev/null)" != "$m0" ] && break
        sleep 0.05
    done
    cp "$f" "$T/$1.$2.json" && stat -c %.9Y "$f" > "$T/$1.$2.t" || fail "status.json of $1"
}

# agent_conf NAME: $T/NAME/agent.conf begun with the [agent] section of run NAME (data
# in $T/NAME/data), and $T/NAME/points made; the caller appends the devices.
agent_conf() {
    mkdir -p "$T/$1/points"
    printf '[agent]\nenterprise_code = 220102000001\ngateway_code = GW01\ndata_dir = %s\nstatus_interval = 1s\n' \
        "$T/$1/data" > "$T/$1/agent.conf"
}

# run NAME WINDOW [sim]: start the agent on $T/NAME/agent.conf, warm up, then sample
# status.json (and the sim's counters, with "sim") WINDOW seconds apart; stop it.
run() {
    local name=$1 window=$2
    "$BIN/ganzhi" check -c "$T/$name/agent.conf" > /dev/null || fail "ganzhi check $name"
    start_agent "$T/$name/agent.conf"
    wait_for 10 test -s "$T/$name/data/status.json" || { cat "$T/agent.log"; fail "agent $name: no status.json"; }
    sleep "$WARMUP"
    snap "$name" a; [ "${3:-}" = sim ] && sim_stats "$name" a
    sleep "$window"
    snap "$name" b; [ "${3:-}" = sim ] && sim_stats "$name" b
    kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
}

# The figures' helpers: the plan and wire time (tests/bench_plan.py), status, the sim's counters.
cat > "$T/plan.py" <<'PY'
import json
from bench_plan import CHAR_MS, plan, poll_chars
def status(path):
    s = json.load(open(path))
    return {d["name"]: d for d in s["devices"]}, s["links"]
def good(d):
    return d["requests"] - d["errors_comm"] - d["errors_exception"] - d["errors_reply"]
def sim(path):
    t, served, busy, overlaps, accepted, refused = open(path).read().split()
    return float(t), int(served), int(busy), int(overlaps), int(accepted), int(refused)
PY
export PYTHONPATH=$T:$ROOT/tests
DEMO=$ROOT/conf/demo/points/tank_farm.csv

# ---- 1. RTU over TCP, paced ------------------------------------------------------
log "1. RTU over TCP, paced at 9600: the demo table back to back"
P1=$(free_port)
sim rtutcp "$P1" --rtu-tcp --paced --baud 9600 --units 1 --static
agent_conf rtutcp
printf '\n[device rtu]\ndriver = modbus-rtu-tcp\nhost = 127.0.0.1\nport = %s\nbaud = 9600\nunit_id = 1\n' "$P1" \
    >> "$T/rtutcp/agent.conf"
printf 'interval = 10ms\ntimeout = 500ms\npoints = points/tank_farm.csv\n' >> "$T/rtutcp/agent.conf"
cp "$DEMO" "$T/rtutcp/points/"
run rtutcp "$WINDOW" sim
kill -TERM "$SIM_PID"; wait "$SIM_PID"
$PY - "$DEMO" "$T/rtutcp" "$ROOT/$BUILD/bench-rtu.txt" <<'PY' | tee -a "$OUT"
import os, sys
from plan import *
points, data = plan(sys.argv[1])
base = sys.argv[2]
a, _ = status(base + ".a.json"); b, links = status(base + ".b.json")
t0, t1 = float(open(base + ".a.t").read()), float(open(base + ".b.t").read())
s0, s1 = sim(base + ".a.sim"), sim(base + ".b.sim")
d0, d1 = a["rtu"], b["rtu"]
reqs = good(d1) - good(d0)
polls = reqs / len(data) / (t1 - t0)
achieved = polls * points
poll_ms = poll_chars(data) * CHAR_MS
limit = points * 1000 / poll_ms
ceiling = points * 1000 / (poll_chars(data, 2) * CHAR_MS)
occupied = (s1[2] - s0[2]) / ((s1[0] - s0[0]) * 1000)
sim_req_ms = (s1[2] - s0[2]) / max(1, s1[1] - s0[1])
print(f"RTU over TCP, ganzhi-sim --rtu-tcp --paced at 9600 8N1, demo table: {points} points, "
      f"{len(data)} requests a poll (agent: {d1['reads_per_poll']})")
print(f"  limit counts per request: the RTU line's two silences (3.5 chars before the request, which the")
print(f"  agent keeps as frame_gap, and 3.5 before the reply, which the paced sim keeps as a conforming")
print(f"  slave must: it can only tell the request ended by that silence) + 8 request + 5 + data reply")
print(f"  wire limit for this plan       {ceiling:8.1f} readings/s ({poll_chars(data, 2) * CHAR_MS:.1f} ms a poll)")
print(f"  achieved                       {achieved:8.1f} readings/s ({polls:.2f} polls/s, "
      f"errors {d1['errors_comm'] + d1['errors_reply']}, timeouts {links[0]['timeouts']}, crc {links[0]['crc_errors']})")
print(f"  bus utilisation                {100 * achieved / ceiling:8.1f} %   goal >= 90 %: "
      f"{'PASS' if achieved >= 0.9 * ceiling else 'MISS'}")
print(f"  (against one silence a request, bench_rtu.sh's formula for a slave answering the instant the")
print(f"   request ends: {limit:.1f} readings/s, {100 * achieved / limit:.1f} %; the sim's line busy (busy_ms) "
      f"{100 * occupied:.1f} %, {sim_req_ms:.2f} ms a request)")
rtu = sys.argv[3]
if os.path.exists(rtu):
    for l in open(rtu):
        if "bus utilisation" in l:
            print("  serial bench (bench-rtu.txt): " + l.strip())
PY

# ---- 2. eight units behind one gateway -------------------------------------------
# gw_conf NAME PORT LINK: eight modbus-tcp devices, units 1..8, the demo table each.
gw_conf() {
    local name=$1 port=$2 link=$3 k
    agent_conf "$name"
    for k in $(seq 1 $UNITS); do
        awk -v p="U$k-" '/^#/ || /^tag,/ { print; next } { print p $0 }' "$DEMO" > "$T/$name/points/u$k.csv"
        printf '\n[device u%d]\ndriver = modbus-tcp\nhost = 127.0.0.1\nport = %s\nunit_id = %d\nlink = %s\n' \
            "$k" "$port" "$k" "$link" >> "$T/$name/agent.conf"
        printf 'interval = 10ms\ntimeout = 1s\npoints = points/u%d.csv\n' "$k" >> "$T/$name/agent.conf"
    done
}
LIST=$(seq -s, 1 $UNITS)
log "2. $UNITS units behind one gateway (9600, --max-clients 1), link = shared"
P2=$(free_port)
sim gwshared "$P2" --gateway --baud 9600 --units "$LIST" --static --max-clients 1
gw_conf gwshared "$P2" shared
run gwshared "$WINDOW" sim
kill -TERM "$SIM_PID"; wait "$SIM_PID"
log "2b. the same with link = own"
P3=$(free_port)
sim gwown "$P3" --gateway --baud 9600 --units "$LIST" --static --max-clients 1
gw_conf gwown "$P3" own
run gwown "$RTT_WINDOW" sim
kill -TERM "$SIM_PID"; wait "$SIM_PID"
$PY - "$DEMO" "$T/gwshared" "$T/gwown" "$UNITS" <<'PY' | tee -a "$OUT"
import sys
from plan import *
points, data = plan(sys.argv[1])
n = int(sys.argv[4])
def window(base):
    a, _ = status(base + ".a.json"); b, links = status(base + ".b.json")
    t0, t1 = float(open(base + ".a.t").read()), float(open(base + ".b.t").read())
    s0, s1 = sim(base + ".a.sim"), sim(base + ".b.sim")
    per = {k: (good(b[k]) - good(a[k])) / len(data) * points / (t1 - t0) for k in b}
    return per, b, links, s0, s1
per, b, links, s0, s1 = window(sys.argv[2])
achieved = sum(per.values())
poll_ms = n * poll_chars(data) * CHAR_MS
limit = n * points * 1000 / poll_ms
occupied = (s1[2] - s0[2]) / ((s1[0] - s0[0]) * 1000)
ok_line = s1[3] == 0 and s1[5] == 0 and s1[4] == 1
print(f"{n} units behind one Modbus TCP to RTU gateway (ganzhi-sim --gateway, 9600 8N1, --max-clients 1), "
      f"link = shared: {n} x {points} points, {n * len(data)} requests a round")
print(f"  limit counts per request: 3.5 chars silence + 8 request + 5 + data reply (the gateway paces the same)")
print(f"  gateway's serial limit         {limit:8.1f} readings/s ({poll_ms:.1f} ms a round of all {n})")
print(f"  achieved                       {achieved:8.1f} readings/s (per device {min(per.values()):.1f}..{max(per.values()):.1f}, whole polls;"
      f" links {len(links)}, connects {sum(l['connects'] for l in links)}, timeouts {sum(l['timeouts'] for l in links)})")
print(f"  line utilisation               {100 * achieved / limit:8.1f} %   goal >= 90 %: "
      f"{'PASS' if achieved >= 0.9 * limit else 'MISS'}   (sim's busy_ms: {100 * occupied:.1f} %)")
print(f"  sim: overlaps={s1[3]} accepted={s1[4]} refused={s1[5]}      goal overlaps=0, refused=0, one connection: "
      f"{'PASS' if ok_line else 'MISS'}")
per, b, links, s0, s1 = window(sys.argv[3])
read = [k for k in sorted(per) if per[k] > 0]
print(f"  link = own, same gateway:      {sum(per.values()):8.1f} readings/s; {len(read)} of {n} devices read ({', '.join(read) or 'none'}),"
      f" sim refused={s1[5]} connections, agent errors_comm={sum(d['errors_comm'] for d in b.values())}")
PY

# ---- 3. per-transport cost ---------------------------------------------------------
# Both transports at once in one agent (a bus thread each, a sim each), so that both
# see the same load on the machine and the ratio holds when the run is disturbed.
log "3. round trips/s, no pacing: RTU over TCP against Modbus TCP, side by side"
P4=$(free_port); P5=$(free_port)
sim rttrtu "$P4" --rtu-tcp --units 1 --static --bench $((2 * RTT_POINTS))
sim rtttcp "$P5" --units 1 --static --bench $((2 * RTT_POINTS))
agent_conf rtt
for dev in rtu:modbus-rtu-tcp:$P4 tcp:modbus-tcp:$P5; do
    IFS=: read -r name driver port <<< "$dev"
    printf '\n[device %s]\ndriver = %s\nhost = 127.0.0.1\nport = %s\nunit_id = 1\ninterval = 10ms\n' \
        "$name" "$driver" "$port" >> "$T/rtt/agent.conf"
    [ "$driver" = modbus-rtu-tcp ] && printf 'frame_gap = 0ms\n' >> "$T/rtt/agent.conf"
    printf 'timeout = 500ms\npoints = points/%s.csv\n' "$name" >> "$T/rtt/agent.conf"
    # RTT_POINTS single-register reads a poll (every other register: max_gap 0 keeps them
    # apart); static values and a deadband, so that the store is not what is measured.
    $PY -c 'import sys
print("tag,area,address,type,deadband")
for i in range(int(sys.argv[2])): print("%s%d,holding,%d,uint16,1" % (sys.argv[1], i, 10000 + 2 * i))' \
        "$name" "$RTT_POINTS" > "$T/rtt/points/$name.csv"
done
run rtt "$RTT_WINDOW"
$PY - "$T/rtt" "$RTT_POINTS" <<'PY' | tee -a "$OUT"
import sys
from plan import *
a, _ = status(sys.argv[1] + ".a.json"); b, _ = status(sys.argv[1] + ".b.json")
t0, t1 = float(open(sys.argv[1] + ".a.t").read()), float(open(sys.argv[1] + ".b.t").read())
rate = {k: (good(b[k]) - good(a[k])) / (t1 - t0) for k in b}
err = {k: b[k]["errors_comm"] + b[k]["errors_reply"] for k in b}
print(f"per-transport cost, loopback, no pacing: one unit each, {sys.argv[2]} single-register reads a poll,"
      f" back to back, both at once in one agent")
print(f"  RTU over TCP (frame_gap = 0)   {rate['rtu']:8.0f} round trips/s ({b['rtu']['reads_per_poll']} reads a poll, errors {err['rtu']})")
print(f"  Modbus TCP                     {rate['tcp']:8.0f} round trips/s ({b['tcp']['reads_per_poll']} reads a poll, errors {err['tcp']})")
print(f"  RTU over TCP / Modbus TCP      {rate['rtu'] / rate['tcp']:8.2f}")
PY
