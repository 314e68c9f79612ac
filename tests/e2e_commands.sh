#!/bin/bash
# The command channel against a real broker and a platform simulator
# (tests/platform_sim.py, which signs commands from the README's description):
#  1. clock: the offset, and a clock alarm for a skewed ts (cleared by the next);
#     status and points published at once.
#  2. resend of a seq window: every seq of it arrives again, in order, flagged
#     resend and carrying the command's id, with a final reply, while live
#     messages go on; a time window for one tag: that tag only, within the window;
#     a window reaching past what is held: the missing part in the reply.
#  3. measure: the device's readings on_demand with the id within a poll and the
#     broker's round trip; the reply's seqs are theirs.
#  4. refused, each doing nothing: a forged signature, a replayed id, an expired
#     ts, an oversized payload, malformed JSON, an unknown cmd, to before from,
#     a future window, an unknown tag, a flood (over command_rate); and after a
#     restart of the agent, a replay of an id from before it.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export PYTHONPATH=$ROOT/tests

SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -t 'ganzhi/220102000001/#' -v -q 1 > "$T/all.sub" 2>&1 &
PIDS+=($!)
mosquitto_sub -h 127.0.0.1 -p "$MQ" -t 'city/#' -t 'province/#' -v -q 1 > "$T/others.sub" 2>&1 &
PIDS+=($!)
printf 'the county platform key 0123456789' > "$T/command.key"
chmod 600 "$T/command.key"
printf 'the city platform key, signed SM3' > "$T/city.key"
chmod 600 "$T/city.key"
INTERVAL=200ms write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ
message_readings = 20
backfill_rate = 4
commands = on
command_key_file = $T/command.key
command_rate = 30
clock_tolerance = 5s" "[uplink city]
url = mqtt://127.0.0.1:$MQ
topic_prefix = city
commands = on
command_key_file = $T/city.key
command_sign = sm3" "[uplink province]
url = mqtt://127.0.0.1:$MQ
topic_prefix = province"
sed -i 's/^status_interval = .*/status_interval = 1h/' "$T/agent.conf"
"$BIN/ganzhi" check -c "$T/agent.conf" > /dev/null || fail "ganzhi check refused commands = on"
start_agent "$T/agent.conf"
wait_for 15 grep -q '/realtime ' "$T/all.sub" || { cat "$T/agent.log"; fail "no realtime message"; }
sleep 3

"$PY" - "$MQ" "$T/command.key" "$T/all.sub" "$T/agent.log" <<'PYEOF' || { tail -30 "$T/agent.log"; fail "commands (above)"; }
import sys, time, json
from platform_sim import Platform, now_rfc3339, seqs_of
port, keyfile, capture, agentlog = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
P = Platform(port, "ganzhi/220102000001", open(keyfile, "rb").read(), "sha256", capture)

def ok(cid, **kw):
    r = P.wait_reply(cid)[-1]["reply"]
    assert r["ok"] is True, r
    assert r["gateway"] == "GW01" and r["id"] == cid, r
    return r

def refused(cid, what, expect=None, n=1):
    r = P.wait_reply(cid, n)[-1]["reply"]
    assert r["ok"] is False and r.get("error"), (what, r)
    if expect:
        assert expect in r["error"], (what, r["error"])
    print(f"  refused ({what}): {r['error']}")
    return r

# --- 1. clock, status, points
P.send("clock", "clk-1")
r = ok("clk-1")
assert abs(r["offset_ms"]) < 3000 and r["clock_alarm"] is False, r
print("clock:", r["gateway_time"], "offset", r["offset_ms"], "ms")
P.send("clock", "clk-2", ts=now_rfc3339(-60))
r = ok("clk-2")
assert 55000 < r["offset_ms"] < 65000 and r["clock_alarm"] is True, r
t = time.monotonic()
while time.monotonic() - t < 5:
    alarms = [m for _, m in P.messages("/alarm") for a in m.get("alarms", []) if a["tag"] == "clock_offset"]
    if alarms:
        break
    time.sleep(0.1)
assert alarms and alarms[-1]["alarms"][-1]["state"] == "raised", "no clock alarm raised"
P.send("clock", "clk-3")
ok("clk-3")
time.sleep(1.5)
states = [a["state"] for _, m in P.messages("/alarm") for a in m.get("alarms", []) if a["tag"] == "clock_offset"]
assert states[-1] == "cleared", states
print("clock alarm:", states)
n_status = len(P.messages("/status"))
P.send("status", "st-1")
ok("st-1")
time.sleep(1.0)
assert len(P.messages("/status")) > n_status, "no status message after the status command"
P.send("points", "pt-1")
r = ok("pt-1")
assert r["published"] is False and "no point list" in r["why"], r   # generic has none

# --- 2. resend
P.send("resend", "rs-1", {"seq_from": 1, "seq_to": 150})
replies = P.wait_reply("rs-1", 2, timeout=15)
first, last = replies[0]["reply"], replies[-1]["reply"]
assert first["ok"] and first["state"] == "started" and first["readings_held"] == 150, first
assert last["ok"] and last["state"] == "done" and last["readings"] == 150, last
msgs = P.messages()
got = seqs_of(msgs, command_id="rs-1")
assert got == list(range(1, 151)), got[:20]
assert all(m.get("resend") is True for _, m in msgs if m.get("command_id") == "rs-1")
# live data went on while it was served
i0 = next(i for i, (_, m) in enumerate(msgs) if m.get("command_id") == "rs-1")
live_after = [m for _, m in msgs[i0:] if "readings" in m and not m.get("command_id")]
assert live_after, "no live message while the resend was served"
print(f"resend rs-1: seqs 1..150 again, in order, flagged; {len(live_after)} live messages meanwhile")
# a time window for one tag
t_to = now_rfc3339(-0.5); t_from = now_rfc3339(-30)   # since the start: its first reading at least
P.send("resend", "rs-2", {"from": t_from, "to": t_to, "tags": ["LT-101"]})
replies = P.wait_reply("rs-2", 2, timeout=15)
assert replies[-1]["reply"]["state"] == "done", replies
rs2 = [r for _, m in P.messages() if m.get("command_id") == "rs-2" for r in m["readings"]]
assert rs2 and all(r["tag"] == "LT-101" for r in rs2), rs2[:3]
assert all(t_from <= r["ts"] <= t_to for r in rs2), (t_from, t_to, rs2[:3])
print(f"resend rs-2: {len(rs2)} readings of LT-101 within the window")
# a window reaching past what is held
P.send("resend", "rs-3", {"from": now_rfc3339(-3600), "to": now_rfc3339(-1)})
r = P.wait_reply("rs-3", 1)[0]["reply"]
assert r["ok"] and r["missing"] and r["missing"][0]["from"], r
print("resend rs-3: missing", r["missing"][0])
P.wait_reply("rs-3", 2, timeout=20)

# --- 3. measure
t0 = time.monotonic()
P.send("measure", "ms-1", {"devices": ["tank_plc"]})
r = ok("ms-1")
dt = time.monotonic() - t0
od = [m for _, m in P.messages() if m.get("command_id") == "ms-1"]
assert od and all(m.get("on_demand") is True for m in od), od
seqs = [x["seq"] for m in od for x in m["readings"]]
assert sorted(seqs) == sorted(r["seqs"]) and r["readings"] == len(seqs) and len(seqs) >= 30, (r, seqs[:5])
assert dt < 2.0, f"measure took {dt:.2f} s"
print(f"measure ms-1: {len(seqs)} readings on demand in {dt:.2f} s")

# --- 4. refusals, each doing nothing
before = len(P.messages())
P.send("resend", "forged-1", {"seq_from": 1, "seq_to": 10}, sign="0" * 64)
refused("forged-1", "forged signature", "signature")
P.send("clock", "clk-1")
refused("clk-1", "replayed id", "replayed", n=2)
P.send("clock", "old-1", ts=now_rfc3339(-600))
refused("old-1", "expired ts")
P.publish(b'{"command":' + b'{"id":"big-1","cmd":"clock","pad":"' + b"x" * 5000 + b'"},"sign":"' + b"0" * 64 + b'"}')
P.publish(b'{"command":{"id":"bad-1","cmd":"clock",,},"sign":"' + b"0" * 64 + b'"}')
P.send("reboot", "unk-1")
refused("unk-1", "unknown cmd")
P.send("resend", "win-1", {"from": now_rfc3339(-10), "to": now_rfc3339(-20)})
refused("win-1", "to before from")
P.send("resend", "win-2", {"from": now_rfc3339(3600), "to": now_rfc3339(7200)})
refused("win-2", "future window")
P.send("measure", "tag-1", {"tags": ["NO-SUCH-TAG"]})
refused("tag-1", "unknown tag", "NO-SUCH-TAG")
time.sleep(1)
nulls = [m["reply"] for m in P.replies() if m["reply"].get("id") is None]
errors = " | ".join(r.get("error", "") for r in nulls)
print("  refused without an id:", errors)
assert len(nulls) >= 2, "the oversized and the malformed commands got no refusal"
assert not [m for _, m in P.messages() if m.get("command_id") in ("forged-1", "win-1", "win-2")]
# a flood
for i in range(40):
    P.send("clock", f"flood-{i}")
time.sleep(3)
answered = [m["reply"] for m in P.replies() if (m["reply"].get("id") or "").startswith("flood-")]
limited = [m["reply"] for m in P.replies() if m["reply"].get("id") is None
           and "too many" in m["reply"].get("error", "")]
assert limited, "a flood of 40 commands was not limited"
assert len(answered) < 40, len(answered)
print(f"flood: {len(answered)} of 40 answered, the rest refused over command_rate")
# replies are signed
bad = [b for b in P.raw_replies() if not P.reply_signed(b)]
assert not bad, bad[:1]
print(f"{len(P.raw_replies())} replies, every one signed")
PYEOF

log "HMAC-SM3 on another uplink; an uplink without commands reads none"
"$PY" - "$MQ" "$T/city.key" "$T/others.sub" <<'PYEOF' || fail "SM3 commands, or commands on an uplink without them"
import sys, time
from platform_sim import Platform, sm3_available
assert sm3_available(), "python's hashlib has no sm3 (OpenSSL 3 provides it)"
key = open(sys.argv[2], "rb").read()
city = Platform(int(sys.argv[1]), "city", key, "sm3", sys.argv[3])
city.send("clock", "sm3-1")
r = city.wait_reply("sm3-1")[-1]["reply"]
assert r["ok"] is True, r
assert all(city.reply_signed(b) for b in city.raw_replies()), "a reply not signed with HMAC-SM3"
wrong = Platform(int(sys.argv[1]), "city", key, "sha256", sys.argv[3])
wrong.send("clock", "sha-1")
r = city.wait_reply("sha-1")[-1]["reply"]
assert r["ok"] is False and "HMAC-SM3" in r["error"], r
print("city (HMAC-SM3): signed clock done; an HMAC-SHA256 one refused:", r["error"])
prov = Platform(int(sys.argv[1]), "province", key, "sha256", sys.argv[3])
prov.send("clock", "prov-1")
time.sleep(2)
assert not prov.replies(), "an uplink without commands = on answered a command"
print("province (commands off): no reply, as it must")
PYEOF

log "a replay after a restart"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
start_agent "$T/agent.conf"
wait_for 15 test "$(grep -c 'connected to' "$T/agent.log")" -ge 6
sleep 2
"$PY" - "$MQ" "$T/command.key" "$T/all.sub" <<'PYEOF' || fail "replay across a restart"
import sys, time
from platform_sim import Platform
P = Platform(int(sys.argv[1]), "ganzhi/220102000001", open(sys.argv[2], "rb").read(), "sha256", sys.argv[3])
n = len(P.replies("clk-3"))
P.send("clock", "clk-3")
r = P.wait_reply("clk-3", n + 1)[-1]["reply"]
assert r["ok"] is False and "replayed" in r["error"], r
print("replay of clk-3 after the restart refused:", r["error"])
P.send("status", "st-2")    # the report (status.json too) now, with that refusal in it
assert P.wait_reply("st-2")[-1]["reply"]["ok"]
time.sleep(1)
PYEOF
"$PY" - "$T/data/status.json" <<'PYEOF' || fail "status figures"
import json, sys
u = json.load(open(sys.argv[1]))["uplinks"][0]
print({k: u[k] for k in u if k.startswith("commands")})
assert u["commands_refused"] >= 1
PYEOF
"$BIN/ganzhi" status -c "$T/agent.conf" | grep -E "commands: [0-9]+ done, [1-9][0-9]* refused" \
    || fail "ganzhi status does not show the commands"
grep -q "command 'forged-1' refused" "$T/agent.log" || fail "the forged command is not in the log"
sqlite3 "$T/data/store.db" "SELECT count(*), sum(verified) FROM command" | tee "$T/records"
[ "$(cut -d'|' -f1 < "$T/records")" -ge 20 ] || fail "commands are not recorded in the store"
echo "PASS"
