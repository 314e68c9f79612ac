#!/bin/bash
# A flapping link: tests/linkemu.py between the agent and mosquitto resets every
# connection (RST both ways) 0.5 s after its MQTT session is up (the CONNACK reached
# the agent), for FLAP_S (24 s), while the agent polls the demo site every 200 ms;
# then the link heals.
#   While it flaps, the agent backs off (reconnect_max = 4 s): the waits between
#   attempts double from 250 ms to the cap, each wait half its step and up to as
#   much again at random, so about ten connections in 24 s, the last waits 2 to
#   4 s and not all the same. An agent
#   that starts its backoff again on every CONNACK redials the moment each
#   connection drops: a connection every 1.6 s or so (paho sends CONNECT about a
#   second after a reconnect's TCP handshake, then 0.5 s of session), ~15.
#   Once it heals, the agent connects within the jittered reconnect_max and
#   delivers everything: the durable subscriber holds every seq from 1 to the
#   last stored, repeats being the same readings.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
FLAP_S=24
RECONNECT_MAX=4

backoff=
stats() { "$PY" "$ROOT/tests/linkemu.py" ctl "$CTL" stats; }
accepted() { stats | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["accepted"])'; }

SIM=$(free_port); MQ=$(free_port); LINK=$(free_port); CTL=$(free_port)
start_sim "$SIM"
start_broker one "$MQ"
subscribe one "$MQ" 'ganzhi/220102000001/realtime'
start_link flap "$LINK" "$MQ" "$CTL" --reset-after 0.5
write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$LINK
reconnect_max = ${RECONNECT_MAX}s"
start_agent "$T/agent.conf"
wait_for 10 eval '[ "$(accepted)" -ge 1 ]' || { tail "$T/agent.log"; fail "the agent never connected"; }
t_first=$(stats | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["conns"][0]["t_accept"])')
log "flapping: every connection reset 0.5 s after its session is up, for ${FLAP_S} s"
sleep "$("$PY" -c "import sys, time; print(max(0, float(sys.argv[1]) + $FLAP_S - time.time()))" "$t_first")"
"$PY" "$ROOT/tests/linkemu.py" ctl "$CTL" set reset_after 0 > /dev/null || fail "cannot heal the link"
t_heal=$(date +%s.%N)
log "healed"
kill -0 "$AGENT_PID" || fail "the agent exited"
wait_for $((RECONNECT_MAX * 2)) eval '[ "$(stats | "$PY" -c "import json, sys; print(json.load(sys.stdin)[\"conns\"][-1][\"state\"])")" = open ]' \
    || fail "no connection after the link healed"
sleep 1
stats > "$T/flap.json"
"$PY" - "$T/flap.json" "$t_first" "$t_heal" "$FLAP_S" "$RECONNECT_MAX" <<'PY' || backoff=bad
import json, sys
s = json.load(open(sys.argv[1]))
t_first, t_heal, flap, cap = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
conns = s["conns"]
during = [c for c in conns if c["t_accept"] < t_heal]
acc = [c["t_accept"] for c in during]
gaps = [b - a for a, b in zip(acc, acc[1:])]
lives = [c["t_end"] - c["t_accept"] for c in during if c["t_end"] and c["t_answered"]]
print(f"--- {len(during)} connections in {t_heal - t_first:.1f} s of flapping "
      f"({sum(1 for c in during if c['t_answered'])} got their CONNACK), "
      f"{len(conns) - len(during)} after; {s['resets']} resets")
print("--- each lasted (s): " + " ".join(f"{x:.2f}" for x in lives))
print("--- waits between attempts (s): " + " ".join(f"{g:.2f}" for g in gaps))
# The backoff's steps: 250 ms doubling to the cap; a wait is 50..100 % of its
# step, or the connection's life when that is longer. From the fifth wait on
# the step is the cap (4 s), and its waits (2 s at least) longer than a
# connection lives.
capped = [g / cap for g in gaps[4:]]
print("--- the capped waits over reconnect_max: " + " ".join(f"{r:.3f}" for r in capped))
ok = True
if not 5 <= len(during) <= 12:
    print(f"FAIL: {len(during)} connections in {flap:.0f} s of flapping (with the backoff: 5 to 12)")
    ok = False
if len(capped) < 3 or any(not 0.48 <= r <= 1.05 for r in capped):
    print(f"FAIL: the waits did not grow to 50..100 % of reconnect_max ({cap:.0f} s) and stay there")
    ok = False
# Without jitter every capped wait is reconnect_max within the scheduler's few ms.
elif max(capped) - min(capped) < 0.02:
    print(f"FAIL: no jitter: the capped waits differ by {cap * (max(capped) - min(capped)) * 1000:.0f} ms")
    ok = False
after = [c["t_accept"] for c in conns if c["t_accept"] >= t_heal]
open_at_heal = bool(during) and during[-1]["state"] == "open"
wait = 0.0 if open_at_heal else (after[0] - t_heal if after else float("inf"))
print(f"--- connected {wait:.2f} s after the link healed (reconnect_max {cap:.0f} s)"
      + ("; longer than reconnect_max" if wait > cap else ""))
if wait > cap + 1:
    print("FAIL: no reconnection within reconnect_max")
    ok = False
sys.exit(0 if ok else 1)
PY
# mosquitto logs each session's protocol: (p2, ...) MQTT 3.1.1, (p1, ...) MQTT 3.1. A
# client left to paho's default version retries a connect that failed, or a session
# reset before paho settled it, as MQTT 3.1 at once, outside the agent's backoff.
v31=$(grep -c "as 220102000001-GW01-county (p1," "$T/one/log")
[ "$v31" = 0 ] || fail "$v31 sessions were MQTT 3.1 (paho's fallback from 3.1.1: MQTTVersion not pinned), each dialled at once, outside the backoff${backoff:+; and the backoff failed (above)}"
[ "${backoff:-}" = bad ] && fail "backoff (above)"
# Everything stored so far reaches the subscriber, then a clean stop.
stored_now=$(sqlite3 "$T/data/store.db" 'select max(seq0+n-1) from batch')
caught_up() {
    "$PY" -c "
import json, sys
s = [r['seq'] for l in open(sys.argv[1]) if l.strip() for r in json.loads(l)['readings']]
sys.exit(0 if s and max(s) >= int(sys.argv[2]) else 1)" "$T/one.sub" "$stored_now" 2>/dev/null
}
wait_for 20 caught_up || fail "the backlog of the flapping did not drain"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit $?"
sleep 0.5
check_seq "$T/one.sub" || fail "seqs missing after the flapping"
stored=$(sqlite3 "$T/data/store.db" 'select max(seq0+n-1) from batch')
got=$("$PY" -c "
import json, sys
s = [r['seq'] for l in open(sys.argv[1]) if l.strip() for r in json.loads(l)['readings']]
print(min(s), max(s))" "$T/one.sub")
[ "$got" = "1 $stored" ] || fail "stored 1..$stored, received $got"
log "every seq 1..$stored delivered; $(grep -c 'connection lost' "$T/agent.log") connections lost"
echo PASS
