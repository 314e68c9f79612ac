#!/bin/bash
# RTU over TCP against an independent peer: pymodbus serving RTU frames (CRC and
# all) inside a TCP socket, as a serial device server or a DTU in transparent
# mode carries them, with two unit ids behind the one socket: unit 1 the
# contract table (every type x every order, values computed in Python), unit 2
# the simulator's table.
#  1. `ganzhi read` of each unit over driver = modbus-rtu-tcp gives the values
#     pymodbus serves (for the contract table: the values computed in Python).
#  2. the agent polls both devices as one bus: status shows one link with two
#     devices, both answering, no reply errors, one connection only.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import pymodbus' 2>/dev/null || { echo "SKIP: pymodbus not installed for $PY"; exit 77; }

"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"
P=$(free_port)
"$PY" "$ROOT/tests/pymodbus_server.py" --port "$P" --rtu --out-dir "$T/contract" \
    --from-sim "$T/sim.csv" "$T/sim-values.txt" > "$T/pymodbus.log" 2>&1 &
PIDS+=($!)
wait_for 15 grep -q '^listening' "$T/pymodbus.log" || { cat "$T/pymodbus.log"; fail "pymodbus did not start"; }
head -1 "$T/pymodbus.log"

cat > "$T/contract/agent.conf" <<EOF
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = $T/data
status_interval = 1s

# A serial device server: two sensors on its RS-485 side.
[device contract]
driver = modbus-rtu-tcp
host = 127.0.0.1
port = $P
unit_id = 1
interval = 300ms
timeout = 2s
points = points.csv

[device tank]
driver = modbus-rtu-tcp
host = 127.0.0.1
port = $P
unit_id = 2
interval = 300ms
timeout = 2s
points = $T/sim.csv
EOF
"$BIN/ganzhi" check -c "$T/contract/agent.conf" || fail "ganzhi check refused the RTU-over-TCP configuration"

log "1. ganzhi read of both units over RTU framing"
"$BIN/ganzhi" read -c "$T/contract/agent.conf" contract --json > "$T/contract.json" || fail "read contract --json"
"$BIN/ganzhi" read -c "$T/contract/agent.conf" contract > "$T/contract.txt" || fail "read contract"
"$PY" "$ROOT/tests/pymodbus_check.py" contract "$T/contract/expected.txt" "$T/contract.json" "$T/contract.txt" \
    || fail "RTU over TCP: the contract table differs from the values computed in Python (above)"
"$BIN/ganzhi" read -c "$T/contract/agent.conf" tank > "$T/tank.txt" || fail "read tank"
# The simulator's table, served by pymodbus at unit 2, read as ganzhi-sim serves it.
PS=$(free_port)
start_sim "$PS" --static --units 2
sed -e "s/^driver = modbus-rtu-tcp/driver = modbus-tcp/" -e "s/^port = $P/port = $PS/" \
    "$T/contract/agent.conf" > "$T/contract/tcp.conf"
"$BIN/ganzhi" read -c "$T/contract/tcp.conf" tank > "$T/tank-sim.txt" || fail "read tank from ganzhi-sim"
diff -u --label "pymodbus unit 2 over RTU/TCP" --label "ganzhi-sim over Modbus TCP" \
    "$T/tank.txt" "$T/tank-sim.txt" || fail "unit 2 over RTU framing differs from the simulator's table"

log "2. the agent: two units, one socket, one bus"
start_agent "$T/contract/agent.conf"
ok() {
    "$PY" - "$T/data/status.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
devs = {d["name"]: d for d in s["devices"]}
assert all(devs[n]["requests"] >= 3 and devs[n]["link"] == "up" for n in ("contract", "tank")), devs
links = s["links"]
assert len(links) == 1 and links[0]["devices"] == 2, links
PYEOF
}
wait_for 20 ok 2>/dev/null || { cat "$T/agent.log"; cat "$T/data/status.json"; fail "the agent did not poll both units on one bus"; }
"$PY" - "$T/data/status.json" <<'PYEOF' || fail "link figures (above)"
import json, sys
s = json.load(open(sys.argv[1]))
l = s["links"][0]
print("link:", l)
for d in s["devices"]:
    assert d["errors_comm"] == 0 and d["errors_reply"] == 0, d
    assert d["bus"].startswith("rtu-tcp 127.0.0.1:"), d
assert l["connects"] == 1 and l["disconnects"] == 0, "one connection, kept"
assert l["crc_errors"] == 0 and l["foreign_replies"] == 0 and l["timeouts"] == 0, l
PYEOF
grep -q "2 devices share one bus: rtu-tcp 127.0.0.1:$P" "$T/agent.log" || { cat "$T/agent.log"; fail "the agent did not say the two devices share one bus"; }
echo "PASS"
