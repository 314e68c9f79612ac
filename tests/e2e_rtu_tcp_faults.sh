#!/bin/bash
# What goes wrong on RTU over TCP, each counted, each told by the quality, none
# ever taken for a value: three sensors behind one serial device server
# (ganzhi-sim --rtu-tcp, units 1..3), one bus in the agent.
#  1. echo on (a half-duplex adapter sends our requests back): skipped, counted.
#  2. noise before the replies: skipped, counted; every value right.
#  3. unit 2's replies fail their CRC half the time: u2's polls fail as reply
#     errors (crc_errors), u1 and u3 untouched, the connection kept.
#  4. unit 3's replies come with another unit's id half the time: discarded
#     (foreign_replies), u3's polls fail, no value taken.
#  5. the device server closes the connection instead of answering: the agent
#     reconnects; the others keep being read.
#  6. a DTU that drops in the middle of a reply: comm_fail for that poll, the
#     connection taken again when it dials back, values right.
# After each: the latest values of every point are the simulator's.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export PYTHONPATH=$ROOT/tests

"$BIN/ganzhi-sim" --list > "$T/sim.csv" || fail "ganzhi-sim --list"
"$BIN/ganzhi-sim" --static --values > "$T/sim-values.txt" || fail "ganzhi-sim --values"
P=$(free_port); L=$(free_port)
: > "$T/ctl"
start_sim "$P" --rtu-tcp --units 1,2,3 --static --control "$T/ctl" --seed 3

{
    echo "[agent]"
    echo "enterprise_code = 220102000001"
    echo "gateway_code = GW01"
    echo "data_dir = $T/data"
    echo "status_interval = 1s"
    echo "commit_interval = 100ms"
    for u in 1 2 3; do
        { head -2 "$T/sim.csv" | tail -1; sed -n '3,7p' "$T/sim.csv" | sed "s/^/U$u-/"; } > "$T/u$u.csv"
        printf '\n[device u%s]\ndriver = modbus-rtu-tcp\nhost = 127.0.0.1\nport = %s\nunit_id = %s\n' $u $P $u
        printf 'baud = 115200\ninterval = 100ms\ntimeout = 300ms\nbackoff_max = 500ms\npoints = %s\n' "$T/u$u.csv"
    done
    { head -2 "$T/sim.csv" | tail -1; sed -n '3,7p' "$T/sim.csv" | sed "s/^/D-/"; } > "$T/d.csv"
    printf '\n[device d]\ndriver = modbus-rtu-tcp\nlisten = 127.0.0.1:%s\ndtu = DTU-CUT\nunit_id = 1\n' $L
    printf 'interval = 200ms\ntimeout = 500ms\nbackoff_max = 500ms\npoints = %s\n' "$T/d.csv"
} > "$T/agent.conf"
"$BIN/ganzhi" check -c "$T/agent.conf" > /dev/null || fail "ganzhi check"

cat > "$T/status.py" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
devs = {d["name"]: d for d in s["devices"]}
link = [l for l in s["links"] if l["link"].startswith("rtu-tcp 127.0.0.1:")][0]
if len(sys.argv) > 2:
    sys.exit(0 if eval(sys.argv[2]) else 1)
print(json.dumps({"link": link, **{n: {k: devs[n][k] for k in ("requests", "errors_comm", "errors_reply", "link")} for n in devs}}))
PYEOF
status_wait() {
    wait_for 20 "$PY" "$T/status.py" "$T/data/status.json" "$1" 2>/dev/null \
        || { "$PY" "$T/status.py" "$T/data/status.json"; tail -20 "$T/agent.log"; fail "$2"; }
}
snap() { cp "$T/data/status.json" "$T/$1.json"; }
# delta OLD EXPR: python over o (old) and s/devs/link (now).
delta() {
    "$PY" - "$T/$1.json" "$T/data/status.json" "$2" <<'PYEOF'
import json, sys
def load(p):
    s = json.load(open(p))
    return s, {d["name"]: d for d in s["devices"]}, [l for l in s["links"] if l["link"].startswith("rtu-tcp 127.0.0.1:")][0]
o, odevs, olink = load(sys.argv[1])
s, devs, link = load(sys.argv[2])
d = lambda n, k: devs[n][k] - odevs[n][k]
dl = lambda k: link[k] - olink[k]
ok = eval(sys.argv[3])
if not ok:
    print("not so:", sys.argv[3])
    print({n: {k: d(n, k) for k in ("requests", "errors_comm", "errors_reply")} for n in devs})
    print({k: dl(k) for k in link if isinstance(link[k], int)})
sys.exit(0 if ok else 1)
PYEOF
}
# values_ok PREFIX...: the latest readings of each prefixed table are the farm's
# values (within a few seconds: a device backing off after a fault polls again).
values_now() {
    "$BIN/ganzhi" tail -c "$T/agent.conf" --once > "$T/tail.txt" || return 1
    local p tag want
    for p in "$@"; do
        for tag in LT-101 LT-102 LT-103 TT-101 TT-102; do
            want=$(awk -v t=$tag '$1 == t { print $2 }' "$T/sim-values.txt")
            grep -Eq "^$p-$tag +$want( |$)" "$T/tail.txt" || { echo "$p-$tag is not $want"; return 1; }
        done
    done
}
values_ok() {
    wait_for 10 values_now "$@" > /dev/null || { values_now "$@"; cat "$T/tail.txt"; fail "values (above)"; }
}
phase() {   # DIRECTIVES SECONDS: in force that long, then cleared; snapshot before
    snap before
    printf '%b' "$1" > "$T/ctl"
    sleep "$2"
    : > "$T/ctl"
    sleep 0.5
}

start_agent "$T/agent.conf"
status_wait 'all(devs["u%d" % u]["requests"] >= 5 and devs["u%d" % u]["link"] == "up" for u in (1, 2, 3))' \
    "the three units behind the device server were not read"
values_ok U1 U2 U3

log "1. echo on"
phase 'echo on\n' 3
delta before 'dl("echoes") >= 20 and all(d(n, "errors_comm") + d(n, "errors_reply") == 0 for n in ("u1", "u2", "u3"))' \
    || fail "echoes were not skipped cleanly"
values_ok U1 U2 U3

log "2. noise before replies"
phase 'garbage 60\n' 3
delta before 'dl("drained_bytes") > 0 and all(d(n, "requests") >= 10 for n in ("u1", "u2", "u3"))' \
    || fail "noise: not drained, or polls stopped"
delta before 'sum(d(n, "errors_comm") + d(n, "errors_reply") for n in ("u1", "u2", "u3")) <= sum(d(n, "requests") for n in ("u1", "u2", "u3")) // 10' \
    || fail "noise before replies cost more than a tenth of the requests"
values_ok U1 U2 U3

log "3. unit 2: bad CRC half the time"
phase 'crc 2 50\n' 3
delta before 'd("u2", "errors_reply") >= 3 and dl("crc_errors") >= 3 and d("u1", "errors_reply") + d("u3", "errors_reply") + d("u1", "errors_comm") + d("u3", "errors_comm") == 0 and dl("connects") == 0' \
    || fail "CRC errors on unit 2 were not counted as its own, or touched the others or the connection"
values_ok U1 U2 U3

log "4. unit 3: replies with another unit's id"
phase 'other 3 50\n' 3
delta before 'dl("foreign_replies") >= 3 and d("u3", "errors_comm") >= 3 and d("u1", "errors_comm") + d("u2", "errors_comm") == 0' \
    || fail "replies with another unit id were not discarded as foreign"
values_ok U1 U2 U3

log "5. the device server hangs up instead of answering"
phase 'hangup 20\n' 3
delta before 'dl("connects") >= 2 and all(d(n, "requests") >= 5 for n in ("u1", "u2", "u3"))' \
    || fail "no reconnect after hang-ups, or polls stopped"
values_ok U1 U2 U3

log "6. a DTU that drops in the middle of a reply"
cat > "$T/dtu-cut.py" <<'PYEOF'
import socket, sys, time
from sim_peer import crc, crc_ok
port = int(sys.argv[1])
def dial():
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"DTU-CUT"); s.settimeout(30)
    return s
def request(s):
    f = s.recv(256)
    assert len(f) == 8 and crc_ok(f) and f[1] == 3, f.hex()
    return f, f[5]
s = dial()
f, n = request(s)
body = bytes([1, 3, 2 * n]) + bytes(2 * n)
s.sendall(body[:4])       # half a reply, and gone
time.sleep(0.05)
s.close()
time.sleep(0.3)
s = dial()
# Now the values the simulator serves: LT-101..103, TT-101, TT-102 as registers.
regs = [3215, 6500, 8600, 185, 213]
while True:     # until the test is done with it
    f, n = request(s)
    body = bytes([1, 3, 2 * n]) + b"".join(r.to_bytes(2, "big") for r in regs[:n])
    s.sendall(body + crc(body))
PYEOF
"$PY" "$T/dtu-cut.py" "$L" > "$T/dtu-cut.log" 2>&1 &
DTU=$!
PIDS+=($DTU)
status_wait 'devs["d"]["requests"] >= 7 and devs["d"]["link"] == "up"' "the DTU's requests were not made"
"$PY" - "$T/data/status.json" <<'PYEOF' || fail "the DTU dropping mid-reply (above)"
import json, sys
s = json.load(open(sys.argv[1]))
d = {x["name"]: x for x in s["devices"]}["d"]
l = [l for l in s["links"] if "DTU-CUT" in l["link"]][0]
print("d:", d["requests"], "requests,", d["errors_comm"], "comm errors; link:", l)
assert d["errors_reply"] == 0, "half a reply and a closed connection is no reply, not a bad one"
assert l["connects"] >= 2 and l["disconnects"] >= 1, l
PYEOF
"$BIN/ganzhi" tail -c "$T/agent.conf" --once > "$T/tail.txt"
grep -Eq "^D-LT-101 +3.215( |$)" "$T/tail.txt" || { cat "$T/tail.txt"; fail "D-LT-101 after the DTU came back"; }
grep -q "connection closed by the peer" "$T/agent.log" || fail "the log does not say the DTU closed the connection"
echo "PASS"
