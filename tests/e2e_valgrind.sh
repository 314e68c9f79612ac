#!/bin/bash
# The daemon under valgrind for a short run against real peers: no memory error,
# every heap block freed at exit. Skipped (77) in sanitizer builds, which valgrind
# cannot run.
source "$(dirname "$0")/lib.sh"
[ -n "${SANITIZE:-}" ] && { echo "skipped: sanitizer build"; exit 77; }
command -v valgrind >/dev/null || fail "valgrind is not installed (tests/deps.sh installs it)"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ"
valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=9 --log-file="$T/valgrind.log" "$BIN/ganzhi-agent" -c "$T/agent.conf" \
    > "$T/agent.log" 2>&1 &
VG=$!
PIDS+=($VG)
wait_for 60 test -s "$T/one.sub" || { cat "$T/agent.log"; fail "nothing published under valgrind"; }
sleep 3
kill -TERM "$VG"; wait "$VG"; rc=$?
grep -E "ERROR SUMMARY|in use at exit|definitely|indirectly" "$T/valgrind.log"
[ "$rc" = 0 ] || { tail -40 "$T/valgrind.log"; fail "valgrind exit $rc"; }
grep -q "ERROR SUMMARY: 0 errors" "$T/valgrind.log" || fail "memory errors"
check_seq "$T/one.sub" || fail "seqs"
echo PASS
