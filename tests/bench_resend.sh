#!/bin/bash
# bench_resend.sh (part of `make bench`): live latency while a 7-day resend drains
# (goal: live p99 latency while a 7-day resend drains stays under 1 s).
#   A store filled with 7 days of history (tests/tool_fill_store: 50 points every
#   60 s, ~500k readings) under an agent that polls ganzhi-sim's tank farm every
#   200 ms (commit_interval at its default, 200 ms) and publishes on a generic
#   uplink with commands = on, message_readings = 100, backfill_rate = 0. The
#   history's points are a [device history] at a port nothing answers (its tags
#   are configured; its polls fail). The history counts as delivered to the
#   uplink (its cursor, set by the fill: a new uplink would otherwise re-upload
#   all of it as its backlog), so there is no backlog (the status says so, and
#   nothing comes on the resend topic before the command). A signed resend of the last 7 days (tests/platform_sim.py) then
#   drains as fast as the broker takes it.
#   Latency of a live reading: the subscriber's receive time (mosquitto_sub %U)
#   minus the reading's ts; p50/p99/max before the resend (the floor: poll to
#   commit to publish) and between the resend's publication and its done reply.
#   Drain rate: the done reply's readings over the time between the started and
#   done replies. Goal: live p99 during the drain < 1 s.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export PYTHONPATH=$ROOT/tests
OUT=$ROOT/$BUILD/bench-resend.txt
POINTS=${POINTS:-1000}
STEP_MS=${STEP_MS:-30000}
DAYS=${DAYS:-7}
BASELINE_S=${BASELINE_S:-10}
PREFIX=ganzhi/220102000001

SIM=$(free_port); MQ=$(free_port); DEAD=$(free_port)
mkdir -p "$T/points"
"$BIN/tests/tool_fill_store" --dir "$T/data" --points "$POINTS" --interval-ms "$STEP_MS" \
    --days "$DAYS" --tag-prefix H --device history --csv "$T/points/history.csv" \
    --delivered county > "$T/fill.out" || fail "tool_fill_store"
start_sim "$SIM"
# As tests/bench.sh: a subscriber that lags behind the drain loses nothing.
start_broker one "$MQ" "max_queued_messages 0" "max_inflight_messages 100"
# Live messages and replies with their receive time, "UNIXTIME TOPIC PAYLOAD" a
# line; the resend's messages (on their own topic: override.topic.resend) as
# "UNIXTIME LENGTH", so that the subscriber's side stays light.
mosquitto_sub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/realtime" -t "$PREFIX/reply" -q 1 \
    -F '%U %t %p' > "$T/timed.sub" 2> "$T/timed.err" &
PIDS+=($!)
mosquitto_sub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/resend" -q 1 -F '%U %l' > "$T/resend.sub" \
    2> "$T/resend.err" &
PIDS+=($!)
printf 'the county platform key 0123456789' > "$T/command.key"
chmod 600 "$T/command.key"
INTERVAL=200ms write_agent_conf "$T/agent.conf" "$SIM" "[device history]
driver = modbus-tcp
host = 127.0.0.1
port = $DEAD
interval = 1h
timeout = 200ms
points = points/history.csv" "[uplink county]
url = mqtt://127.0.0.1:$MQ
message_readings = 100
backfill_rate = 0
override.topic.resend = {prefix}/resend
commands = on
command_key_file = $T/command.key"
# The default commit_interval (200 ms), as a site runs it.
sed -i '/^commit_interval/d' "$T/agent.conf"
"$BIN/ganzhi" check -c "$T/agent.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "check"; }
start_agent "$T/agent.conf"
wait_for 15 grep -q "$PREFIX/realtime " "$T/timed.sub" || { tail "$T/agent.log"; fail "no realtime message"; }
sleep 3     # past the first polls and the history device's first failure

"$PY" - "$MQ" "$T/command.key" "$T/timed.sub" "$T/data/status.json" "$BASELINE_S" \
    "$T/fill.out" "$DAYS" "$T/resend.sub" <<'PYEOF' 2>&1 | tee "$OUT"
import datetime, json, sys, time
from platform_sim import Platform, now_rfc3339
port, keyfile, capture, status, baseline_s, fillout, days, resend_sub = sys.argv[1:9]
baseline_s, days = float(baseline_s), int(days)
P = Platform(int(port), "ganzhi/220102000001", open(keyfile, "rb").read(), "sha256")

def lines():
    with open(capture, encoding="utf-8", errors="replace") as f:
        for line in f:
            t, _, rest = line.rstrip("\n").partition(" ")
            topic, _, body = rest.partition(" ")
            yield float(t), topic, body

def replies(cid):
    out = []
    for t, topic, body in lines():
        if topic.endswith("/reply") and cid in body:
            r = json.loads(body)["reply"]
            if r.get("id") == cid:
                out.append((t, r))
    return out

def uplink_status():
    for _ in range(50):
        try:
            return json.load(open(status))["uplinks"][0]
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.1)
    raise AssertionError("no status.json")

print("fill:", open(fillout).read().strip())
time.sleep(2.5)     # a status written since the uplink connected
st = uplink_status()
assert st["connected"], st
print(f"before the resend: uplink connected, backlog {st['backlog']} readings")
assert st["backlog"] < 1000, st
t_base = time.time()
time.sleep(baseline_s)
t_send = time.time()
P.send("resend", "rs-1", {"from": now_rfc3339(-days * 86400 + 5), "to": now_rfc3339()})
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    r = replies("rs-1")
    if r and (r[-1][1].get("state") == "done" or r[-1][1].get("ok") is False):
        break
    time.sleep(0.2)
else:
    raise SystemExit(f"MISS: no done reply to rs-1 within 90 s (replies: {replies('rs-1')})")
time.sleep(1.0)     # the live messages of the last moments
r = replies("rs-1")
done_msgs = r[-1][1].get("messages", 0)
count = lambda: sum(1 for l in open(resend_sub) if l.strip())
t = time.monotonic() + 10   # the subscriber may trail the broker's acks
while count() < done_msgs and time.monotonic() < t:
    time.sleep(0.2)
assert r[0][1].get("ok") and r[0][1].get("state") == "started", r[0]
(t_started, started), (t_done, done) = r[0], r[-1]
assert done.get("ok") and done.get("state") == "done", done

# Live readings (tank_plc, not a resend) by receive time; the resend's messages.
resent = [float(l.split()[0]) for l in open(resend_sub) if l.strip()]
early = sum(1 for t in resent if t < t_send)
assert early == 0, f"{early} messages on the resend topic before the command"

base, drain, live_msgs = [], [], []
for t, topic, body in lines():
    if not topic.endswith("/realtime"):
        continue
    m = json.loads(body)
    assert not m.get("command_id") and not m.get("resend"), m

    lat = [t - datetime.datetime.fromisoformat(x["ts"]).timestamp()
           for x in m["readings"] if x["device"] == "tank_plc"]
    if not lat:
        continue
    if t_base <= t < t_send:
        base += lat
    elif t_send <= t <= t_done:
        drain += lat
        live_msgs.append(t)
gaps = [b - a for a, b in zip([t_send] + live_msgs, live_msgs + [t_done])]

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")

def show(name, v, secs):
    print(f"{name}: {len(v)} readings in {secs:.1f} s, latency p50 {q(v, .5) * 1000:.0f} ms, "
          f"p99 {q(v, .99) * 1000:.0f} ms, max {max(v) * 1000:.0f} ms")

span = t_done - t_started
print(f"resend rs-1 (7 days): started with readings_held {started['readings_held']}, done with "
      f"{done['readings']} readings in {done['messages']} messages; {len(resent)} resend messages "
      f"received")
print(f"drain: {span:.1f} s from started to done, {done['readings'] / span:.0f} readings/s, "
      f"{done['messages'] / span:.0f} messages/s (first reply {(t_started - t_send) * 1000:.0f} ms "
      f"after the command)")
show("live before the resend (baseline)", base, t_send - t_base)
show("live during the drain", drain, t_done - t_send)
print(f"live messages during the drain: {len(live_msgs)}, longest gap between them "
      f"{max(gaps) * 1000:.0f} ms")
assert len(resent) >= done["messages"], (len(resent), done)
ok = drain and q(drain, .99) < 1.0
print(f"live p99 during a 7-day resend < 1 s: {'PASS' if ok else 'MISS'} "
      f"({q(drain, .99) * 1000:.0f} ms)")
PYEOF
rc=${PIPESTATUS[0]}
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
[ "$rc" = 0 ] || { tail -20 "$T/agent.log"; fail "bench_resend (above)"; }
grep -E "command|resend" "$T/agent.log" | tail -3
