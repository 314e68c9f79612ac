#!/bin/bash
# Eight sensors behind one Modbus TCP->RTU gateway (ganzhi-sim --gateway: one
# serial line paced at 19200 baud, and it accepts ONE connection):
#  1. link = shared (the default): the eight devices share one connection and
#     one schedule: every unit is read, values right, the gateway saw no refused
#     connection and no overlapping requests.
#  2. a unit goes silent: the gateway answers exception 0x0B for it; only that
#     device is comm_fail (last_exception 11), the others keep answering, and
#     the shared connection is kept.
#  3. the gateway closes the connection after every reply: the agent reconnects
#     before the next request; every unit is still read.
#  4. link = own: the eight connections it replaces: the gateway refuses all but
#     one, and the devices behind the refused ones are not read.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"
PORT=$(free_port)
: > "$T/ctl"
start_sim "$PORT" --gateway --units 1,2,3,4,5,6,7,8 --max-clients 1 --gateway-timeout 150 \
    --baud 19200 --static --control "$T/ctl"

# conf FILE LINK: eight devices u1..u8 on the gateway, unit ids 1..8, each with
# the first three level points of the farm, tags prefixed with the unit.
conf() {
    {
        echo "[agent]"
        echo "enterprise_code = 220102000001"
        echo "gateway_code = GW01"
        echo "data_dir = $T/data-$2"
        echo "status_interval = 1s"
        echo "commit_interval = 100ms"
        for u in 1 2 3 4 5 6 7 8; do
            { head -2 "$T/sim.csv" | tail -1; sed -n '3,5p' "$T/sim.csv" | sed "s/^/U$u-/"; } > "$T/u$u.csv"
            echo
            echo "[device u$u]"
            echo "driver = modbus-tcp"
            echo "host = 127.0.0.1"
            echo "port = $PORT"
            echo "link = $2"
            echo "unit_id = $u"
            echo "interval = 200ms"
            echo "timeout = 1s"
            echo "backoff_max = 1s"
            echo "points = $T/u$u.csv"
        done
    } > "$1"
    "$BIN/ganzhi" check -c "$1" > /dev/null || fail "ganzhi check $1"
}

# status_wait DIR PYTHON WHAT: wait (up to 20 s) until the python expression over
# s (DIR/status.json) and devs (its devices by name) holds.
cat > "$T/status_wait.py" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
devs = {d["name"]: d for d in s["devices"]}
sys.exit(0 if eval(sys.argv[2]) else 1)
PYEOF
status_wait() {
    local dir=$1 expr=$2 what=$3
    wait_for 20 "$PY" "$T/status_wait.py" "$dir/status.json" "$expr" 2>/dev/null \
        || { cat "$dir/status.json"; echo; tail -20 "$T/agent.log"; fail "$what"; }
}

sim_stats() {
    kill -USR1 "$SIM_PID"; sleep 0.3
    grep 'stats line\|stats link' "$T/sim.log" | tail -2
}

log "1. link = shared: eight units, one connection"
conf "$T/shared.conf" shared
start_agent "$T/shared.conf"
status_wait "$T/data-shared" 'all(devs["u%d" % u]["requests"] >= 5 and devs["u%d" % u]["link"] == "up" for u in range(1, 9)) and len(s["links"]) == 1 and s["links"][0]["devices"] == 8' \
    "not every unit behind the gateway was read over one shared link"
grep -q "8 devices share one bus: tcp 127.0.0.1:$PORT" "$T/agent.log" || fail "the agent did not say the eight devices share one bus"
"$BIN/ganzhi" status -c "$T/shared.conf" > "$T/status.txt" || fail "ganzhi status"
grep -q "^  tcp 127.0.0.1:$PORT: 8 devices, open, 1 connection$" "$T/status.txt" \
    || { cat "$T/status.txt"; fail "ganzhi status does not show the shared link"; }
"$BIN/ganzhi" tail -c "$T/shared.conf" --once > "$T/tail.txt" || fail "ganzhi tail"
for u in 1 2 3 4 5 6 7 8; do
    for tag in LT-101 LT-102 LT-103; do
        want=$(awk -v t=$tag '$1 == t { print $2 }' "$T/sim-values.txt")
        grep -Eq "^U$u-$tag +$want( |$)" "$T/tail.txt" || { cat "$T/tail.txt"; fail "U$u-$tag is not $want"; }
    done
done
st=$(sim_stats)
echo "$st"
echo "$st" | grep -q 'overlaps=0 ' || fail "requests overlapped on the gateway's line"
echo "$st" | grep -q 'stats link .*refused=0 ' || fail "the gateway refused a connection of the shared link"

log "2. unit 5 goes silent: exception 0x0B, only u5 comm_fail"
echo "silent 5" > "$T/ctl"
status_wait "$T/data-shared" 'devs["u5"]["link"] == "down" and devs["u5"]["last_exception"] == 11 and devs["u5"]["errors_comm"] >= 2' \
    "u5 (silent behind the gateway) was not marked down with exception 11"
"$PY" - "$T/data-shared/status.json" <<'PYEOF' || fail "the other units or the link suffered from u5"
import json, sys
s = json.load(open(sys.argv[1]))
devs = {d["name"]: d for d in s["devices"]}
for u in (1, 2, 3, 4, 6, 7, 8):
    d = devs["u%d" % u]
    assert d["link"] == "up" and d["errors_comm"] == 0 and d["errors_reply"] == 0, d
l = s["links"][0]
assert l["connects"] == 1 and l["disconnects"] == 0, l
print("u5:", devs["u5"]["errors_comm"], "comm errors; link kept:", l)
PYEOF
"$BIN/ganzhi" tail -c "$T/shared.conf" --once > "$T/tail5.txt"
grep -E "^U5-LT-101 " "$T/tail5.txt" | grep -q comm_fail || { cat "$T/tail5.txt"; fail "U5's readings are not comm_fail"; }
grep -E "^U4-LT-101 " "$T/tail5.txt" | grep -q comm_fail && fail "U4's readings are comm_fail"

log "3. the gateway closes the connection after every reply"
printf 'close-after-reply on\nsilent 5\n' > "$T/ctl"
sleep 1
sum_of() { "$PY" -c 'import json,sys; print(sum(d[sys.argv[2]] for d in json.load(open(sys.argv[1]))["devices"] if d["name"] != "u5"))' "$T/data-shared/status.json" "$1"; }
req0=$(sum_of requests); err0=$(sum_of errors_comm)
status_wait "$T/data-shared" "s['links'][0]['connects'] >= 20 and all(devs['u%d' % u]['link'] == 'up' for u in (1, 2, 3, 4, 6, 7, 8))" \
    "the agent did not keep reading through a gateway closing after every reply"
"$PY" - "$T/data-shared/status.json" "$req0" "$err0" <<'PYEOF' || fail "requests failed because the gateway closed after replies"
import json, sys
s = json.load(open(sys.argv[1]))
devs = [d for d in s["devices"] if d["name"] != "u5"]
req = sum(d["requests"] for d in devs) - int(sys.argv[2])
err = sum(d["errors_comm"] for d in devs) - int(sys.argv[3])
print("connects:", s["links"][0]["connects"], "requests:", req, "failed:", err)
assert all(d["errors_reply"] == 0 for d in devs), devs
assert err == 0, "a request on a connection the gateway had closed must go out on a new one"
PYEOF
: > "$T/ctl"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"

log "4. link = own: eight connections to a one-connection gateway"
conf "$T/own.conf" own
start_agent "$T/own.conf"
sleep 4
"$PY" - "$T/data-own/status.json" <<'PYEOF' || fail "link = own should have shown the refused connections"
import json, sys
s = json.load(open(sys.argv[1]))
up = [d["name"] for d in s["devices"] if d["link"] == "up"]
down = [d["name"] for d in s["devices"] if d["link"] != "up"]
print("link = own: %d devices read, %d not: %s" % (len(up), len(down), " ".join(down)))
assert len(s["links"]) == 8, "one link per device"
assert len(down) >= 6, "a one-connection gateway cannot serve eight connections"
PYEOF
st=$(sim_stats)
echo "$st"
echo "$st" | grep -Eq 'stats link .*refused=[1-9]' || fail "the gateway refused no connection"
echo "PASS"
