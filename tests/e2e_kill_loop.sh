#!/bin/bash
# Twenty SIGKILLs of the agent at random moments under load, the broker restarted
# every fifth round: at the end the subscriber holds every seq from the first to
# the last, none missing, and every repeat is the same reading.
source "$(dirname "$0")/lib.sh"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
INTERVAL=50ms write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 300ms
message_readings = 25
max_inflight = 16"
for round in $(seq 1 20); do
    start_agent "$T/agent.conf"
    sleep "$(( RANDOM % 2 )).$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
    if [ $((round % 5)) = 0 ]; then
        log "round $round: broker restart"
        stop_broker one
        sleep 0.$(( RANDOM % 10 ))
        start_broker one "$MQ"
    fi
    kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
done
log "a last clean run drains what the killed ones stored"
start_agent "$T/agent.conf"
drained() {
    /usr/bin/python3 -c "import json,sys; u=json.load(open(sys.argv[1]))['uplinks'][0]; sys.exit(0 if u['connected'] and u['backlog'] < 100 else 1)" "$T/data/status.json" 2>/dev/null
}
sleep 3
wait_for 60 drained || fail "backlog did not drain"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
sleep 0.5
stored=$(sqlite3 "$T/data/store.db" 'select max(seq0+n-1) from batch')
check_seq "$T/one.sub" || fail "seqs lost across 20 SIGKILLs"
got=$(/usr/bin/python3 -c "import json,sys; print(max(r['seq'] for l in open(sys.argv[1]) if l.strip() for r in json.loads(l)['readings']))" "$T/one.sub")
log "stored up to $stored, received up to $got"
[ "$got" = "$stored" ] || fail "the last stored readings never arrived"
echo PASS
