#!/bin/bash
# Two uplinks to two brokers; the province's broker is down for a while. The
# county's messages keep arriving throughout. When the province returns, its
# backlog arrives complete (the union of seqs is contiguous), in seq order,
# flagged resend, while live messages keep arriving during the drain.
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); MQ1=$(free_port); MQ2=$(free_port)
start_sim "$SIM"
start_broker county "$MQ1"
start_broker province "$MQ2"
subscribe county "$MQ1" 'county/realtime'
subscribe province "$MQ2" 'province/realtime'
INTERVAL=50ms write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtt://127.0.0.1:$MQ1
topic_prefix = county" \
"[uplink province]
url = mqtt://127.0.0.1:$MQ2
topic_prefix = province
reconnect_max = 500ms
message_readings = 20
max_inflight = 8
backfill_rate = 40
live_window = 2s"
start_agent "$T/agent.conf"
wait_for 10 test -s "$T/province.sub" || fail "province got nothing"
count() { /usr/bin/python3 "$ROOT/tests/check_messages.py" count "$1" 2>/dev/null || echo 0; }

log "province broker down for 12 s"
stop_broker province
c0=$(count "$T/county.sub")
sleep 12
c1=$(count "$T/county.sub")
log "county received $((c1 - c0)) readings meanwhile"
[ $((c1 - c0)) -gt 1000 ] || fail "county stalled while the province was down"
date +%s.%N > "$T/back_at"
start_broker province "$MQ2"
# The backlog (12 s x ~480 readings/s) drains at 40 messages of 20 readings a
# second (800/s) behind live data: give it the time it needs.
drained() {
    /usr/bin/python3 - "$T/province.sub" "$T/data/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
u = [u for u in s["uplinks"] if u["name"] == "province"][0]
sys.exit(0 if not u["backfilling"] and u["backlog"] < 2000 and u["connected"] else 1)
PY
}
sleep 3
wait_for 60 drained || fail "the province backlog did not drain"
sleep 2
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
sleep 0.5
check_seq "$T/county.sub" || fail "county seqs"
check_seq "$T/province.sub" || fail "province seqs: the backlog is not complete"
/usr/bin/python3 - "$T/province.sub" "$(cat "$T/back_at")" <<'PY' || fail "backlog order, resend flags or live flow"
import json, sys, datetime
back_at = float(sys.argv[2])
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
resend = [m for m in msgs if m["resend"]]
assert resend, "no message flagged resend"
# A live message sent late (its readings older than live_window by then, on a
# loaded machine) is flagged resend too: the backlog is what lies below the
# live lane's first seq after the return.
first_resend = msgs.index(resend[0])
live_seqs = [m["readings"][0]["seq"] for m in msgs[first_resend:] if not m["resend"]]
backlog = [m for m in resend if not live_seqs or m["readings"][0]["seq"] < min(live_seqs)]
seqs = [r["seq"] for m in backlog for r in m["readings"]]
# The re-upload is oldest first, in seq order (a repeat after a reconnect may
# restart a little lower, never skip).
seen = set()
firsts = [q for q in seqs if not (q in seen or seen.add(q))]
ordered = all(b > a for a, b in zip(firsts, firsts[1:]))
repeats = len(seqs) - len(firsts)
print(f"{len(backlog)} backlog messages, {len(seqs)} readings, seq {seqs[0]}..{seqs[-1]}, in order: {ordered}"
      f"{f' ({repeats} repeated after a reconnect)' if repeats else ''}")
assert ordered
# Live data during the drain: non-resend messages interleaved with resend ones,
# carrying readings sampled after the broker came back.
first_resend = msgs.index(resend[0])
last_resend = len(msgs) - 1 - msgs[::-1].index(resend[-1])
live_during = [m for m in msgs[first_resend:last_resend] if not m["resend"]]
ts = lambda r: datetime.datetime.fromisoformat(r["ts"]).timestamp()
fresh = [m for m in live_during if ts(m["readings"][0]) > back_at]
print(f"{len(live_during)} live messages arrived during the drain ({len(fresh)} sampled after the return)")
assert len(fresh) >= 10, len(fresh)
for m in resend:
    assert all(ts(r) < back_at + 1 for r in m["readings"]), "a resend message carries a reading taken after the return"
PY
echo PASS
