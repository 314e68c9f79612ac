# lib.sh: helpers for the end-to-end tests: real peers (mosquitto, ganzhi-sim,
# the agent) on loopback ports chosen free at run time, all stopped on exit.
set -u
BUILD=${BUILD:-build}
# CI and test machines run as root; the agent refuses root unless told.
export GANZHI_ALLOW_ROOT=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/$BUILD
T=$(mktemp -d /tmp/ganzhi-test.XXXXXX)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    sleep 0.2
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
log() { echo "--- $*"; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
    local limit=$1; shift
    local end=$(( $(date +%s) + limit ))
    until "$@"; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_broker NAME PORT [extra mosquitto.conf lines]: a mosquitto of our own.
start_broker() {
    local name=$1 port=$2; shift 2
    mkdir -p "$T/$name"
    {
        echo "user root"
        echo "persistence true"
        echo "persistence_location $T/$name/"
        echo "listener $port 127.0.0.1"
        echo "allow_anonymous true"
        for line in "$@"; do echo "$line"; done
    } > "$T/$name/mosquitto.conf"
    mosquitto -c "$T/$name/mosquitto.conf" >> "$T/$name/log" 2>&1 &
    PIDS+=($!)
    eval "BROKER_PID_$name=$!"
    wait_for 10 port_open "$port" || fail "mosquitto $name did not start on $port"
}

stop_broker() {
    local var="BROKER_PID_$1"
    kill "${!var}" 2>/dev/null
    wait "${!var}" 2>/dev/null
}

# start_link NAME LISTEN TARGET CONTROL [--KEY VALUE...]: a WAN link emulator
# (tests/linkemu.py) from 127.0.0.1:LISTEN to TARGET, controlled on CONTROL.
start_link() {
    local name=$1 listen=$2 target=$3 control=$4; shift 4
    /usr/bin/python3 "$ROOT/tests/linkemu.py" serve --listen "$listen" --target "$target" \
        --control "$control" "$@" 2> "$T/$name.link.log" &
    PIDS+=($!)
    wait_for 10 grep -q ready "$T/$name.link.log" || { cat "$T/$name.link.log"; fail "linkemu $name"; }
}

# start_sim PORT [options]
start_sim() {
    local port=$1; shift
    "$BIN/ganzhi-sim" --port "$port" "$@" >> "$T/sim.log" 2>&1 &
    PIDS+=($!)
    SIM_PID=$!
    wait_for 10 port_open "$port" || fail "ganzhi-sim did not start on $port"
}

# subscribe NAME PORT TOPIC [mosquitto_sub options]: a durable QoS 1 subscriber
# whose messages go to $T/NAME.sub, one JSON message a line.
subscribe() {
    local name=$1 port=$2 topic=$3; shift 3
    mosquitto_sub -h 127.0.0.1 -p "$port" -t "$topic" -q 1 -c -i "sub-$name-$$" "$@" \
        >> "$T/$name.sub" 2>> "$T/$name.sub.err" &
    PIDS+=($!)
    sleep 0.5
}

start_agent() {
    "$BIN/ganzhi-agent" -c "$1" >> "$T/agent.log" 2>&1 &
    AGENT_PID=$!
    PIDS+=($AGENT_PID)
}

# write_agent_conf FILE SIM_PORT [uplink sections...]: the demo device, our data_dir.
write_agent_conf() {
    local file=$1 sim_port=$2; shift 2
    mkdir -p "$(dirname "$file")/points"
    cp "$ROOT/conf/demo/points/"*.csv "$(dirname "$file")/points/"
    {
        echo "[agent]"
        echo "enterprise_code = 220102000001"
        echo "gateway_code = GW01"
        echo "district_code = 220102"
        echo "data_dir = $T/data"
        echo "status_interval = 2s"
        echo "commit_interval = 100ms"
        echo
        echo "[device tank_plc]"
        echo "driver = modbus-tcp"
        echo "host = 127.0.0.1"
        echo "port = $sim_port"
        echo "interval = ${INTERVAL:-200ms}"
        echo "timeout = 500ms"
        echo "points = points/tank_farm.csv"
        for s in "$@"; do echo; printf '%s\n' "$s"; done
    } > "$file"
}

# check_seq FILE...: every message parses and the seqs form one contiguous range.
check_seq() {
    /usr/bin/python3 "$ROOT/tests/check_messages.py" seq "$@"
}

# make_pki: a throwaway CA in $P (ca.pem, ca.key), a server certificate for
# localhost and a client certificate for the demo gateway, keys mode 600.
# make_cert NAME SUBJECT SAN [DAYS]: one more certificate signed by that CA.
make_cert() {
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null
    printf 'subjectAltName=%s\n' "$3" > "$P/$1.ext"
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial \
        -days "${4:-2}" -extfile "$P/$1.ext" -out "$P/$1.pem" 2>/dev/null || fail "cert $1"
    chmod 600 "$P/$1.key"
}
make_pki() {
    P=$T/pki; mkdir -p "$P"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Ganzhi Test CA" \
        -keyout "$P/ca.key" -out "$P/ca.pem" 2>/dev/null || fail "CA"
    chmod 600 "$P/ca.key"
    make_cert server "/CN=localhost" "DNS:localhost" "${SERVER_DAYS:-2}"
    make_cert client "/CN=220102000001-GW01" "DNS:gw01" "${CLIENT_DAYS:-2}"
}
