#!/bin/bash
# Deadband and heartbeat through the whole agent: with the simulator's values
# frozen, a point with a deadband is stored once and then once a heartbeat period
# (interval x 60), while a point with deadband 0 is stored every poll.
source "$(dirname "$0")/lib.sh"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
INTERVAL=100ms write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ"
start_agent "$T/agent.conf"
# The heartbeat is due 6 s after the first reading; a second one at 12 s.
two_lt() { [ "$(grep -o '"tag":"LT-101"' "$T/one.sub" 2>/dev/null | wc -l)" -ge 2 ]; }
wait_for 20 two_lt || fail "no heartbeat reading of LT-101"
sleep 1
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
/usr/bin/python3 - "$T/one.sub" <<'PY' || fail "deadband/heartbeat"
import json, sys, datetime
by = {}
for line in open(sys.argv[1]):
    for r in json.loads(line)["readings"]:
        by.setdefault(r["tag"], []).append(datetime.datetime.fromisoformat(r["ts"]).timestamp())
lt, xa = by["LT-101"], by["XA-101"]
print(f"LT-101 (deadband 0.005): {len(lt)} readings; XA-101 (deadband 0): {len(xa)} readings")
assert len(lt) == 2, lt
assert 5.8 <= lt[1] - lt[0] <= 6.3, lt[1] - lt[0]
assert len(xa) >= 50, len(xa)
PY
check_seq "$T/one.sub" || fail "seqs"
echo PASS
