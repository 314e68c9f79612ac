#!/bin/bash
# `make demo` as a newcomer sees it: the demo script starts the simulator, a
# broker and the agent, and readable realtime and status lines appear.
source "$(dirname "$0")/lib.sh"
DEMO_SECONDS=12 DEMO_SIM_PORT=$(free_port) DEMO_MQTT_PORT=$(free_port) \
    bash "$ROOT/conf/demo/run.sh" > "$T/demo.out" 2>&1 || fail "demo exit $?"
cat "$T/demo.out"
grep -q "^realtime  seq " "$T/demo.out" || fail "no realtime messages shown"
grep -q "^status    up " "$T/demo.out" || fail "no status message shown"
grep -q "stopping the agent" "$T/demo.out" || fail "demo did not stop cleanly"
echo PASS
