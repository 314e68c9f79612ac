#!/bin/bash
# `ganzhi uplink` and `ganzhi queue` against real peers.
# (a) uplink: a plain broker (exit 0, a round trip), a port where nothing listens
#     (exit 1, "refused"), a TLS broker requiring client certificates with the
#     right ones (exit 0, TLS details, our certificate's days to expiry, "key
#     matches"), a client key that does not match its certificate, a broker
#     certificate that does not name the host or is signed by another CA, no
#     client certificate, a second URL tried when the first refuses, and a broker
#     with a password file given a wrong password (exit 1, "authentication");
#     nothing secret is printed; an unknown uplink is bad usage (exit 2).
# (b) queue: the agent runs against ganzhi-sim while its broker is stopped: the
#     queue shows readings waiting and the age of the oldest; --watch shows the
#     drain when the broker returns; afterwards nearly nothing waits and nothing
#     was lost; --json parses; a missing store exits 1.
source "$(dirname "$0")/lib.sh"
G=$BIN/ganzhi

SIM=$(free_port); PLAIN=$(free_port); TLS=$(free_port); PW=$(free_port); CLOSED=$(free_port)
MQ=$(free_port)
log "making a CA, a server certificate for localhost and a client certificate"
CLIENT_DAYS=40 make_pki    # our certificate: 40 days; the broker's: 2
openssl genrsa -out "$P/other.key" 2048 2>/dev/null || fail "other key"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Some Other CA" \
    -keyout "$P/otherca.key" -out "$P/otherca.pem" 2>/dev/null || fail "other CA"
chmod 600 "$P"/*.key

start_sim "$SIM" --static
start_broker tls "$PLAIN" \
    "listener $TLS 127.0.0.1" "cafile $P/ca.pem" "certfile $P/server.pem" \
    "keyfile $P/server.key" "require_certificate true" "tls_version tlsv1.2"
wait_for 10 port_open "$TLS" || fail "TLS listener"
mosquitto_passwd -b -c "$T/passwd" gw01 right-password || fail "mosquitto_passwd"
start_broker pw "$PW" "password_file $T/passwd" "allow_anonymous false"

SECRET=wrong-S3cret-pw
write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink plain]
url = mqtt://localhost:$PLAIN" \
"[uplink refused]
url = mqtt://127.0.0.1:$CLOSED" \
"[uplink tls]
url = mqtts://localhost:$TLS
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/client.key" \
"[uplink badkey]
url = mqtts://localhost:$TLS
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/other.key" \
"[uplink nocert]
url = mqtts://localhost:$TLS
ca_file = $P/ca.pem" \
"[uplink wrongname]
url = mqtts://127.0.0.1:$TLS
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/client.key" \
"[uplink wrongca]
url = mqtts://localhost:$TLS
ca_file = $P/otherca.pem
cert_file = $P/client.pem
key_file = $P/client.key" \
"[uplink failover]
url = mqtt://127.0.0.1:$CLOSED, mqtt://127.0.0.1:$PLAIN" \
"[uplink pw]
url = mqtt://127.0.0.1:$PW
username = gw01
password = $SECRET"
"$G" check -c "$T/agent.conf" || fail "the test configuration is refused"

# up NAME WANT_RC [args]: run `ganzhi uplink`, keep its output in $T/up-NAME.out
up() {
    local name=$1 want=$2; shift 2
    "$G" uplink -c "$T/agent.conf" "$name" "$@" > "$T/up-$name.out" 2>&1; local rc=$?
    sed "s/^/    /" "$T/up-$name.out"
    [ "$rc" = "$want" ] || fail "ganzhi uplink $name exits $rc, not $want"
}
has() { grep -qi -- "$2" "$T/up-$1.out" || fail "ganzhi uplink $1 does not say '$2'"; }

log "uplink: a plain broker"
subscribe test "$PLAIN" 'ganzhi/220102000001/test'
up plain 0
has plain "PUBACK after [0-9.]* ms"
has plain "round trip"
wait_for 5 test -s "$T/test.sub" || fail "the test message did not reach a subscriber"
/usr/bin/python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).readline()); assert m["test"] is True and m["gateway"]=="GW01" and m["ts"], m' \
    "$T/test.sub" || fail "test message body"
up plain 0 --no-publish
has plain "skipped"

log "uplink: nothing listens"
up refused 1
has refused "connection refused (nothing listens on 127.0.0.1:$CLOSED)"

log "uplink: failover to the second URL"
up failover 0
has failover "refused"
has failover "acknowledged by mqtt://127.0.0.1:$PLAIN"

log "uplink: TLS with the right certificates"
up tls 0
has tls "TLSv1.2"
has tls "broker certificate"
has tls "subject   CN=localhost"
has tls "verified against ca_file; names localhost"
has tls "3[89] days to expiry"       # our client certificate: 40 days
has tls "[01] days\? to expiry"      # the broker's: 2 days
has tls "key matches"
has tls "requested and sent"
has tls "PUBACK after"

log "uplink: a client key that does not match its certificate"
up badkey 1
has badkey "does NOT match"
has badkey "requires a client certificate"

log "uplink: no client certificate where one is required"
up nocert 1
has nocert "the broker requires a client certificate"

log "uplink: a broker certificate that does not name the host dialled"
up wrongname 1
has wrongname "does not name 127.0.0.1"

log "uplink: a broker certificate from a CA that ca_file does not hold"
up wrongca 1
has wrongca "TLS handshake failed: the broker's certificate is not signed by ca_file"
has wrongca "NOT verified against ca_file"

log "uplink: a wrong password"
up pw 1
has pw "authentication"
has pw "not authorised"
for f in "$T"/up-*.out; do
    grep -q -- "$SECRET" "$f" && fail "$f shows the password"
    grep -q "PRIVATE KEY" "$f" && fail "$f shows key material"
done

log "uplink: bad usage"
"$G" uplink -c "$T/agent.conf" nosuch > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "unknown uplink exits $rc, not 2"
"$G" uplink -c "$T/agent.conf" > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "no uplink name exits $rc, not 2"

log "queue: no store yet"
"$G" queue -c "$T/agent.conf" > "$T/q0.out" 2>&1; rc=$?
cat "$T/q0.out"
[ "$rc" = 1 ] || fail "queue without a store exits $rc, not 1"
"$G" queue -c "$T/agent.conf" --watch x > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "queue with a bad option exits $rc, not 2"

log "queue: the agent runs, its broker goes away"
start_broker q "$MQ"
INTERVAL=100ms write_agent_conf "$T/q.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 500ms
message_readings = 20
backfill_rate = 5
live_window = 2s"
start_agent "$T/q.conf"
qjson() { "$G" queue -c "$T/q.conf" --json > "$T/q.json" 2> "$T/q.err"; }
# field EXPR: a python expression over u (the county uplink) and q (the whole object)
field() {
    /usr/bin/python3 -c 'import json,sys; q=json.load(open(sys.argv[1])); u=q["uplinks"][0]; print(eval(sys.argv[2]))' "$T/q.json" "$1"
}
connected() { qjson && [ "$(field 'u["connected"] is True and u["waiting"] < 500')" = True ]; }
wait_for 20 connected || { cat "$T/agent.log"; fail "the agent did not connect"; }
"$G" queue -c "$T/q.conf" | sed 's/^/    /'
stop_broker q
sleep 6
"$G" queue -c "$T/q.conf" > "$T/q1.out" || fail "queue exit $?"
sed 's/^/    /' "$T/q1.out"
grep -q "county  *disconnected" "$T/q1.out" || {
    kill -0 "$AGENT_PID" 2>/dev/null && echo "(the agent process is alive)" || echo "(the agent process is gone)"
    tail -40 "$T/agent.log"; fail "queue does not show the uplink disconnected"; }
qjson || fail "queue --json exit $?"
cat "$T/q.json"
[ "$(field 'u["waiting"] > 300 and u["oldest_pending_ms"] >= 4000 and u["oldest_pending"] != None and u["connected"] is False and q["agent"]["running"] is True and u["drain_s"] is None')" = True ] \
    || fail "queue during the outage: want readings waiting, an oldest age, not connected, no drain estimate"
waiting_down=$(field 'u["waiting"]')

log "queue: the broker returns; --watch follows the drain"
start_broker q "$MQ"
"$G" queue -c "$T/q.conf" --watch 1 > "$T/watch.out" 2>&1 &
WATCH=$!
PIDS+=($WATCH)
drained() { qjson && [ "$(field 'u["connected"] is True and u["caught_up"] and u["waiting"] <= max(100, 3 * q["store"]["ingest_rate"])')" = True ]; }
wait_for 60 drained || { cat "$T/q.json"; fail "the backlog did not drain"; }
sleep 1.5
kill -INT "$WATCH"; wait "$WATCH"; rc=$?
[ "$rc" = 0 ] || fail "queue --watch ended by Ctrl-C exits $rc, not 0"
sed 's/^/    /' "$T/watch.out" | tail -12
grep -qE "county \[#+\] 100 %" "$T/watch.out" || fail "the watch never showed the backlog delivered"
grep -qE "county \[[#.]+\] +[0-9]+ %  waiting [0-9]+ +oldest [0-9]+[smhd]" "$T/watch.out" || fail "watch lines"
grep -q "ETA [0-9]" "$T/watch.out" || fail "the watch never estimated a drain time"
grep -q "Ctrl-C" "$T/watch.out" || fail "watch header"
cat "$T/q.json"
[ "$(field 'u["lost"] == 0 and u["send_rate"] > 0')" = True ] || { grep -iE "evict|lost|cannot|disk" "$T/agent.log" | tail -20; fail "lost readings, or no send rate"; }
"$G" queue -c "$T/q.conf" | sed 's/^/    /'
log "the backlog of $waiting_down readings drained"

kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
echo PASS
