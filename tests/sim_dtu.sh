#!/bin/bash
# sim_dtu: ganzhi-sim --dial (a 4G DTU in transparent mode dialling the gateway) against a
# plain Python listening socket playing the agent:
#  A. on 127.0.0.1: the registration (given as hex:) comes first; heartbeats every 0.2 s;
#     RTU requests sent over the accepted socket are answered for units 1 and 2;
#     `heartbeat-inside 100` puts the heartbeat inside a reply; `drop` in the control file
#     closes the connection and the DTU dials again after --redial-wait, registering again;
#     a close by the listener is followed by a redial too; counters on SIGUSR1.
#  B. on [::1]: the DTU starts before anyone listens (refused, retried every 0.1 s);
#     --register-delay 0.5 holds the registration, and a request sent before it is
#     answered only after it; `echo on` with --paced; --redial-after 0.8 drops the
#     connection after 0.8 s and dials again.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export PYTHONPATH=$ROOT/tests

: > "$T/ctl"
"$PY" - "$BIN/ganzhi-sim" "$T" <<'EOF' || { tail -n 20 "$T"/sim*.log; fail "DTU checks"; }
import socket, subprocess, sys, time
from sim_peer import *

sim, tmp = sys.argv[1], sys.argv[2]
ctl = tmp + "/ctl"
procs = []

def listener(host, port=0):
    ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    return ls

def start(log, *args):
    p = subprocess.Popen([sim, "--static"] + list(args), stderr=open(log, "w"))
    procs.append(p)
    return p

def accept(ls, seconds):
    ls.settimeout(seconds)
    try:
        s, _ = ls.accept()
        return s
    except socket.timeout:
        return None

def strip_hb(data, hb):
    while data.startswith(hb):
        data = data[len(hb):]
    return data

def reply_after(s, req, want, hb):
    """Send req; the bytes after any heartbeats that come first, up to len(want) + 2."""
    s.sendall(req)
    data, end = b"", time.monotonic() + 1.5
    while time.monotonic() < end and len(strip_hb(data, hb)) < len(want) + len(hb):
        got, closed = recv_for(s, 0.1)
        data += got
        if closed:
            break
    return strip_hb(data, hb)

try:
    # ---- A: IPv4, registration, heartbeats, requests, heartbeat inside, drop, redial
    ls = listener("127.0.0.1")
    port = ls.getsockname()[1]
    logA = tmp + "/simA.log"
    pA = start(logA, "--dial", "127.0.0.1:%d" % port, "--units", "1,2",
               "--register", "hex:47 5A 30 30 30 31", "--heartbeat", "HB",
               "--heartbeat-interval", "0.2", "--redial-wait", "0.3", "--control", ctl)
    HB = b"HB"
    s = accept(ls, 5)
    check(s is not None, "the DTU dials 127.0.0.1:%d" % port)
    t0 = time.monotonic()
    got, _ = recv_for(s, 1, 6)
    check(got == b"GZ0001" and time.monotonic() - t0 < 0.3, "registration first: %r" % got)
    times, data = [], b""
    end = time.monotonic() + 1.05
    while time.monotonic() < end:
        got, _ = recv_for(s, max(0, end - time.monotonic()), 1)
        if got:
            times.append(time.monotonic())
            data += got
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(data == HB * len(times) and 4 <= len(times) <= 6 and all(0.15 <= g <= 0.3 for g in gaps),
          "heartbeats every 0.2 s: %d in 1.05 s, gaps %s" % (len(times), ["%.2f" % g for g in gaps]))
    want1 = bytes.fromhex("01030c0c8f1964219800b900d502ec071d")
    for unit in (1, 2, 1):
        want = want1 if unit == 1 else rtu_reply(2, 3, [0x0c8f, 0x1964, 0x2198, 0xb9, 0xd5, 0x2ec])
        got = reply_after(s, rtu(unit, 3, 0, 6), want, HB)
        check(got[:len(want)] == want, "unit %d answers over the dialled socket: %s" % (unit, got.hex()))

    control(ctl, "heartbeat-inside 100\n")
    for i in range(3):
        got = reply_after(s, rtu(1, 3, 0, 6), want1, HB)[:len(want1) + 2]
        k = got.find(HB)
        check(0 < k < len(want1) and got[:k] + got[k + 2:] == want1,
              "heartbeat-inside 100: the heartbeat inside the reply at byte %d: %s" % (k, got.hex()))
    control(ctl, "")

    control(ctl, "drop\n", 0)
    got, closed = recv_for(s, 1.5)
    t_drop = time.monotonic()
    check(closed, "drop: the DTU closes the connection")
    s.close()
    s = accept(ls, 3)
    dt = time.monotonic() - t_drop
    check(s is not None and 0.15 <= dt <= 1.5, "drop: dialled again after %.2f s (--redial-wait 0.3)" % dt)
    got, _ = recv_for(s, 1, 6) if s else (b"", False)
    check(got == b"GZ0001", "registration first again: %r" % got)
    s.close()
    s = accept(ls, 3)
    check(s is not None, "closed by the listener: the DTU dials again")
    got, _ = recv_for(s, 1, 6) if s else (b"", False)
    check(got == b"GZ0001", "registration on the third connection: %r" % got)
    got = reply_after(s, rtu(2, 3, 0, 1), rtu_reply(2, 3, [0x0c8f]), HB) if s else b""
    check(got[:7] == rtu_reply(2, 3, [0x0c8f]), "and it answers: %s" % got.hex())

    st = stats(pA.pid, logA)
    print(st)
    d, link = st.get("dial", {}), st.get("link", {})
    check(d.get("dials") == 3 and d.get("registrations") == 3 and d.get("drops") == 1
          and d.get("failed") == 0 and d.get("expired") == 0,
          "dial: dials=3 registrations=3 drops=1 failed=0 expired=0")
    check(d.get("heartbeats_inside") == 3 and d.get("heartbeats", 0) >= 5,
          "dial: heartbeats>=5 heartbeats_inside=3")
    check(link.get("mode") == "dial" and link.get("accepted") == 3 and link.get("closed") == 1,
          "link: mode=dial accepted=3 closed=1")
    if s:
        s.close()
    ls.close()

    # ---- B: IPv6, nobody listening yet, register delay, echo, paced, redial-after
    ls = listener("::1")
    port = ls.getsockname()[1]
    ls.close()
    logB = tmp + "/simB.log"
    pB = start(logB, "--dial", "[::1]:%d" % port, "--units", "5", "--register", "DTU-B",
               "--register-delay", "0.5", "--redial-after", "0.8", "--redial-wait", "0.1",
               "--paced", "--baud", "9600", "--misbehave", "echo on")
    end = time.monotonic() + 10
    while time.monotonic() < end and "Connection refused" not in open(logB).read():
        time.sleep(0.05)
    ls = listener("::1", port)
    s = accept(ls, 3)
    t_acc = time.monotonic()
    check(s is not None, "nobody listening at first; the DTU dials [::1]:%d again" % port)
    req = rtu(5, 3, 0, 6)
    s.sendall(req)          # before the registration: answered only after it
    got, _ = recv_for(s, 1.5, 5)
    t_reg = time.monotonic() - t_acc
    check(got == b"DTU-B" and t_reg >= 0.45, "registration after --register-delay 0.5: %.2f s" % t_reg)
    want5 = rtu_reply(5, 3, [0x0c8f, 0x1964, 0x2198, 0xb9, 0xd5, 0x2ec])
    got, _ = recv_for(s, 1, len(req) + len(want5))
    check(got == req + want5, "echo on: the request, then the reply: %s" % got.hex())
    t = time.monotonic()
    s.sendall(req)
    got, _ = recv_for(s, 1, len(req) + len(want5))
    dt = time.monotonic() - t
    wire = (len(req) + len(want5) + 3.5) * 10 / 9600
    check(got == req + want5 and dt >= wire, "--paced: %.1f ms >= %.1f ms" % (dt * 1000, wire * 1000))
    got, closed = recv_for(s, 1.5)
    up = time.monotonic() - t_acc
    check(closed and 0.7 <= up <= 1.3, "--redial-after 0.8: closed after %.2f s" % up)
    s.close()
    s = accept(ls, 2)
    check(s is not None, "and dialled again")
    got, _ = recv_for(s, 1.5, 5) if s else (b"", False)
    check(got == b"DTU-B", "registration again: %r" % got)
    st = stats(pB.pid, logB)
    print(st)
    d, line = st.get("dial", {}), st.get("line", {})
    check(d.get("failed", 0) >= 1 and d.get("expired") == 1 and d.get("registrations") == 2,
          "dial: failed>=1 expired=1 registrations=2")
    check(line.get("echoes") == 2 and line.get("paced") == 1 and line.get("overlaps") == 0,
          "line: echoes=2 paced=1 overlaps=0")
    refused = [l for l in open(logB) if "Connection refused" in l]
    check(len(refused) == 1, "the refusal is reported once, not at every redial: %s" % refused)
    if s:
        s.close()
finally:
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
for log in ("simA.log", "simB.log"):
    tail = [l for l in open(tmp + "/" + log) if "stats dial" in l]
    check(len(tail) >= 2, "%s: counters printed on exit too" % log)
sys.exit(done("dtu"))
EOF
echo "sim_dtu: ok"
