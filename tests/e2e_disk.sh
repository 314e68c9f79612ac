#!/bin/bash
# Bounded disk. (1) store_max: with the uplink's broker down, the store stays
# within its budget by deleting the oldest readings, the uplink counts what it
# lost unsent (status and log), and polling never stops. (2) A full disk (a small
# tmpfs as data_dir, with a budget larger than the disk): commits fail with the
# disk full, the agent deletes the oldest readings and carries on, and when
# space returns everything works again. (3) A store of two days on a disk another
# program fills: the pages freed inside the store count as room, so one eviction
# frees enough, and most of the backlog stays. Nothing crashes.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skipped: mounting a tmpfs needs root"; exit 77; }

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --bench 2000
mkdir -p "$T/points"
/usr/bin/python3 - "$T/points/bench.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("tag,area,address,type\n")
    for i in range(2000):
        f.write(f"B-{i},holding,{10000 + i},uint16\n")
PY
conf() { # FILE DATA_DIR STORE_MAX
    cat > "$1" <<INI
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = $2
store_max = $3
status_interval = 1s
[device bench]
driver = modbus-tcp
host = 127.0.0.1
port = $SIM
interval = 100ms
points = points/bench.csv
[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 500ms
INI
}
status() { /usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1/status.json"; }

log "(1) store_max = 1MB, the broker down"
conf "$T/budget.conf" "$T/budget" 1MB
start_agent "$T/budget.conf"
evicted() { [ "$(status "$T/budget" 's["store"]["evicted"]' 2>/dev/null || echo 0)" -gt 20000 ]; }
wait_for 60 evicted || { tail "$T/agent.log"; fail "nothing evicted under a 1 MB budget"; }
sleep 3
kill -0 "$AGENT_PID" || fail "agent died"
status "$T/budget" 's["store"]'
bytes=$(status "$T/budget" 's["store"]["bytes"]')
[ "$bytes" -le $((1024 * 1024)) ] || fail "store uses $bytes bytes, over its 1 MB budget"
dbsize=$(( $(stat -c %s "$T/budget/store.db") + $(stat -c %s "$T/budget/store.db-wal" 2>/dev/null || echo 0) ))
log "store.db + WAL on disk: $dbsize bytes"
[ "$dbsize" -le $((1024 * 1024 * 12 / 10)) ] || fail "files on disk $dbsize bytes, far over the budget"
lost=$(status "$T/budget" '[u["dropped"] for u in s["uplinks"]][0]')
log "uplink county lost $lost readings unsent"
[ "$lost" -gt 0 ] || fail "losses not counted"
grep -q "evicted from the store before they were delivered" "$T/agent.log" || fail "losses not logged"
requests1=$(status "$T/budget" 's["devices"][0]["requests"]'); sleep 2
requests2=$(status "$T/budget" 's["devices"][0]["requests"]')
[ "$requests2" -gt "$requests1" ] || fail "polling stopped"
log "the broker returns: delivery resumes after the gap"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
wait_for 20 test -s "$T/one.sub" || fail "nothing delivered after the broker returned"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
stop_broker one

log "(2) a 2 MB tmpfs as data_dir, store_max 100MB; the disk fills up"
mkdir -p "$T/small"
mount -t tmpfs -o size=2m tmpfs "$T/small" || { echo "skipped: cannot mount a tmpfs"; exit 77; }
on_exit() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    umount "$T/small" "$T/big" 2>/dev/null
    cleanup
}
trap on_exit EXIT
: > "$T/agent.log"
conf "$T/full.conf" "$T/small/data" 100MB
# status.json cannot be written on a full disk: read the status messages instead.
start_broker two "$MQ"
subscribe st "$MQ" 'ganzhi/220102000001/status'
# Another program already holds a megabyte of the disk.
dd if=/dev/zero of="$T/small/other" bs=64k count=16 2>/dev/null
start_agent "$T/full.conf"
status() { tail -1 "$T/st.sub" > "$T/st.last"; /usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['status']; print($2)" "$T/st.last"; }
log "the store is smaller than its budget but the disk is not: it stops growing"
nearly() { grep -q "disk nearly full" "$T/agent.log"; }
wait_for 60 nearly || { df -h "$T/small"; fail "no eviction as the disk filled"; }
log "another program takes every byte left on the disk"
dd if=/dev/zero of="$T/small/filler" bs=4k 2>/dev/null
df -h "$T/small" | tail -1
p1=$(status x 's["devices"][0]["requests"]'); sleep 4
p2=$(status x 's["devices"][0]["requests"]')
kill -0 "$AGENT_PID" || { tail -20 "$T/agent.log"; fail "agent died on a full disk"; }
grep -m3 "disk" "$T/agent.log" | grep -v "nearly"
log "polls $p1 -> $p2 with the disk full; status still published"
[ "$p2" -gt "$p1" ] || fail "polling stopped on a full disk"
log "space returns (the other program's files are deleted)"
rm -f "$T/small/filler" "$T/small/other"
sleep 3
c3=$(status x 's["store"]["committed"]'); sleep 2
c4=$(status x 's["store"]["committed"]')
[ "$c4" -gt "$c3" ] || fail "no commits after space returned"
status x 's["store"]'
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
umount "$T/small"

log "(3) a 64 MB tmpfs holding a 35 MB store of two days; another program fills the disk"
mkdir -p "$T/big"
mount -t tmpfs -o size=64m tmpfs "$T/big" || { echo "skipped: cannot mount a tmpfs"; exit 77; }
"$BIN/tests/tool_fill_store" --dir "$T/big/data" --points 36 --interval-ms 1000 --days 2 \
    --delivered county > "$T/fill.out" || fail "tool_fill_store"
held() { sqlite3 "$T/big/data/store.db" 'select coalesce(sum(n), 0) from batch'; }
h0=$(held)
log "$h0 readings held, $(du -sh "$T/big/data" | cut -f1) on disk"
: > "$T/agent.log"
conf "$T/big.conf" "$T/big/data" 1GB
start_agent "$T/big.conf"
wait_for 20 grep -q "running" "$T/agent.log" || fail "the agent did not start"
sleep 2
dd if=/dev/zero of="$T/big/filler" bs=64k 2>/dev/null
df -h "$T/big" | tail -1
p1=$(status x 's["store"]["committed"]'); sleep 8
p2=$(status x 's["store"]["committed"]')
h1=$(held)
kill -0 "$AGENT_PID" || { tail -20 "$T/agent.log"; fail "agent died on a full disk"; }
log "commits $p1 -> $p2 with the disk full; $h1 of $h0 readings still held"
[ "$p2" -gt "$p1" ] || { tail -20 "$T/agent.log"; fail "no commits on a full disk"; }
# The pages freed inside the store are room: one eviction makes enough of them,
# not one after another until the store is empty (the file never shrinks).
[ "$h1" -gt $((h0 / 2)) ] || { tail -20 "$T/agent.log"; fail "the full disk cost $((h0 - h1)) of $h0 readings"; }
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
umount "$T/big"
echo PASS
