#!/bin/bash
# Decoding against an independent implementation: a pymodbus server whose register
# image is built in Python with struct (tests/pymodbus_server.py), never with
# Ganzhi's encoder, so that our encoder and decoder cannot be wrong together.
#  1. every type (bool, int16..uint64, float32, float64, bit:N) x every order
#     (ABCD, DCBA, BADC, CDAB) x several values, edge values included, plus scaled
#     points: `ganzhi read` (--json and text) equals the values computed in Python.
#  2. the simulator's own table served twice, by ganzhi-sim --static and by pymodbus
#     (encoding ganzhi-sim --values itself): `ganzhi read` gives identical output.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import pymodbus' 2>/dev/null || { echo "SKIP: pymodbus not installed for $PY"; exit 77; }

# start_pymodbus NAME PORT [options]: tests/pymodbus_server.py, until "listening".
start_pymodbus() {
    local name=$1 port=$2; shift 2
    "$PY" "$ROOT/tests/pymodbus_server.py" --port "$port" "$@" > "$T/$name.log" 2>&1 &
    PIDS+=($!)
    wait_for 15 grep -q '^listening' "$T/$name.log" || { cat "$T/$name.log"; fail "pymodbus server $name did not start"; }
}

# device_conf FILE PORT POINTS: one modbus-tcp device "plc" on PORT.
device_conf() {
    cat > "$1" <<EOF
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = $T/data

[device plc]
driver = modbus-tcp
host = 127.0.0.1
port = $2
timeout = 2s
points = $3
EOF
    "$BIN/ganzhi" check -c "$1" || fail "ganzhi check refused $1"
}

# read_both CONF NAME: $T/NAME.json and $T/NAME.txt from `ganzhi read`.
read_both() {
    "$BIN/ganzhi" read -c "$1" plc --json > "$T/$2.json" || fail "ganzhi read --json ($2) failed"
    "$BIN/ganzhi" read -c "$1" plc > "$T/$2.txt" || fail "ganzhi read ($2) failed"
}

log "1. contract table from pymodbus"
P1=$(free_port)
start_pymodbus contract "$P1" --out-dir "$T/contract"
head -1 "$T/contract.log"
device_conf "$T/contract/agent.conf" "$P1" points.csv
read_both "$T/contract/agent.conf" contract
"$PY" "$ROOT/tests/pymodbus_check.py" contract "$T/contract/expected.txt" "$T/contract.json" "$T/contract.txt" \
    || fail "ganzhi read of the pymodbus contract table differs from the values computed in Python (above)"

log "2. the simulator's table, from ganzhi-sim and from pymodbus"
"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"
P2=$(free_port); P3=$(free_port)
start_sim "$P2" --static
start_pymodbus fromsim "$P3" --from-sim "$T/sim.csv" "$T/sim-values.txt"
head -1 "$T/fromsim.log"
device_conf "$T/sim.conf" "$P2" "$T/sim.csv"
device_conf "$T/pym.conf" "$P3" "$T/sim.csv"
read_both "$T/sim.conf" sim
read_both "$T/pym.conf" pym
if ! diff -u --label ganzhi-sim --label pymodbus "$T/sim.txt" "$T/pym.txt"; then
    fail "ganzhi read differs between ganzhi-sim and pymodbus serving the same table (diff above)"
fi
"$PY" "$ROOT/tests/pymodbus_check.py" same "$T/sim.json" "$T/pym.json" \
    || fail "ganzhi read --json differs between ganzhi-sim and pymodbus (above)"
echo "PASS"
