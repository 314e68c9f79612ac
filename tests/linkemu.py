#!/usr/bin/python3
"""linkemu: a bad WAN link between two loopback TCP peers, for the tests and the bench.

A user-space TCP proxy: it listens on 127.0.0.1:LISTEN and forwards each connection
to 127.0.0.1:TARGET, through a link that has, in each direction ("up": from the
client that connected to us, "down": back to it):

  delay S        one-way latency (RTT = both directions' delays)
  rate B         bandwidth cap in bytes/s (0: none): a serialisation queue, so bytes
                 leave at the capped rate and a full pipe builds a queue, as on a
                 4G link; the queue holds at most `queue` bytes, then we stop
                 reading (TCP flow control pushes back on the sender)
  queue B        bytes one direction of one connection holds, waiting and in flight
  stall          `stall DIR S`: forward nothing in DIR for S seconds, close nothing

and for the whole link:

  nat_idle S     a carrier-grade NAT: a connection with no bytes either way for S
                 seconds is forgotten: from then on it is neither forwarded nor
                 closed, and bytes from either side vanish (counted as dropped)
  reset_after S  every connection is reset (RST both ways) S seconds after it is
                 established end to end, i.e. after the target first answered on it
                 (MQTT's CONNACK, TLS's ServerHello): a flapping link that lets each
                 session start and then drops it
  reset          (command) RST every connection now

Usage:
  linkemu.py serve --listen PORT --target PORT --control PORT [--KEY VALUE...]
      KEY as for `set` with '-' for '_' (--delay 0.3, --up-rate 32000, --nat-idle 6);
      prints "linkemu: ready ..." on stderr when it listens; SIGTERM ends it (exit 0)
      after printing the stats.
  linkemu.py ctl PORT COMMAND...
      sends one command to a running linkemu and prints its one-line answer; exit 1
      if the answer starts with "error".

Commands (one a line on the control port, each answered with one line):
  set KEY VALUE       KEY: delay, rate, queue (both directions, or up.KEY / down.KEY),
                      nat_idle, reset_after (0 turns either off)
  stall up|down|both S
  reset
  stats               JSON: {"now", "accepted", "up", "down" (bytes delivered each way),
                      "dropped" (bytes the NAT swallowed), "resets", "forgotten",
                      "target_refused", "conns": [{"id", "t_accept", "t_answered" (the
                      target's first bytes reached the client), "t_end", "state", "up",
                      "down", "dropped"}]}; times are Unix seconds;
                      state: open, forgotten, closed, reset, refused (by the target)
  config              the settings, as JSON
  quit                stop (as SIGTERM)
"""
import asyncio
import collections
import json
import signal
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
SEGMENT = 1448      # bytes a capped link moves as one unit (a TCP segment's payload)
READ = 65536


class Direction:
    """The settings of one direction of the link."""

    def __init__(self):
        self.delay = 0.0
        self.rate = 0.0
        self.queue = 256 * 1024
        self.stall_until = 0.0     # loop time


class Pipe:
    """One direction of one connection: read, serialise at the rate, delay, write."""

    def __init__(self, conn, d, name, reader, writer):
        self.conn, self.d, self.name = conn, d, name
        self.reader, self.writer = reader, writer
        self.waiting = collections.deque()      # (arrival, bytes) not yet serialised
        self.flight = collections.deque()       # (due, bytes) on the wire
        self.held = 0                           # bytes in both
        self.more = asyncio.Event()             # something to serialise
        self.landed = asyncio.Event()           # something to deliver
        self.room = asyncio.Event()             # held fell below the queue limit
        self.tx_free = 0.0                      # loop time the link is free again
        self.eof = False
        self.broken = False                     # the receiving side is gone

    async def read(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(READ)
                if not data:
                    break
                if self.conn.state != "open" or self.broken:
                    self.conn.drop(len(data))
                    continue
                self.conn.touch()
                now = loop.time()
                step = SEGMENT if self.d.rate > 0 else len(data)
                for i in range(0, len(data), step):
                    self.waiting.append((now, data[i:i + step]))
                self.held += len(data)
                self.more.set()
                while self.held >= self.d.queue and self.conn.state == "open" and not self.broken:
                    self.room.clear()
                    await self.room.wait()
        except (ConnectionError, OSError):
            pass
        self.eof = True
        self.more.set()

    async def transmit(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self.waiting:
                if self.eof:
                    self.flight.append((None, None))
                    self.landed.set()
                    return
                self.more.clear()
                await self.more.wait()
            arrival, data = self.waiting.popleft()
            while loop.time() < self.d.stall_until:
                await asyncio.sleep(self.d.stall_until - loop.time())
            if self.d.rate > 0:
                # Virtual time: the link is busy from tx_free on, so a late wake-up
                # does not cost it capacity; an idle link starts when bytes come.
                start = max(self.tx_free, arrival, self.d.stall_until)
                self.tx_free = start + len(data) / self.d.rate
                if self.tx_free > loop.time():
                    await asyncio.sleep(self.tx_free - loop.time())
            else:
                self.tx_free = loop.time()
            self.flight.append((self.tx_free + self.d.delay, data))
            self.landed.set()

    async def deliver(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not self.flight:
                    self.landed.clear()
                    await self.landed.wait()
                due, data = self.flight.popleft()
                if data is None:                    # the sender closed: pass it on
                    if self.conn.state == "open":
                        self.writer.write_eof()
                    return
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                self.held = max(0, self.held - len(data))
                if self.held < self.d.queue:
                    self.room.set()
                if self.conn.state != "open":
                    self.conn.drop(len(data))
                    continue
                self.writer.write(data)
                await self.writer.drain()
                self.conn.count(self.name, len(data))
        except (ConnectionError, OSError, RuntimeError):
            # The receiver is gone: what comes from the sender now goes nowhere.
            self.broken = True
            self.clear()

    def clear(self):
        """What the link held vanishes (a forgotten or reset connection)."""
        for _, data in self.waiting:
            self.conn.drop(len(data))
        for _, data in self.flight:
            if data is not None:
                self.conn.drop(len(data))
        self.waiting.clear()
        self.flight.clear()
        self.held = 0
        self.room.set()


class Conn:
    next_id = 1

    def __init__(self, link, creader, cwriter):
        self.link = link
        self.id = Conn.next_id
        Conn.next_id += 1
        self.creader, self.cwriter = creader, cwriter
        self.swriter = None
        self.t_accept = time.time()
        self.m_accept = asyncio.get_running_loop().time()
        self.t_end = None
        self.state = "open"
        self.bytes = {"up": 0, "down": 0, "dropped": 0}
        self.last = self.m_accept
        self.m_answered = None                  # loop time of the target's first bytes
        self.t_answered = None
        self.pipes = []

    def touch(self):
        self.last = asyncio.get_running_loop().time()

    def count(self, name, n):
        if name == "down" and self.m_answered is None:
            self.m_answered = asyncio.get_running_loop().time()
            self.t_answered = time.time()
        self.bytes[name] += n
        self.link.totals[name] += n

    def drop(self, n):
        self.bytes["dropped"] += n
        self.link.totals["dropped"] += n

    def forget(self):
        self.state = "forgotten"
        self.link.totals["forgotten"] += 1
        for p in self.pipes:
            p.clear()

    def reset(self):
        if self.state in ("closed", "reset"):
            return
        self.state = "reset"
        self.t_end = time.time()
        self.link.totals["resets"] += 1
        for p in self.pipes:
            p.clear()
        self.abort()

    def abort(self):
        for w in (self.cwriter, self.swriter):
            if w is None:
                continue
            sock = w.get_extra_info("socket")
            try:
                # Linger 0: close() sends RST, not FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            w.transport.abort()

    async def run(self):
        try:
            sreader, self.swriter = await asyncio.open_connection(HOST, self.link.target)
        except OSError:
            self.link.totals["target_refused"] += 1
            self.state = "refused"
            self.t_end = time.time()
            self.abort()
            return
        up = Pipe(self, self.link.up, "up", self.creader, self.swriter)
        down = Pipe(self, self.link.down, "down", sreader, self.cwriter)
        self.pipes = [up, down]
        tasks = [asyncio.create_task(c) for p in self.pipes
                 for c in (p.read(), p.transmit(), p.deliver())]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.state in ("open", "forgotten"):
            self.state = "closed"
            self.t_end = time.time()
        for w in (self.cwriter, self.swriter):
            w.close()

    def json(self):
        return {"id": self.id, "t_accept": round(self.t_accept, 3),
                "t_answered": self.t_answered and round(self.t_answered, 3),
                "t_end": self.t_end and round(self.t_end, 3), "state": self.state, **self.bytes}


class Link:
    def __init__(self, target):
        self.target = target
        self.up, self.down = Direction(), Direction()
        self.nat_idle = 0.0
        self.reset_after = 0.0
        self.conns = []
        self.totals = collections.Counter(up=0, down=0, dropped=0, resets=0, forgotten=0,
                                          target_refused=0)
        self.stop = asyncio.Event()

    async def accept(self, reader, writer):
        c = Conn(self, reader, writer)
        self.conns.append(c)
        await c.run()

    async def watch(self):
        """The NAT's idle timer and the flapping link's resets."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            for c in self.conns:
                if c.state != "open":
                    continue
                if (self.reset_after > 0 and c.m_answered is not None
                        and now - c.m_answered >= self.reset_after):
                    c.reset()
                elif self.nat_idle > 0 and now - c.last >= self.nat_idle:
                    c.forget()

    def set(self, key, value):
        v = float(value)
        if v < 0:
            raise ValueError("negative")
        dirs, _, name = key.rpartition(".")
        if name in ("nat_idle", "reset_after") and not dirs:
            setattr(self, name, v)
            return
        if name not in ("delay", "rate", "queue") or dirs not in ("", "up", "down"):
            raise ValueError(f"unknown setting '{key}'")
        if name == "queue" and v < SEGMENT:
            raise ValueError(f"queue below {SEGMENT}")
        for d in ([self.up, self.down] if not dirs else [getattr(self, dirs)]):
            setattr(d, name, v)
            if name == "queue":
                for c in self.conns:
                    for p in c.pipes:
                        p.room.set()

    def config(self):
        return {"nat_idle": self.nat_idle, "reset_after": self.reset_after,
                **{f"{n}.{k}": getattr(d, k) for n, d in (("up", self.up), ("down", self.down))
                   for k in ("delay", "rate", "queue")}}

    def stats(self):
        return {"now": round(time.time(), 3), "accepted": len(self.conns), **self.totals,
                "conns": [c.json() for c in self.conns]}

    def command(self, words):
        loop = asyncio.get_running_loop()
        if not words:
            raise ValueError("empty command")
        cmd, args = words[0], words[1:]
        if cmd == "set" and len(args) == 2:
            self.set(*args)
            return "ok"
        if cmd == "stall" and len(args) == 2 and args[0] in ("up", "down", "both"):
            until = loop.time() + float(args[1])
            for n in (("up", "down") if args[0] == "both" else (args[0],)):
                getattr(self, n).stall_until = until
            return "ok"
        if cmd == "reset" and not args:
            n = sum(1 for c in self.conns if c.state in ("open", "forgotten"))
            for c in self.conns:
                c.reset()
            return f"ok {n}"
        if cmd == "stats" and not args:
            return json.dumps(self.stats(), separators=(",", ":"))
        if cmd == "config" and not args:
            return json.dumps(self.config(), separators=(",", ":"))
        if cmd == "quit" and not args:
            self.stop.set()
            return "ok"
        raise ValueError(f"unknown command '{' '.join(words)}'")

    async def control(self, reader, writer):
        try:
            while line := await reader.readline():
                try:
                    answer = self.command(line.decode().split())
                except ValueError as e:
                    answer = f"error: {e}"
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()


async def serve(listen, target, control, settings):
    link = Link(target)
    for k, v in settings:
        link.set(k, v)
    server = await asyncio.start_server(link.accept, HOST, listen)
    ctl = await asyncio.start_server(link.control, HOST, control)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, link.stop.set)
    watcher = asyncio.create_task(link.watch())
    print(f"linkemu: ready: {HOST}:{listen} -> {HOST}:{target}, control {HOST}:{control}, "
          f"{json.dumps(link.config())}", file=sys.stderr, flush=True)
    await link.stop.wait()
    watcher.cancel()
    server.close()
    ctl.close()
    s = link.stats()
    del s["conns"]
    print(f"linkemu: stats {json.dumps(s)}", file=sys.stderr, flush=True)


def ctl(port, words):
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall((" ".join(words) + "\n").encode())
        f = s.makefile("rb")
        answer = f.readline().decode().rstrip("\n")
    print(answer)
    return 1 if not answer or answer.startswith("error") else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "ctl":
        return ctl(int(argv[1]), argv[2:])
    if not argv or argv[0] != "serve" or len(argv) % 2 == 0:
        print(__doc__, file=sys.stderr)
        return 2
    ports, settings = {}, []
    for opt, val in zip(argv[1::2], argv[2::2]):
        key = opt.lstrip("-").replace("-", "_")
        if key in ("listen", "target", "control"):
            ports[key] = int(val)
        else:
            # --up-rate -> up.rate
            for d in ("up_", "down_"):
                if key.startswith(d):
                    key = d[:-1] + "." + key[len(d):]
            settings.append((key, val))
    if set(ports) != {"listen", "target", "control"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(ports["listen"], ports["target"], ports["control"], settings))
    except ValueError as e:
        print(f"linkemu: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
