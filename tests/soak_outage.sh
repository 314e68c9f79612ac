#!/bin/bash
# soak_outage.sh (`make soak-outage`, part of `make soak`): a month's outage,
# compressed. DAYS (30) of 36 points every second (~93 M readings) are written
# with the broker down, then the broker returns and the backlog drains.
#
#  1. The fill (tests/tool_fill_store --outage): the agent's store code writes
#     the DAYS with their own clock (sample times DAYS ago .. now), a minute of
#     samples a transaction, and after each keeps the store within STORE_MB and
#     RETENTION_H the way the agent's writer does (retention, then the budget).
#     Alarm events (raised every ALARM_EVERY_H hours on the first point, cleared
#     10 minutes later) go in through the store's alarm API with the readings of
#     their time: the oldest are older than retention, most are in the part the
#     budget evicts, the newest lie with the readings still held. The readings
#     of the last poll before the outage are delivered (the uplink's cursor).
#     The tool samples its own RSS at every percent.
#  2. The real agent (build/ganzhi-agent) on that store, polling ganzhi-sim's
#     tank farm (36 points) every POLL, its broker still down, for AGENT_S
#     seconds: its own part of the backlog; its RSS and the store's files sampled.
#  3. The broker (mosquitto) returns with a durable QoS 1 subscriber (its session
#     made before the outage); the backlog drains.
#
# Checks: the store on disk (store.db and its WAL) never over STORE_MB, in the
# fill and under the agent; no reading older than retention; every alarm event
# the fill wrote is in the store unless retention took it (the store's rule:
# retention takes events older than it, except the newest; the budget never
# takes one), and every one held arrives at the collector, in id order, the
# alarm messages ahead of the backlog's; the drain is complete
# (every seq the store held from the outage arrives, none missing, every repeat
# the same reading) and the uplink's count of readings lost equals the seqs
# evicted before they were delivered; the backlog arrives in seq order flagged
# resend, live readings in order and ahead of it (live messages with readings
# taken after the broker's return arrive while the backlog drains); RSS flat
# (the fill's last sample within RSS_SLACK_KB of its sample at 10 %, the
# agent's during the outage likewise) and bounded in the drain (DRAIN_RSS_KB
# over the outage's peak at most); every alarm event stored before the return
# ahead of the backlog's first message (several alarm messages' worth).
# Which limit evicts the readings depends on the rates: at 36 points a second
# 48 MB holds about two days, so retention takes alarm events only and "no
# reading older than retention" cannot fail by retention alone; RETENTION_H
# under what the budget holds (DAYS=2 RETENTION_H=12) makes retention the one
# that evicts readings, and that check bite.
# Prints: fill time, readings stored and evicted, store bytes, drain time and
# rate, RSS samples. 3 to 5 minutes for 30 days on a 2-core machine (the fill
# 80 to 150 s), 75 s for DAYS=2. Knobs: DAYS, STORE_MB, RETENTION_H, ALARM_EVERY_H, POLL, AGENT_S,
# DRAIN_LIMIT_S, RSS_SLACK_KB, DRAIN_RSS_KB. A failing run keeps its directory
# (KEEP=1 keeps any; its collector.raw is about 0.9 GB for 30 days) with
# check.sh to run the checks again.
source "$(dirname "$0")/lib.sh"
fail() { KEEP=1; echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3
DAYS=${DAYS:-30}
# The budget holds about two days at 48 MB: most of the month is evicted. A
# short run (DAYS < 10) gets 16 MB, so that its budget bites as well.
STORE_MB=${STORE_MB:-$([ "$DAYS" -ge 10 ] && echo 48 || echo 16)}
RETENTION_H=${RETENTION_H:-$((DAYS * 16))}     # two thirds of the outage: 20 days of 30
ALARM_EVERY_H=${ALARM_EVERY_H:-6}
POLL=${POLL:-200ms}
AGENT_S=${AGENT_S:-45}
DRAIN_LIMIT_S=${DRAIN_LIMIT_S:-600}
RSS_SLACK_KB=${RSS_SLACK_KB:-2048}
DRAIN_RSS_KB=${DRAIN_RSS_KB:-8192}
PREFIX=ganzhi/220102000001
STORE_MAX=$((STORE_MB * 1024 * 1024))
started=$(date +%s)
log "outage of $DAYS days, 36 points at 1 s; store_max ${STORE_MB}MB, retention ${RETENTION_H}h, an alarm every ${ALARM_EVERY_H}h"

SIM=$(free_port); MQ=$(free_port)
# A durable session for the collector before the outage: the broker keeps it
# (persistence) across its absence, and queues for it without limit.
BROKER_CONF=("max_queued_messages 0" "max_inflight_messages 100")
start_broker one "$MQ" "${BROKER_CONF[@]}"
cat > "$T/collect.py" <<'PY'
# One line per message of mosquitto_sub -F '%U %t %p', reduced to what the
# checks need: "R recv resend ranges min_ts max_ts digest" for readings,
# "A recv id:ts:raised,..." for alarm events.
import datetime, json, sys, zlib
ts = lambda s: int(datetime.datetime.fromisoformat(s).timestamp() * 1000)
out = sys.stdout
for line in sys.stdin:
    t, _, rest = line.rstrip("\n").partition(" ")
    topic, _, body = rest.partition(" ")
    if not body:
        continue
    m = json.loads(body)
    if topic.endswith("/alarm"):
        ev = ",".join(f"{a['id']}:{ts(a['ts'])}:{int(a['state'] == 'raised')}" for a in m["alarms"])
        out.write(f"A {t} {ev}\n")
    elif topic.endswith("/realtime"):
        rs = m["readings"]
        seqs = [r["seq"] for r in rs]
        ranges, lo = [], seqs[0]
        for a, b in zip(seqs, seqs[1:] + [None]):
            if b != a + 1:
                ranges.append(f"{lo}-{a}")
                lo = b
        stamps = [ts(r["ts"]) for r in rs]
        # A digest of each reading, so that a repeat can be compared with the first.
        dig = ",".join(str(zlib.crc32(f"{r['tag']}|{r['device']}|{r['value']}|{r['quality']}|{r['ts']}".encode()))
                       for r in rs)
        out.write(f"R {t} {int(m['resend'])} {','.join(ranges)} {min(stamps)} {max(stamps)} {dig}\n")
    out.flush()
PY
# The collector writes what it receives as it comes (a light subscriber: its
# receive times are the broker's delivery, not a parser's pace); collect.py
# reduces it afterwards.
mosquitto_sub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/realtime" -t "$PREFIX/alarm" -q 1 -c \
    -i "collector-$$" -F '%U %t %p' > "$T/collector.raw" 2> "$T/collector.err" &
PIDS+=($!)
sleep 1
stop_broker one
log "broker down: the outage begins"

# 1. The fill.
mkdir -p "$T/data"
"$BIN/tests/tool_fill_store" --dir "$T/data" --points 36 --interval-ms 1000 --days "$DAYS" \
    --outage county --store-max "$STORE_MAX" --retention-h "$RETENTION_H" --chunk-s 60 \
    --alarm-every-h "$ALARM_EVERY_H" --alarms "$T/alarms.written" --rss "$T/fill.rss" \
    > "$T/fill.out" 2> "$T/fill.err" || { cat "$T/fill.err"; fail "tool_fill_store"; }
cat "$T/fill.out"
fig() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$T/fill.out"; }
[ -n "$(fig peak_disk)" ] || fail "no figures from the fill"

# 2. The agent's part of the outage.
start_sim "$SIM"
INTERVAL=$POLL write_agent_conf "$T/agent.conf" "$SIM" "[uplink county]
url = mqtt://127.0.0.1:$MQ
reconnect_max = 1s"
sed -i "s/^commit_interval.*/&\nstore_max = ${STORE_MB}MB\nretention = ${RETENTION_H}h/" "$T/agent.conf"
"$BIN/ganzhi" check -c "$T/agent.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "check"; }
start_agent "$T/agent.conf"
# RSS of the agent and the store's files, twice a second: "ms rss_kB db_bytes wal_bytes".
(
    while kill -0 "$AGENT_PID" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status" 2>/dev/null)
        db=$(stat -c %s "$T/data/store.db" 2>/dev/null || echo 0)
        wal=$(stat -c %s "$T/data/store.db-wal" 2>/dev/null || echo 0)
        [ -n "$rss" ] && echo "$(date +%s%3N) $rss $db $wal"
        sleep 0.5
    done
) > "$T/agent.rss" &
PIDS+=($!)
outage_at=$(date +%s%3N)
sleep "$AGENT_S"
kill -0 "$AGENT_PID" || fail "the agent died during the outage; see $T/agent.log"
status() { "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print($1)" "$T/data/status.json"; }
log "after ${AGENT_S}s of the agent: backlog $(status 's["uplinks"][0]["backlog"]'), store $(status 's["store"]')"

# 3. The broker returns.
held_from=$(sqlite3 "$T/data/store.db" 'select min(seq0) from batch')
back_at=$(date +%s%3N)
start_broker one "$MQ" "${BROKER_CONF[@]}"
drained() {
    "$PY" - "$T/data/status.json" <<'PY'
import json, sys
u = json.load(open(sys.argv[1]))["uplinks"][0]
sys.exit(0 if u["connected"] and not u["backfilling"] and u["backlog"] < 1000 else 1)
PY
}
sleep 2
wait_for "$DRAIN_LIMIT_S" drained || fail "the backlog did not drain in ${DRAIN_LIMIT_S}s: $(status 's["uplinks"]')"
drained_at=$(date +%s%3N)
sleep 3     # live readings after the drain, and the status's last figures
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
end_at=$(date +%s%3N)
stored_to=$(sqlite3 "$T/data/store.db" 'select max(seq0 + n - 1) from batch')
# The collector may trail the broker's acks: until it has received nothing for 3 s.
quiet() { local a; a=$(stat -c %s "$T/collector.raw"); sleep 3; [ "$a" = "$(stat -c %s "$T/collector.raw")" ]; }
wait_for 300 quiet || fail "the collector is still receiving 300 s after the agent stopped"
log "collector: $(du -m "$T/collector.raw" | cut -f1) MB received; reducing"
"$PY" "$T/collect.py" < "$T/collector.raw" > "$T/collected" || fail "collect.py"
last_collected() { awk '$1 == "R" { n = split($4, r, ","); split(r[n], x, "-"); if (x[2] > m) m = x[2] } END { print m + 0 }' "$T/collected"; }
[ "$(last_collected)" -ge "$stored_to" ] || fail "the collector holds up to seq $(last_collected), the store up to $stored_to"
sqlite3 "$T/data/store.db" 'select id, ts, raised from alarm order by id' | tr '|' ' ' > "$T/alarms.held"

# The checks, in a file of their own with their arguments (check.sh) so that
# they can be run again on a kept directory.
cat > "$T/check.py" <<'PY'
import json, sqlite3, sys
T = sys.argv[1]
store_max, retention_h, outage_at, back_at, drained_at, end_at, held_from, stored_to, slack, drain_slack = map(int, sys.argv[2:])
retention = retention_h * 3600000
fill = dict(kv.split("=") for kv in open(f"{T}/fill.out").read().split() if "=" in kv)
fill = {k: float(v) for k, v in fill.items()}
status = json.load(open(f"{T}/data/status.json"))
up = status["uplinks"][0]
problems = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        problems.append(what)
MB = 1024 * 1024

# The fill.
rss = [tuple(map(int, l.split())) for l in open(f"{T}/fill.rss")]
at10 = next(r for r in rss if r[0] >= 10)
print(f"fill: {int(fill['readings']):,} readings in {fill['fill_s']:.1f} s "
      f"({fill['readings'] / fill['fill_s'] / 1e6:.2f} M/s); evicted {int(fill['evicted_budget']):,} "
      f"by the budget, {int(fill['evicted_retention']):,} by retention; held seq "
      f"{int(fill['held_from'])}..{int(fill['next_seq']) - 1} "
      f"({int(fill['next_seq'] - fill['held_from']):,} readings) in {fill['used'] / MB:.1f} MB of pages "
      f"({fill['file'] / MB:.1f} MB file); peak pages+WAL {fill['peak_used_wal'] / MB:.2f} MB, "
      f"peak store.db+WAL {fill['peak_disk'] / MB:.2f} MB of {store_max / MB:.0f} MB")
print("fill RSS (kB) at 1/10/25/50/75/100 %: " +
      " ".join(str(r[2]) for r in rss if r[0] in (1, 10, 25, 50, 75, 100)))
# Which limit binds depends on the rates: at 36 points a second, 48 MB holds
# about two days, less than any retention of interest (RETENTION_H below what
# the budget holds makes retention the one that evicts readings).
bound = "budget" if fill["evicted_budget"] > 0 else "retention"
check(fill["evicted_budget"] + fill["evicted_retention"] > 0, f"the {bound} evicted readings in the fill")
check(fill["peak_used_wal"] <= store_max, f"fill: pages in use + WAL within store_max ({fill['peak_used_wal']:.0f} <= {store_max})")
check(fill["peak_disk"] <= store_max, f"fill: store.db + WAL on disk within store_max ({fill['peak_disk']:.0f} <= {store_max})")
check(rss[-1][2] <= at10[2] + slack, f"fill: RSS flat as the backlog grows ({at10[2]} kB at 10 %, {rss[-1][2]} kB at 100 %)")

# The agent: RSS, the files on disk.
ar = [tuple(map(int, l.split())) for l in open(f"{T}/agent.rss")]
outage = [r for r in ar if r[0] < back_at]
drain = [r for r in ar if back_at <= r[0] <= drained_at]
o10 = outage[len(outage) // 10]
print(f"agent RSS (kB) in the outage: start {outage[0][1]}, at 10 % {o10[1]}, end {outage[-1][1]}, "
      f"peak {max(r[1] for r in outage)}; in the drain: peak {max((r[1] for r in drain), default=0)} "
      f"({len(drain)} samples)")
disk = max(r[2] + r[3] for r in ar)
print(f"agent: store.db+WAL on disk at most {disk / MB:.2f} MB; status store {status['store']}")
check(outage[-1][1] <= o10[1] + slack, f"agent: RSS flat in the outage ({o10[1]} kB at 10 %, {outage[-1][1]} kB at the end)")
check(max((r[1] for r in drain), default=0) <= max(r[1] for r in outage) + drain_slack,
      f"agent: RSS in the drain within {drain_slack} kB of the outage's peak")
check(disk <= store_max, f"agent: store.db + WAL on disk within store_max ({disk} <= {store_max})")
check(status["store"]["bytes"] <= store_max, "agent: the store's own figure within store_max")

# Retention: readings, then alarm events.
db = sqlite3.connect(f"file:{T}/data/store.db?mode=ro", uri=True)
oldest = db.execute("select min(ts) from batch").fetchone()[0]
# The agent applies retention every 60 s: a minute's grace.
check(oldest >= end_at - retention - 120000 and oldest >= fill["last_cutoff"],
      f"no reading older than retention (oldest held {(end_at - oldest) / 3600000:.1f} h old, retention {retention_h} h)")
written = [tuple(map(int, l.split())) for l in open(f"{T}/alarms.written")]
held = {int(i): (int(t), int(r)) for i, t, r in (l.split() for l in open(f"{T}/alarms.held"))}
newest_id = max(i for i, _, _ in written)
must, gone, either = [], [], []
for i, t, r in written:
    if t >= end_at - retention or i == newest_id:
        must.append(i)      # no retention pass can have taken it
    elif t < fill["last_cutoff"]:
        gone.append(i)      # the fill's last pass took it
    else:
        either.append(i)    # between the fill's last pass and the agent's
beyond_budget = [i for i, t, r in written if i in must and t < oldest]
print(f"alarm events: {len(written)} written; {len(gone)} older than retention, {len(must)} younger "
      f"(of which {len(beyond_budget)} older than every reading still held: the budget evicted "
      f"their readings), {len(either)} at the boundary")
check(len(gone) > 0 and (len(beyond_budget) > 0 or bound == "retention"),
      "alarm events on both sides: older than retention, and beyond the budget")
check(all(i in held for i in must), f"every alarm event younger than retention survived "
      f"(missing: {[i for i in must if i not in held][:10]})")
check(all(held[i][0] == t and held[i][1] == r for i, t, r in written if i in held),
      "the alarm events held are the ones written")
check(not any(i in held for i in gone), f"alarm events older than retention aged out "
      f"(still held: {[i for i in gone if i in held][:10]})")

# The collector.
R, A = [], []
for line in open(f"{T}/collected"):
    p = line.split()
    if p[0] == "A":
        A.append((float(p[1]), [tuple(map(int, e.split(":"))) for e in p[2].split(",")]))
    else:
        seqs = []
        for rg in p[3].split(","):
            lo, hi = map(int, rg.split("-"))
            seqs.extend(range(lo, hi + 1))
        R.append((float(p[1]), int(p[2]), seqs, int(p[4]), int(p[5]), p[6].split(",")))
first_seen, repeats, differ = {}, 0, 0
for _, _, seqs, _, _, dig in R:
    for q, d in zip(seqs, dig):
        if q in first_seen:
            repeats += 1
            differ += first_seen[q] != d
        else:
            first_seen[q] = d
first_held = int(db.execute("select min(seq0) from batch").fetchone()[0])
want = set(range(max(held_from, 1), stored_to + 1))
missing = sorted(want - first_seen.keys())
print(f"collector: {len(R)} reading messages, {len(first_seen):,} distinct seqs "
      f"({min(first_seen)}..{max(first_seen)}), {repeats} repeats; {len(A)} alarm messages")
check(not missing, f"drain complete: every seq from {held_from} (held at the broker's return) to {stored_to} "
      f"arrived ({len(missing)} missing, first {missing[:5]})")
check(differ == 0, f"every repeat the same reading ({differ} differ)")
outage_from = int(fill["outage_from"])
never = sum(1 for q in range(outage_from, first_held) if q not in first_seen)
check(up["dropped"] == never, f"the uplink counts as lost exactly the readings evicted undelivered "
      f"(status {up['dropped']:,}, seqs {outage_from}..{first_held - 1} not received {never:,})")

# Order per lane. The live lane goes first after the return and starts at the
# first seq of the first reading message; everything below it is the backlog.
# The resend flag follows a message's age, not its lane (README: readings older
# than live_window): the backlog's are all flagged; a live message only when its
# oldest reading had passed live_window (30 s) when it went.
live_start = R[0][2][0]
resend = [m for m in R if m[2][0] < live_start]
live = [m for m in R if m[2][0] >= live_start]
def firsts(msgs):
    seen, out = set(), []
    for m in msgs:
        for q in m[2]:
            if q not in seen:
                seen.add(q)
                out.append(q)
    return out
bf, lf = firsts(resend), firsts(live)
aged = [m for m in live if m[1]]
print(f"live lane from seq {live_start:,}: {len(live)} messages, {len(aged)} flagged resend by age" +
      (f" (their oldest reading {min(m[0] * 1000 - m[3] for m in aged) / 1000:.2f} s old or more)" if aged else ""))
check(bool(bf) and all(m[1] for m in resend) and all(b > a for a, b in zip(bf, bf[1:])),
      f"backlog in seq order, flagged resend ({len(bf):,} readings)")
check(all(b > a for a, b in zip(lf, lf[1:])), f"live readings in seq order ({len(lf):,} readings)")
check(all(m[0] * 1000 - m[3] > 29000 for m in aged), "live messages flagged resend only past live_window")
seen_ids, ids = set(), []
for _, evs in A:
    for e in evs:
        if e[0] not in seen_ids:
            seen_ids.add(e[0])
            ids.append(e[0])
check(all(b > a for a, b in zip(ids, ids[1:])), f"alarm events in id order ({len(ids)} events)")
sent_ids = set(ids)
check(all(i in sent_ids for i in held), f"every alarm event held arrived "
      f"(missing: {sorted(set(held) - sent_ids)[:10]})")
check(A and R and A[0][0] <= R[0][0], "the first alarm message ahead of the first reading message")
# The alarm lane sends one message (50 events) at a time, the next when it is
# acknowledged; the backlog waits until the last is made (agent/uplink.c,
# send_alarms): every event stored before the return arrives ahead of the
# backlog's first message.
arrived = {}
for t, evs in A:
    for e in evs:
        arrived.setdefault(e[0], t)
stored_before = [i for i, (t, r) in held.items() if t < back_at]
last_alarm = max((arrived[i] for i in stored_before if i in arrived), default=0)
ahead = [m for m in R if m[0] < last_alarm]
print(f"alarm events stored before the broker's return: {len(stored_before)}, in "
      f"{sum(1 for t, evs in A if any(e[1] < back_at for e in evs))} messages; the last arrived behind "
      f"{len(ahead)} of {len(R)} reading messages ({sum(len(m[2]) for m in ahead):,} readings)")
ahead_bf = [m for m in R if m[2][0] < live_start and m[0] < last_alarm]
check(not ahead_bf, f"every alarm event stored before the return ahead of the backlog "
      f"({len(ahead_bf)} backlog messages before the last)")
t_first_bf, t_last_bf = (resend[0][0], resend[-1][0]) if resend else (0, 0)
fresh = [m for m in live if t_first_bf <= m[0] <= t_last_bf and m[3] >= back_at]
check(len(fresh) >= 3, f"live ahead of the backlog: {len(fresh)} live messages sampled after the return "
      f"arrived while the backlog drained")
lat = sorted(m[0] * 1000 - m[4] for m in fresh)
if lat:
    print(f"live latency during the drain (receive - newest sample): p50 {lat[len(lat) // 2]:.0f} ms, "
          f"max {lat[-1]:.0f} ms")

n_drain, span = len(bf), max(t_last_bf - t_first_bf, 0.001)
print(f"drain: {n_drain:,} backlog readings; at the collector the first message "
      f"{R[0][0] - back_at / 1000:.1f} s after the broker's return (the agent's reconnect), the "
      f"backlog's first to last message {span:.1f} s: {n_drain / span:,.0f} readings/s; the "
      f"agent's status said drained {(drained_at - back_at) / 1000:.1f} s after the return")
if problems:
    sys.exit(f"{len(problems)} checks failed")
PY
printf '%q ' "$PY" "$T/check.py" "$T" "$STORE_MAX" "$RETENTION_H" "$outage_at" "$back_at" \
    "$drained_at" "$end_at" "$held_from" "$stored_to" "$RSS_SLACK_KB" "$DRAIN_RSS_KB" > "$T/check.sh"
bash "$T/check.sh" || fail "checks (above); again with: bash $T/check.sh"
log "soak_outage: $DAYS days in $(( $(date +%s) - started )) s"
echo PASS
