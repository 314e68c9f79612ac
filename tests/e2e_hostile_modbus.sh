#!/bin/bash
# Hostile Modbus TCP peers (tests/hostile_modbus.py), each on a port of its own,
# all polled by one agent beside a healthy device (ganzhi-sim). For each peer the
# agent must survive, keep reading the healthy device, never take what the peer
# sends for a value, say what happened in status.json and in its log, and keep
# its memory bounded; when the peer turns healthy, its device must come back.
#  garbage         random bytes for a reply: bad_replies, the connection reopened
#  len65535        an MBAP header with length 65535, then nothing: bad_replies
#  len65535_flood  the same, then bytes without end: bad_replies, drained_bytes
#  other_tid       a valid reply for another transaction: foreign_replies, timeouts
#  other_unit      a valid reply from another unit: foreign_replies, timeouts
#  drip            a valid reply, one byte every 50 ms: read, values right
#  drip_garbage    a plausible header, then a byte every 50 ms without end: each
#                  request still ends at its timeout (the whole wait is bounded)
#  half_open       accepts, then never reads nor answers: timeouts, reconnects
#  stop_after      5 good replies on each connection, then dead (a PLC rebooted
#                  behind a NAT): the dead connection given up, a new one served
# and over RTU framing (modbus-rtu-tcp, a serial device server), where there is
# no header to tell a reply's length and no transaction id:
#  rtu_garbage     noise: dropped, counted, the connection kept
#  rtu_drip        a valid reply, a byte every 50 ms: read whole
#  rtu_drip_garbage  a random byte every 50 ms without end: bounded waits
#  rtu_flood       random bytes without end, never quiet: the drain after an
#                  error is bounded too
#  rtu_half_open   accepts, never reads nor answers: timeouts, reconnects
#  rtu_stop_after  5 good replies a connection, then dead: a new one served
# The agent's VmRSS is sampled every second of the hostile phase; every reading
# reaches a broker, where what was taken and when is checked.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HOSTILE_S=${HOSTILE_S:-15}
# Each case is checked whatever became of the others: the failures are listed
# together at the end of the hostile phase.
FAILS=()

# device name -> the peer's mode, and the device's timeout
CASES="garbage:garbage:500ms len65535:len65535:500ms len65535_flood:len65535-flood:500ms
other_tid:other-tid:500ms other_unit:other-unit:500ms drip:drip:2s
drip_garbage:drip-garbage:1s half_open:half-open:500ms stop_after:stop-after:5:500ms
rtu_garbage:garbage:500ms rtu_drip:drip:2s rtu_drip_garbage:drip-garbage:1s
rtu_flood:flood:500ms rtu_half_open:half-open:500ms rtu_stop_after:stop-after:5:500ms"

SP=$(free_port); MQ=$(free_port)
start_sim "$SP" --static
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"

mkdir -p "$T/points"
# The farm's table, every point stored at every poll (deadband 0).
"$PY" - "$ROOT/conf/demo/points/tank_farm.csv" "$T/points/farm.csv" <<'PYEOF'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1], encoding="utf-8")) if r and not r[0].startswith("#")]
i = rows[0].index("deadband")
for r in rows[1:]:
    r[i] = "0"
csv.writer(open(sys.argv[2], "w", encoding="utf-8", newline="")).writerows(rows)
PYEOF
{
    echo "[agent]"
    echo "enterprise_code = 220102000001"
    echo "gateway_code = GW01"
    echo "data_dir = $T/data"
    echo "status_interval = 1s"
    echo "commit_interval = 100ms"
    echo
    echo "[uplink county]"
    echo "url = mqtt://127.0.0.1:$MQ"
    echo
    echo "[device healthy]"
    echo "driver = modbus-tcp"
    echo "host = 127.0.0.1"
    echo "port = $SP"
    echo "interval = 200ms"
    echo "timeout = 500ms"
    echo "points = $T/points/farm.csv"
} > "$T/agent.conf"
PEER_ARGS=()
: > "$T/ctl.hostile"
for c in $CASES; do
    name=${c%%:*}; rest=${c#*:}; mode=${rest%:*}; timeout=${rest##*:}
    port=$(free_port)
    PEER_ARGS+=("$port=healthy")
    echo "$port $mode" >> "$T/ctl.hostile"
    echo "$name $port $mode" >> "$T/cases"
    printf 'tag,name,area,address,type,order,scale,offset,unit,deadband\n%s-A,%s A,holding,0,uint16,,,,,0\n%s-B,%s B,holding,1,uint16,,,,,0\n' \
        "$name" "$name" "$name" "$name" > "$T/points/$name.csv"
    driver=modbus-tcp
    if [ "${name#rtu_}" != "$name" ]; then
        driver=modbus-rtu-tcp
        PEER_ARGS+=(--rtu "$port")
    fi
    printf '\n[device %s]\ndriver = %s\nhost = 127.0.0.1\nport = %s\nunit_id = 1\n' "$name" "$driver" "$port" >> "$T/agent.conf"
    printf 'interval = 200ms\ntimeout = %s\nbackoff_max = 1s\npoints = %s\n' "$timeout" "$T/points/$name.csv" >> "$T/agent.conf"
done
"$BIN/ganzhi" check -c "$T/agent.conf" > /dev/null || { "$BIN/ganzhi" check -c "$T/agent.conf"; fail "ganzhi check"; }

echo "* healthy" > "$T/ctl"
"$PY" "$ROOT/tests/hostile_modbus.py" --control "$T/ctl" --seed 7 "${PEER_ARGS[@]}" > "$T/peer.log" 2>&1 &
PIDS+=($!)
for p in $(awk '{ print $2 }' "$T/cases"); do
    wait_for 10 port_open "$p" || fail "the hostile peer did not listen on $p"
done

# check.py STATUS EXPR [BEFORE]: python over s (status), devs and links by device
# name; with BEFORE, d(name, key) and dl(name, key) are the changes since then.
cat > "$T/check.py" <<'PYEOF'
import json, sys
ports = {l.split()[0]: l.split()[1] for l in open(sys.argv[4])}
def load(p):
    s = json.load(open(p))
    devs = {d["name"]: d for d in s["devices"]}
    links = {}
    for l in s["links"]:
        for n, port in ports.items():
            if l["link"] in ("tcp 127.0.0.1:" + port, "rtu-tcp 127.0.0.1:" + port):
                links[n] = l
    return s, devs, links
s, devs, links = load(sys.argv[1])
if sys.argv[3]:
    o, odevs, olinks = load(sys.argv[3])
d = lambda n, k: devs[n][k] - odevs[n][k]
dl = lambda n, k: links[n][k] - olinks[n][k]
ok = eval(sys.argv[2])
if not ok:
    print("not so:", sys.argv[2])
    for n in sorted(set(ports) | {"healthy"}):
        if n in devs:
            print(" ", n, {k: devs[n][k] for k in ("link", "requests", "errors_comm", "errors_reply", "rtt_ms")},
                  {k: v for k, v in links.get(n, {}).items() if k not in ("link", "devices")})
sys.exit(0 if ok else 1)
PYEOF
echo "healthy $SP" >> "$T/cases"
check() { "$PY" "$T/check.py" "$T/data/status.json" "$1" "${2:-}" "$T/cases"; }
status_wait() { wait_for 20 check "$1" > /dev/null 2>&1 || { check "$1"; tail -20 "$T/agent.log"; fail "$2"; }; }
ALL=$(awk '{ print "\"" $1 "\"" }' "$T/cases" | paste -sd,)

# values_good NAME...: the latest stored readings of each hostile device are the
# peer's healthy values (4321, 4322), quality good.
values_good() {
    "$BIN/ganzhi" tail -c "$T/agent.conf" --once > "$T/tail.txt" || return 1
    local n
    for n in "$@"; do
        grep -Eq "^$n-A +4321 +- +good " "$T/tail.txt" && grep -Eq "^$n-B +4322 +- +good " "$T/tail.txt" \
            || { echo "$n: not 4321, 4322 good"; return 1; }
    done
}

start_agent "$T/agent.conf"
status_wait "all(devs[n]['link'] == 'up' and devs[n]['requests'] >= 3 for n in ($ALL))" \
    "not every device was read while every peer was healthy"
NAMES=$(awk '$1 != "healthy" { print $1 }' "$T/cases")
wait_for 10 values_good $NAMES > /dev/null || { values_good $NAMES; cat "$T/tail.txt"; fail "values while healthy"; }

log "hostile phase: $HOSTILE_S s, every peer misbehaving in its own way"
cp "$T/ctl.hostile" "$T/ctl"
T_HOSTILE=$(date +%s.%N)
# Every second: the agent alive, its VmRSS, and the healthy device's newest seq.
: > "$T/samples"
for i in $(seq 1 "$HOSTILE_S"); do
    sleep 1
    kill -0 "$AGENT_PID" 2>/dev/null || { tail -30 "$T/agent.log"; fail "the agent died in the hostile phase"; }
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status")
    seq=$("$BIN/ganzhi" tail -c "$T/agent.conf" --once LT-101 | awk '$1 == "LT-101" { print $NF }')
    q=$("$BIN/ganzhi" tail -c "$T/agent.conf" --once LT-101 | awk '$1 == "LT-101" { print $2 " " $4 }')
    echo "$i $rss $seq $q" >> "$T/samples"
    # The counters from a report written after every peer had turned hostile.
    [ "$i" = 2 ] && cp "$T/data/status.json" "$T/before.json"
done
cp "$T/data/status.json" "$T/after.json"
T_END=$(date +%s.%N)
echo "second  VmRSS(kB)  healthy LT-101 seq, value, quality"
cat "$T/samples"

"$PY" - "$T/samples" "$(awk '$1 == "LT-101" { print $2 }' "$T/sim-values.txt")" "${SANITIZE:-}" <<'PYEOF' || FAILS+=("memory or the healthy device in the store (above)")
import sys
rows = [l.split() for l in open(sys.argv[1])]
rss = [int(r[1]) for r in rows]
seqs = [int(r[2]) for r in rows]
warm = 5    # the first seconds: connections, buffers and SQLite's cache settle
growth = max(rss[warm:]) - rss[warm - 1]
print("VmRSS after warm-up: %d kB, at most %d kB: grew %d kB" % (rss[warm - 1], max(rss[warm:]), growth))
# (A sanitizer build keeps freed memory in quarantine: its figure is printed, not judged.)
assert sys.argv[3] or growth <= 3 * 1024, "the agent's memory grew by %d kB in the hostile phase" % growth
stalls = [i for i in range(1, len(seqs)) if seqs[i] <= seqs[i - 1]]
assert not stalls, "no new reading of the healthy device between seconds %s" % stalls
assert all(r[3] == sys.argv[2] and r[4] == "good" for r in rows), "the healthy device's LT-101 was not always right"
PYEOF

# hostile NAME EXPR WHAT: a check over the hostile phase (d, dl: its changes).
hostile() {
    if "$PY" "$T/check.py" "$T/after.json" "$2" "$T/before.json" "$T/cases"; then
        echo "ok $1: $3"
    else
        echo "FAIL $1: $3"; FAILS+=("$1: $3")
    fi
}
# logged NAME WORDS: the agent's log says WORDS of device NAME.
logged() {
    if grep -E "device\[$1\]: .*$2" "$T/agent.log" > /dev/null; then
        echo "ok $1: logged '$2'"
    else
        grep "device\[$1\]" "$T/agent.log" | tail -3
        echo "FAIL $1: the log does not say '$2'"; FAILS+=("$1: the log does not say '$2'")
    fi
}
# na NAME: its polls failed (and were told as failed: down), not one taken.
na() { echo "d('$1', 'errors_comm') + d('$1', 'errors_reply') >= 3 and devs['$1']['link'] == 'down'"; }

# What reached the broker: the healthy device's readings every second of the
# phase, right; no hostile device's reading good in the phase (but the drip's),
# and the 0xDEAD the foreign replies carry never taken for a value, ever.
sleep 1
"$PY" - "$T/one.sub" "$T_HOSTILE" "$T_END" "$T/sim-values.txt" <<'PYEOF'
import datetime, json, sys
t0, t1 = float(sys.argv[2]) + 1.0, float(sys.argv[3])   # a second for requests in flight at the switch
want = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[4])}
by = {}
for line in open(sys.argv[1]):
    for r in json.loads(line)["readings"]:
        r["t"] = datetime.datetime.fromisoformat(r["ts"]).timestamp()
        by.setdefault(r["device"], []).append(r)
bad = []
for dev, rs in sorted(by.items()):
    phase = [r for r in rs if t0 <= r["t"] <= t1]
    good = [r for r in phase if r["quality"] == "good"]
    print("%-15s %4d readings in the phase, %4d good" % (dev, len(phase), len(good)))
    dead = [r for r in rs if r["value"] == 0xDEAD]
    if dead:
        bad.append("%s: a foreign reply's value taken: %s" % (dev, dead[0]))
    if dev == "healthy":
        lt = sorted(r["t"] for r in good if r["tag"] == "LT-101")
        gaps = [b - a for a, b in zip([t0] + lt, lt + [t1]) if b - a > 1.0]
        if gaps or len(good) != len(phase):
            bad.append("healthy: gaps %s, %d readings not good" % (gaps, len(phase) - len(good)))
        wrong = [r for r in good if abs(r["value"] - want[r["tag"]]) > 1e-6 * max(1, abs(want[r["tag"]]))]
        if wrong:
            bad.append("healthy: wrong values %s" % wrong[:3])
    elif dev in ("drip", "stop_after", "rtu_drip", "rtu_stop_after"):
        if len(good) < 4 or any(r["value"] != 4321 + (r["tag"][-1] == "B") for r in good):
            bad.append("%s: not read right in the phase" % dev)
    else:
        # comm_fail is stored when the quality changes: each tag's last word
        # before the phase ended must be comm_fail, and nothing good since.
        last = {}
        for r in rs:
            if r["t"] <= t1:
                last[r["tag"]] = r["quality"]
        if good or sorted(last.values()) != ["comm_fail", "comm_fail"]:
            bad.append("%s: %d good readings in the phase, the last: %s" % (dev, len(good), last))
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
PYEOF
[ $? = 0 ] || FAILS+=("what reached the broker (above)")
check_seq "$T/one.sub" || FAILS+=("seqs at the broker")

hostile healthy 'd("healthy", "requests") >= 5 * '"$HOSTILE_S"' and d("healthy", "errors_comm") + d("healthy", "errors_reply") == 0 and devs["healthy"]["link"] == "up"' \
    "the healthy device kept being read without an error"

hostile garbage "$(na garbage) and dl('garbage', 'bad_replies') >= 3 and dl('garbage', 'drained_bytes') >= 15 and dl('garbage', 'connects') >= 2" \
    "garbage: bad replies, drained, the connection reopened, no value taken"
logged garbage "no answer \(holding 2@0: not a Modbus TCP reply \(protocol [0-9]+, length [0-9]+\)\)"

for n in len65535 len65535_flood; do
    hostile $n "$(na $n) and dl('$n', 'bad_replies') >= 3 and dl('$n', 'drained_bytes') >= 7 * dl('$n', 'bad_replies') and dl('$n', 'connects') >= 2 and dl('$n', 'timeouts') == 0" \
        "length 65535: refused at once as a bad reply (no timeout), the connection reopened"
    logged $n "not a Modbus TCP reply \(protocol 0, length 65535\)"
done

for n in other_tid other_unit; do
    hostile $n "$(na $n) and dl('$n', 'foreign_replies') >= 3 and dl('$n', 'timeouts') >= 3 and dl('$n', 'bad_replies') == 0" \
        "valid replies for another transaction or unit: discarded as foreign, never taken"
    logged $n "no reply within 500 ms \([0-9]+ repl(y|ies) for another transaction or unit discarded\)"
done

hostile drip 'd("drip", "requests") >= 4 and d("drip", "errors_comm") + d("drip", "errors_reply") == 0 and devs["drip"]["link"] == "up" and devs["drip"]["rtt_ms"] >= 500 and dl("drip", "connects") == 0' \
    "a reply dripped a byte every 50 ms: read whole, the connection kept"
values_good drip || FAILS+=("drip: the dripped reply's values")

hostile drip_garbage "$(na drip_garbage) and d('drip_garbage', 'requests') >= 4 and dl('drip_garbage', 'timeouts') >= 4 and devs['drip_garbage']['rtt_ms'] < 1400 and dl('drip_garbage', 'connects') >= 1 and dl('drip_garbage', 'drained_bytes') >= 20" \
    "an endless drip: every request still ends at its 1 s timeout (the bus is not held), the stuck frame given up"
logged drip_garbage "no reply within 1000 ms \(an incomplete frame: [0-9]+ of its 260 bytes came\)"

hostile half_open "$(na half_open) and dl('half_open', 'timeouts') >= 3 and dl('half_open', 'connects') >= 2 and dl('half_open', 'disconnects') >= 1" \
    "a half-open connection: timeouts, then given up and reopened"
logged half_open "no reply within 500 ms, even on a new connection"

hostile stop_after 'dl("stop_after", "connects") >= 2 and dl("stop_after", "timeouts") >= 3 and d("stop_after", "requests") - d("stop_after", "errors_comm") >= 8' \
    "a connection that died after good replies: given up, a new one read"
logged stop_after "no answer \(holding 2@0: no reply within 500 ms\)"
logged stop_after "answering again after 3 failed polls"

hostile rtu_garbage "$(na rtu_garbage) and dl('rtu_garbage', 'drained_bytes') >= 15 and dl('rtu_garbage', 'connects') == 0" \
    "RTU noise: dropped and counted, no value taken, the connection kept"
logged rtu_garbage "no answer \(holding 2@0: (incomplete reply|no valid reply|no reply within 500 ms)"

hostile rtu_drip 'd("rtu_drip", "requests") >= 4 and d("rtu_drip", "errors_comm") + d("rtu_drip", "errors_reply") == 0 and devs["rtu_drip"]["link"] == "up" and devs["rtu_drip"]["rtt_ms"] >= 400 and dl("rtu_drip", "connects") == 0' \
    "an RTU reply dripped a byte every 50 ms: read whole"
values_good rtu_drip || FAILS+=("rtu_drip: the dripped reply's values")

# A request's wait (1 s) and the drain after it (bounded by the timeout too).
hostile rtu_drip_garbage "$(na rtu_drip_garbage) and d('rtu_drip_garbage', 'requests') >= 4 and devs['rtu_drip_garbage']['rtt_ms'] < 2500 and dl('rtu_drip_garbage', 'drained_bytes') >= 20" \
    "an endless RTU drip: every request still ends (the bus is not held)"
logged rtu_drip_garbage "no answer \(holding 2@0: (incomplete reply|no valid reply|no reply within 1000 ms)"

# Never quiet: the wait, the drain after it and the one before the next
# request, each bounded by the 500 ms timeout.
hostile rtu_flood "$(na rtu_flood) and d('rtu_flood', 'requests') >= 4 and devs['rtu_flood']['rtt_ms'] < 2500 and dl('rtu_flood', 'drained_bytes') >= 10000" \
    "RTU bytes without end: every request and drain still ends (the bus is not held)"
logged rtu_flood "no answer \(holding 2@0: (incomplete reply|no valid reply)"

hostile rtu_half_open "$(na rtu_half_open) and dl('rtu_half_open', 'timeouts') >= 3 and dl('rtu_half_open', 'connects') >= 2" \
    "a half-open RTU connection: timeouts, then given up and reopened"
logged rtu_half_open "no reply within 500 ms, even on a new connection"

hostile rtu_stop_after 'dl("rtu_stop_after", "connects") >= 2 and dl("rtu_stop_after", "timeouts") >= 3 and d("rtu_stop_after", "requests") - d("rtu_stop_after", "errors_comm") >= 8' \
    "an RTU connection that died after good replies: given up, a new one read"
logged rtu_stop_after "answering again after 3 failed polls"

[ ${#FAILS[@]} = 0 ] || { printf 'FAIL: %s\n' "${FAILS[@]}"; tail -20 "$T/agent.log"; fail "${#FAILS[@]} check(s) of the hostile phase"; }

log "every peer healthy again"
echo "* healthy" > "$T/ctl"
status_wait "all(devs[n]['link'] == 'up' for n in ($ALL))" "not every device came back when its peer turned healthy"
wait_for 15 values_good $NAMES > /dev/null || { values_good $NAMES; cat "$T/tail.txt"; fail "values after the peers turned healthy"; }
kill -0 "$AGENT_PID" || fail "the agent died"
"$BIN/ganzhi" status -c "$T/agent.conf" | sed 's/^/    /'
echo "PASS"
