"""bench_plan: the read plan the agent makes for a point table (max_gap 0: adjacent
points of an area merged, up to 125 registers or 2000 bits a read) and the serial
wire time of one poll of it, for the benches' wire limits (bench_rtu.sh,
bench_links.sh). Computed here from the table, never from the agent's own planner."""
import csv

CHAR_MS = 10 / 9600 * 1000      # one character at 9600 8N1


def plan(path):
    """(points, data bytes of each read's reply)."""
    rows = [r for r in csv.DictReader(l for l in open(path, encoding="utf-8") if not l.startswith("#"))]
    width = lambda t: 2 if t in ("int32", "uint32", "float32") else 4 if t in ("int64", "uint64", "float64") else 1
    spans = {}
    for r in rows:
        a, w = int(r["address"]), width(r["type"])
        spans.setdefault(r["area"], []).append((a, a + w))
    reads = []
    for area, sp in spans.items():
        sp.sort()
        cur = None
        for a, e in sp:
            limit = 2000 if area in ("coil", "discrete") else 125
            if cur and a <= cur[1] and max(e, cur[1]) - cur[0] <= limit:
                cur[1] = max(cur[1], e)
            else:
                cur = [a, e]
                reads.append((area, cur))
    data = [((e - a + 7) // 8 if area in ("coil", "discrete") else 2 * (e - a)) for area, (a, e) in reads]
    return len(rows), data


def poll_chars(data, gaps=1):
    """Characters on the wire a poll: per request `gaps` x 3.5 characters of silence,
    8 (the request), 5 + data (the reply)."""
    return sum(gaps * 3.5 + 8 + 5 + d for d in data)
