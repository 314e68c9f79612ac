#!/bin/bash
# KILLS (default 20) SIGKILLs of the agent at random moments under load, with two
# uplinks to two brokers, each broker restarted every few rounds (one every
# BROKER_EVERY-th round, the other BROKER_EVERY/2 rounds later), sometimes staying
# down across the kill and the next start. At the end each broker's durable QoS 1
# subscriber holds every seq from the first to the last, none missing, every
# repeat the same reading, up to the last seq the store holds.
# `make soak` runs it with KILLS=1000 (progress every 50 rounds); .ci/run with 50.
# On a failure the test directory is kept (its path is printed), with any core.
source "$(dirname "$0")/lib.sh"
KILLS=${KILLS:-20}
BROKER_EVERY=${BROKER_EVERY:-5}
PROGRESS=${PROGRESS:-50}
fail() { KEEP=1; ls "$T"/core* 2>/dev/null; echo "FAIL: $*"; exit 1; }
# An agent that dies by itself leaves its core in the kept directory (when the
# kernel's core_pattern is a plain file name).
cd "$T" && ulimit -c unlimited 2>/dev/null
started=$(date +%s)

SIM=$(free_port); MQ1=$(free_port); MQ2=$(free_port)
start_sim "$SIM"
start_broker one "$MQ1"
start_broker two "$MQ2"
subscribe one "$MQ1" 'ganzhi/220102000001/realtime'
subscribe two "$MQ2" 'ganzhi/220102000001/realtime'
INTERVAL=50ms write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ1
reconnect_max = 300ms
message_readings = 25
max_inflight = 16" "[uplink city]
url = mqtt://127.0.0.1:$MQ2
reconnect_max = 300ms
message_readings = 40
max_inflight = 8"

# A random pause of 0 to 1.99 s, one in eight rounds under 0.1 s (a kill while
# the agent opens its store and connects).
pause() {
    if [ $((RANDOM % 8)) = 0 ]; then early=$((early + 1)); sleep "0.0$(( RANDOM % 10 ))"
    else sleep "$(( RANDOM % 2 )).$(( RANDOM % 10 ))$(( RANDOM % 10 ))"; fi
}
port_of() { if [ "$1" = one ]; then echo "$MQ1"; else echo "$MQ2"; fi; }
down=()          # brokers stopped in the last round, started again in this one
restarts_one=0; restarts_two=0; early=0

for round in $(seq 1 "$KILLS"); do
    start_agent "$T/agent.conf"
    for b in "${down[@]}"; do
        sleep "0.$(( RANDOM % 4 ))"
        start_broker "$b" "$(port_of "$b")"
    done
    down=()
    due=()
    [ $((round % BROKER_EVERY)) = 0 ] && due+=(one)
    [ $(( (round + BROKER_EVERY / 2) % BROKER_EVERY )) = 0 ] && due+=(two)
    pause
    for b in "${due[@]}"; do
        stop_broker "$b"
        eval "restarts_$b=\$((restarts_$b + 1))"
        sleep "0.$(( RANDOM % 10 ))"
        # Half the time the broker stays down across the kill and the next start.
        if [ $((RANDOM % 2)) = 0 ]; then start_broker "$b" "$(port_of "$b")"; else down+=("$b"); fi
    done
    kill -0 "$AGENT_PID" 2>/dev/null || { wait "$AGENT_PID"; fail "round $round: the agent died by itself (exit $?); see $T/agent.log"; }
    kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
    for b in one two; do
        var="BROKER_PID_$b"
        [[ " ${down[*]} " == *" $b "* ]] && continue
        kill -0 "${!var}" 2>/dev/null || fail "round $round: broker $b died; see $T/$b/log"
    done
    if [ $((round % PROGRESS)) = 0 ] || [ "$KILLS" -le 20 ]; then
        log "round $round/$KILLS: $(( $(date +%s) - started ))s, broker restarts $restarts_one + $restarts_two, store next_seq $(sqlite3 "$T/data/store.db" 'select max(seq0+n) from batch' 2>/dev/null)"
    fi
done
for b in "${down[@]}"; do start_broker "$b" "$(port_of "$b")"; done

log "a last clean run drains what the killed ones stored"
start_agent "$T/agent.conf"
drained() {
    /usr/bin/python3 -c "
import json, sys
us = json.load(open(sys.argv[1]))['uplinks']
sys.exit(0 if len(us) == 2 and all(u['connected'] and u['backlog'] < 100 for u in us) else 1)" "$T/data/status.json" 2>/dev/null
}
sleep 3
wait_for 120 drained || fail "backlog did not drain: $(cat "$T/data/status.json")"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
sleep 0.5
stored=$(sqlite3 "$T/data/store.db" 'select max(seq0+n-1) from batch')
for b in one two; do
    check_seq "$T/$b.sub" || fail "collector $b: seqs lost across $KILLS SIGKILLs"
    # Every seq from the first to the last once at least; what came more than once.
    read -r lo got total repeats < <(/usr/bin/python3 -c "
import json, sys
seqs = [r['seq'] for l in open(sys.argv[1]) if l.strip() for r in json.loads(l)['readings']]
print(min(seqs), max(seqs), len(seqs), len(seqs) - len(set(seqs)))" "$T/$b.sub")
    log "collector $b: seqs $lo..$got checked, $total readings received, $repeats repeats (each the same reading), 0 missing"
    [ "$lo" = 1 ] || fail "collector $b: the first seq received is $lo, not 1"
    [ "$got" = "$stored" ] || fail "collector $b: stored up to $stored, received up to $got: the last stored readings never arrived"
done
log "$KILLS SIGKILLs ($early within 0.1 s of a start), broker restarts $restarts_one (one) + $restarts_two (two), stored up to $stored, in $(( $(date +%s) - started ))s"
echo PASS
