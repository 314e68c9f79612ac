#!/bin/bash
# bench_rtu.sh (part of `make bench`): the serial bus, on the paced 9600-baud link
# (tests/tool_paced_pty delivers bytes at the real wire rate).
#   1. Bus utilisation: the demo point table polled back to back from ganzhi-sim
#      in RTU mode; readings/s achieved against the wire's limit for the same
#      plan, computed from frame sizes (request 8 bytes, reply 5 + data bytes, a
#      3.5-character silence before each request; the slave's turnaround counted
#      as nothing, which favours the wire). Goal >= 90 %.
#   2. Merging: requests per poll of the demo table, against one request a point.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
OUT=$ROOT/$BUILD/bench-rtu.txt
MQ=$(free_port)
start_broker one "$MQ"
"$BIN/tests/tool_paced_pty" --a "$T/pa" --b "$T/pb" --baud 9600 --log "$T/wire.log" > "$T/paced.out" 2>&1 &
PACED=$!
PIDS+=($PACED)
wait_for 10 grep -q ready "$T/paced.out" || fail "paced link"
"$BIN/ganzhi-sim" --rtu "$T/pb" --units 1 --static 2> "$T/sim.log" &
PIDS+=($!)
wait_for 10 grep -q serving "$T/sim.log" || fail "sim"
mkdir -p "$T/points"; cp "$ROOT/conf/demo/points/tank_farm.csv" "$T/points/"
cat > "$T/agent.conf" <<INI
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = $T/data
status_interval = 1s
[device rtu]
driver = modbus-rtu
serial = $T/pa
baud = 9600
unit_id = 1
interval = 10ms
timeout = 500ms
points = points/tank_farm.csv
[uplink county]
url = mqtt://127.0.0.1:$MQ
INI
start_agent "$T/agent.conf"
sleep 3
s0=$(stat -c %Y.%N "$T/data/status.json" 2>/dev/null)
req0=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['devices'][0]['requests'])" "$T/data/status.json")
t0=$(date +%s.%N)
sleep 15
req1=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['devices'][0]['requests'])" "$T/data/status.json")
t1=$(date +%s.%N)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
kill -TERM "$PACED"; wait "$PACED" 2>/dev/null
PYTHONPATH=$ROOT/tests $PY - "$ROOT/conf/demo/points/tank_farm.csv" "$req0" "$req1" "$t0" "$t1" "$T/paced.out" <<'PY' | tee "$OUT"
import sys
from bench_plan import CHAR_MS, plan, poll_chars
# The plan the agent makes for this table (tests/bench_plan.py). The master keeps
# 3.5 characters of silence before each request; a slave may answer as soon as the
# request ends (ganzhi-sim does, so do many devices): one silence a request.
points, reads = plan(sys.argv[1])
poll_ms = poll_chars(reads) * CHAR_MS
limit = points * 1000 / poll_ms
req0, req1, t0, t1 = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
polls = (req1 - req0) / len(reads)
achieved = polls * points / (t1 - t0)
print(f"serial bus at 9600 8N1 (paced link), demo table: {points} points, {len(reads)} requests a poll")
print(f"  wire limit for this plan       {limit:8.1f} readings/s ({poll_ms:.1f} ms a poll)")
print(f"  achieved                       {achieved:8.1f} readings/s ({polls / (t1 - t0):.2f} polls/s)")
print(f"  bus utilisation                {100 * achieved / limit:8.1f} %   goal >= 90 %: {'PASS' if achieved >= 0.9 * limit else 'MISS'}")
print(f"  requests per reading           {len(reads) / points:8.3f}   (one request a point: 1.000)")
print("  " + open(sys.argv[6]).read().strip().splitlines()[-1])
PY
