#!/bin/bash
# DTUs that dial in (4G DTUs behind the carrier's NAT): the agent listens, a DTU
# (ganzhi-sim --dial) connects, registers, sends heartbeats, and carries RTU
# frames for the two sensors behind it.
#  1. both devices behind DTU GZ-DTU-0001 are read, values right, heartbeats
#     (some inside replies) stripped and counted, no reply errors; the device
#     behind DTU GZ-DTU-0002, which never dials in, is comm_fail.
#  2. a stranger (unknown registration) and a silent connection are refused and
#     counted; the refusal is logged with the peer's address.
#  3. the DTU drops and dials again: the link takes the new connection, the
#     devices answer again.
#  4. a second DTU with the same registration id: each dial replaces the other's
#     connection; counted and warned; the agent keeps running, and once the
#     impostor (serving other values) is gone, the genuine DTU's values are read.
#  5. the DTU goes away: its devices go comm_fail; when it dials again they are
#     polled at once, not after their backoff.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"
L=$(free_port)
# table UNIT: the first level and temperature points of the farm, prefixed.
table() { { head -2 "$T/sim.csv" | tail -1; sed -n '3,5p;6,7p' "$T/sim.csv" | sed "s/^/$1-/"; } > "$T/$1.csv"; }
table A; table B; table C
cat > "$T/agent.conf" <<EOF
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = $T/data
status_interval = 1s
commit_interval = 100ms
dtu_register_timeout = 700ms

# Two sensors behind one 4G DTU, which dials in.
[device a]
driver = modbus-rtu-tcp
listen = 127.0.0.1:$L
dtu = GZ-DTU-0001
heartbeat = hex:FE01
unit_id = 1
interval = 200ms
timeout = 1s
backoff_max = 20s
points = $T/A.csv

[device b]
driver = modbus-rtu-tcp
listen = 127.0.0.1:$L
dtu = GZ-DTU-0001
heartbeat = hex:FE01
unit_id = 2
interval = 200ms
timeout = 1s
backoff_max = 20s
points = $T/B.csv

# A DTU that never dials in.
[device c]
driver = modbus-rtu-tcp
listen = 127.0.0.1:$L
dtu = GZ-DTU-0002
unit_id = 1
interval = 200ms
timeout = 1s
points = $T/C.csv
EOF
"$BIN/ganzhi" check -c "$T/agent.conf" > /dev/null || fail "ganzhi check refused the DTU configuration"

cat > "$T/status_wait.py" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
devs = {d["name"]: d for d in s["devices"]}
lst = s.get("dtu_listeners", [{}])[0]
bus = {l["link"]: l for l in s["links"]}
dtu1 = [l for l in s["links"] if "GZ-DTU-0001" in l["link"]][0]
sys.exit(0 if eval(sys.argv[2]) else 1)
PYEOF
status_wait() {
    wait_for "${3:-20}" "$PY" "$T/status_wait.py" "$T/data/status.json" "$1" 2>/dev/null \
        || { cat "$T/data/status.json"; echo; tail -20 "$T/agent.log"; fail "$2"; }
}
# values_ok PREFIX...: the latest readings of each prefixed table are the farm's values.
values_ok() {
    "$BIN/ganzhi" tail -c "$T/agent.conf" --once > "$T/tail.txt" || fail "ganzhi tail"
    local p tag want
    for p in "$@"; do
        for tag in LT-101 LT-102 LT-103 TT-101 TT-102; do
            want=$(awk -v t=$tag '$1 == t { print $2 }' "$T/sim-values.txt")
            grep -Eq "^$p-$tag +$want( |$)" "$T/tail.txt" || { cat "$T/tail.txt"; fail "$p-$tag is not $want"; }
        done
    done
}
start_dtu() {  # NAME [options]: a DTU dialling the agent
    local name=$1; shift
    "$BIN/ganzhi-sim" --dial "127.0.0.1:$L" --units 1,2 --static --redial-wait 0.2 "$@" \
        2> "$T/$name.log" &
    PIDS+=($!)
    eval "${name}_PID=$!"
}

start_agent "$T/agent.conf"
wait_for 10 grep -q "listening for DTUs on 127.0.0.1:$L" "$T/agent.log" || { cat "$T/agent.log"; fail "the agent does not listen"; }

log "1. the DTU dials in: both sensors read, heartbeats stripped"
: > "$T/ctl"
echo "heartbeat-inside 20" > "$T/ctl"
start_dtu dtu --register GZ-DTU-0001 --heartbeat hex:FE01 --heartbeat-interval 0.05 --control "$T/ctl"
status_wait 'devs["a"]["link"] == "up" and devs["b"]["link"] == "up" and devs["a"]["requests"] >= 10 and dtu1["heartbeats"] >= 10' \
    "the devices behind the DTU were not read, or no heartbeat was stripped"
values_ok A B
cp "$T/data/status.json" "$T/status-1.json"
sleep 2.5
"$PY" - "$T/status-1.json" "$T/data/status.json" <<'PYEOF' || fail "errors on the DTU's link (above)"
import json, sys
s0 = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
devs0 = {d["name"]: d for d in s0["devices"]}
devs = {d["name"]: d for d in s["devices"]}
for n in ("a", "b"):
    # (before the DTU dialled in, polls failed: they are not counted here)
    assert devs[n]["requests"] >= devs0[n]["requests"] + 5, (devs0[n], devs[n])
    assert devs[n]["errors_reply"] == 0 and devs[n]["errors_comm"] == devs0[n]["errors_comm"], devs[n]
assert devs["c"]["link"] == "down" and devs["c"]["errors_comm"] >= 1, devs["c"]
l = [l for l in s["links"] if "GZ-DTU-0001" in l["link"]][0]
print("DTU link:", l)
assert l["crc_errors"] == 0 and l["bad_replies"] == 0 and l["foreign_replies"] == 0, l
print("listener:", s["dtu_listeners"][0])
PYEOF
grep -Eq "^C-LT-101 .*comm_fail" "$T/tail.txt" || { cat "$T/tail.txt"; fail "device c (its DTU never dialled) is not comm_fail"; }
grep -q "GZ-DTU-0002 has not dialled in" "$T/agent.log" || fail "the log does not say which DTU has not dialled in"
kill -USR1 "$dtu_PID"; sleep 0.3
grep 'stats dial' "$T/dtu.log" | tail -1 | grep -Eq 'heartbeats_inside=[1-9]' || { tail -3 "$T/dtu.log"; fail "no heartbeat fell inside a reply: the test tests nothing"; }

log "2. a stranger and a silent connection are refused"
"$PY" - "$L" <<'PYEOF' || fail "refusals"
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"WHO-ARE-YOU")
s.settimeout(3); assert s.recv(10) == b"", "a stranger must be closed"
q = socket.create_connection(("127.0.0.1", port))
q.settimeout(3); t = time.monotonic(); assert q.recv(10) == b""
print("silent connection closed after %.2f s" % (time.monotonic() - t))
PYEOF
status_wait 'lst["refused_unknown"] >= 1 and lst["refused_timeout"] >= 1' "the refusals were not counted"
"$BIN/ganzhi" status -c "$T/agent.conf" > "$T/status.txt" || fail "ganzhi status"
grep -Eq "^DTU listener 127.0.0.1:$L: [0-9]+ registered \(0 replaced\), refused: [1-9][0-9]* unknown, [1-9][0-9]* silent" "$T/status.txt" \
    || { cat "$T/status.txt"; fail "ganzhi status does not show the listener's refusals"; }
grep -Eq "connection from 127.0.0.1:[0-9]+ on 127.0.0.1:$L refused: a registration packet no device names \(received WHO-ARE-YOU\)" "$T/agent.log" \
    || { grep dtu "$T/agent.log"; fail "the stranger's refusal was not logged with its address and packet"; }

log "3. the DTU drops and dials again"
c0=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print([l for l in s["links"] if "GZ-DTU-0001" in l["link"]][0]["connects"])' "$T/data/status.json")
r0=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print({d["name"]: d for d in s["devices"]}["a"]["requests"])' "$T/data/status.json")
echo "drop" > "$T/ctl"
status_wait "dtu1['connects'] > $c0 and devs['a']['requests'] > $r0 + 10 and devs['a']['link'] == 'up'" \
    "the link did not move to the DTU's new connection"
: > "$T/ctl"
values_ok A B

log "4. an impostor with the same registration id"
# It serves a different plant (not --static: values move) on units 1 and 2.
"$BIN/ganzhi-sim" --dial "127.0.0.1:$L" --units 1,2 --register GZ-DTU-0001 --redial-wait 0.3 \
    --seed 7 2> "$T/impostor.log" &
IMP=$!
PIDS+=($IMP)
status_wait 'lst["replaced"] >= 4' "two DTUs with one id did not replace each other's connections"
kill "$IMP"; wait "$IMP" 2>/dev/null
grep -q "dialled in again: its new connection replaces the old" "$T/agent.log" || fail "no warning for a DTU replaced"
kill -0 "$AGENT_PID" || fail "the agent died"
# The genuine DTU is back alone: its values, from its own connection.
sleep 1.5
status_wait 'devs["a"]["link"] == "up" and devs["b"]["link"] == "up"' "the genuine DTU was not read again"
values_ok A B

log "5. the DTU goes away, and comes back: polled at once"
kill "$dtu_PID"; wait "$dtu_PID" 2>/dev/null
status_wait 'devs["a"]["link"] == "down" and devs["a"]["quarantined"]' "the devices of a DTU that went away are not down"
sleep 13    # the backoff has grown to 12.8 s (200 ms doubling, capped at 20 s)
start_dtu dtu2 --register GZ-DTU-0001 --heartbeat hex:FE01 --heartbeat-interval 1
t0=$(date +%s.%N)
status_wait 'devs["a"]["link"] == "up" and devs["b"]["link"] == "up"' "the devices did not answer after the DTU came back" 10
t1=$(date +%s.%N)
"$PY" -c "import sys; d = $t1 - $t0; print('back in %.1f s' % d); sys.exit(0 if d < 3 else 1)" \
    || fail "the devices waited out their backoff after their DTU dialled in"
"$BIN/ganzhi" tail -c "$T/agent.conf" --once > "$T/tail.txt"
grep -Eq "^A-LT-101 .*comm_fail" "$T/tail.txt" && { cat "$T/tail.txt"; fail "A-LT-101 still comm_fail"; }
echo "PASS"
