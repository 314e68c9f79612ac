#!/bin/bash
# A device that refuses merged reads (exception 02 for any read over registers it
# does not have, or of more than 16): the agent, told it may read through gaps of
# 20 registers, is refused, splits its reads, remembers what the device accepts,
# and after a few polls every point reads good, without an operator.
source "$(dirname "$0")/lib.sh"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static --misbehave 'fussy 1'
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ"
sed -i 's/^points = points\/tank_farm.csv/max_gap = 20\npoints = points\/tank_farm.csv/' "$T/agent.conf"
"$BIN/ganzhi-sim" --static --values > "$T/expected.txt"
start_agent "$T/agent.conf"
sleep 4
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
grep "refused a read" "$T/agent.log" | head -5
grep -q "refused a read" "$T/agent.log" || fail "no refusal seen: was the read merged over gaps?"
/usr/bin/python3 - "$T/one.sub" "$T/expected.txt" "$T/data/status.json" <<'PY' || fail "points did not all come good"
import json, math, sys
exp = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[2]) if l.strip())
last = {}
first_exc = {}
for line in open(sys.argv[1]):
    for r in json.loads(line)["readings"]:
        last[r["tag"]] = r
        if r["quality"] == "exception":
            assert r.get("exception") == 2, r
            first_exc[r["tag"]] = r["seq"]
bad = [t for t, r in last.items() if r["quality"] != "good"]
assert not bad, f"still not good: {bad}"
for t, r in last.items():
    assert math.isclose(r["value"], exp[t], rel_tol=1e-6, abs_tol=1e-9), (t, r["value"], exp[t])
d = json.load(open(sys.argv[3]))["devices"][0]
print(f"{len(first_exc)} points were refused at first (exception 2); all {len(last)} good now; "
      f"{d['reads_split']} splits, {d['reads_per_poll']} reads per poll")
assert d["reads_split"] >= 1
PY
echo PASS
