"""hostile_modbus: a Modbus TCP server that misbehaves on purpose, for
tests/e2e_hostile_modbus.sh. Raw sockets, no Modbus library: every byte it sends
is written out here.

    hostile_modbus.py --control FILE [--seed N] [--rtu PORT]... PORT=MODE [PORT=MODE ...]

listens on 127.0.0.1:PORT for each PORT, each with its own MODE; a port named
by --rtu frames RTU over TCP (a serial device server: unit, PDU, CRC) instead
of MBAP. The control file, looked at every 100 ms, changes the modes at run
time: lines `PORT MODE`, or `* MODE` for every port. A healthy server answers
function 3 (holding registers) with register N holding 4321 + N; the modes
(on RTU ports: healthy, garbage, other-unit, drip, drip-garbage, flood,
half-open and stop-after, the drip of garbage being random bytes from the start):

  healthy          answers every request
  garbage          random bytes instead of a reply (never a valid MBAP header)
  len65535         an MBAP header (our transaction, our unit) whose length is
                   65535, then nothing
  len65535-flood   the same header, then bytes without end
  other-tid        a valid reply for another transaction id (values 0xDEAD)
  other-unit       a valid reply for our transaction from another unit (0xDEAD)
  drip             the valid reply, one byte every 50 ms
  drip-garbage     a plausible header (our transaction, our unit, length 254),
                   then one random byte every 50 ms without end: framing cannot
                   tell it is no reply, only a bound on the whole wait ends it
  flood            random bytes without end, 64 every 10 ms, from the first
                   request on (faster than any quiet a drain waits for)
  half-open        accepts the connection, then never reads nor answers
  stop-after:N     N good replies on each connection, then never reads nor
                   answers on it again (a PLC rebooted behind a NAT: the old
                   connection is dead, a new one is served)

A mode is taken at each request; a connection gone dead (half-open, stop-after)
stays dead, and one dripping garbage is closed when its mode changes (a device
that restarts). Each connection and request is logged to stderr, one line each.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_peer import crc  # noqa: E402  (the Modbus CRC, written out there)

DRIP_S = 0.05
modes = {}              # port -> mode
rtu_ports = set()       # ports framing RTU over TCP
lock = threading.Lock()
rnd = random.Random(1)


def say(*a):
    print("hostile:", *a, file=sys.stderr, flush=True)


def mode_of(port):
    with lock:
        return modes[port]


def watch_control(path):
    last = None
    while True:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            text = None
        if text is not None and text != last:
            last = text
            for line in text.splitlines():
                words = line.split()
                if len(words) != 2:
                    continue
                with lock:
                    for p in (list(modes) if words[0] == "*" else [int(words[0])]):
                        if p in modes and modes[p] != words[1]:
                            modes[p] = words[1]
                            say("port %d: mode %s" % (p, words[1]))
        time.sleep(0.1)


def recv_exact(conn, n):
    b = b""
    while len(b) < n:
        got = conn.recv(n - len(b))
        if not got:
            raise ConnectionError("closed by the client")
        b += got
    return b


def reply(tid, unit, pdu):
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def registers(start, count, value=None):
    vals = [value if value is not None else (4321 + start + i) & 0xFFFF for i in range(count)]
    return bytes([3, 2 * count]) + b"".join(struct.pack(">H", v) for v in vals)


def answer(tid, unit, pdu, value=None):
    if pdu[0] != 3 or len(pdu) != 5:
        return reply(tid, unit, bytes([pdu[0] | 0x80, 1]))      # illegal function
    start, count = struct.unpack(">HH", pdu[1:5])
    if not 1 <= count <= 125:
        return reply(tid, unit, bytes([0x83, 3]))
    return reply(tid, unit, registers(start, count, value))


def answer_rtu(unit, pdu, value=None):
    body = bytes([unit]) + answer(0, unit, pdu, value)[7:]
    return body + crc(body)


def garbage():
    while True:
        b = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(5, 40)))
        # Never a Modbus TCP header by chance: protocol id not 0.
        if b[2] or b[3]:
            return b


def play_dead(conn, port, why):
    """Keep the connection open, never read it nor write to it again."""
    say("port %d: connection dead (%s)" % (port, why))
    while True:
        time.sleep(3600)


def serve(conn, port, peer):
    answered = 0
    try:
        while True:
            mode = mode_of(port)
            if mode == "half-open":
                play_dead(conn, port, "half-open")
            if mode.startswith("stop-after:") and answered >= int(mode.split(":")[1]):
                play_dead(conn, port, "stopped after %d replies" % answered)
            if port in rtu_ports:
                if serve_rtu(conn, port, mode_of(port)):
                    answered += 1
                continue
            head = recv_exact(conn, 7)
            tid, proto, length, unit = struct.unpack(">HHHB", head)
            pdu = recv_exact(conn, max(length - 1, 0))
            mode = mode_of(port)
            say("port %d: request tid %d unit %d (%s)" % (port, tid, unit, mode))
            if mode in ("healthy",) or mode.startswith("stop-after:"):
                conn.sendall(answer(tid, unit, pdu))
                answered += 1
            elif mode == "garbage":
                conn.sendall(garbage())
            elif mode == "len65535":
                conn.sendall(struct.pack(">HHHB", tid, 0, 65535, unit))
            elif mode == "len65535-flood":
                conn.sendall(struct.pack(">HHHB", tid, 0, 65535, unit))
                while mode_of(port) == mode:
                    conn.sendall(os.urandom(1024))      # until the client hangs up
                    time.sleep(0.01)
            elif mode == "other-tid":
                conn.sendall(answer((tid + 0x100) & 0xFFFF, unit, pdu, 0xDEAD))
            elif mode == "other-unit":
                conn.sendall(answer(tid, unit ^ 0x40, pdu, 0xDEAD))
            elif mode == "drip":
                for b in answer(tid, unit, pdu):
                    conn.sendall(bytes([b]))
                    time.sleep(DRIP_S)
            elif mode == "drip-garbage":
                conn.sendall(struct.pack(">HHHB", tid, 0, 254, unit))
                drip_garbage(conn, port, mode)
            elif mode == "flood":
                drip_garbage(conn, port, mode, 64, 0.01)
            else:
                say("port %d: unknown mode %r: no answer" % (port, mode))
    except (ConnectionError, OSError) as e:
        say("port %d: connection from %s ended: %s" % (port, peer, e))
    finally:
        conn.close()


def drip_garbage(conn, port, mode, size=1, pause=DRIP_S):
    """size random bytes every pause while the mode lasts; requests meanwhile
    are read and dropped (to a device that is gone); then the connection is
    closed."""
    conn.setblocking(False)
    while mode_of(port) == mode:
        try:
            conn.sendall(bytes(rnd.getrandbits(8) for _ in range(size)))
        except BlockingIOError:
            pass        # the client's buffers are full: it is not reading
        except OSError as e:
            raise ConnectionError(str(e))
        try:
            if conn.recv(4096) == b"":
                raise ConnectionError("closed by the client")
        except BlockingIOError:
            pass
        time.sleep(pause)
    say("port %d: drip ended: connection closed" % port)
    raise ConnectionError("drip ended")


def serve_rtu(conn, port, mode):
    """One RTU read request (8 bytes: unit, 3, start, count, CRC) and what the
    mode makes of it; True if answered well."""
    req = recv_exact(conn, 8)
    unit, pdu = req[0], req[1:6]
    say("port %d: RTU request unit %d (%s)" % (port, unit, mode))
    if mode == "healthy" or mode.startswith("stop-after:"):
        conn.sendall(answer_rtu(unit, pdu))
        return True
    if mode == "garbage":
        conn.sendall(garbage())
    elif mode == "other-unit":
        conn.sendall(answer_rtu(unit ^ 0x40, pdu, 0xDEAD))
    elif mode == "drip":
        for b in answer_rtu(unit, pdu):
            conn.sendall(bytes([b]))
            time.sleep(DRIP_S)
    elif mode == "drip-garbage":
        drip_garbage(conn, port, mode)
    elif mode == "flood":
        drip_garbage(conn, port, mode, 64, 0.01)
    else:
        say("port %d: no RTU answer in mode %r" % (port, mode))
    return False


def listen(srv, port):
    while True:
        conn, addr = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        say("port %d: connection from %s:%d (%s)" % (port, addr[0], addr[1], mode_of(port)))
        threading.Thread(target=serve, args=(conn, port, "%s:%d" % addr), daemon=True).start()


def main(argv):
    usage = "usage: hostile_modbus.py --control FILE [--seed N] [--rtu PORT]... PORT=MODE..."
    control = None
    args = argv[1:]
    while args:     # options and ports in any order
        a = args.pop(0)
        if a.startswith("--") and not args:
            sys.exit(usage)
        if a == "--control":
            control = args.pop(0)
        elif a == "--rtu":
            rtu_ports.add(int(args.pop(0)))
        elif a == "--seed":
            rnd.seed(int(args.pop(0)))
        elif "=" in a and not a.startswith("-"):
            port, _, mode = a.partition("=")
            modes[int(port)] = mode
        else:
            sys.exit(usage)
    if not modes or not rtu_ports <= set(modes):
        sys.exit(usage)
    for port in modes:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(16)
        threading.Thread(target=listen, args=(srv, port), daemon=True).start()
    if control:
        threading.Thread(target=watch_control, args=(control,), daemon=True).start()
    say("serving " + " ".join("%d=%s" % pm for pm in modes.items()))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv)
