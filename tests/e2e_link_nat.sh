#!/bin/bash
# The MQTT uplink behind a carrier-grade NAT that forgets a connection idle for
# NAT_IDLE (5 s): tests/linkemu.py between the agent and mosquitto, the site's data
# quiet (ganzhi-sim --static, every point with a deadband it never moves by, the
# heartbeat a minute away, status messages an hour apart), so that only the MQTT
# keepalive crosses the link.
#  a. keepalive 2 s, shorter than the NAT's timeout: after 2 x NAT_IDLE of quiet the
#     link has carried nothing but keepalive pings, the NAT forgot nothing, the
#     proxy saw one connection, and a reading taken after the quiet (a register
#     written through Modbus) arrives over it.
#  b. keepalive 8 s, longer: the NAT forgets the connection silently, a reading
#     taken then is published into the void (the proxy drops its bytes); the agent
#     notices by the keepalive (no PINGRESP: connection lost), connects again (the
#     proxy sees a second connection), and the durable subscriber gets every seq,
#     that reading too.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
NAT_IDLE=5

# stat CONTROL EXPR: EXPR of the proxy's stats s (a dict), e.g. "s['accepted']".
stat() {
    "$PY" "$ROOT/tests/linkemu.py" ctl "$1" stats |
        "$PY" -c 'import json, sys; s = json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}
# set_level VALUE: LT-101 (holding 0, 0.001 m) written through Modbus: a new reading.
set_level() {
    "$PY" - "$SIM" "$1" <<'PY' || fail "cannot write LT-101"
import sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1]))
c.connect()
assert not c.write_register(0, round(float(sys.argv[2]) * 1000), slave=1).isError()
c.close()
PY
}
got_level() { grep -q "\"tag\":\"LT-101\",[^}]*\"value\":$2," "$T/$1.sub"; }
readings() { "$PY" "$ROOT/tests/check_messages.py" count "$T/$1.sub" 2>/dev/null || echo 0; }
# agent_conf PART KEEPALIVE LINK_PORT: the demo device at a 1 s interval (heartbeat
# 60 s), deadbands no static value moves by, its own data_dir and topic prefix.
agent_conf() {
    INTERVAL=1s write_agent_conf "$T/$1.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$3
keepalive = $2
reconnect_max = 1s
topic_prefix = nat_$1"
    sed -i -e "s|^data_dir = .*|data_dir = $T/data_$1|" -e 's|^status_interval = .*|status_interval = 1h|' \
        "$T/$1.conf"
    "$PY" - "$T/points/tank_farm.csv" <<'PY'
import csv, sys
path = sys.argv[1]
lines = [l for l in open(path, encoding="utf-8").read().splitlines() if not l.startswith("#")]
rows = list(csv.DictReader(lines))
with open(path, "w", encoding="utf-8", newline="") as f:
    w = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        r["deadband"] = "1"
        w.writerow(r)
PY
    "$BIN/ganzhi" check -c "$T/$1.conf" > "$T/$1.check" 2>&1 || { cat "$T/$1.check"; fail "check $1"; }
}
# all_delivered PART: every seq from 1 to the last stored arrived at the subscriber.
all_delivered() {
    check_seq "$T/$1.sub" || fail "part $1: seqs missing"
    local stored got
    stored=$(sqlite3 "$T/data_$1/store.db" 'select max(seq0+n-1) from batch')
    got=$("$PY" -c "
import json, sys
s = [r['seq'] for l in open(sys.argv[1]) if l.strip() for r in json.loads(l)['readings']]
print(min(s), max(s))" "$T/$1.sub")
    [ "$got" = "1 $stored" ] || fail "part $1: stored 1..$stored, received $got"
}

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ"
POINTS=$(grep -vc -e '^#' -e '^tag,' "$ROOT/conf/demo/points/tank_farm.csv")

log "a. keepalive 2 s behind a NAT that forgets after ${NAT_IDLE} s idle"
LA=$(free_port); CA=$(free_port)
start_link a "$LA" "$MQ" "$CA" --nat-idle "$NAT_IDLE"
subscribe a "$MQ" nat_a/realtime
agent_conf a 2s "$LA"
start_agent "$T/a.conf"
wait_for 15 eval '[ "$(readings a)" -ge "$POINTS" ]' || { tail "$T/agent.log"; fail "a: the first poll did not arrive"; }
sleep 1
up0=$(stat "$CA" "s['up']")
log "a: $(readings a) readings arrived; $((2 * NAT_IDLE + 1)) s of quiet"
sleep $((2 * NAT_IDLE + 1))
read -r acc forg up1 < <(stat "$CA" "s['accepted'], s['forgotten'], s['up']" | tr -d '(),')
log "a: after the quiet: connections $acc, forgotten by the NAT $forg, $((up1 - up0)) bytes sent (keepalive pings, 2 bytes each)"
[ "$(readings a)" = "$POINTS" ] || fail "a: the data was not quiet: $(readings a) readings, not $POINTS"
# Quiet: nothing but PINGREQs (2 bytes every keepalive): else the test shows nothing
# about the keepalive.
[ $((up1 - up0)) -gt 0 ] && [ $((up1 - up0)) -le 24 ] || fail "a: $((up1 - up0)) bytes crossed the link in the quiet: not only pings"
[ "$forg" = 0 ] || fail "a: the NAT forgot the connection although keepalive 2 s < ${NAT_IDLE} s"
set_level 4.321
wait_for 10 got_level a 4.321 || { tail "$T/agent.log"; fail "a: the reading taken after the quiet did not arrive"; }
read -r acc forg < <(stat "$CA" "s['accepted'], s['forgotten']" | tr -d '(),')
[ "$acc" = 1 ] && [ "$forg" = 0 ] || fail "a: $acc connections, $forg forgotten: the connection did not survive"
grep -q "connection lost" "$T/agent.log" && fail "a: the agent lost its connection"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "a: agent exit $?"
all_delivered a
log "a: one connection throughout, the reading after the quiet arrived over it"

log "b. keepalive 8 s behind the same NAT"
mv "$T/agent.log" "$T/agent-a.log"
LB=$(free_port); CB=$(free_port)
start_link b "$LB" "$MQ" "$CB" --nat-idle "$NAT_IDLE"
subscribe b "$MQ" nat_b/realtime
agent_conf b 8s "$LB"
start_agent "$T/b.conf"
wait_for 15 eval '[ "$(readings b)" -ge "$POINTS" ]' || { tail "$T/agent.log"; fail "b: the first poll did not arrive"; }
wait_for $((NAT_IDLE + 5)) eval '[ "$(stat "$CB" "s[\"forgotten\"]")" = 1 ]' || fail "b: the NAT never forgot the idle connection"
t_forgot=$(date +%s.%N)
[ "$(stat "$CB" "s['accepted']")" = 1 ] || fail "b: a second connection before the NAT forgot the first"
log "b: the NAT forgot the connection; a new reading now goes into the void"
set_level 5.432
wait_for 10 eval '[ "$(stat "$CB" "s[\"dropped\"]")" -gt 0 ]' || fail "b: the agent sent nothing after the NAT forgot"
got_level b 5.432 && fail "b: the reading crossed a forgotten connection (the NAT emulation is broken)"
# Detection takes up to twice the keepalive after the last byte received (a PINGREQ
# at 8 s, no PINGRESP by 16 s); a reconnect then is immediate.
wait_for 30 eval '[ "$(stat "$CB" "s[\"accepted\"]")" -ge 2 ]' || { tail "$T/agent.log"; fail "b: the agent never noticed the dead connection"; }
t_again=$("$PY" "$ROOT/tests/linkemu.py" ctl "$CB" stats | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["conns"][1]["t_accept"])')
wait_for 10 got_level b 5.432 || { tail "$T/agent.log"; fail "b: the reading sent into the void was not sent again"; }
grep -q "connection lost" "$T/agent.log" || fail "b: no 'connection lost' in the log"
grep "uplink\[county\]" "$T/agent.log" | grep -E "lost|connected" | sed 's/^/    /'
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "b: agent exit $?"
all_delivered b
"$PY" -c "import sys; print(f'--- b: second connection {float(sys.argv[2]) - float(sys.argv[1]):.1f} s after the NAT forgot the first; every seq delivered')" \
    "$t_forgot" "$t_again"
echo PASS
