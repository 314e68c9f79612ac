#!/bin/bash
# bench_store.sh (`make bench`): store and backlog figures, not a test. In one run:
#   a. ingest: readings/s the store takes through the agent's writer thread
#      (build/tests/bench_ingest: the 36 demo points, realistic values, commit_interval
#      200ms) and bytes per reading on disk after a full checkpoint;
#   b. a backlog: BENCH_BACKLOG (10,000,000) readings of the demo table sampled over
#      the past days, in a store the agent is then started on;
#   c. the ceiling: a bare paho MQTTAsync publisher (build/tests/bench_paho) sending a
#      realtime message of the same size (BENCH_MSG_READINGS readings, made by the
#      agent's own encoder) at QoS 1 over TLS with the agent's window, to a mosquitto
#      with a TLS listener;
#   d. the agent on the backlog, uplink over mqtts:// to the same broker (backfill_rate
#      0, unlimited), polling ganzhi-sim's demo table at 1 s: the drain rate (a whole
#      drain: backlog readings over the time from the first to the last to reach the
#      subscriber; a drain longer than the window: acked_seq over time from
#      status.json) and the live latency (arrival at a subscriber
#      less the reading's sample time) of the live readings while the backlog drains;
#   e. drain / bare ratio (goal >= 0.8) and live p99 (goal < 1 s).
# A QoS 0 subscriber on the plain listener counts every realtime message during both
# (c) and (d), so the broker has the same work in both. When the drain takes longer
# than BENCH_DRAIN_WINDOW the rate is measured over that window and the drain time
# extrapolated (said so in the summary). Summary in $BUILD/bench-store.txt. Exit 0
# whatever the figures; non-zero only when something broke.
# Knobs: BENCH_BACKLOG (10000000), BENCH_INGEST_SECONDS (10), BENCH_BARE_SECONDS (15),
# BENCH_DRAIN_WINDOW (60 s), BENCH_MSG_READINGS (100), BENCH_INFLIGHT (32),
# BENCH_PERF=1 (perf record the agent during the drain; $BUILD/bench-store-perf.txt).
source "$(dirname "$0")/lib.sh"

BACKLOG=${BENCH_BACKLOG:-10000000}
INGEST_SECONDS=${BENCH_INGEST_SECONDS:-10}
BARE_SECONDS=${BENCH_BARE_SECONDS:-15}
DRAIN_WINDOW=${BENCH_DRAIN_WINDOW:-60}
MSG=${BENCH_MSG_READINGS:-100}
INFLIGHT=${BENCH_INFLIGHT:-32}
GOAL_RATIO=0.8
GOAL_P99_MS=1000
HZ=$(getconf CLK_TCK)
OUT=$ROOT/$BUILD/bench-store.txt
PY=/usr/bin/python3
TOPIC=ganzhi/220102000001/realtime

for b in bench_ingest bench_paho; do
    [ -x "$BIN/tests/$b" ] || fail "$BIN/tests/$b missing: run make first"
done
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
now_s() { date +%s.%N; }
pct() { awk -v a="$1" -v b="$2" -v t="$3" -v hz="$HZ" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / t }'; }
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<< " $2"; }

log "machine: $(nproc) CPU(s), $(uname -r), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo);" \
    "store on $(df -T "$T" | awk 'NR == 2 { print $2 }')"

# ---- a. ingest ---------------------------------------------------------------------
log "ingest: 36 demo points per batch through the writer, ${INGEST_SECONDS}s"
ING=$("$BIN/tests/bench_ingest" --dir "$T/ingest" --seconds "$INGEST_SECONDS" \
      --points "$ROOT/conf/demo/points/tank_farm.csv") || fail "bench_ingest: $ING"
echo "$ING"
rm -rf "$T/ingest"

# ---- b. the backlog ------------------------------------------------------------------
log "making a backlog of $BACKLOG readings (demo table, polls 1 s apart, ending 10 min ago)"
t0=$(now_s)
BL=$("$BIN/tests/bench_ingest" --dir "$T/data" --make-backlog --readings "$BACKLOG" \
     --points "$ROOT/conf/demo/points/tank_farm.csv" --device tank_plc) || fail "backlog: $BL"
BL_SECONDS=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
echo "$BL"
"$BIN/tests/bench_ingest" --payload "$T/payload.json" --message-readings "$MSG" \
    --points "$ROOT/conf/demo/points/tank_farm.csv" > /dev/null || fail "payload"

# ---- TLS broker --------------------------------------------------------------------------
make_pki
PLAIN=$(free_port); TLS=$(free_port); SIM=$(free_port)
# The counting subscriber may lag behind for a moment: let the broker queue for it.
start_broker store "$PLAIN" "max_queued_messages 0" \
    "listener $TLS 127.0.0.1" "cafile $P/ca.pem" "certfile $P/server.pem" \
    "keyfile $P/server.key" "require_certificate true" "tls_version tlsv1.2"
wait_for 10 port_open "$TLS" || fail "TLS listener"
BROKER=$BROKER_PID_store

# start_counter NAME [--live-from SEQ]: the QoS 0 subscriber (bench_paho sub).
start_counter() {
    local name=$1; shift
    "$BIN/tests/bench_paho" sub --url "tcp://127.0.0.1:$PLAIN" --topic "$TOPIC" \
        --out "$T/$name.lat" "$@" > "$T/$name.sub" 2> "$T/$name.sub.err" &
    SUB_PID=$!
    PIDS+=($SUB_PID)
    wait_for 10 grep -q ready "$T/$name.sub" || fail "subscriber $name: $(cat "$T/$name.sub.err")"
}
# stop_counter NAME: stop it (not in a subshell: it waits for its child); its counts
# go to SUB.
stop_counter() {
    kill -TERM "$SUB_PID"; wait "$SUB_PID" 2>/dev/null
    SUB=$(grep '^sub messages' "$T/$1.sub" | tail -1)
}

# ---- c. bare paho publisher ------------------------------------------------------------------
log "bare paho: QoS 1 over TLS, window $INFLIGHT, $(wc -c < "$T/payload.json") B messages" \
    "of $MSG readings, ${BARE_SECONDS}s"
start_counter bare
b0=$(cpu_ticks "$BROKER"); t0=$(now_s)
BARE=$("$BIN/tests/bench_paho" pub --url "ssl://localhost:$TLS" --ca "$P/ca.pem" \
       --cert "$P/client.pem" --key "$P/client.key" --payload "$T/payload.json" \
       --topic "$TOPIC" --inflight "$INFLIGHT" --seconds "$BARE_SECONDS") || fail "bench_paho: $BARE"
el=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')
BARE_BROKER_PCT=$(pct "$b0" "$(cpu_ticks "$BROKER")" "$el")
sleep 2
stop_counter bare
BARE_SUB=$SUB
echo "$BARE"
echo "subscriber: $BARE_SUB"
BARE_RPS=$(field readings_per_s "$BARE")
BARE_MPS=$(field messages_per_s "$BARE")
BARE_BYTES=$(field payload_bytes "$BARE")
[ -n "$BARE_RPS" ] || fail "cannot parse bench_paho output"

# ---- d. the agent drains the backlog --------------------------------------------------------
start_sim "$SIM"
A=$T/agent; mkdir -p "$A/points"
cp "$ROOT/conf/demo/points/tank_farm.csv" "$A/points/"
cat > "$A/agent.conf" <<EOF
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = $T/data
status_interval = 1s
commit_interval = 200ms

[device tank_plc]
driver = modbus-tcp
host = 127.0.0.1
port = $SIM
interval = 1s
timeout = 500ms
points = points/tank_farm.csv

[uplink county]
url = mqtts://localhost:$TLS
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/client.key
qos = 1
message_readings = $MSG
max_inflight = $INFLIGHT
backfill_rate = 0
live_window = 30s
EOF
"$BIN/ganzhi" check -c "$A/agent.conf" > /dev/null || fail "ganzhi check refused $A/agent.conf"

# status_sample: "MTIME CONNECTED ACKED BACKLOG BACKFILLING MSGS_ACKED OLDEST_MS" (mtime:
# when the agent wrote it).
status_sample() {
    $PY - "$T/data/status.json" <<'PY'
import json, os, sys
p = sys.argv[1]
try:
    st = os.stat(p); s = json.load(open(p))
except Exception:
    sys.exit(1)
u = s["uplinks"][0]
print("%.3f %d %d %d %d %d %d" % (st.st_mtime_ns / 1e9, u["connected"], u["acked_seq"],
      u["backlog"], u["backfilling"], u["messages_acked"], u["oldest_pending_ms"]))
PY
}

log "agent on the backlog: mqtts://, message_readings $MSG, max_inflight $INFLIGHT, backfill_rate 0;" \
    "demo device at 1s; drain measured for at most ${DRAIN_WINDOW}s"
start_counter drain --live-from $((BACKLOG + 1))
"$BIN/ganzhi-agent" -c "$A/agent.conf" >> "$A/agent.log" 2>&1 &
AGENT=$!
PIDS+=($AGENT)
connected() { local s; s=$(status_sample) && [ "$(cut -d' ' -f2 <<< "$s")" = 1 ]; }
wait_for 60 connected || { tail "$A/agent.log"; fail "the agent did not connect"; }
S0=$(status_sample)
a0=$(cpu_ticks "$AGENT"); b0=$(cpu_ticks "$BROKER"); s0=$(cpu_ticks "$SUB_PID"); t0=$(now_s)
[ "${BENCH_PERF:-0}" = 1 ] && command -v perf > /dev/null && {
    perf record -F 199 --call-graph dwarf,8192 -p "$AGENT" -o "$T/perf.data" -- sleep "$DRAIN_WINDOW" \
        > "$T/perf.log" 2>&1 &
    PERF_PID=$!
}
echo "$S0" > "$T/drain.samples"
end=$(awk -v t="$t0" -v w="$DRAIN_WINDOW" 'BEGIN { printf "%.3f", t + w }')
DRAINED=0
while :; do
    sleep 1
    kill -0 "$AGENT" 2>/dev/null || { tail "$A/agent.log"; fail "the agent died during the drain"; }
    if s=$(status_sample); then
        echo "$s" >> "$T/drain.samples"
        [ "$(cut -d' ' -f5 <<< "$s")" = 0 ] && { DRAINED=1; break; }
    fi
    awk -v n="$(now_s)" -v e="$end" 'BEGIN { exit !(n >= e) }' && break
done
el=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')
AGENT_PCT=$(pct "$a0" "$(cpu_ticks "$AGENT")" "$el")
DRAIN_BROKER_PCT=$(pct "$b0" "$(cpu_ticks "$BROKER")" "$el")
SUB_PCT=$(pct "$s0" "$(cpu_ticks "$SUB_PID")" "$el")
AGENT_HWM=$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$AGENT/status")
[ -n "${PERF_PID:-}" ] && { kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; }
kill -TERM "$AGENT"; wait "$AGENT"; rc=$?
[ "$rc" = 0 ] || { tail -20 "$A/agent.log"; fail "agent exited $rc on SIGTERM"; }
sleep 2
stop_counter drain
DRAIN_SUB=$SUB
echo "subscriber: $DRAIN_SUB"
if [ -f "$T/perf.data" ]; then
    perf report -i "$T/perf.data" --no-children --sort dso,symbol --stdio -g none \
        --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' > "$ROOT/$BUILD/bench-store-perf.txt"
    perf report -i "$T/perf.data" --children --sort symbol --stdio -g none \
        --percent-limit 2 2>/dev/null | grep -v '^#' | grep -v '^$' >> "$ROOT/$BUILD/bench-store-perf.txt"
    log "perf profile of the draining agent: $BUILD/bench-store-perf.txt"
fi

# Drain rate: acked_seq (every seq below it acknowledged) over the status samples, the
# backlog being seqs 1..BACKLOG; live latency over the readings that arrived meanwhile.
read -r DRAIN_RPS DRAIN_S DRAIN_ACKED P50 P99 PMAX NLIVE NLATE <<< "$($PY - "$T/drain.samples" \
    "$T/drain.lat" "$BACKLOG" <<'PY'
import sys
samples = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
backlog = int(sys.argv[3])
t0, a0 = samples[0][0], min(samples[0][2], backlog)
# the last sample still backfilling, or the first that is not
end = samples[-1]
t1, a1 = end[0], min(end[2], backlog)
if end[4] == 0:
    a1 = backlog
rate = (a1 - a0) / (t1 - t0) if t1 > t0 else 0
lat = []
for l in open(sys.argv[2]):
    arr, ms, resend = l.split()
    if t0 * 1000 <= int(arr) <= t1 * 1000:
        lat.append(int(ms))
lat.sort()
def q(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else -1
late = sum(1 for x in lat if x >= 1000)
print("%.0f %.1f %d %d %d %d %d %d" % (rate, t1 - t0, a1 - a0, q(0.5), q(0.99),
      lat[-1] if lat else -1, len(lat), late))
PY
)"
[ -n "$DRAIN_RPS" ] || fail "cannot compute the drain figures"
# A whole drain is timed at the subscriber, from the first backlog reading to arrive to
# the last (to the millisecond; the status samples above are a second apart, which is
# 10 % of a 10 s drain).
SUB_BACK=$(field backlog_readings "$DRAIN_SUB")
SUB_MS=$(( $(field backlog_last_ms "$DRAIN_SUB") - $(field backlog_first_ms "$DRAIN_SUB") ))
DRAIN_HOW="status samples"
STATUS_RPS=$DRAIN_RPS
if [ "$DRAINED" = 1 ] && [ "$SUB_BACK" -ge $((BACKLOG * 99 / 100)) ] && [ "$SUB_MS" -gt 0 ]; then
    DRAIN_RPS=$(awk -v n="$SUB_BACK" -v ms="$SUB_MS" 'BEGIN { printf "%.0f", n * 1000 / ms }')
    DRAIN_S=$(awk -v ms="$SUB_MS" 'BEGIN { printf "%.2f", ms / 1000 }')
    DRAIN_HOW="at the subscriber, first to last backlog reading ($SUB_BACK readings)"
fi
LIVE_RESEND=$(field live_resend "$DRAIN_SUB")
AGENT_MSG_BYTES=$(awk -v b="$(field bytes "$DRAIN_SUB")" -v m="$(field messages "$DRAIN_SUB")" \
    'BEGIN { printf "%.0f", m ? b / m : 0 }')
ERRORS=$(grep -c '^error' "$A/agent.log")
WARNS=$(grep -c '^warn' "$A/agent.log")

# ---- e. summary ---------------------------------------------------------------------------------
{
    RATIO=$(awk -v d="$DRAIN_RPS" -v b="$BARE_RPS" 'BEGIN { printf "%.2f", b ? d / b : 0 }')
    echo "Ganzhi store bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPU(s), loopback, store on $(df -T "$T" | awk 'NR == 2 { print $2 }')"
    printf '%-44s %14s   %s\n' "figure" "value" "goal / note"
    echo "-- store (36 demo points per batch, writer thread, commit_interval 200ms, synchronous=FULL)"
    printf '%-44s %14s   %s\n' "readings/s ingested" "$(field readings_per_s "$ING")" \
        "$(field readings "$ING") readings in $(field seconds "$ING") s, $(field commits "$ING") commits"
    printf '%-44s %14s   %s\n' "bytes per reading on disk" "$(field bytes_per_reading "$ING")" \
        "store.db + WAL after wal_checkpoint(TRUNCATE)"
    printf '%-44s %14s   %s\n' "backlog made, readings" "$BACKLOG" \
        "in ${BL_SECONDS}s ($(field readings_per_s "$BL")/s), $(field bytes_per_reading "$BL") B/reading"
    echo "-- backlog drain over TLS (QoS 1, window $INFLIGHT, $MSG readings/message)"
    printf '%-44s %14s   %s\n' "bare paho publisher, readings/s" "$BARE_RPS" \
        "$BARE_MPS msgs/s of $BARE_BYTES B; CPU: publisher $(field cpu_pct "$BARE")%, broker ${BARE_BROKER_PCT}%"
    if [ "$DRAINED" = 1 ]; then
        NOTE="whole backlog drained in ${DRAIN_S}s, timed $DRAIN_HOW"
    else
        NOTE="measured over ${DRAIN_S}s ($DRAIN_ACKED readings); full drain extrapolated:"
        NOTE="$NOTE $(awk -v n="$BACKLOG" -v r="$DRAIN_RPS" 'BEGIN { printf "%.0f s", r ? n / r : 0 }')"
    fi
    printf '%-44s %14s   %s\n' "agent drain, readings/s" "$DRAIN_RPS" "$NOTE"
    printf '%-44s %14s   %s\n' "  the same from status samples, readings/s" "$STATUS_RPS" \
        "acked_seq over status.json samples 1 s apart, connect and ramp included"
    printf '%-44s %14s   %s\n' "drain / bare paho" "$RATIO" \
        "goal >= $GOAL_RATIO: $(awk -v r="$RATIO" -v g="$GOAL_RATIO" 'BEGIN { print (r >= g) ? "PASS" : "MISS" }')"
    printf '%-44s %14s   %s\n' "live latency p50, ms" "$P50" \
        "$NLIVE live readings during the drain (arrival - sample time)"
    printf '%-44s %14s   %s\n' "live latency p99, ms" "$P99" \
        "goal < $GOAL_P99_MS ms: $(awk -v p="$P99" -v g="$GOAL_P99_MS" 'BEGIN { print (p >= 0 && p < g) ? "PASS" : "MISS" }'); max $PMAX ms, $NLATE >= 1 s, $LIVE_RESEND flagged resend"
    printf '%-44s %14s   %s\n' "agent CPU, % of one core" "$AGENT_PCT" \
        "peak RSS ${AGENT_HWM} MB; broker ${DRAIN_BROKER_PCT}%, counting subscriber ${SUB_PCT}%"
    printf '%-44s %14s   %s\n' "agent message size, B" "$AGENT_MSG_BYTES" \
        "mean over what the subscriber got; agent log: $ERRORS errors, $WARNS warnings"
} | tee "$OUT"
log "summary written to $BUILD/bench-store.txt"
exit 0
