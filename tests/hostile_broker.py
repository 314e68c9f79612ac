#!/usr/bin/python3
"""hostile_broker: an MQTT 3.1.1 broker that misbehaves on purpose, for
tests/e2e_hostile_broker.sh. One client at a time is enough: it serves each
connection on a thread of its own.

    hostile_broker.py PORT DIR

DIR/mode holds the behaviour in force (re-read every 100 ms; changing it
applies to every connection from then on):
  good          acknowledge every PUBLISH (QoS 1), answer SUBSCRIBE and PINGREQ
  never-ack     take every PUBLISH, acknowledge none (PINGREQ still answered:
                the broker looks alive)
  ack-unknown   acknowledge every PUBLISH, and besides send a flood of PUBACKs
                for packet ids the client is not using (a broker that acknowledges
                an id the client has in flight without having its message loses
                it: no client can tell; these are ids thousands away from the last
                one received)
  drop-mid      close the connection halfway through reading every 20th PUBLISH
  oversize      (entering it closes every connection) send the client a valid 8 MB PUBLISH on each topic it subscribed
                to and on another, then a PUBLISH declaring 200 MB of which it
                sends 64 KB and nothing more (the connection stays open, silent)
  unasked       acknowledge as `good`, and publish to the client, unasked, on
                topics it never subscribed to (QoS 0 and 1), 50 a second
  silent        accept TCP connections and never send a byte (a stalled TLS
                handshake, for an mqtts:// client)

What it acknowledged is appended to DIR/acked.TOPICTAIL (the payload, one a
line; TOPICTAIL: the topic's last level), and DIR/stats holds, as JSON, the
connections accepted (with their times), PUBLISHes taken and acknowledged,
and what it sent unasked.
"""
import json
import os
import random
import socket
import struct
import sys
import threading
import time

port, folder = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
stats = {"connections": [], "publishes": 0, "acked": 0, "unknown_acks": 0, "unasked": 0,
         "dropped_mid": 0, "oversize_sent": 0, "subscribed": []}
mode = ["good"]
live = set()    # the connections being served


def save_stats():
    with lock:
        text = json.dumps(stats)
    tmp = os.path.join(folder, "stats.%d.tmp" % threading.get_ident())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(folder, "stats"))


def watch_mode():
    path = os.path.join(folder, "mode")
    while True:
        try:
            with open(path) as f:
                m = f.read().strip()
            if m and m != mode[0]:
                mode[0] = m
                print("hostile_broker: mode", m, flush=True)
                if m == "oversize":     # the big packets go to the next connection
                    with lock:
                        for c in list(live):
                            try:
                                c.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
        except OSError:
            pass
        time.sleep(0.1)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(min(n - len(buf), 65536))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def encode_length(n):
    out = b""
    while True:
        d = n % 128
        n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def read_packet(s):
    """(first byte, body), or for a PUBLISH in drop-mid mode perhaps half of it."""
    first = read_exact(s, 1)[0]
    length, mult = 0, 1
    while True:
        b = read_exact(s, 1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, length


def publish_packet(topic, payload, qos, pid=1):
    t = topic.encode()
    var = struct.pack(">H", len(t)) + t + (struct.pack(">H", pid) if qos else b"")
    return bytes([0x30 | (qos << 1)]) + encode_length(len(var) + len(payload)) + var + payload


def serve(c, addr):
    wlock = threading.Lock()
    alive = [True]
    last_pid = [0]
    with lock:
        live.add(c)

    def send(data):
        with wlock:
            c.sendall(data)

    def pest():
        """What this connection is sent unasked, while the mode asks for it."""
        n = 0
        while alive[0]:
            m = mode[0]
            try:
                if m == "ack-unknown":
                    for _ in range(20):
                        pid = (last_pid[0] + random.randint(1000, 60000)) % 65535 + 1
                        send(bytes([0x40, 2]) + struct.pack(">H", pid))
                    with lock:
                        stats["unknown_acks"] += 20
                elif m == "unasked":
                    qos = n % 2
                    send(publish_packet("unasked/%d/x" % (n % 7), b'{"not":"yours"}', qos, n % 65535 + 1))
                    with lock:
                        stats["unasked"] += 1
            except OSError:
                return
            n += 1
            if n % 25 == 0:
                save_stats()
            time.sleep(0.02)

    threading.Thread(target=pest, daemon=True).start()
    taken = 0
    oversize_done = False
    try:
        while True:
            first, length = read_packet(c)
            kind = first >> 4
            if kind == 3 and mode[0] == "drop-mid" and (taken + 1) % 20 == 0:
                read_exact(c, length // 2)
                with lock:
                    stats["dropped_mid"] += 1
                raise EOFError
            body = read_exact(c, length)
            if kind == 1:      # CONNECT
                send(bytes([0x20, 2, 0, 0]))
            elif kind == 3:    # PUBLISH
                taken += 1
                qos = (first >> 1) & 3
                tl = struct.unpack(">H", body[:2])[0]
                topic = body[2:2 + tl].decode(errors="replace")
                rest = body[2 + tl:]
                pid = struct.unpack(">H", rest[:2])[0] if qos else 0
                last_pid[0] = pid
                payload = rest[2:] if qos else rest
                with lock:
                    stats["publishes"] += 1
                if qos and mode[0] != "never-ack":
                    with open(os.path.join(folder, "acked." + topic.rsplit("/", 1)[-1]), "ab") as f:
                        f.write(payload.replace(b"\n", b" ") + b"\n")
                    send(bytes([0x40, 2]) + struct.pack(">H", pid))
                    with lock:
                        stats["acked"] += 1
            elif kind == 8:    # SUBSCRIBE
                pid = struct.unpack(">H", body[:2])[0]
                i, granted, topics = 2, b"", []
                while i < len(body):
                    tl = struct.unpack(">H", body[i:i + 2])[0]
                    topics.append(body[i + 2:i + 2 + tl].decode(errors="replace"))
                    granted += bytes([min(body[i + 2 + tl], 1)])
                    i += 3 + tl
                with lock:
                    stats["subscribed"] += topics
                send(bytes([0x90]) + encode_length(2 + len(granted)) + struct.pack(">H", pid) + granted)
                if mode[0] == "oversize" and not oversize_done:
                    oversize_done = True
                    big = b"x" * (8 << 20)
                    for t in topics + ["somewhere/else"]:
                        send(publish_packet(t, big, 1, 7))
                    # 200 MB announced, 64 KB given, then silence.
                    t = topics[0].encode()
                    var = struct.pack(">H", len(t)) + t + struct.pack(">H", 8)
                    send(bytes([0x32]) + encode_length(200 << 20) + var + b"y" * 65536)
                    with lock:
                        stats["oversize_sent"] += 1
                    save_stats()
                    while True:     # a broker stuck mid-packet: read and answer nothing
                        if not c.recv(65536):
                            raise EOFError
            elif kind == 12:   # PINGREQ
                send(bytes([0xD0, 0]))
            elif kind == 14:   # DISCONNECT
                break
            if taken % 200 == 0:
                save_stats()
    except (EOFError, OSError):
        pass
    finally:
        alive[0] = False
        with lock:
            live.discard(c)
        save_stats()
        c.close()


def main():
    threading.Thread(target=watch_mode, daemon=True).start()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    save_stats()
    while True:
        c, addr = srv.accept()
        with lock:
            stats["connections"].append(round(time.time(), 3))
        save_stats()
        if mode[0] == "silent":
            threading.Thread(target=lambda s=c: (s.recv(65536), time.sleep(3600)), daemon=True).start()
            continue
        threading.Thread(target=serve, args=(c, addr), daemon=True).start()


main()
