#!/bin/bash
# bench.sh (`make bench`): figures, not a test. On loopback, in one run:
#   1. the polling ceiling: a bare libmodbus loop (build/tests/bench_modbus) reading
#      ganzhi-sim's --bench registers as fast as it can;
#   2. the stage goal: 5,000 uint16 points polled every 1 s, sim -> agent -> store ->
#      mosquitto (QoS 1), with a subscriber confirming what arrived; the agent's
#      readings/s, CPU, peak RSS and store bytes per reading;
#   3. the large site: 50,000 points polled every 500 ms (100,000 readings/s), for
#      memory: peak RSS, peak private memory (RssAnon) and CPU per reading;
#   4. saturation: 25,000 points (same devices, same settings) polled at the shortest
#      interval, to find the agent's ceilings in readings/s (polled, stored,
#      acknowledged end to end), as ratios of the bare libmodbus figure of step 1.
# Memory: VmHWM is the kernel's peak RSS (shared library pages included); the
# agent's own memory is RssAnon, sampled from /proc/PID/status every 200 ms from
# start to stop, its peak reported beside VmHWM and per configured point.
# Prints a summary (also written to $BUILD/bench.txt). Exit 0 whatever the figures;
# non-zero only when something broke. Knobs (environment): BENCH_POINTS (5000),
# BENCH_BIG_POINTS (50000; 0 skips the stage), BENCH_BIG_INTERVAL (500ms),
# BENCH_BIG_WINDOW (20 s), BENCH_SAT_POINTS (25000; up to 50000; 0 skips the stage),
# BENCH_DEVICES (5), BENCH_WINDOW (20 s), BENCH_WARMUP (5 s), BENCH_SAT_INTERVAL
# (10ms), BENCH_SAT_WINDOW (15 s), BENCH_BARE_SECONDS (5), BENCH_PERF=1 (perf record
# the agent during the saturation window; report in $BUILD/bench-perf.txt).
source "$(dirname "$0")/lib.sh"

POINTS=${BENCH_POINTS:-5000}
DEVICES=${BENCH_DEVICES:-5}
WINDOW=${BENCH_WINDOW:-20}
WARMUP=${BENCH_WARMUP:-5}
SAT_INTERVAL=${BENCH_SAT_INTERVAL:-10ms}
# More points than the goal, so that polling at the shortest interval offers more
# than the agent can take and every stage (poll, store, uplink) shows its ceiling.
SAT_POINTS=${BENCH_SAT_POINTS:-25000}
SAT_WINDOW=${BENCH_SAT_WINDOW:-15}
BIG_POINTS=${BENCH_BIG_POINTS:-50000}
BIG_INTERVAL=${BENCH_BIG_INTERVAL:-500ms}
BIG_WINDOW=${BENCH_BIG_WINDOW:-20}
BARE_SECONDS=${BENCH_BARE_SECONDS:-5}
MSG_READINGS=500
# Stage goal: 5,000 points at 1 s, < 10 % of one core, < 16 MB RSS.
GOAL_CPU_PCT=10
GOAL_RSS_MB=16
# Memory goals: private memory (RssAnon) <= 3 MB at 5,000 points / 1 s;
# <= 10 MB RssAnon and <= 16 MB RSS at 50,000 points / 500 ms.
GOAL_ANON_MB=3
GOAL_BIG_ANON_MB=10
GOAL_BIG_RSS_MB=16
HZ=$(getconf CLK_TCK)
NPROC=$(nproc)
OUT=$ROOT/$BUILD/bench.txt
PY=/usr/bin/python3

[ -x "$BIN/tests/bench_modbus" ] || fail "$BIN/tests/bench_modbus missing: run make first"
[ $((POINTS % DEVICES)) = 0 ] && [ $((SAT_POINTS % DEVICES)) = 0 ] && [ $((BIG_POINTS % DEVICES)) = 0 ] \
    || fail "BENCH_POINTS, BENCH_BIG_POINTS and BENCH_SAT_POINTS must be multiples of BENCH_DEVICES"
[ "$POINTS" -le 50000 ] && [ "$SAT_POINTS" -le 50000 ] && [ "$BIG_POINTS" -le 50000 ] \
    || fail "ganzhi-sim serves 50000 at most"
SIM_POINTS=$(( POINTS > SAT_POINTS ? POINTS : SAT_POINTS ))
SIM_POINTS=$(( BIG_POINTS > SIM_POINTS ? BIG_POINTS : SIM_POINTS ))

# ---- helpers ---------------------------------------------------------------------
# cpu_ticks PID: utime + stime of the whole process (all threads), in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
now_s() { date +%s.%N; }
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# mem_sampler PID FILE: every 200 ms while PID lives, append "RssAnon VmRSS" (kB)
# to FILE. The peak of RssAnon is the agent's own memory at its highest (start-up
# included); VmHWM gives the peak RSS.
mem_sampler() {
    while awk '$1 == "RssAnon:" { a = $2 } $1 == "VmRSS:" { r = $2 }
               END { if (a == "") exit 1; print a, r }' "/proc/$1/status" >> "$2" 2>/dev/null; do
        sleep 0.2
    done
}
# mem_peak FILE: "PEAK_RSSANON_KB PEAK_VMRSS_KB" of a sampler's file.
mem_peak() { awk '$1 > a { a = $1 } $2 > r { r = $2 } END { print a + 0, r + 0 }' "$1"; }

# status_sample DIR: "MTIME ACKED COMMITTED DROPPED_STORE DROPPED_UPLINK BACKLOG REQUESTS" of the
# agent's last status.json, MTIME being when the agent wrote it (the snapshot's time).
status_sample() {
    $PY - "$1/status.json" <<'PY'
import json, os, sys
p = sys.argv[1]
st = os.stat(p)
s = json.load(open(p))
u = s["uplinks"][0]
print("%.3f %d %d %d %d %d %d" % (st.st_mtime_ns / 1e9, u["acked_seq"], s["store"]["committed"],
      s["store"]["dropped"], u["dropped"], u["backlog"], sum(d["requests"] for d in s["devices"])))
PY
}

# wait_status_change DIR: until status.json is rewritten (at most ~2.5 s), so that a
# sample is fresh.
wait_status_change() {
    local f=$1/status.json m0 i
    m0=$(stat -c %Y.%y "$f" 2>/dev/null)
    for i in $(seq 1 50); do
        [ "$(stat -c %Y.%y "$f" 2>/dev/null)" != "$m0" ] && return 0
        sleep 0.05
    done
    return 1
}

# write_points DIR N: DEVICES point tables of N/DEVICES uint16 holding registers
# each, at 10000.. on the one simulator; deadband 0 so every poll is stored.
write_points() {
    local dir=$1 per=$(($2 / DEVICES))
    mkdir -p "$dir/points"
    $PY - "$dir/points" "$DEVICES" "$per" <<'PY'
import sys
d, ndev, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for k in range(ndev):
    with open("%s/dev%d.csv" % (d, k), "w") as f:
        f.write("tag,area,address,type,unit,deadband\n")
        for i in range(per):
            a = 10000 + k * per + i
            f.write("B%05d,holding,%d,uint16,cnt,0\n" % (a, a))
PY
}

# write_conf DIR INTERVAL N: the agent configuration of one run, N points.
write_conf() {
    local dir=$1 interval=$2 k
    write_points "$dir" "$3"
    {
        echo "[agent]"
        echo "enterprise_code = 220102000001"
        echo "gateway_code = GW01"
        echo "data_dir = $dir/data"
        echo "status_interval = 1s"
        echo "commit_interval = 200ms"
        echo "log_level = info"
        for k in $(seq 0 $((DEVICES - 1))); do
            echo
            echo "[device plc$k]"
            echo "driver = modbus-tcp"
            echo "link = own"             # as many PLCs would be, each at its address
            echo "host = 127.0.0.1"
            echo "port = $SIM"
            echo "interval = $interval"
            echo "timeout = 1s"
            echo "points = points/dev$k.csv"
        done
        echo
        echo "[uplink bench]"
        echo "url = mqtt://127.0.0.1:$MQ"
        echo "profile = generic"
        echo "qos = 1"
        echo "message_readings = $MSG_READINGS"
        echo "max_inflight = 32"
    } > "$dir/agent.conf"
    "$BIN/ganzhi" check -c "$dir/agent.conf" || fail "ganzhi check refused $dir/agent.conf"
}

# run_agent DIR WARMUP WINDOW N: start the agent (N points), let it warm up, measure
# over WINDOW seconds, stop it (SIGTERM) and checkpoint the store. Sets R_* figures.
run_agent() {
    local dir=$1 warm=$2 win=$3 npts=$4 pid
    # Read requests of one poll of all devices (max_registers 125, contiguous).
    local reqs_per_poll=$((DEVICES * ((npts / DEVICES + 124) / 125)))
    "$BIN/ganzhi-agent" -c "$dir/agent.conf" >> "$dir/agent.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    R_PID=$pid
    : > "$dir/mem.txt"
    mem_sampler "$pid" "$dir/mem.txt" &
    local sampler=$!
    # Start-up: until the first status.json, which comes status_interval (1 s) after
    # the runtime (devices, points registered in the store, uplinks) has started.
    local ts0=$(now_s)
    wait_for 300 test -s "$dir/data/status.json" || { cat "$dir/agent.log"; fail "agent never wrote status.json"; }
    R_STARTUP=$(awk -v a="$ts0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a - 1 }')
    sleep "$warm"
    kill -0 "$pid" 2>/dev/null || { cat "$dir/agent.log"; fail "agent died during warm-up"; }
    wait_status_change "$dir/data" || fail "agent writes no status.json"
    local c0 t0 s0 c1 t1 s1
    local b0 m0s
    c0=$(cpu_ticks "$pid"); t0=$(now_s); s0=$(status_sample "$dir/data")
    b0=$(cpu_ticks "$BROKER_PID_bench"); m0s=$(cpu_ticks "$SIM_PID")
    [ -n "${ON_WINDOW:-}" ] && $ON_WINDOW "$pid" "$win"
    sleep "$win"
    wait_status_change "$dir/data" || fail "agent stopped writing status.json"
    c1=$(cpu_ticks "$pid"); t1=$(now_s); s1=$(status_sample "$dir/data")
    R_HWM_KB=$(vm_kb "$pid" VmHWM)
    R_RSS_KB=$(vm_kb "$pid" VmRSS)
    R_THREADS=$(vm_kb "$pid" Threads)
    R_BROKER_PCT=$(awk -v a="$b0" -v b="$(cpu_ticks "$BROKER_PID_bench")" -v t0="$t0" -v t1="$t1" \
        -v hz="$HZ" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / (t1 - t0) }')
    R_SIM_PCT=$(awk -v a="$m0s" -v b="$(cpu_ticks "$SIM_PID")" -v t0="$t0" -v t1="$t1" \
        -v hz="$HZ" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / (t1 - t0) }')
    read -r R_ELAPSED R_CPU_S <<< "$(awk -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" -v hz="$HZ" \
        'BEGIN { printf "%.3f %.3f", b - a, (c1 - c0) / hz }')"
    read -r m0 a0 k0 _ _ _ q0 <<< "$s0"
    read -r m1 a1 k1 R_DROP_STORE R_DROP_UP R_BACKLOG q1 <<< "$s1"
    # Registers the pollers read per second: requests x registers per request.
    R_POLLED_RATE=$(awk -v q0="$q0" -v q1="$q1" -v m0="$m0" -v m1="$m1" -v n="$npts" \
        -v r="$reqs_per_poll" 'BEGIN { printf "%.0f", (q1 - q0) * n / r / (m1 - m0) }')
    read -r R_ACKED_RATE R_STORED_RATE <<< "$(awk -v m0="$m0" -v m1="$m1" -v a0="$a0" -v a1="$a1" \
        -v k0="$k0" -v k1="$k1" 'BEGIN { printf "%.0f %.0f", (a1 - a0) / (m1 - m0), (k1 - k0) / (m1 - m0) }')"
    R_READINGS_WINDOW=$((k1 - k0))
    kill -TERM "$pid"
    wait "$pid"; local rc=$?
    [ "$rc" = 0 ] || { tail -20 "$dir/agent.log"; fail "agent exited $rc on SIGTERM"; }
    wait "$sampler" 2>/dev/null
    read -r R_ANON_PEAK_KB R_RSS_PEAK_KB <<< "$(mem_peak "$dir/mem.txt")"
    # status.json is written at status_interval only; the store is the final word.
    R_COMMITTED_END=$(sqlite3 "$dir/data/store.db" 'SELECT coalesce(sum(n),0) FROM batch')
    R_ACKED_END=$(sqlite3 "$dir/data/store.db" "SELECT acked FROM cursor WHERE uplink='bench'")
    sqlite3 "$dir/data/store.db" 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null \
        || fail "checkpoint failed"
    local bytes=0 f
    for f in "$dir/data/store.db" "$dir/data/store.db-wal"; do
        [ -f "$f" ] && bytes=$((bytes + $(stat -c %s "$f")))
    done
    R_STORE_BYTES=$bytes
    R_ERRORS=$(grep -c '^error' "$dir/agent.log")
    R_WARNS=$(grep -c '^warn' "$dir/agent.log")
}

# ---- peers -------------------------------------------------------------------------
SIM=$(free_port); MQ=$(free_port)
# The subscriber may fall behind the agent for a while: let the broker queue for it.
start_broker bench "$MQ" "max_queued_messages 0" "max_inflight_messages 100"
start_sim "$SIM" --bench "$SIM_POINTS"
log "machine: $NPROC CPU(s), $(uname -r), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"

# ---- 1. the polling ceiling ----------------------------------------------------------
log "bare libmodbus loop: $POINTS registers in 125-register requests, ${BARE_SECONDS}s"
BARE=$("$BIN/tests/bench_modbus" --port "$SIM" --points "$POINTS" --seconds "$BARE_SECONDS") \
    || fail "bench_modbus failed: $BARE"
echo "$BARE"
BARE_REGS=$(sed -n 's/.*registers_per_s=\([0-9]*\).*/\1/p' <<< "$BARE")
BARE_REQS=$(sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p' <<< "$BARE")
[ -n "$BARE_REGS" ] || fail "cannot parse bench_modbus output"

# ---- 2. the stage goal: 5,000 points at 1 s -------------------------------------------
G=$T/goal
mkdir -p "$G"
write_conf "$G" 1s "$POINTS"
subscribe goal "$MQ" 'ganzhi/220102000001/realtime'
SUB_PID=$!
log "stage goal: $POINTS points on $DEVICES devices at 1s, deadband 0 (every poll stored)," \
    "QoS 1, $MSG_READINGS readings/message; warm-up ${WARMUP}s, window ${WINDOW}s"
run_agent "$G" "$WARMUP" "$WINDOW" "$POINTS"
G_ELAPSED=$R_ELAPSED G_CPU_S=$R_CPU_S G_HWM_KB=$R_HWM_KB G_RSS_KB=$R_RSS_KB
G_ACKED_RATE=$R_ACKED_RATE G_STORED_RATE=$R_STORED_RATE G_READINGS=$R_READINGS_WINDOW
G_DROP_STORE=$R_DROP_STORE G_DROP_UP=$R_DROP_UP G_BACKLOG=$R_BACKLOG G_THREADS=$R_THREADS
G_COMMITTED=$R_COMMITTED_END G_ACKED_END=$R_ACKED_END G_STORE_BYTES=$R_STORE_BYTES
G_ERRORS=$R_ERRORS G_WARNS=$R_WARNS G_STARTUP=$R_STARTUP
G_BROKER_PCT=$R_BROKER_PCT G_SIM_PCT=$R_SIM_PCT
# The subscriber: every acknowledged reading arrived, once per seq. Then it stops, so
# that it does not compete with the saturated agent for the CPUs.
sleep 1
kill "$SUB_PID"; wait "$SUB_PID" 2>/dev/null
read -r SUB_MSGS SUB_READINGS SUB_UNIQUE SUB_MAX SUB_GAPS <<< "$($PY - "$T/goal.sub" <<'PY'
import json, sys
msgs = readings = 0
seqs = set()
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    m = json.loads(line)
    msgs += 1
    for r in m["readings"]:
        readings += 1
        seqs.add(r["seq"])
top = max(seqs) if seqs else 0
print(msgs, readings, len(seqs), top, top - len(seqs))
PY
)"
[ -n "$SUB_MSGS" ] || fail "cannot read the subscriber's messages"

G_ANON_KB=$R_ANON_PEAK_KB

# ---- 3. the large site: 50,000 points at 500 ms ----------------------------------------
if [ "$BIG_POINTS" -gt 0 ]; then
    L=$T/big
    mkdir -p "$L"
    write_conf "$L" "$BIG_INTERVAL" "$BIG_POINTS"
    log "large site: $BIG_POINTS points on $DEVICES devices at $BIG_INTERVAL; warm-up ${WARMUP}s, window ${BIG_WINDOW}s"
    run_agent "$L" "$WARMUP" "$BIG_WINDOW" "$BIG_POINTS"
    L_ELAPSED=$R_ELAPSED L_CPU_S=$R_CPU_S L_HWM_KB=$R_HWM_KB L_ANON_KB=$R_ANON_PEAK_KB
    L_STORED_RATE=$R_STORED_RATE L_ACKED_RATE=$R_ACKED_RATE L_READINGS=$R_READINGS_WINDOW
    L_DROP_STORE=$R_DROP_STORE L_DROP_UP=$R_DROP_UP L_ERRORS=$R_ERRORS L_WARNS=$R_WARNS
    L_STARTUP=$R_STARTUP L_THREADS=$R_THREADS
fi

# ---- 4. saturation ----------------------------------------------------------------------
if [ "$SAT_POINTS" -gt 0 ]; then
S=$T/sat
mkdir -p "$S"
write_conf "$S" "$SAT_INTERVAL" "$SAT_POINTS"
perf_agent() {
    perf record -F 199 --call-graph dwarf,16384 -p "$1" -o "$T/perf.data" -- sleep "$2" \
        > "$T/perf.log" 2>&1 &
}
[ "${BENCH_PERF:-0}" = 1 ] && command -v perf > /dev/null && ON_WINDOW=perf_agent
log "saturation: $SAT_POINTS points on $DEVICES devices at $SAT_INTERVAL; warm-up ${WARMUP}s, window ${SAT_WINDOW}s"
run_agent "$S" "$WARMUP" "$SAT_WINDOW" "$SAT_POINTS"
ON_WINDOW=
if [ -f "$T/perf.data" ]; then
    sleep 1   # perf writes its file after the agent has gone
    perf report -i "$T/perf.data" --children --sort symbol --stdio -g none --percent-limit 1.5 \
        2>/dev/null | grep -v '^#' | grep -v '^$' > "$ROOT/$BUILD/bench-perf.txt"
    log "perf profile of the saturated agent: $BUILD/bench-perf.txt"
fi
fi

# ---- summary --------------------------------------------------------------------------
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g) ? "PASS" : "MISS" }'; }
verdict_le() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "PASS" : "MISS" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
{
    G_CPU_PCT=$(awk -v c="$G_CPU_S" -v e="$G_ELAPSED" 'BEGIN { printf "%.1f", 100 * c / e }')
    G_RSS_MB=$(awk -v k="$G_HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "Ganzhi bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $NPROC CPU(s), loopback; ganzhi-sim --bench $SIM_POINTS"
    printf '%-44s %14s   %s\n' "figure" "value" "goal / note"
    printf '%-44s %14s   %s\n' "bare libmodbus registers/s (ceiling)" "$BARE_REGS" \
        "$BARE_REQS requests/s of 125 registers, one connection"
    echo "-- stage goal: $POINTS points, $DEVICES devices x $((POINTS / DEVICES)), interval 1s, deadband 0, QoS 1, ${MSG_READINGS}/msg, ${G_ELAPSED}s window"
    printf '%-44s %14s   %s\n' "readings/s stored" "$G_STORED_RATE" "offered $POINTS/s"
    printf '%-44s %14s   %s\n' "readings/s acknowledged by the broker" "$G_ACKED_RATE" "offered $POINTS/s"
    printf '%-44s %14s   %s\n' "agent CPU, % of one core" "$G_CPU_PCT" \
        "goal < $GOAL_CPU_PCT %: $(verdict "$G_CPU_PCT" "$GOAL_CPU_PCT")"
    printf '%-44s %14s   %s\n' "agent peak RSS (VmHWM), MB" "$G_RSS_MB" \
        "goal < $GOAL_RSS_MB MB: $(verdict "$G_RSS_MB" "$GOAL_RSS_MB")"
    printf '%-44s %14s   %s\n' "agent peak private memory (RssAnon), MB" "$(mb "$G_ANON_KB")" \
        "goal <= $GOAL_ANON_MB MB: $(verdict_le "$(mb "$G_ANON_KB")" "$GOAL_ANON_MB"); sampled every 200 ms"
    printf '%-44s %14s   %s\n' "private bytes per configured point" \
        "$(awk -v k="$G_ANON_KB" -v n="$POINTS" 'BEGIN { printf "%.0f", 1024 * k / n }')" \
        "peak RssAnon / $POINTS points (fixed costs included)"
    printf '%-44s %14s   %s\n' "agent CPU per reading, us" \
        "$(awk -v c="$G_CPU_S" -v n="$G_READINGS" 'BEGIN { printf "%.2f", n ? 1e6 * c / n : 0 }')" \
        "poll + store + publish, all threads ($G_THREADS)"
    printf '%-44s %14s   %s\n' "store bytes per reading" \
        "$(awk -v b="$G_STORE_BYTES" -v n="$G_COMMITTED" 'BEGIN { printf "%.1f", n ? b / n : 0 }')" \
        "$G_STORE_BYTES B for $G_COMMITTED readings, after checkpoint"
    SUB_OK=$([ "$SUB_UNIQUE" -ge "$G_ACKED_END" ] && [ "$SUB_GAPS" = 0 ] && echo "none lost" || echo "READINGS LOST")
    printf '%-44s %14s   %s\n' "subscriber: readings received (unique seqs)" "$SUB_UNIQUE" \
        "$SUB_OK: acked cursor at stop $G_ACKED_END, stored $G_COMMITTED, seq gaps $SUB_GAPS, $SUB_MSGS msgs, $((SUB_READINGS - SUB_UNIQUE)) repeats"
    printf '%-44s %14s   %s\n' "readings dropped (store queue / uplink)" "$G_DROP_STORE / $G_DROP_UP" \
        "backlog at end of window $G_BACKLOG; agent log: $G_ERRORS errors, $G_WARNS warnings"
    printf '%-44s %14s   %s\n' "agent start-up, s" "$G_STARTUP" \
        "until the first status.json less status_interval (registers $POINTS points in the store)"
    printf '%-44s %14s   %s\n' "mosquitto / ganzhi-sim CPU, % of one core" "$G_BROKER_PCT / $G_SIM_PCT" \
        "the peers, same window (the subscriber's share is in neither)"
    if [ "$BIG_POINTS" -gt 0 ]; then
    echo "-- large site: $BIG_POINTS points, $DEVICES devices x $((BIG_POINTS / DEVICES)), interval $BIG_INTERVAL, deadband 0, QoS 1, ${L_ELAPSED}s window"
    printf '%-44s %14s   %s\n' "readings/s stored / acknowledged" "$L_STORED_RATE / $L_ACKED_RATE" \
        "offered $(awk -v n="$BIG_POINTS" -v i="$BIG_INTERVAL" 'BEGIN { ms = i; if (i ~ /ms$/) ms = i + 0; else ms = 1000 * i; printf "%.0f", n * 1000 / ms }')/s; dropped $L_DROP_STORE / $L_DROP_UP"
    printf '%-44s %14s   %s\n' "agent peak RSS (VmHWM), MB" "$(mb "$L_HWM_KB")" \
        "goal <= $GOAL_BIG_RSS_MB MB: $(verdict_le "$(mb "$L_HWM_KB")" "$GOAL_BIG_RSS_MB")"
    printf '%-44s %14s   %s\n' "agent peak private memory (RssAnon), MB" "$(mb "$L_ANON_KB")" \
        "goal <= $GOAL_BIG_ANON_MB MB: $(verdict_le "$(mb "$L_ANON_KB")" "$GOAL_BIG_ANON_MB")"
    printf '%-44s %14s   %s\n' "private bytes per configured point" \
        "$(awk -v k="$L_ANON_KB" -v n="$BIG_POINTS" 'BEGIN { printf "%.0f", 1024 * k / n }')" \
        "$(awk -v a="$G_ANON_KB" -v b="$L_ANON_KB" -v n="$POINTS" -v m="$BIG_POINTS" 'BEGIN { printf "%.0f B per point more from %d to %d points", 1024 * (b - a) / (m - n), n, m }')"
    printf '%-44s %14s   %s\n' "agent CPU per reading, us" \
        "$(awk -v c="$L_CPU_S" -v n="$L_READINGS" 'BEGIN { printf "%.2f", n ? 1e6 * c / n : 0 }')" \
        "$(awk -v c="$L_CPU_S" -v e="$L_ELAPSED" 'BEGIN { printf "%.1f %% of one core", 100 * c / e }'), all threads ($L_THREADS); agent log: $L_ERRORS errors, $L_WARNS warnings"
    printf '%-44s %14s   %s\n' "agent start-up, s" "$L_STARTUP" "registers $BIG_POINTS points in the store"
    fi
    if [ "$SAT_POINTS" -gt 0 ]; then
    echo "-- saturation: $SAT_POINTS points, $DEVICES devices, interval $SAT_INTERVAL (offered $(awk -v n="$SAT_POINTS" -v i="$SAT_INTERVAL" 'BEGIN { ms = i; if (i ~ /ms$/) ms = i + 0; else ms = 1000 * i; printf "%.0f", n * 1000 / ms }')/s), ${R_ELAPSED}s window"
    printf '%-44s %14s   %s\n' "registers/s polled by the agent" "$R_POLLED_RATE" \
        "$(awk -v r="$R_POLLED_RATE" -v b="$BARE_REGS" 'BEGIN { printf "%.1f %% of bare libmodbus", 100 * r / b }')"
    printf '%-44s %14s   %s\n' "readings/s stored" "$R_STORED_RATE" \
        "$(awk -v r="$R_STORED_RATE" -v b="$BARE_REGS" 'BEGIN { printf "%.1f %% of bare libmodbus", 100 * r / b }'); queue_max 100000, commit_interval 200ms"
    printf '%-44s %14s   %s\n' "readings/s acknowledged by the broker" "$R_ACKED_RATE" \
        "$(awk -v r="$R_ACKED_RATE" -v b="$BARE_REGS" 'BEGIN { printf "%.1f %% of bare libmodbus (end-to-end ceiling)", 100 * r / b }')"
    printf '%-44s %14s   %s\n' "agent CPU, % of one core" \
        "$(awk -v c="$R_CPU_S" -v e="$R_ELAPSED" 'BEGIN { printf "%.1f", 100 * c / e }')" \
        "$(awk -v c="$R_CPU_S" -v n="$R_STORED_RATE" -v e="$R_ELAPSED" 'BEGIN { printf "%.2f us CPU per stored reading", (n * e) ? 1e6 * c / (n * e) : 0 }')"
    printf '%-44s %14s   %s\n' "agent peak RSS (VmHWM), MB" \
        "$(awk -v k="$R_HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')" "RSS at end $(awk -v k="$R_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB"
    printf '%-44s %14s   %s\n' "readings dropped (store queue / uplink)" "$R_DROP_STORE / $R_DROP_UP" \
        "uplink backlog at end of window $R_BACKLOG; agent log: $R_ERRORS errors, $R_WARNS warnings"
    printf '%-44s %14s   %s\n' "mosquitto / ganzhi-sim CPU, % of one core" "$R_BROKER_PCT / $R_SIM_PCT" \
        "the peers, same window, no subscriber; $NPROC CPU(s) shared by all"
    fi
} | tee "$OUT"
log "summary written to $BUILD/bench.txt"
exit 0
