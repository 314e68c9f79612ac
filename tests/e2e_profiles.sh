#!/bin/bash
# The regulators' profiles on the wire: one agent, a hazchem uplink and a coal
# uplink (the demo table carries hazchem's columns; coal's are added here), to
# real brokers. Realtime messages carry the profile's fields, a 32-hex dataId
# that is the same when a message is re-sent, the wire time zone; point
# definitions are published on connect; and every message passes the profile's
# own validator.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
"$BIN/ganzhi-sim" --static --values > "$T/expected.txt"
start_broker one "$MQ"
subscribe all "$MQ" '#' -v
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ
profile = hazchem
topic_prefix = hz" "[uplink mine]
url = mqtt://127.0.0.1:$MQ
profile = coal
topic_prefix = coal"
$PY - "$T/points/tank_farm.csv" <<'PY'
import csv, sys
path = sys.argv[1]
lines = open(path, encoding="utf-8").read().splitlines()
rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
fields = list(rows[0].keys()) + ["point_code", "sensor_type", "location"]
with open(path, "w", encoding="utf-8", newline="") as f:
    w = csv.DictWriter(f, fields, lineterminator="\n")
    w.writeheader()
    for i, r in enumerate(rows):
        r["point_code"] = f"22010200000101MN0043{i:04d}"
        r["sensor_type"] = "0043"
        r["location"] = r["name"]
        w.writerow(r)
PY
"$BIN/ganzhi" check -c "$T/agent.conf" 2>&1 | tee "$T/check.out" || fail "check"
grep -q warning "$T/check.out" && fail "check still warns about the profiles"
start_agent "$T/agent.conf"
sleep 4
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
grep -c "" "$T/all.sub"
$PY - "$T/all.sub" <<'PY' || fail "hazchem messages"
import json, re, sys
rt = pts = 0
for line in open(sys.argv[1], encoding="utf-8"):
    topic, _, body = line.rstrip("\n").partition(" ")
    if not topic.startswith("hz/"):
        continue
    m = json.loads(body)
    assert re.fullmatch(r"[0-9a-f]{32}", m["dataId"]), m["dataId"]
    assert m["enterpriseCode"] == "220102000001" and m["gatewayCode"] == "GW01"
    if topic == "hz/realtime":
        rt += 1
        for r in m["data"]:
            assert r["equipCode"] and r["targetCode"] and r["tagNo"], r
            assert re.fullmatch(r"\d{14}", r["dataTime"]), r["dataTime"]
    elif topic == "hz/points":
        pts += 1
print(f"hazchem: {rt} realtime messages, {pts} point-definition messages")
assert rt >= 2 and pts >= 1
PY
$PY - "$T/all.sub" <<'PY' || fail "coal messages"
import sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    topic, _, body = line.rstrip("\n").partition(" ")
    if topic == "coal/realtime":
        assert body.endswith("||"), body[-20:]
        recs = body[:-2].split("~")
        head = recs[0].split(";")
        assert head[0] == "220102000001", head
        for rec in [r for r in recs[1:] if r]:
            f = rec.split(";")
            assert len(f) == 7 and f[0].startswith("22010200000101MN0043"), f
        n += 1
print(f"coal: {n} CDSS messages")
assert n >= 2
PY
log "every captured message passes ganzhi validate"
$PY - "$T/all.sub" "$T" <<'PY'
import sys
kinds = {"realtime", "alarm", "status", "points"}
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    topic, _, body = line.rstrip("\n").partition(" ")
    prefix, _, kind = topic.partition("/")
    if kind in kinds and prefix in ("hz", "coal"):
        n += 1
        with open(f"{sys.argv[2]}/msg{n:03d}.{'hazchem' if prefix == 'hz' else 'coal'}.{kind}", "w",
                  encoding="utf-8") as f:
            f.write(body)
PY
for m in "$T"/msg*; do
    set -- $(basename "$m" | tr . ' ')
    "$BIN/ganzhi" validate --profile "$2" --kind "$3" "$m" > "$T/v.out" || { cat "$T/v.out" "$m"; fail "$2 $3 message invalid"; }
done
ls "$T"/msg* | wc -l
log "a province variant (renamed field, other time format) and a signed, encrypted uplink"
K16=$(openssl rand -hex 16); printf '%s\n' "$K16" > "$T/aes.key"; chmod 600 "$T/aes.key"
printf 'platform-secret\n' > "$T/hmac.key"; chmod 600 "$T/hmac.key"
cat >> "$T/agent.conf" <<INI

[uplink province]
url = mqtt://127.0.0.1:$MQ
profile = hazchem
topic_prefix = prov
override.field.value = dataValue
override.time.realtime = yyyy-MM-dd HH:mm:ss

[uplink sealed]
url = mqtt://127.0.0.1:$MQ
topic_prefix = sealed
app_id = 应急APP
envelope = A128CBC
envelope_key_file = $T/aes.key
sign_key_file = $T/hmac.key
INI
"$BIN/ganzhi" check -c "$T/agent.conf" || fail "check with overrides and envelope"
chmod 644 "$T/aes.key"
"$BIN/ganzhi" check -c "$T/agent.conf" > "$T/perm.out" 2>&1 && fail "a key readable by others was accepted"
cat "$T/perm.out"
grep -q "agent.conf:[0-9]*: envelope_key_file: .*readable by other users" "$T/perm.out" || fail "no FILE:LINE for the key"
chmod 600 "$T/aes.key"
sed -i 's/^override.field.value = dataValue/override.field.valeu = dataValue/' "$T/agent.conf"
"$BIN/ganzhi" check -c "$T/agent.conf" > "$T/ovr.out" 2>&1 && fail "a bad override was accepted"
grep -q "agent.conf:[0-9]*: override.field.valeu" "$T/ovr.out" || { cat "$T/ovr.out"; fail "bad override not reported at its line"; }
sed -i 's/^override.field.valeu = dataValue/override.field.value = dataValue/' "$T/agent.conf"
: > "$T/all.sub"
start_agent "$T/agent.conf"
sleep 4
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
$PY - "$T/all.sub" <<'PY' || fail "province variant"
import json, re, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    topic, _, body = line.rstrip("\n").partition(" ")
    if topic == "prov/realtime":
        for r in json.loads(body)["data"]:
            assert "dataValue" in r and "value" not in r, r
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["dataTime"]), r["dataTime"]
        n += 1
assert n >= 2, n
print(f"province variant: {n} messages with dataValue and spaced times")
PY
grep -m1 '^sealed/realtime ' "$T/all.sub" | cut -d' ' -f2- > "$T/env.json"
[ -s "$T/env.json" ] || fail "no sealed message"
field() { $PY -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "$T/env.json" "$1"; }
APP=$(field appId); ID=$(field dataId); ALG=$(field alg); IV=$(field iv); DATA=$(field data); TAG=$(field tag); SIGN=$(field sign)
[ "$ALG" = A128CBC ] || fail "alg $ALG"
mine=$(printf '%s\n%s\n%s\n%s\n%s\n%s' "$APP" "$ID" "$ALG" "$IV" "$DATA" "$TAG" | openssl dgst -sha256 -hmac 'platform-secret' | awk '{print $NF}')
[ "$mine" = "$SIGN" ] || fail "signature does not verify with openssl"
IVHEX=$(printf %s "$IV" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
printf %s "$DATA" | openssl base64 -d -A | openssl enc -d -aes-128-cbc -K "$K16" -iv "$IVHEX" > "$T/plain.json" \
    || fail "openssl cannot decrypt"
$PY -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['readings'] and m['enterprise']=='220102000001'; print('decrypted with openssl:', len(m['readings']), 'readings')" "$T/plain.json" \
    || fail "the decrypted body is not the generic message"

log "coal to an outbox folder: standard file names, whole files only; and in GBK"
mkdir -p "$T/outbox" "$T/outbox_gbk"
cat >> "$T/agent.conf" <<INI

[uplink files]
url = file://$T/outbox
profile = coal
message_readings = 36

[uplink files_gbk]
url = file://$T/outbox_gbk
profile = coal
message_readings = 36
override.charset = gbk
INI
"$BIN/ganzhi" check -c "$T/agent.conf" || fail "check with an outbox"
start_agent "$T/agent.conf"
# Watch the folder while the agent writes: a final name always holds a whole file.
$PY - "$T/outbox" <<'PY' || fail "a partial file under its final name"
import os, sys, time
d = sys.argv[1]
seen = 0
end = time.time() + 4
while time.time() < end:
    for name in os.listdir(d):
        if name.startswith("."):
            continue
        with open(os.path.join(d, name), encoding="utf-8") as f:
            body = f.read()
        assert body.endswith("||"), (name, body[-30:])
        seen += 1
print(f"{seen} looks at whole files while they were being written")
PY
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
ls "$T/outbox" | head -3
ls -a "$T/outbox" | grep -q '\.tmp$' && fail "temporary files left behind"
ls "$T/outbox" | grep -qE '^220102000001_CDDY_[0-9]{14}(_[0-9]+)?\.txt$' || fail "no CDDY file"
ls "$T/outbox" | grep -qE '^220102000001_CDSS_[0-9]{14}(_[0-9]+)?\.txt$' || fail "no CDSS file"
$PY - "$T/outbox" "$T/expected.txt" <<'PY' || fail "the CDSS files do not parse back into the readings"
import os, sys
values = {}
for name in sorted(os.listdir(sys.argv[1])):
    if "_CDSS_" not in name:
        continue
    body = open(os.path.join(sys.argv[1], name), encoding="utf-8").read()
    assert body.endswith("||")
    recs = [r for r in body[:-2].split("~") if r]
    assert recs[0].split(";")[0] == "220102000001", recs[0]
    for r in recs[1:]:
        f = r.split(";")
        assert len(f) == 7, f
        values[f[0]] = f[3]
print(f"{len(values)} points read back from the CDSS files")
assert len(values) == 36, len(values)
PY
$PY - "$T/outbox_gbk" <<'PY' || fail "the GBK outbox"
import os, sys
d = sys.argv[1]
cddy = [n for n in sorted(os.listdir(d)) if "_CDDY_" in n]
assert cddy, os.listdir(d)
raw = open(os.path.join(d, cddy[0]), "rb").read()
try:
    raw.decode("utf-8")
    raise SystemExit("the GBK file reads as UTF-8: not converted")
except UnicodeDecodeError:
    pass
text = raw.decode("gbk")
assert "1号储罐液位" in text and text.endswith("||"), text[:200]
print("GBK outbox: the point names read back in GBK")
PY
cdss=$(ls "$T/outbox_gbk"/*_CDSS_* | head -1)
"$BIN/ganzhi" validate --profile coal --kind realtime --charset gbk "$cdss" || fail "validate --charset gbk"
"$BIN/ganzhi" validate --profile coal --kind realtime "$cdss" > "$T/v8.out"; rc=$?
cat "$T/v8.out"
[ "$rc" = 1 ] && grep -q "not UTF-8.*--charset gbk" "$T/v8.out" || fail "a GBK capture validated as UTF-8 (exit $rc)"
echo PASS
