#!/bin/bash
# Store faults. (1) A garbage file where the store should be: moved aside with a
# timestamped name, a fresh store started (seqs continuing above any the old one
# could have used), the agent runs and publishes. (2) The system clock stepped
# back an hour mid-run (libfaketime): no reading lost or reordered (seqs stay
# contiguous and in sample order per device... by seq), the readings taken while
# the clock is behind are flagged clock_untrusted, and trusted again when it
# catches up (stepped forward again).
source "$(dirname "$0")/lib.sh"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"

log "(1) garbage in place of store.db"
mkdir -p "$T/data"
head -c 100000 /dev/urandom > "$T/data/store.db"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ"
start_agent "$T/agent.conf"
wait_for 15 test -s "$T/one.sub" || { cat "$T/agent.log"; fail "nothing published over a fresh store"; }
"$BIN/ganzhi" queue -c "$T/agent.conf" --json > "$T/q.json" || fail "queue exit $?"
/usr/bin/python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["uplinks"][0]; assert u["lost"] == 0, u' \
    "$T/q.json" || fail "the seqs below a fresh store's first are counted as lost"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
grep "not a readable database" "$T/agent.log" || fail "the corrupt store was not reported"
ls "$T/data" | grep -q '^store.db.corrupt-[0-9]\{8\}-[0-9]\{6\}$' || { ls "$T/data"; fail "no store.db.corrupt-<time> file"; }
cmp -s "$T/data/store.db" "$T/data"/store.db.corrupt-* && fail "store.db still the garbage"
check_seq "$T/one.sub" || fail "seqs"
/usr/bin/python3 - "$T/one.sub" <<'PY' || fail "seqs of the fresh store do not start above the old ones"
import json, sys, time
first = min(r["seq"] for l in open(sys.argv[1]) for r in json.loads(l)["readings"])
assert first > (time.time() - 3600) * 1000 * 1024, first
assert first < 2 ** 53
print("fresh store starts at seq", first)
PY

log "(2) the clock stepped back an hour, then forward again"
LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$LIB" ] || fail "libfaketime is not installed (tests/deps.sh installs faketime)"
rm -rf "$T/data"; : > "$T/one.sub"; : > "$T/agent.log"
echo "+0" > "$T/faketime"
# Under AddressSanitizer the preloaded libfaketime comes before ASan's runtime;
# tell ASan that is intended.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
LD_PRELOAD=$LIB FAKETIME_TIMESTAMP_FILE="$T/faketime" FAKETIME_NO_CACHE=1 \
    FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1 \
    "$BIN/ganzhi-agent" -c "$T/agent.conf" >> "$T/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=($AGENT_PID)
sleep 4
echo "-3600" > "$T/faketime"
sleep 4
echo "+0" > "$T/faketime"
sleep 4
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
grep -E "clock" "$T/agent.log" || fail "the clock step was not noticed"
check_seq "$T/one.sub" || fail "readings lost across the clock step"
/usr/bin/python3 - "$T/one.sub" <<'PY' || fail "clock_untrusted"
import json, sys, datetime
rs = sorted((r for l in open(sys.argv[1]) for r in json.loads(l)["readings"]), key=lambda r: r["seq"])
q = [r["quality"] for r in rs]
ts = [datetime.datetime.fromisoformat(r["ts"]).timestamp() for r in rs]
bad = [i for i, r in enumerate(rs) if r["quality"] == "clock_untrusted"]
assert bad, "no reading flagged clock_untrusted"
back = [i for i in range(1, len(rs)) if ts[i] < ts[i - 1] - 1000]
assert back, "the clock never went back?"
# Everything stamped an hour early is flagged; after the return, trusted again.
early = [i for i in range(len(rs)) if ts[i] < ts[0] - 600]
assert all(rs[i]["quality"] == "clock_untrusted" for i in early if rs[i]["value"] is not None)
assert q[-1] == "good", q[-1]
print(f"{len(rs)} readings in seq order; {len(bad)} flagged clock_untrusted; last one good")
PY
echo PASS
