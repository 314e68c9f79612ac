#!/bin/bash
# Alarms at the edge, end to end. A backlog is draining (the broker was down);
# the tank level is driven above hihi on the simulator (a Modbus write): the
# alarm message reaches the collector within one poll interval plus the point's
# on-delay, ahead of the backlog. The level falls below hihi - hysteresis: a
# clear. The agent is restarted with the hi alarm still active: no second raise,
# and its clear after the restart is not lost.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ"
subscribe alarm "$MQ" 'ganzhi/220102000001/alarm'
subscribe rt "$MQ" 'ganzhi/220102000001/realtime'
INTERVAL=100ms write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 300ms
backfill_rate = 20
message_readings = 20
live_window = 2s"
# LT-101: hi 8.5, hihi 9.2 (the demo table), with a 0.1 m hysteresis and a 1 s on-delay.
$PY - "$T/points/tank_farm.csv" <<'PY'
import csv, sys
path = sys.argv[1]
lines = open(path, encoding="utf-8").read().splitlines()
head = [l for l in lines if l.startswith("#")]
rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
fields = list(rows[0].keys()) + ["hysteresis", "delay"]
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("\n".join(head) + "\n")
    w = csv.DictWriter(f, fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        r["hysteresis"], r["delay"] = ("0.1", "1s") if r["tag"] == "LT-101" else ("", "")
        w.writerow(r)
PY
write_level() { # metres -> LT-101 (holding 0, uint16, scale 0.001)
    $PY - "$SIM" "$1" <<'PY'
import sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1]))
c.connect()
r = c.write_register(0, round(float(sys.argv[2]) * 1000), slave=1)
assert not r.isError(), r
c.close()
PY
}
start_agent "$T/agent.conf"
wait_for 10 test -s "$T/rt.sub" || fail "nothing published"
log "broker down 6 s: a backlog builds"
stop_broker one
sleep 6
start_broker one "$MQ"
backfilling() { $PY -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['uplinks'][0]['backfilling'] else 1)" "$T/data/status.json" 2>/dev/null; }
wait_for 10 backfilling || fail "no backlog draining"
log "the level rises to 9.5 m while the backlog drains"
t0=$(date +%s.%N)
write_level 9.5
got_hihi() { grep -q '"level":"hihi","state":"raised"' "$T/alarm.sub"; }
wait_for 10 got_hihi || { cat "$T/agent.log"; fail "no hihi alarm arrived"; }
t1=$(date +%s.%N)
backfilling || log "(the backlog finished draining meanwhile)"
$PY -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print(f'hihi alarm arrived {d:.2f} s after the write'); sys.exit(0 if d < 0.1 + 1 + 1.0 else 1)" "$t0" "$t1" \
    || fail "the alarm took longer than one interval plus the delay (+1 s of slack)"
grep -q '"level":"hi","state":"raised"' "$T/alarm.sub" || fail "no hi alarm"
log "the level falls to 9.15 m (inside the hysteresis: no clear), then 9.05 m (clear)"
write_level 9.15
sleep 1
grep -q '"level":"hihi","state":"cleared"' "$T/alarm.sub" && fail "cleared inside the hysteresis"
write_level 9.05
cleared() { grep -q '"level":"hihi","state":"cleared"' "$T/alarm.sub"; }
wait_for 5 cleared || fail "no clear"
log "restart with hi still active: no second raise; its clear is delivered"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
start_agent "$T/agent.conf"
sleep 2
[ "$(grep -o '"tag":"LT-101","device":"tank_plc","level":"hi","state":"raised"' "$T/alarm.sub" | wc -l)" = 1 ] \
    || fail "hi raised again after the restart"
write_level 8.0
wait_for 5 grep -q '"tag":"LT-101","device":"tank_plc","level":"hi","state":"cleared"' "$T/alarm.sub" \
    || fail "the clear after the restart was lost"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
cat "$T/alarm.sub"
$PY - "$T/alarm.sub" <<'PY' || fail "alarm messages"
import json, sys
ev = [a for l in open(sys.argv[1]) if l.strip() for a in json.loads(l)["alarms"]]
seen = [(a["tag"], a["level"], a["state"]) for a in ev if a["tag"] == "LT-101"]
assert seen == [("LT-101", "hi", "raised"), ("LT-101", "hihi", "raised"),
                ("LT-101", "hihi", "cleared"), ("LT-101", "hi", "cleared")] or \
       seen == [("LT-101", "hihi", "raised"), ("LT-101", "hi", "raised"),
                ("LT-101", "hihi", "cleared"), ("LT-101", "hi", "cleared")], seen
h = [a for a in ev if a["level"] == "hihi" and a["state"] == "raised"][0]
assert h["value"] == 9.5 and h["threshold"] == 9.2 and h["unit"] == "m", h
ids = [a["id"] for a in ev]
assert ids == sorted(set(ids)), ids
print("alarm events:", seen)
PY
check_seq "$T/rt.sub" || fail "readings lost"
echo PASS
