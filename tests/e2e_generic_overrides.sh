#!/bin/bash
# override.topic.* on a generic uplink, end to end against real peers
# (ganzhi-sim -> ganzhi-agent -> mosquitto). Every override `ganzhi check` accepts
# for generic takes effect, each on its own topic, with the placeholders
# substituted: realtime, status, alarm (LT-101's hi limit lowered below the value
# the simulator serves) and resend (a backlog built while the broker is down,
# re-sent flagged resend on its topic while live messages stay on the realtime
# one). One subscriber on '#' sees every topic: nothing arrives on a default
# topic. The overrides generic refuses (topic.points, field.*) are refused by
# `ganzhi check` with agent.conf:LINE: and exit 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
start_broker one "$MQ"
# -v: each line is "TOPIC JSON"; '#' matches every topic the agent may publish on.
subscribe all "$MQ" '#' -v

PREFIX=ganzhi/220102000001
RT_TOPIC=$PREFIX/rt/GW01
ST_TOPIC=$PREFIX/st/220102000001
AL_TOPIC=220102/alarm/GW01
RS_TOPIC=$PREFIX/resend/GW01

INTERVAL=100ms write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ
profile = generic
reconnect_max = 300ms
message_readings = 20
live_window = 1s
override.topic.realtime = {prefix}/rt/{gateway}
override.topic.status = {prefix}/st/{enterprise}
override.topic.alarm = {district}/alarm/{gateway}
override.topic.resend = {prefix}/resend/{gateway}"
sed -i 's/^status_interval = .*/status_interval = 1s/' "$T/agent.conf"
# LT-101 (static 3.215 m): hi 3 instead of 8.5, so the first poll raises a hi alarm.
sed -i 's/^\(LT-101,[^,]*,holding,0,uint16,,0.001,,m,0.005,\)8.5,/\13,/' "$T/points/tank_farm.csv"
grep -q '^LT-101,.*,m,0.005,3,9.2,' "$T/points/tank_farm.csv" || fail "could not lower LT-101's hi limit"
grep -q '^status_interval = 1s$' "$T/agent.conf" || fail "could not shorten status_interval"

log "ganzhi check accepts the four topic overrides on a generic uplink"
"$BIN/ganzhi" check -c "$T/agent.conf" > "$T/check_ok.out" 2>&1 \
    || { cat "$T/check_ok.out"; fail "ganzhi check refused the topic overrides"; }

# by_topic: the subscriber's lines split by topic into $T/topic.N files (one JSON
# message a line) and a summary "COUNT TOPIC" per topic in $T/topics.txt.
by_topic() {
    $PY - "$T/all.sub" "$T" <<'PY'
import collections, sys
n = collections.Counter()
files = {}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if not line.strip():
        continue
    topic, _, body = line.partition(" ")
    if topic not in files:
        files[topic] = open(f"{sys.argv[2]}/topic.{len(files)}", "w", encoding="utf-8")
    files[topic].write(body + "\n")
    n[topic] += 1
with open(f"{sys.argv[2]}/topics.txt", "w") as f:
    for t, c in sorted(n.items()):
        f.write(f"{c} {t}\n")
PY
}
on_topic() { grep -c "^$1 " "$T/all.sub" 2>/dev/null; }
arrived() { [ "$(on_topic "$1")" -gt 0 ] 2>/dev/null; }

start_agent "$T/agent.conf"
log "agent running: waiting for realtime, status and alarm on the overridden topics"
wait_for 30 arrived "$RT_TOPIC" || { cat "$T/agent.log"; cut -d' ' -f1 "$T/all.sub" | sort | uniq -c; fail "no realtime message on $RT_TOPIC"; }
wait_for 30 arrived "$ST_TOPIC" || { cut -d' ' -f1 "$T/all.sub" | sort | uniq -c; fail "no status message on $ST_TOPIC"; }
wait_for 30 arrived "$AL_TOPIC" || { cut -d' ' -f1 "$T/all.sub" | sort | uniq -c; fail "no alarm message on $AL_TOPIC"; }

log "broker down 4 s (live_window 1 s): a backlog builds"
stop_broker one
sleep 4
lines_before=$(wc -l < "$T/all.sub")
start_broker one "$MQ"
wait_for 30 arrived "$RS_TOPIC" || { cut -d' ' -f1 "$T/all.sub" | sort | uniq -c; fail "no resend message on $RS_TOPIC"; }
# The backlog drained and live messages flow again on the realtime topic.
drained() {
    $PY - "$T/data/status.json" <<'PY' 2>/dev/null
import json, sys
u = json.load(open(sys.argv[1]))["uplinks"][0]
sys.exit(0 if u["connected"] and not u["backfilling"] and u["backlog"] < 200 else 1)
PY
}
wait_for 30 drained || { cat "$T/data/status.json"; fail "the backlog did not drain"; }
live_after() { tail -n +$((lines_before + 1)) "$T/all.sub" | grep -q "^$RT_TOPIC .*\"resend\":false"; }
wait_for 15 live_after || fail "no live realtime message on $RT_TOPIC after the broker returned"
sleep 1
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
sleep 0.5

log "what arrived, by topic"
by_topic
cat "$T/topics.txt"
# Only the four overridden topics: none of the defaults ($PREFIX/realtime,
# /alarm, /status), no points (generic sends none), no unsubstituted {...}.
$PY - "$T/topics.txt" "$RT_TOPIC" "$ST_TOPIC" "$AL_TOPIC" "$RS_TOPIC" <<'PY' || fail "messages on topics other than the overridden ones"
import sys
seen = {l.split(" ", 1)[1].strip() for l in open(sys.argv[1]) if l.strip()}
want = set(sys.argv[2:])
assert seen == want, f"topics seen {sorted(seen)}, expected exactly {sorted(want)}"
print("only the overridden topics were used:", ", ".join(sorted(seen)))
PY
file_of() { # the $T/topic.N file holding topic $1's messages
    $PY - "$T/all.sub" "$1" <<'PY'
import sys
order = []
for line in open(sys.argv[1], encoding="utf-8"):
    t = line.partition(" ")[0]
    if line.strip() and t not in order:
        order.append(t)
print(order.index(sys.argv[2]))
PY
}
RT=$T/topic.$(file_of "$RT_TOPIC"); ST=$T/topic.$(file_of "$ST_TOPIC")
AL=$T/topic.$(file_of "$AL_TOPIC"); RS=$T/topic.$(file_of "$RS_TOPIC")

log "topic.realtime: live readings, never flagged resend"
$PY - "$RT" <<'PY' || fail "realtime topic"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert msgs and all(m["resend"] is False and m["readings"] for m in msgs), "a resend or empty message on the realtime topic"
assert all(m["enterprise"] == "220102000001" and m["gateway"] == "GW01" for m in msgs)
print(f"{len(msgs)} realtime messages, {sum(len(m['readings']) for m in msgs)} readings, none resend")
PY
log "topic.resend: the backlog, every message flagged resend"
$PY - "$RS" <<'PY' || fail "resend topic"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert msgs and all(m["resend"] is True and m["readings"] for m in msgs), "a live or empty message on the resend topic"
print(f"{len(msgs)} resend messages, {sum(len(m['readings']) for m in msgs)} readings")
PY
check_seq "$RT" "$RS" || fail "realtime + resend seqs: readings lost"
log "topic.status: the agent's status"
$PY - "$ST" <<'PY' || fail "status topic"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
s = msgs[-1]["status"]
assert s["version"] and s["devices"][0]["name"] == "tank_plc" and s["uplinks"][0]["name"] == "county", s
print(f"{len(msgs)} status messages")
PY
log "topic.alarm: LT-101's hi alarm"
$PY - "$AL" <<'PY' || fail "alarm topic"
import json, sys
ev = [a for l in open(sys.argv[1]) if l.strip() for a in json.loads(l)["alarms"]]
hi = [a for a in ev if a["tag"] == "LT-101" and a["level"] == "hi" and a["state"] == "raised"]
assert hi and hi[0]["threshold"] == 3 and hi[0]["value"] == 3.215, ev
print("alarm events:", [(a["tag"], a["level"], a["state"]) for a in ev])
PY

log "refused on a generic uplink: override.topic.points and override.field.value"
write_agent_conf "$T/bad/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ
override.topic.realtime = {prefix}/rt
override.topic.points = {prefix}/pts
override.field.value = dataValue"
(cd "$T/bad" && "$BIN/ganzhi" check -c agent.conf) > "$T/bad/check.out" 2>&1; rc=$?
cat "$T/bad/check.out"
[ "$rc" = 2 ] || fail "ganzhi check exit $rc on refused overrides (expected 2)"
lp=$(grep -n '^override.topic.points' "$T/bad/agent.conf" | cut -d: -f1)
lf=$(grep -n '^override.field.value' "$T/bad/agent.conf" | cut -d: -f1)
lr=$(grep -n '^override.topic.realtime' "$T/bad/agent.conf" | cut -d: -f1)
grep -q "agent.conf:$lp:.*topic.points.*no point definitions" "$T/bad/check.out" || fail "topic.points not refused at agent.conf:$lp"
grep -q "agent.conf:$lf:.*field.value.*only its topics" "$T/bad/check.out" || fail "field.value not refused at agent.conf:$lf"
grep -q "agent.conf:$lr:" "$T/bad/check.out" && fail "topic.realtime (accepted) reported at agent.conf:$lr"
[ "$(grep -c 'agent.conf:[0-9]*:' "$T/bad/check.out")" = 2 ] || fail "expected exactly two refusals"
grep -q "^error" "$T/agent.log" && { cat "$T/agent.log"; fail "agent logged errors"; }
echo PASS
