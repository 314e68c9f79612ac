#!/bin/bash
# bench_wan.sh (part of `make bench`): the uplink over a WAN link, each MQTT
# connection through tests/linkemu.py, which counts the TCP payload (the MQTT bytes)
# each way.
#   1. Bytes on the wire per reading, each profile: the demo site (ganzhi-sim's tank
#      farm, the demo's interval 1 s and status_interval 10 s) to mosquitto through
#      one unimpaired link per uplink: generic, hazchem, fireworks, tailings, coal
#      (the demo table with coal's columns and a tailings item added) and generic
#      over mqtts. Steady state: the bytes of a WINDOW_A window (after the connect,
#      /points and first messages) over the readings stored in it.
#   2. A 1-hour backlog drained through 600 ms RTT (300 ms each way) and 256 kbit/s
#      each way (32,000 B/s, a queue of 256 KB): the store holds what the demo site
#      stores in an hour (its rate measured in 1., ~23 readings/s), made by
#      tests/tool_fill_store (36 points of a [device history] that never answers);
#      the agent polls the demo site meanwhile and drains on a generic uplink, the
#      re-upload on its own topic. Over WINDOW_B seconds of the drain: link
#      utilisation (bytes up through the proxy / (time x 32,000 B/s)), goal >= 90 %;
#      live readings' latency (subscriber's receive time minus the reading's ts),
#      goal p99 < 5 s; the backlog's drain rate and the time a whole hour's backlog
#      takes. Once with the defaults, then with each setting in TUNED (one run each).
# Summary in $BUILD/bench-wan.txt. Exit 0 whatever the figures; non-zero only when
# something broke. Knobs: BENCH_WAN_WINDOW_A (30 s), BENCH_WAN_WINDOW_B (45 s).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
OUT=$ROOT/$BUILD/bench-wan.txt
WINDOW_A=${BENCH_WAN_WINDOW_A:-30}
WINDOW_B=${BENCH_WAN_WINDOW_B:-45}
RATE=32000
DELAY=0.3
# Settings tried in 2., one run each ('|' between lines of one run). At the defaults the
# backlog's window follows the queueing delay its acknowledgements show (backfill_delay,
# 250 ms: agent/pace.c), two or three ~13 KB messages against a bandwidth-delay product
# of 19 KB. Unpaced (backfill_delay = 0) a live message waits behind the whole window
# (31 messages, ~400 KB: ~13 s at 32,000 B/s); smaller messages shorten the wait.
TUNED=("backfill_delay = 0"
       "message_readings = 10")
[ -x "$BIN/ganzhi-agent" ] && [ -x "$BIN/tests/tool_fill_store" ] || fail "run make first"
: > "$OUT"

# link NAME TARGET [--KEY VALUE...]: a linkemu to 127.0.0.1:TARGET; its port in
# LINK_NAME, its control port in CTL_NAME.
link() {
    local name=$1 target=$2 port ctl; shift 2
    port=$(free_port); ctl=$(free_port)
    start_link "$name" "$port" "$target" "$ctl" "$@"
    eval "LINK_$name=$port CTL_$name=$ctl"
}
stats() { local v="CTL_$1"; "$PY" "$ROOT/tests/linkemu.py" ctl "${!v}" stats; }
stored() { sqlite3 "$1" 'select coalesce(max(seq0+n-1), 0) from batch'; }

# ---- 1. bytes per reading, each profile -------------------------------------------
log "1. bytes on the wire per reading, each profile (demo site, ${WINDOW_A} s)"
make_pki
SIM=$(free_port); MQ=$(free_port); MQS=$(free_port)
start_sim "$SIM"
start_broker one "$MQ" "listener $MQS 127.0.0.1" "cafile $P/ca.pem" "certfile $P/server.pem" \
    "keyfile $P/server.key" "require_certificate true" "tls_version tlsv1.2"
wait_for 10 port_open "$MQS" || fail "TLS listener"
PROFILES=(generic hazchem fireworks tailings coal tls)
sections=()
for p in "${PROFILES[@]}"; do
    if [ "$p" = tls ]; then
        link "$p" "$MQS"
        sections+=("[uplink $p]
url = mqtts://localhost:$(eval echo \$LINK_$p)
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/client.key
topic_prefix = $p")
    else
        link "$p" "$MQ"
        sections+=("[uplink $p]
url = mqtt://127.0.0.1:$(eval echo \$LINK_$p)
profile = $p
topic_prefix = $p")
    fi
done
mkdir -p "$T/a"
INTERVAL=1s write_agent_conf "$T/a/agent.conf" "$SIM" "${sections[@]}"
sed -i -e "s|^data_dir = .*|data_dir = $T/a/data|" -e 's/^status_interval = .*/status_interval = 10s/' \
    -e '/^commit_interval/d' "$T/a/agent.conf"
# The demo table carries hazchem's and fireworks' columns; coal's and a tailings item
# are added (as tests/e2e_profiles.sh does).
"$PY" - "$T/a/points/tank_farm.csv" <<'PY'
import csv, sys
path = sys.argv[1]
rows = list(csv.DictReader(l for l in open(path, encoding="utf-8").read().splitlines()
                           if not l.startswith("#")))
fields = list(rows[0]) + ["point_code", "sensor_type", "location", "item"]
with open(path, "w", encoding="utf-8", newline="") as f:
    w = csv.DictWriter(f, fields, lineterminator="\n")
    w.writeheader()
    for i, r in enumerate(rows):
        r.update(point_code=f"22010200000101MN0043{i:04d}", sensor_type="0043", location=r["name"],
                 item="tank" + r["equip_code"][-1])
        w.writerow(r)
PY
"$BIN/ganzhi" check -c "$T/a/agent.conf" > "$T/a/check.out" 2>&1 || { cat "$T/a/check.out"; fail "check (profiles)"; }
start_agent "$T/a/agent.conf"
sleep 6     # connected, /points and the first polls sent
for p in "${PROFILES[@]}"; do stats "$p" > "$T/a/$p.0"; done
n0=$(stored "$T/a/data/store.db"); t0=$(date +%s.%N)
sleep "$WINDOW_A"
for p in "${PROFILES[@]}"; do stats "$p" > "$T/a/$p.1"; done
n1=$(stored "$T/a/data/store.db"); t1=$(date +%s.%N)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent (profiles) exit $?"
"$PY" - "$T/a" "$n0" "$n1" "$t0" "$t1" "${PROFILES[@]}" <<'PY' | tee -a "$OUT"
import json, sys
d, n0, n1, t0, t1, *profiles = sys.argv[1:]
n = int(n1) - int(n0)
secs = float(t1) - float(t0)
print(f"bytes on the wire per reading (TCP payload: the MQTT packets, counted at the proxy), the demo "
      f"site: {n} readings stored in {secs:.1f} s ({n / secs:.1f} readings/s), QoS 1, interval 1 s, "
      f"status every 10 s")
print(f"  {'profile':<22} {'up B/reading':>13} {'down B/reading':>15} {'total':>7}  {'B/s up':>7}")
for p in profiles:
    a = json.load(open(f"{d}/{p}.0")); b = json.load(open(f"{d}/{p}.1"))
    up, down = b["up"] - a["up"], b["down"] - a["down"]
    name = "generic over mqtts" if p == "tls" else p
    conns = "" if b["accepted"] == 1 else f"  ({b['accepted']} connections)"
    print(f"  {name:<22} {up / n:13.1f} {down / n:15.1f} {(up + down) / n:7.1f}  {up / secs:7.0f}{conns}")
with open(f"{d}/rate", "w") as f:
    f.write(f"{n / secs}\n")
PY
RATE_READINGS=$(cat "$T/a/rate")
stop_broker one

# ---- 2. a 1-hour backlog through 600 ms RTT and 256 kbit/s --------------------------
# drain NAME [setting lines]: one run; its figures in $T/NAME.out.
POINTS_H=36
INTERVAL_H=$("$PY" -c "import sys; print(round(86400000 * $POINTS_H / (float(sys.argv[1]) * 3600)))" "$RATE_READINGS")
"$BIN/tests/tool_fill_store" --dir "$T/template" --points "$POINTS_H" --interval-ms "$INTERVAL_H" --days 1 \
    --tag-prefix H --device history --csv "$T/history.csv" > "$T/fill.out" || fail "tool_fill_store"
HOUR=$(stored "$T/template/store.db")
drain() {
    local name=$1 extra=$2 mq dead
    mkdir -p "$T/$name/points"
    cp -r "$T/template" "$T/$name/data"
    cp "$T/history.csv" "$T/$name/points/"
    mq=$(free_port); dead=$(free_port)
    start_broker "b$name" "$mq" "max_queued_messages 0"
    link "$name" "$mq" --delay "$DELAY" --rate "$RATE"
    mosquitto_sub -h 127.0.0.1 -p "$mq" -t ganzhi/220102000001/realtime -q 1 -F '%U %p' \
        > "$T/$name/live.sub" 2> /dev/null &
    PIDS+=($!)
    mosquitto_sub -h 127.0.0.1 -p "$mq" -t ganzhi/220102000001/resend -q 1 -F '%U %p' \
        > "$T/$name/resend.sub" 2> /dev/null &
    PIDS+=($!)
    sleep 0.5
    INTERVAL=1s write_agent_conf "$T/$name/agent.conf" "$SIM" "[device history]
driver = modbus-tcp
host = 127.0.0.1
port = $dead
interval = 1h
timeout = 200ms
points = points/history.csv" "[uplink county]
url = mqtt://127.0.0.1:$(eval echo \$LINK_$name)
override.topic.resend = {prefix}/resend
$(printf '%s' "$extra" | tr '|' '\n')"
    sed -i -e "s|^data_dir = .*|data_dir = $T/$name/data|" -e 's/^status_interval = .*/status_interval = 10s/' \
        -e '/^commit_interval/d' "$T/$name/agent.conf"
    "$BIN/ganzhi" check -c "$T/$name/agent.conf" > "$T/$name/check.out" 2>&1 || { cat "$T/$name/check.out"; fail "check $name"; }
    start_agent "$T/$name/agent.conf"
    wait_for 15 grep -q "re-uploading a backlog" "$T/agent.log" || { tail "$T/agent.log"; fail "$name: no drain"; }
    sleep 8     # past the connect and the first window's fill
    stats "$name" > "$T/$name/s0"; echo "$(date +%s.%N)" > "$T/$name/t0"
    sleep "$WINDOW_B"
    stats "$name" > "$T/$name/s1"; echo "$(date +%s.%N)" > "$T/$name/t1"
    kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
    mv "$T/agent.log" "$T/$name/agent.log"
    stop_broker "b$name"
    "$PY" - "$T/$name" "$RATE" "$HOUR" "$extra" <<'PY' > "$T/$name.out"
import datetime, json, sys
d, rate, hour, extra = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s0, s1 = json.load(open(d + "/s0")), json.load(open(d + "/s1"))
t0, t1 = float(open(d + "/t0").read()), float(open(d + "/t1").read())
secs = t1 - t0
up, down = s1["up"] - s0["up"], s1["down"] - s0["down"]
util = up / (secs * rate)
def window(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        t, _, body = line.rstrip("\n").partition(" ")
        if t0 <= float(t) <= t1:
            yield float(t), json.loads(body)
lat = sorted(t - datetime.datetime.fromisoformat(r["ts"]).timestamp()
             for t, m in window(d + "/live.sub") for r in m["readings"] if r["device"] == "tank_plc")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
back = sum(len(m["readings"]) for _, m in window(d + "/resend.sub"))
per = back / secs
p99 = q(.99)
conns = "" if s1["accepted"] == 1 else f"  ({s1['accepted']} connections)"
live = (f"live p50 {q(.5):5.2f} s p99 {p99:5.2f} s max {lat[-1]:5.2f} s {'PASS' if p99 < 5 else 'MISS'}"
        if lat else f"live: none arrived within the window, all later than {secs:.0f} s     MISS")
print(f"  {' + '.join(extra.split('|')) if extra else 'defaults':<45} {100 * util:5.1f} % "
      f"{'PASS' if util >= 0.9 else 'MISS'}   {live}   backlog {per:4.0f} readings/s, an hour's in {hour / per / 60 if per else 0:4.1f} min"
      f"{conns}")
print(f"    ({up} B up, {down} B down in {secs:.1f} s; {len(lat)} live readings, {back} re-sent)")
PY
}
log "2. a 1-hour backlog ($HOUR readings) through ${DELAY} s each way, $RATE B/s each way, ${WINDOW_B} s of its drain"
drain defaults ""
k=0
for extra in "${TUNED[@]}"; do
    k=$((k + 1))
    drain "tuned$k" "$extra"
done
{
    echo "a 1-hour backlog of the demo site ($HOUR readings: $("$PY" -c "print(f'{float(\"$RATE_READINGS\"):.1f}')") readings/s x 3600 s, by tool_fill_store) drained"
    echo "  through 600 ms RTT and 256 kbit/s each way, the demo site polled at 1 s meanwhile;"
    echo "  goals: link utilisation >= 90 %, live p99 < 5 s"
    echo "  settings                                      utilisation        live latency                                  backlog"
    cat "$T/defaults.out"
    for i in $(seq 1 $k); do cat "$T/tuned$i.out"; done
} | tee -a "$OUT"
