#!/bin/bash
# The daemon under valgrind for a short run against real peers: no memory error,
# every heap block freed at exit. Besides the demo's Modbus TCP device: one behind
# a serial device server (RTU over TCP) and one behind a DTU that dials in, with
# heartbeats, so the TCP links and the DTU listener run too. Skipped (77) in
# sanitizer builds, which valgrind cannot run.
source "$(dirname "$0")/lib.sh"
[ -n "${SANITIZE:-}" ] && { echo "skipped: sanitizer build"; exit 77; }
command -v valgrind >/dev/null || fail "valgrind is not installed (tests/deps.sh installs it)"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
RT=$(free_port); L=$(free_port)
"$BIN/ganzhi-sim" --port "$RT" --rtu-tcp --units 1 >> "$T/sim-rt.log" 2>&1 &
PIDS+=($!)
wait_for 10 port_open "$RT" || fail "ganzhi-sim --rtu-tcp did not start"
"$BIN/ganzhi-sim" --dial "127.0.0.1:$L" --register VG-DTU --heartbeat hex:FE --heartbeat-interval 0.2 \
    --redial-wait 0.2 >> "$T/sim-dtu.log" 2>&1 &
PIDS+=($!)
"$BIN/ganzhi-sim" --list > "$T/sim.csv"
for p in R D; do { head -2 "$T/sim.csv" | tail -1; sed -n '3,8p' "$T/sim.csv" | sed "s/^/$p-/"; } > "$T/$p.csv"; done
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ" "[device server]
driver = modbus-rtu-tcp
host = 127.0.0.1
port = $RT
interval = 200ms
points = $T/R.csv" "[device dtu]
driver = modbus-rtu-tcp
listen = 127.0.0.1:$L
dtu = VG-DTU
heartbeat = hex:FE
interval = 200ms
points = $T/D.csv"
valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=9 --log-file="$T/valgrind.log" "$BIN/ganzhi-agent" -c "$T/agent.conf" \
    > "$T/agent.log" 2>&1 &
VG=$!
PIDS+=($VG)
wait_for 60 test -s "$T/one.sub" || { cat "$T/agent.log"; fail "nothing published under valgrind"; }
sleep 3
wait_for 30 grep -q "D-LT-101" "$T/one.sub" || { cat "$T/agent.log"; fail "nothing from the DTU's device under valgrind"; }
grep -q "R-LT-101" "$T/one.sub" || fail "nothing from the device server's device under valgrind"
kill -TERM "$VG"; wait "$VG"; rc=$?
grep -E "ERROR SUMMARY|in use at exit|definitely|indirectly" "$T/valgrind.log"
[ "$rc" = 0 ] || { tail -40 "$T/valgrind.log"; fail "valgrind exit $rc"; }
grep -q "ERROR SUMMARY: 0 errors" "$T/valgrind.log" || fail "memory errors"
check_seq "$T/one.sub" || fail "seqs"
echo PASS
