#!/bin/bash
# A broker that dies in the middle of a backlog drain, with a full window: the
# broker is frozen (SIGSTOP) while the agent re-uploads a backlog, so every slot
# of the in-flight window and of the hand-off queue fills with unacknowledged
# messages; then it is stopped (its durable sessions saved) and started again.
# After the reconnect the agent must go back to the lowest unacknowledged seq,
# far below where its read-ahead had got to, and in the end the subscriber holds
# every seq from first to last.
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
INTERVAL=100ms write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 500ms
message_readings = 10
backfill_rate = 50
live_window = 2s"
start_agent "$T/agent.conf"

count() { /usr/bin/python3 "$ROOT/tests/check_messages.py" count "$T/one.sub" 2>/dev/null || echo 0; }
wait_for 20 test -s "$T/one.sub" || { cat "$T/agent.log"; fail "nothing arrived"; }

log "a 10 s outage: a backlog of about 3,600 readings"
stop_broker one
sleep 10
start_broker one "$MQ"
resends() { grep -c '"resend":true' "$T/one.sub" 2>/dev/null; }
draining() { [ "$(resends)" -gt 5 ]; }
wait_for 20 draining || { tail "$T/agent.log"; wc -l "$T/one.sub"; cat "$T/one.sub.err"; fail "the backlog did not start draining ($(resends) resent messages)"; }

log "the broker frozen mid-drain for 2 s (the window fills), then stopped and started again"
var="BROKER_PID_one"
kill -STOP "${!var}"
sleep 2
kill -TERM "${!var}"
kill -CONT "${!var}"
wait "${!var}" 2>/dev/null
sleep 1
start_broker one "$MQ"

caught_up() {
    "$BIN/ganzhi" queue -c "$T/agent.conf" --json > "$T/q.json" 2>/dev/null &&
    /usr/bin/python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["uplinks"][0]; sys.exit(not (u["connected"] and u["caught_up"] and u["waiting"] < 200))' "$T/q.json"
}
wait_for 60 caught_up || { cat "$T/q.json"; tail -20 "$T/agent.log"; fail "the backlog did not drain after the restart"; }
sleep 2
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
sleep 0.5
grep -E "connection lost|connected to|re-uploading" "$T/agent.log" | tail -5
check_seq "$T/one.sub" || fail "seqs missing after a restart mid-drain"
log "$(count) readings, none missing"
echo PASS
