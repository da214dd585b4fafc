#!/usr/bin/python3
"""Latency and throughput of delivered events, measured where they arrived.

  analyze.py rsyslog FILE        lines "REPORTED RECEIVED" (rsyslog's timereported of
                                 the RFC 5424 TIMESTAMP, i.e. the event's time, and
                                 timegenerated, when rsyslog received it)
  analyze.py poll-sqlite DB OUT SECONDS
                                 poll the database every 20 ms: each new row's
                                 latency is the moment it became visible to a
                                 reader minus the event's timestamp
  analyze.py sqlite-lat OUT      summarize what poll-sqlite wrote
  analyze.py pg HOST PORT DB     rows' stored (insert time) minus ts
Prints one JSON object: count, rate (events/s between the first and the last
arrival), and latency percentiles in milliseconds.
"""

import datetime
import json
import sqlite3
import sys
import time


def pct(vals):
    if not vals:
        return {}
    vals.sort()
    out = {}
    for p in (50, 90, 99, 99.9):
        out[f"p{p}"] = round(vals[min(len(vals) - 1, int(len(vals) * p / 100))], 2)
    out["max"] = round(vals[-1], 2)
    return out


def summary(arrivals_us, lat_ms):
    n = len(lat_ms)
    span = (max(arrivals_us) - min(arrivals_us)) / 1e6 if n > 1 else 0
    return {"count": n, "seconds": round(span, 2), "rate": round(n / span) if span else 0,
            "latency_ms": pct(lat_ms)}


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def rsyslog(path):
    arr, lat = [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 2:
                continue
            rep, rec = ts(p[0]), ts(p[1])
            arr.append(rec * 1e6)
            lat.append((rec - rep) * 1000)
    return summary(arr, lat)


def poll_sqlite(db, out, secs):
    end = time.time() + float(secs)
    last = 0
    with open(out, "w") as f:
        while time.time() < end:
            try:
                c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                while time.time() < end:
                    rows = c.execute("SELECT id, ts FROM events WHERE id > ? ORDER BY id",
                                     (last,)).fetchall()
                    now = time.time() * 1e6
                    for i, t in rows:
                        f.write(f"{int(now)} {t}\n")
                    if rows:
                        last = rows[-1][0]
                    time.sleep(0.02)
            except sqlite3.Error:
                time.sleep(0.1)


def sqlite_lat(path):
    arr, lat = [], []
    for line in open(path):
        now, t = map(int, line.split())
        arr.append(now)
        lat.append((now - t) / 1000)
    return summary(arr, lat)


def pg(host, port, db):
    import psycopg2
    c = psycopg2.connect(host=host, port=int(port), user="postgres", dbname=db)
    cur = c.cursor()
    cur.execute("SELECT stored, ts FROM events")
    arr, lat = [], []
    for stored, t in cur:
        arr.append(stored)
        lat.append((stored - t) / 1000)
    return summary(arr, lat)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "rsyslog":
        print(json.dumps(rsyslog(sys.argv[2])))
    elif cmd == "poll-sqlite":
        poll_sqlite(*sys.argv[2:5])
    elif cmd == "sqlite-lat":
        print(json.dumps(sqlite_lat(sys.argv[2])))
    elif cmd == "pg":
        print(json.dumps(pg(*sys.argv[2:5])))
    else:
        sys.exit(__doc__)
