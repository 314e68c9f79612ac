#!/bin/bash
# The agent killed with SIGKILL (three times, at different moments) and restarted:
# no acknowledged reading is lost or renumbered. Every seq from the first to the
# last reaches the subscriber, and a seq that arrives twice (re-sent after the
# crash) is the same reading both times.
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
INTERVAL=100ms write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ
message_readings = 5
max_inflight = 8"

count() { /usr/bin/python3 "$ROOT/tests/check_messages.py" count "$T/one.sub" 2>/dev/null || echo 0; }
for round in 1 2 3; do
    start_agent "$T/agent.conf"
    before=$(count)
    grown() { [ "$(count)" -gt $((before + 100)) ]; }
    wait_for 30 grown || fail "round $round: nothing new arrived"
    sleep "0.$((RANDOM % 9 + 1))"
    kill -KILL "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null
    log "round $round: killed at $(count) readings received"
done
# The last run drains what the killed runs stored but never got acknowledged.
start_agent "$T/agent.conf"
last_stored() {
    sqlite3 "$T/data/store.db" 'select max(seq0+n-1) from batch' 2>/dev/null
}
sleep 2
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
stored=$(last_stored)
sleep 1
check_seq "$T/one.sub" || fail "seqs lost across SIGKILL"
got_max=$(/usr/bin/python3 -c "import json,sys; print(max(r['seq'] for l in open(sys.argv[1]) if l.strip() for r in json.loads(l)['readings']))" "$T/one.sub")
log "stored up to seq $stored, received up to $got_max"
[ "$got_max" = "$stored" ] || fail "the subscriber is missing stored readings ($got_max < $stored)"
acked=$(sqlite3 "$T/data/store.db" "select acked from cursor where uplink='county'")
[ "$acked" = "$stored" ] || fail "cursor $acked after a clean stop, store ends at $stored"
echo PASS
