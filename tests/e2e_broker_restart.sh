#!/bin/bash
# The broker stopped for several seconds mid-run and restarted: the agent keeps
# polling and storing, never exits, reconnects, and afterwards no seq is missing
# at the subscriber (a durable QoS 1 session on a broker with persistence).
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 1s
send_queue = 2"
start_agent "$T/agent.conf"

count() { /usr/bin/python3 "$ROOT/tests/check_messages.py" count "$T/one.sub" 2>/dev/null || echo 0; }
wait_for 20 test -s "$T/one.sub" || fail "nothing arrived before the outage"
sleep 2
before=$(count)
log "$before readings received; stopping the broker for 6 s"
stop_broker one
sleep 6
kill -0 "$AGENT_PID" || fail "agent exited while the broker was down"
log "restarting the broker"
start_broker one "$MQ"
# The subscriber reconnects by itself; the agent re-sends from its cursor.
stored_past_outage() {
    local n; n=$(count); [ "$n" -gt $((before + 300)) ]
}
wait_for 40 stored_past_outage || fail "messages did not resume after the broker came back ($(count))"
sleep 2
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
sleep 0.5
check_seq "$T/one.sub" || fail "seqs missing after the broker restart"
grep -E "connection lost|connected to" "$T/agent.log"
grep -q "connection lost" "$T/agent.log" || fail "the agent never noticed the outage"
echo PASS
