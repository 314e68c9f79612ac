#!/bin/bash
# Devices that do not answer: one that accepts the connection and never replies,
# one whose port refuses. Their readings are published as comm_fail, they are
# retried with backoff, and they never delay the live device, which keeps its
# poll interval. The live device's simulator is then stopped and restarted: its
# points go comm_fail and come back good, and the agent never exits.
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); MQ=$(free_port); SILENT=$(free_port); CLOSED=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
# A peer that takes the TCP connection and never says a word.
socat TCP-LISTEN:"$SILENT",bind=127.0.0.1,reuseaddr,fork SYSTEM:'sleep 600' &
PIDS+=($!)
wait_for 5 port_open "$SILENT" || fail "silent peer"

mkdir -p "$T/points"
printf 'tag,area,address,type,unit\nGT-901,input,0,uint16,%%LEL\nGT-902,input,1,uint16,%%LEL\n' > "$T/points/silent.csv"
printf 'tag,area,address,type,unit\nGT-951,input,0,uint16,%%LEL\n' > "$T/points/closed.csv"
INTERVAL=200ms write_agent_conf "$T/agent.conf" "$SIM" \
"[device silent_plc]
driver = modbus-tcp
host = 127.0.0.1
port = $SILENT
interval = 200ms
timeout = 1s
backoff_max = 2s
points = points/silent.csv" \
"[device closed_plc]
driver = modbus-tcp
host = 127.0.0.1
port = $CLOSED
interval = 200ms
points = points/closed.csv" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ"
start_agent "$T/agent.conf"
sleep 8

log "the live device kept its interval while the others were dead"
/usr/bin/python3 - "$T/one.sub" <<'PY' || fail "live device slowed down, or dead ones not comm_fail"
import json, sys, datetime, statistics
ts = []
dead = {}
for line in open(sys.argv[1]):
    for r in json.loads(line)["readings"]:
        if r["tag"] == "XA-101":        # deadband 0: stored every poll
            ts.append(datetime.datetime.fromisoformat(r["ts"]).timestamp())
        if r["device"] in ("silent_plc", "closed_plc"):
            dead.setdefault(r["tag"], []).append(r)
gaps = [b - a for a, b in zip(ts, ts[1:])]
med = statistics.median(gaps)
print(f"live device: {len(ts)} polls, median interval {med*1000:.0f} ms, max {max(gaps)*1000:.0f} ms")
assert 0.18 <= med <= 0.22, med
assert len(ts) >= 30, len(ts)
for tag in ("GT-901", "GT-902", "GT-951"):
    rs = dead.get(tag)
    assert rs, f"no reading of {tag}"
    assert all(r["quality"] == "comm_fail" and r["value"] is None for r in rs), rs[:2]
print("dead devices published as comm_fail:", {t: len(v) for t, v in dead.items()})
PY
grep -E "device\[(silent|closed)_plc\]" "$T/agent.log" | head -4
# Backoff: a dead device is asked far less often than every 200 ms.
/usr/bin/python3 - "$T/data/status.json" <<'PY' || fail "no backoff"
import json, sys
s = json.load(open(sys.argv[1]))
d = {x["name"]: x for x in s["devices"]}
print({k: (v["link"], v["requests"], v["errors_comm"]) for k, v in d.items()})
assert d["tank_plc"]["link"] == "up" and d["silent_plc"]["link"] == "down"
assert d["closed_plc"]["link"] == "down"
assert d["closed_plc"]["requests"] < 20, d["closed_plc"]   # 8 s at 200 ms would be 40
PY

log "the live device's simulator stops, then returns"
kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null
sleep 3
kill -0 "$AGENT_PID" || fail "agent exited when a device died"
start_sim "$SIM" --static
back() { grep -q "device\[tank_plc\]: answering again" "$T/agent.log"; }
wait_for 20 back || fail "tank_plc never recovered"
sleep 2
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
/usr/bin/python3 - "$T/one.sub" <<'PY' || fail "comm_fail and recovery not published"
import json, sys
q = [r["quality"] for l in open(sys.argv[1]) for r in json.loads(l)["readings"] if r["tag"] == "LT-101"]
i = q.index("comm_fail")
assert "good" in q[i:], q
print("LT-101 qualities:", q[0], "->", q[i], "->", q[-1])
PY
check_seq "$T/one.sub" || fail "seqs"
echo PASS
