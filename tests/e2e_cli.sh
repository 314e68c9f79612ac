#!/bin/bash
# The programs' command lines: --help and --version everywhere (exit 0), bad
# usage exit 2, `ganzhi check` exit 0 on a good configuration and 2 with every
# error as FILE:LINE: message on a bad one, and a notice (exit 0) for a point
# table it read as GB 18030, `ganzhi read` on a device that does not answer
# exits 1, `ganzhi scan --host HOST:PORT` finds the simulator's unit, `ganzhi
# status` summarises the agent's report (--json: the report itself) and warns
# when it is stale, and SIGHUP with a bad configuration keeps the agent running
# on the old one while a good one is applied.
source "$(dirname "$0")/lib.sh"

for prog in ganzhi ganzhi-agent ganzhi-sim; do
    "$BIN/$prog" --help > "$T/help" || fail "$prog --help exit $?"
    grep -qi usage "$T/help" || fail "$prog --help says no usage"
    "$BIN/$prog" --version | grep -q "$prog 0\." || fail "$prog --version"
    "$BIN/$prog" --no-such-option > /dev/null 2>&1; rc=$?
    [ "$rc" = 2 ] || fail "$prog with a bad option exits $rc, not 2"
done

"$BIN/ganzhi" check -c "$ROOT/conf/demo/agent.conf" || fail "demo configuration refused"

log "a configuration with several mistakes: all reported, each with FILE:LINE"
mkdir -p "$T/bad/points"
cat > "$T/bad/points/p.csv" <<'CSV'
tag,area,address,type
LT-1,holding,0,uint16
LT-1,holding,1,flaot32
LT-3,coils,2,uint16
CSV
cat > "$T/bad/agent.conf" <<'INI'
[agent]
enterprise_code = 220102000001
gateway_code = GW01
data_dir = /tmp/x

[device d1]
driver = modbus-tcp
host = 127.0.0.1
port = 70000
intervall = 1s
points = points/p.csv

[uplink u]
url = http://example
INI
"$BIN/ganzhi" check -c "$T/bad/agent.conf" > "$T/check.out" 2>&1; rc=$?
cat "$T/check.out"
[ "$rc" = 2 ] || fail "check exit $rc on a bad configuration"
for want in "agent.conf:9: " "agent.conf:10: " "agent.conf:14: " "p.csv:3: " "p.csv:4: "; do
    grep -q "$want" "$T/check.out" || fail "no error at $want"
done
grep -q "did you mean 'interval'" "$T/check.out" || fail "no hint for the misspelt key"

log "a point table saved by Excel on a Chinese Windows (GBK): read, with a notice"
mkdir -p "$T/gbk/points"
printf 'tag,area,address,type,name,unit\nLT-101,holding,0,uint16,1\xBA\xC5\xB4\xA2\xB9\xDE\xD2\xBA\xCE\xBB,m\n' \
    > "$T/gbk/points/p.csv"
printf '[agent]\nenterprise_code = 1\ngateway_code = G\ndata_dir = %s\n[device d]\ndriver = modbus-tcp\nhost = 127.0.0.1\npoints = points/p.csv\n' \
    "$T/gbk/data" > "$T/gbk/agent.conf"
"$BIN/ganzhi" check -c "$T/gbk/agent.conf" > "$T/check_gbk.out" 2>&1; rc=$?
cat "$T/check_gbk.out"
[ "$rc" = 0 ] || fail "check of a GBK point table exits $rc, not 0"
[ "$(grep -c "points/p.csv: notice: read as GB 18030" "$T/check_gbk.out")" = 1 ] \
    || fail "check does not say once that it read the table as GB 18030"
sed -i 's/^\[device d\]/points_charset = utf-8\n&/' "$T/gbk/agent.conf"
"$BIN/ganzhi" check -c "$T/gbk/agent.conf" > "$T/check_gbk.out" 2>&1; rc=$?
cat "$T/check_gbk.out"
[ "$rc" = 2 ] || fail "check with points_charset = utf-8 of a GBK table exits $rc, not 2"
grep -q "points/p.csv:2: not valid UTF-8" "$T/check_gbk.out" || fail "no FILE:LINE for the GBK line"

log "ganzhi read of a device that does not answer"
CLOSED=$(free_port)
mkdir -p "$T/dead/points"
printf 'tag,area,address,type\nX-1,holding,0,uint16\n' > "$T/dead/points/p.csv"
printf '[agent]\nenterprise_code = 1\ngateway_code = G\ndata_dir = %s\n[device d]\ndriver = modbus-tcp\nhost = 127.0.0.1\nport = %s\npoints = points/p.csv\n' \
    "$T/dead/data" "$CLOSED" > "$T/dead/agent.conf"
"$BIN/ganzhi" read -c "$T/dead/agent.conf" d > "$T/read.out" 2>&1; rc=$?
cat "$T/read.out"
[ "$rc" = 1 ] || fail "read of a dead device exits $rc, not 1"
grep -q "X-1 - - comm_fail" "$T/read.out" || fail "no comm_fail line"
"$BIN/ganzhi" read -c "$T/dead/agent.conf" nosuch > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "read of an unknown device exits $rc, not 2"

log "SIGHUP: a bad configuration is refused and the running one kept; a good one applied"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static

log "ganzhi scan --host HOST:PORT (the port written with the host), and both ports refused"
"$BIN/ganzhi" scan --host "127.0.0.1:$SIM" --units 1-3 --timeout 200ms > "$T/scan.out" 2>&1; rc=$?
cat "$T/scan.out"
[ "$rc" = 0 ] || fail "scan --host 127.0.0.1:$SIM exits $rc"
grep -q "on 127.0.0.1:$SIM," "$T/scan.out" || fail "scan did not go to 127.0.0.1:$SIM"
grep -q "^unit   1: answers" "$T/scan.out" || fail "scan --host HOST:PORT did not find unit 1"
"$BIN/ganzhi" scan --host "127.0.0.1:$SIM" --port "$SIM" > "$T/scan2.out" 2>&1; rc=$?
[ "$rc" = 2 ] || fail "scan with the port given twice exits $rc, not 2"
grep -q "port is given twice" "$T/scan2.out" || fail "no usage error for two ports"

start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ"
cp "$T/agent.conf" "$T/agent.conf.good"
start_agent "$T/agent.conf"
wait_for 10 test -s "$T/one.sub" || fail "nothing published"

log "ganzhi status: a summary for people, --json the report as one document"
wait_for 10 test -s "$T/data/status.json" || fail "no status.json"
"$BIN/ganzhi" status -c "$T/agent.conf" > "$T/status.out" 2>&1 || fail "status exit $?"
cat "$T/status.out"
grep -q "^ganzhi-agent 0\.[0-9.]*, up .*; report written [0-9]*s ago" "$T/status.out" \
    || fail "status: no version, uptime and age of the report"
grep -q "^  tank_plc *link up *rtt *[0-9.]* ms  errors: comm 0" "$T/status.out" \
    || fail "status: no device line with link, rtt and errors"
grep -q "^  county *connected *tcp://127.0.0.1:$MQ  backlog [0-9]*, oldest pending [^,]*, lost 0" \
    "$T/status.out" || fail "status: no uplink line with server, backlog, oldest, lost"
grep -q "^store: [1-9][0-9]* readings committed, 0 dropped" "$T/status.out" \
    || fail "status: no store line"
grep -q "WARNING" "$T/status.out" && fail "status: a fresh report called stale"
"$BIN/ganzhi" status -c "$T/agent.conf" --json > "$T/status.json" || fail "status --json exit $?"
/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["devices"][0]["name"] == "tank_plc" and s["devices"][0]["link"] == "up", s
assert s["uplinks"][0]["name"] == "county" and "backlog" in s["uplinks"][0], s
assert s["store"]["committed"] > 0, s
' "$T/status.json" || fail "status --json is not the report"
echo "nonsense line" >> "$T/agent.conf"
kill -HUP "$AGENT_PID"
sleep 1
kill -0 "$AGENT_PID" || fail "agent died on a bad reload"
grep -q "reload refused" "$T/agent.log" || fail "bad reload not reported"
grep -q "agent.conf:[0-9]*: " "$T/agent.log" || fail "bad reload error has no FILE:LINE"
n1=$(/usr/bin/python3 "$ROOT/tests/check_messages.py" count "$T/one.sub")
sleep 1.5
n2=$(/usr/bin/python3 "$ROOT/tests/check_messages.py" count "$T/one.sub")
[ "$n2" -gt "$n1" ] || fail "publishing stopped after a refused reload"
sed 's/^interval = .*/interval = 100ms/' "$T/agent.conf.good" > "$T/agent.conf"
kill -HUP "$AGENT_PID"
wait_for 10 grep -q "info agent: reloaded" "$T/agent.log" || fail "good reload not applied"
sleep 2
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
check_seq "$T/one.sub" || fail "seqs across reloads"

log "ganzhi status of a stopped agent: the report's age, and a warning"
touch -d '-20 seconds' "$T/data/status.json"
"$BIN/ganzhi" status -c "$T/agent.conf" > "$T/status.out" 2>&1 || fail "status exit $?"
cat "$T/status.out"
grep -q "report written 2[0-9]s ago" "$T/status.out" || fail "status: the report's age not said"
grep -q "^WARNING: the report is 2[0-9]s old, more than 3 x status_interval" "$T/status.out" \
    || fail "status: no warning for a stale report"
"$BIN/ganzhi" status -c "$T/agent.conf" --json 2> "$T/status.err" | /usr/bin/python3 -m json.tool > /dev/null \
    || fail "status --json of a stale report is not one JSON document"
grep -q "warning: the report is" "$T/status.err" || fail "status --json: no warning on stderr"
echo PASS
