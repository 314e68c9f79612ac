#!/bin/bash
# `make demo` as a newcomer sees it: the demo script starts the simulator, a
# broker and the agent, and readable realtime and status lines appear; Ctrl-C
# (SIGINT to the whole process group, as a terminal sends it) stops all of it
# quietly: no Python traceback, nothing left running.
source "$(dirname "$0")/lib.sh"
DEMO_SECONDS=12 DEMO_SIM_PORT=$(free_port) DEMO_MQTT_PORT=$(free_port) DEMO_DATA_DIR=$T/data \
    bash "$ROOT/conf/demo/run.sh" > "$T/demo.out" 2>&1 || fail "demo exit $?"
cat "$T/demo.out"
grep -q "^realtime  seq " "$T/demo.out" || fail "no realtime messages shown"
grep -q "^status    up " "$T/demo.out" || fail "no status message shown"
grep -q "stopping the agent" "$T/demo.out" || fail "demo did not stop cleanly"

log "Ctrl-C: SIGINT to the demo's process group"
set -m      # its own process group, SIGINT not ignored, as in a terminal
DEMO_SIM_PORT=$(free_port) DEMO_MQTT_PORT=$(free_port) DEMO_DATA_DIR=$T/data \
    bash "$ROOT/conf/demo/run.sh" > "$T/demo_int.out" 2>&1 < /dev/null &
DEMO_PID=$!
set +m
PIDS+=($DEMO_PID)
wait_for 20 grep -qs "^realtime  seq " "$T/demo_int.out" || { cat "$T/demo_int.out"; fail "demo shows nothing"; }
kill -INT -- -"$DEMO_PID"
wait_for 15 eval '! kill -0 "$DEMO_PID" 2>/dev/null' || {
    cat "$T/demo_int.out"; ps -o pid,stat,wchan:20,args -g "$DEMO_PID"
    fail "demo still running 15 s after Ctrl-C"; }
wait "$DEMO_PID"; rc=$?
cat "$T/demo_int.out"
[ "$rc" = 0 ] || fail "demo exit $rc after Ctrl-C"
grep -q "Traceback\|Error" "$T/demo_int.out" && fail "Ctrl-C ends with a traceback"
grep -q "stopping the agent" "$T/demo_int.out" || fail "demo did not stop cleanly on Ctrl-C"
left=$(ps -o pid= -g "$DEMO_PID" 2>/dev/null)
[ -z "$left" ] || fail "left running after Ctrl-C: $(ps -o args= -g "$DEMO_PID")"
echo PASS
