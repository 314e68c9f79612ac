#!/usr/bin/python3
"""platform_sim: a small emergency-management platform for the command tests.

It signs commands as a platform must ({"command":OBJECT,"sign":HEX}, HMAC over
the exact OBJECT bytes: README "Commands from the platform"), publishes them with
mosquitto_pub, and reads what the gateway sent from a mosquitto_sub -v capture
(one "TOPIC PAYLOAD" a line). Written from the README's description, not from
Ganzhi's C code, so that the two cannot be wrong together.
"""
import datetime
import hashlib
import hmac
import json
import subprocess
import time


class Platform:
    def __init__(self, port, prefix, key, alg="sha256", capture=None):
        self.port, self.prefix, self.key, self.alg = port, prefix, key, alg
        self.capture = capture

    def sign(self, obj_bytes):
        return hmac.new(self.key, obj_bytes, self.alg).hexdigest()

    def payload(self, obj, sign=None):
        raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        return b'{"command":' + raw + b',"sign":"' + (sign or self.sign(raw)).encode() + b'"}'

    def publish(self, payload):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
                        "-t", self.prefix + "/command", "-s"], input=payload, check=True)

    def send(self, cmd, cid, args=None, ts=None, sign=None):
        obj = {"id": cid, "cmd": cmd, "ts": ts or now_rfc3339()}
        if args is not None:
            obj["args"] = args
        self.publish(self.payload(obj, sign))

    def messages(self, topic_suffix=None):
        """(topic, payload dict) of every captured message, in arrival order."""
        out = []
        for line in open(self.capture, encoding="utf-8", errors="replace"):
            topic, _, body = line.rstrip("\n").partition(" ")
            if not topic.startswith(self.prefix + "/"):
                continue    # another uplink's
            if topic_suffix and not topic.endswith(topic_suffix):
                continue
            try:
                out.append((topic, json.loads(body)))
            except ValueError:
                pass
        return out

    def replies(self, cid=None):
        out = []
        for topic, m in self.messages("/reply"):
            r = m.get("reply", {})
            if cid is None or r.get("id") == cid:
                out.append(m)
        return out

    def wait_reply(self, cid, n=1, timeout=10):
        t = time.monotonic() + timeout
        while time.monotonic() < t:
            r = self.replies(cid)
            if len(r) >= n:
                return r
            time.sleep(0.1)
        raise AssertionError(f"no reply to {cid} within {timeout} s")

    def raw_replies(self):
        """The reply payloads as bytes, for signature checks."""
        out = []
        for line in open(self.capture, "rb"):
            topic, _, body = line.rstrip(b"\n").partition(b" ")
            if topic == (self.prefix + "/reply").encode():
                out.append(body)
        return out

    def reply_signed(self, body):
        head, tail = b'{"reply":', b'"}'
        i = body.rfind(b',"sign":"')
        if not body.startswith(head) or not body.endswith(tail) or i < 0:
            return False
        obj, sig = body[len(head):i], body[i + 9:-2].decode()
        return hmac.compare_digest(self.sign(obj), sig.lower())


def now_rfc3339(offset_s=0.0):
    t = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    t += datetime.timedelta(seconds=offset_s)
    return t.isoformat(timespec="milliseconds")


def seqs_of(messages, **flags):
    """The seqs of realtime messages whose fields match flags (e.g. command_id="x")."""
    out = []
    for topic, m in messages:
        if not topic.endswith("/realtime") and "readings" not in m:
            continue
        if all(m.get(k) == v for k, v in flags.items()):
            out.extend(r["seq"] for r in m.get("readings", []))
    return out


def sm3_available():
    try:
        hashlib.new("sm3")
        return True
    except ValueError:
        return False
