#!/bin/bash
# The demo: a simulated tank farm (ganzhi-sim) -> ganzhi-agent -> a local mosquitto,
# with every message that reaches the broker shown as it arrives. Ctrl-C stops all
# of it. DEMO_SECONDS=N stops by itself after N seconds; DEMO_SIM_PORT and
# DEMO_MQTT_PORT move it off the ports conf/demo/agent.conf names (5020, 18830),
# and DEMO_DATA_DIR off its store, /tmp/ganzhi-demo (two agents must not share
# one store: the tests run demos side by side).
set -u
cd "$(dirname "$0")/../.." || exit 2
# A fresh machine's newcomer is often root; the demo's agent may run as root.
export GANZHI_ALLOW_ROOT=1
BUILD=${BUILD:-build}
BIN=$PWD/$BUILD
SIM_PORT=${DEMO_SIM_PORT:-5020}
MQTT_PORT=${DEMO_MQTT_PORT:-18830}
DATA_DIR=${DEMO_DATA_DIR:-/tmp/ganzhi-demo}
RUN=$(mktemp -d /tmp/ganzhi-demo-run.XXXXXX)
PIDS=()
SHOW_PID=

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
stop_all() {
    trap - INT TERM EXIT
    echo
    say "stopping the agent, the simulator and the broker"
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "$SHOW_PID" ] && wait "$SHOW_PID" 2>/dev/null
    say "the agent's log is in $RUN/agent.log; its store in $DATA_DIR"
    exit 0
}
trap stop_all INT TERM EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$SIM_PORT" "$MQTT_PORT"; do
    if port_busy "$p"; then
        say "port $p on 127.0.0.1 is already in use (another demo?); set DEMO_SIM_PORT / DEMO_MQTT_PORT"
        exit 1
    fi
done

# The demo configuration, moved to the chosen ports and store.
cp -r conf/demo/points "$RUN/"
sed -e "s/^port .*= 5020/port     = $SIM_PORT/" \
    -e "s#mqtt://127.0.0.1:18830#mqtt://127.0.0.1:$MQTT_PORT#" \
    -e "s#^data_dir\( *\)= /tmp/ganzhi-demo#data_dir\1= $DATA_DIR#" conf/demo/agent.conf > "$RUN/agent.conf"

say "starting mosquitto on 127.0.0.1:$MQTT_PORT (anonymous, loopback only)"
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$MQTT_PORT" > "$RUN/mosquitto.conf"
mosquitto -c "$RUN/mosquitto.conf" > "$RUN/mosquitto.log" 2>&1 &
PIDS+=($!)

say "starting ganzhi-sim, a tank farm of 36 points on Modbus TCP 127.0.0.1:$SIM_PORT"
"$BIN/ganzhi-sim" --port "$SIM_PORT" > "$RUN/sim.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do port_busy "$SIM_PORT" && port_busy "$MQTT_PORT" && break; sleep 0.1; done

say "checking the configuration: ganzhi check -c conf/demo/agent.conf"
"$BIN/ganzhi" check -c "$RUN/agent.conf" || exit 2
say "reading the device once: ganzhi read -c conf/demo/agent.conf tank_plc LT-101 PT-102 GT-101"
"$BIN/ganzhi" read -c "$RUN/agent.conf" tank_plc LT-101 PT-102 GT-101 | sed 's/^/    /'

say "subscribing to ganzhi/220102000001/# on the broker"
# The formatter reads what mosquitto_sub prints and ends when it stops: its own
# pid kept, so that stopping waits for the last lines it shows.
exec {SHOW_FD}> >(exec /usr/bin/python3 -u conf/demo/show.py)
SHOW_PID=$!
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t 'ganzhi/220102000001/#' -v -q 1 >&"$SHOW_FD" &
PIDS+=($!)
exec {SHOW_FD}>&-
sleep 0.3

say "starting ganzhi-agent -c conf/demo/agent.conf (store in $DATA_DIR); Ctrl-C to stop"
"$BIN/ganzhi-agent" -c "$RUN/agent.conf" > "$RUN/agent.log" 2>&1 &
PIDS+=($!)

if [ -n "${DEMO_SECONDS:-}" ]; then
    sleep "$DEMO_SECONDS"
else
    while :; do sleep 3600; done
fi
