#!/bin/bash
# End to end against real peers: ganzhi-sim (static values) -> ganzhi-agent -> two
# real mosquitto brokers (two [uplink] sections at once). Each subscriber gets
# generic messages whose values equal what the simulator served and whose seqs
# form one contiguous range; `ganzhi read` agrees; /status carries the figures.
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); MQ1=$(free_port); MQ2=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ1"
start_broker two "$MQ2"
subscribe one "$MQ1" 'ganzhi/220102000001/realtime'
subscribe two "$MQ2" 'site/realtime'
subscribe status "$MQ1" 'ganzhi/220102000001/status'

write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ1
profile = generic
message_readings = 7" \
"[uplink city]
url = mqtt://127.0.0.1:$MQ2
topic_prefix = site
message_readings = 50"

"$BIN/ganzhi" check -c "$T/agent.conf" || fail "ganzhi check refused the test configuration"
"$BIN/ganzhi-sim" --static --values > "$T/expected.txt"
log "ganzhi read agrees with the simulator"
"$BIN/ganzhi" read -c "$T/agent.conf" tank_plc > "$T/read.txt" || fail "ganzhi read failed"
cat "$T/read.txt"
/usr/bin/python3 - "$T/expected.txt" "$T/read.txt" <<'PY' || fail "ganzhi read differs from the simulator"
import math, sys
exp = dict(l.split()[:2] for l in open(sys.argv[1]) if l.strip())
n = 0
for line in open(sys.argv[2]):
    tag, value, unit, quality = line.split()
    assert quality == "good", line
    assert math.isclose(float(value), float(exp[tag]), rel_tol=1e-6), (line, exp[tag])
    n += 1
assert n == len(exp), (n, len(exp))
PY

start_agent "$T/agent.conf"
log "agent running; waiting for every tag to arrive at both brokers"
has_all() { [ -s "$T/$1.sub" ] && /usr/bin/python3 "$ROOT/tests/check_messages.py" values "$T/expected.txt" "$T/$1.sub" >/dev/null 2>&1; }
wait_for 30 has_all one || { /usr/bin/python3 "$ROOT/tests/check_messages.py" values "$T/expected.txt" "$T/one.sub"; fail "uplink county incomplete"; }
wait_for 30 has_all two || fail "uplink city incomplete"
wait_for 10 test -s "$T/status.sub" || fail "no status message"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"; rc=$?
[ "$rc" = 0 ] || fail "agent exited $rc on SIGTERM"
sleep 0.5

log "what the subscribers received"
/usr/bin/python3 "$ROOT/tests/check_messages.py" values "$T/expected.txt" "$T/one.sub" || fail "county values"
/usr/bin/python3 "$ROOT/tests/check_messages.py" values "$T/expected.txt" "$T/two.sub" || fail "city values"
check_seq "$T/one.sub" || fail "county seqs"
check_seq "$T/two.sub" || fail "city seqs"
# Both uplinks start from seq 1 of the same store.
/usr/bin/python3 - "$T/one.sub" "$T/two.sub" <<'PY' || fail "uplinks disagree"
import json, sys
def seqs(f):
    return {r["seq"]: (r["tag"], r["value"], r["ts"]) for l in open(f) if l.strip()
            for r in json.loads(l)["readings"]}
a, b = seqs(sys.argv[1]), seqs(sys.argv[2])
assert min(a) == 1 and min(b) == 1, (min(a), min(b))
common = set(a) & set(b)
assert len(common) >= 36 and all(a[s] == b[s] for s in common)
# message_readings bounds the readings per message.
for l in open(sys.argv[1]):
    if l.strip():
        m = json.loads(l)
        assert 1 <= len(m["readings"]) <= 7 and m["enterprise"] == "220102000001" and m["gateway"] == "GW01"
        assert m["readings"][0]["ts"].endswith("+08:00")
print("both uplinks carry the same readings under the same seqs")
PY
log "status message"
head -1 "$T/status.sub"
/usr/bin/python3 - "$T/status.sub" <<'PY' || fail "status message incomplete"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
s = m["status"]
assert s["version"] and "uptime_s" in s
d = s["devices"][0]
assert d["name"] == "tank_plc" and d["link"] == "up" and d["requests"] > 0 and "rtt_ms" in d
names = sorted(u["name"] for u in s["uplinks"])
assert names == ["city", "county"], names
for u in s["uplinks"]:
    for k in ("backlog", "oldest_pending_ms", "dropped", "connected", "inflight", "queued"):
        assert k in u, k
    assert u["queue_max"] == 32 and u["queued"] <= u["queue_max"], u
PY
log "ganzhi tail shows the latest stored readings"
"$BIN/ganzhi" tail -c "$T/agent.conf" --once LT-101 TT-103 > "$T/tail.out" || fail "tail exit $?"
cat "$T/tail.out"
grep -qE "^LT-101 +3.215 +m +good" "$T/tail.out" || fail "tail: LT-101"
grep -qE "^TT-103 +24.8 " "$T/tail.out" || fail "tail: TT-103"
grep -q "^error" "$T/agent.log" && { cat "$T/agent.log"; fail "agent logged errors"; }
echo "PASS"
