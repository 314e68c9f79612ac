#!/usr/bin/python3
"""show: one readable line per MQTT message of the demo (mosquitto_sub -v input).

Ctrl-C reaches the whole demo at once, this formatter included: it then stops
quietly (no KeyboardInterrupt traceback), as it does when its output goes away
(`make demo | head`: no BrokenPipeError) or its input ends."""
import json
import os
import sys


def show(line):
    topic, _, body = line.rstrip("\n").partition(" ")
    kind = topic.rsplit("/", 1)[-1]
    try:
        msg = json.loads(body)
    except ValueError:
        print(f"{kind:9} {body[:100]}")
        return
    if kind == "realtime":
        rs = msg.get("readings", [])
        if not rs:
            return
        seqs = f"seq {rs[0]['seq']}-{rs[-1]['seq']}" if len(rs) > 1 else f"seq {rs[0]['seq']}"
        vals = ", ".join(
            f"{r['tag']}={r['value'] if r['value'] is not None else r['quality']}{r['unit']}"
            for r in rs[:6])
        more = f" (+{len(rs) - 6} more)" if len(rs) > 6 else ""
        flag = " resend" if msg.get("resend") else ""
        print(f"realtime  {seqs:15} {rs[0]['ts'][11:23]}{flag}  {vals}{more}")
    elif kind == "status":
        s = msg.get("status", {})
        devs = "; ".join(f"{d['name']} {d['link']} rtt {d['rtt_ms']} ms" for d in s.get("devices", []))
        ups = "; ".join(f"uplink {u['name']} backlog {u['backlog']}" for u in s.get("uplinks", []))
        print(f"status    up {s.get('uptime_s')} s  {devs}; {ups}")
    else:
        print(f"{kind:9} {body[:100]}")


def main():
    try:
        for line in sys.stdin:
            show(line)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
