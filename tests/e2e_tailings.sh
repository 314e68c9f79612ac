#!/bin/bash
# Tailings warning colours at the edge: four displacement points with blue,
# yellow, orange and red thresholds. All four at blue make the item yellow;
# two at orange make it red; back below every threshold, everything clears.
# The events reach a generic collector and a tailings-profile uplink, whose
# messages pass `ganzhi validate`.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ"
subscribe al "$MQ" 'gen/alarm'
subscribe tl "$MQ" 'tl/alarm'
mkdir -p "$T/points"
{
    echo "tag,name,area,address,type,scale,unit,item,blue,yellow,orange,red,hysteresis"
    for i in 0 1 2 3; do
        echo "WY-0$i,坝体位移$i,holding,$i,uint16,0.001,mm,displacement,5,7,8,9,0.1"
    done
} > "$T/points/dam.csv"
cat > "$T/agent.conf" <<INI
[agent]
enterprise_code = 220102000001
gateway_code = GW01
district_code = 220102
data_dir = $T/data
[device dam]
driver = modbus-tcp
host = 127.0.0.1
port = $SIM
interval = 100ms
points = points/dam.csv
[uplink gen]
url = mqtt://127.0.0.1:$MQ
topic_prefix = gen
[uplink prov]
url = mqtt://127.0.0.1:$MQ
profile = tailings
topic_prefix = tl
INI
"$BIN/ganzhi" check -c "$T/agent.conf" || fail "check"
set_mm() { # ADDRESS... VALUE
    $PY - "$SIM" "$@" <<'PY'
import sys
from pymodbus.client import ModbusTcpClient
port, *addrs, v = sys.argv[1:]
c = ModbusTcpClient("127.0.0.1", port=int(port))
c.connect()
# One request for adjacent registers: no poll may see half of a change.
a = sorted(int(x) for x in addrs)
assert a == list(range(a[0], a[0] + len(a))), a
assert not c.write_registers(a[0], [round(float(v) * 1000)] * len(a), slave=1).isError()
c.close()
PY
}
set_mm 0 1 2 3 1.0
start_agent "$T/agent.conf"
sleep 1.5
item_events() { $PY -c "
import json,sys
for l in open(sys.argv[1]):
    for a in json.loads(l)['alarms']:
        if a['tag'].startswith('item:'):
            print(a['level'], a['state'])" "$T/al.sub"; }
log "all four points at blue (5.5 mm): the item turns yellow"
set_mm 0 1 2 3 5.5
wait_for 5 grep -q '"tag":"item:displacement","device":"tailings","level":"yellow","state":"raised"' "$T/al.sub" \
    || { cat "$T/al.sub"; fail "item not yellow"; }
log "two points at orange (8.5 mm): the item turns red"
set_mm 0 1 8.5
wait_for 5 grep -q '"tag":"item:displacement","device":"tailings","level":"red","state":"raised"' "$T/al.sub" \
    || fail "item not red"
log "back to 1 mm: everything clears"
set_mm 0 1 2 3 1.0
wait_for 5 grep -q '"tag":"item:displacement","device":"tailings","level":"red","state":"cleared"' "$T/al.sub" \
    || fail "item not cleared"
sleep 1
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
item_events
[ "$(item_events | tr '\n' ' ')" = "blue raised blue cleared yellow raised yellow cleared red raised red cleared " ] \
    || [ "$(item_events | tr '\n' ' ')" = "yellow raised yellow cleared red raised red cleared " ] \
    || fail "item event sequence"
grep -q '"tag":"WY-00","device":"dam","level":"orange","state":"raised"' "$T/al.sub" || fail "point colours"
n=0
while IFS= read -r line; do
    n=$((n + 1)); printf '%s' "$line" > "$T/tl$n.json"
    "$BIN/ganzhi" validate --profile tailings --kind alarm "$T/tl$n.json" > /dev/null \
        || { "$BIN/ganzhi" validate --profile tailings --kind alarm "$T/tl$n.json"; fail "tailings alarm message invalid"; }
done < "$T/tl.sub"
[ "$n" -gt 0 ] || fail "no tailings-profile alarm messages"
echo "$n tailings alarm messages valid"
echo PASS
