#!/usr/bin/python3
"""Fill a sinktrap store (made by sinktrap itself, schema and all) with a
reproducible, realistic month of a busy sensor: events (dns, trap, fileinfo,
flow, sinkhole_map, stats, alert) over many hosts and domains, sessions,
payloads and the sinkhole map.

    gen.py DB [--events N] [--sessions N] [--seed S] [--list FILE]

The same seed gives the same database. --list writes the blocklist the
domains come from (hosts format). Prints a JSON summary (busy host, domains,
time range) the benchmark uses to build its URLs."""

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import time

END = 1793577600  # 2026-11-01T00:00:00Z
DAYS = 30
HOSTS = 5000
DOMAINS = 20000
FAMILIES = 400  # parent domains: c2 infrastructure with many subdomains
TLDS = ["top", "xyz", "ru", "cn", "info", "biz", "net", "com", "pw", "club"]
PORTS = [(80, "http"), (443, "tls"), (8080, "http"), (25, "smtp"), (22, "ssh"), (21, "ftp"),
         (6667, "irc"), (23, "telnet"), (4444, None), (8443, "tls"), (53, "dns"), (110, "pop3")]
UAS = ["Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", "EvilBot/1.0", "curl/7.68.0",
       "Wget/1.20.3", "python-requests/2.25.1", "Go-http-client/1.1", "", "<script>x</script>"]
KINDS = ["http_request_body", "smtp_message", "ftp_upload", "raw", "http_response_body"]


def iso(us):
    s, u = divmod(us, 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%06d+0000" % u


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--sessions", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--list", default=None)
    a = ap.parse_args()
    R = random.Random(a.seed)

    fams = []
    for i in range(FAMILIES):
        label = "".join(R.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(R.randint(5, 12)))
        fams.append(f"{label}.{R.choice(TLDS)}")
    domains = []
    for i in range(DOMAINS):
        sub = "".join(R.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(R.randint(4, 16)))
        domains.append(f"{sub}.{fams[i % FAMILIES]}")
    lines = {d: 1000 + i for i, d in enumerate(domains)}
    list_path = a.list or "/etc/sinktrap/lists/blocklist.hosts"
    if a.list:
        with open(a.list, "w") as f:
            for d in domains:
                f.write(f"0.0.0.0 {d}\n")
            # and the bulk of a real blocklist
            for i in range(100000):
                f.write("0.0.0.0 filler%06d.%s\n" % (i, R.choice(TLDS)))
        lines = {d: i + 1 for i, d in enumerate(domains)}
    addr = {d: "10.66.%d.%d" % (i // 250, i % 250 + 1) for i, d in enumerate(domains)}
    hosts = ["10.%d.%d.%d" % (1 + i // 65000, (i // 250) % 256, i % 250 + 1) for i in range(HOSTS)]
    # Skewed activity: a few hosts and domains make most of the noise.
    hw = [1.0 / (i + 1) ** 0.8 for i in range(HOSTS)]
    dw = [1.0 / (i + 1) ** 0.7 for i in range(DOMAINS)]
    start_us = (END - DAYS * 86400) * 1000000
    span = DAYS * 86400 * 1000000

    db = sqlite3.connect(a.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    ver = db.execute("PRAGMA user_version").fetchone()[0]
    if ver < 3:
        sys.exit(f"{a.db}: schema version {ver}: let sinktrap create the store first")
    eid = [0]

    def next_eid():
        eid[0] += 1
        return "b%015x%08x" % (a.seed, eid[0])

    payload_pool = [hashlib.sha256(b"payload %d %d" % (a.seed, i)).hexdigest() for i in range(30000)]
    payloads = {}

    # Timestamps first (sorted: the store appends in time order, ids grow with ts).
    n_stats = DAYS * 1440 * 2
    n_stats = min(n_stats, a.events // 10)
    n_rest = a.events - n_stats
    kinds = R.choices(["dns", "trap", "flow", "fileinfo", "sinkhole_map", "alert"],
                      weights=[45, 28, 20, 5, 1.5, 0.5], k=n_rest)
    kinds += ["stats"] * n_stats
    tss = sorted(start_us + R.randrange(span) for _ in range(a.events))
    R.shuffle(kinds)
    host_seq = R.choices(range(HOSTS), weights=hw, k=a.events)
    dom_seq = R.choices(range(DOMAINS), weights=dw, k=a.events)
    rows = []
    ins = ("INSERT INTO events (event_id, ts, event_type, src_ip, src_port, dest_ip, dest_port, "
           "proto, community_id, domain, json, flow_id, sensor, stored) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    stats_n = 0
    for i in range(a.events):
        ts = tss[i]
        t = kinds[i]
        h = hosts[host_seq[i]]
        d = domains[dom_seq[i]]
        e = {"timestamp": iso(ts), "event_type": t, "event_id": next_eid()}
        sp = R.randint(1024, 65535)
        cid = None
        flow = None
        if t == "dns":
            qt = R.choice(["A", "A", "A", "AAAA", "TXT"])
            e.update({"src_ip": h, "src_port": sp, "dest_ip": "10.0.0.53", "dest_port": 53,
                      "proto": "UDP",
                      "dns": {"version": 2, "type": "answer", "id": R.randrange(65536),
                              "rrname": d, "rrtype": qt, "rcode": "NOERROR",
                              "answers": [{"rrname": d, "rrtype": "A", "ttl": 300,
                                           "rdata": addr[d]}] if qt == "A" else []},
                      "sinkhole": {"action": "sinkhole", "reason": "blocklist", "rule": d,
                                   "list": list_path, "line": lines[d], "answer": addr[d]}})
            row = (h, sp, "10.0.0.53", 53, "UDP", None, d)
        elif t == "trap":
            port, proto = R.choice(PORTS)
            cid = "1:" + hashlib.sha1(f"{h}{sp}{port}".encode()).digest()[:20].hex()[:27] + "="
            e.update({"src_ip": h, "src_port": sp, "dest_ip": addr[d], "dest_port": port,
                      "proto": "TCP", "community_id": cid})
            if proto:
                e["app_proto"] = proto
            tr = {"phase": "end", "start": iso(ts), "domain": d, "domain_source": "sinkhole_map",
                  "listener": "redirect", "detected": proto or "unknown", "tls": proto == "tls",
                  "bytes_toserver": R.randint(0, 5000), "bytes_toclient": R.randint(0, 2000),
                  "duration_ms": R.randint(1, 30000), "end": R.choice(["client_closed", "silent",
                                                                       "timeout", "reset"])}
            if proto == "http":
                e["http"] = {"hostname": d, "url": "/gate.php?id=%d" % R.randrange(10000),
                             "http_method": R.choice(["GET", "POST"]),
                             "http_user_agent": R.choice(UAS), "protocol": "HTTP/1.1",
                             "status": 200}
            if proto == "tls":
                e["tls"] = {"sni": d, "version": "TLS 1.2"}
            if R.random() < 0.1:
                tr["payloads"] = [R.choice(payload_pool)]
            e["trap"] = tr
            row = (h, sp, addr[d], port, "TCP", cid, d)
        elif t == "fileinfo":
            sha = R.choice(payload_pool)
            size = int(hashlib.sha256(sha.encode()).hexdigest()[:5], 16) + 100
            kind = KINDS[int(sha[0], 16) % len(KINDS)]
            e.update({"src_ip": h, "src_port": sp, "dest_ip": addr[d], "dest_port": 80,
                      "proto": "TCP",
                      "fileinfo": {"sha256": sha, "size": size, "kind": kind,
                                   "filename": "upload-%s.bin" % sha[:8] if kind == "ftp_upload" else None,
                                   "stored": True, "truncated": False, "domain": d}})
            if e["fileinfo"]["filename"] is None:
                del e["fileinfo"]["filename"]
            p = payloads.get(sha)
            if p is None:
                payloads[sha] = [size, ts, ts, 1, kind, e["fileinfo"].get("filename"), e["event_id"]]
            else:
                p[2] = ts
                p[3] += 1
            row = (h, sp, addr[d], 80, "TCP", None, d)
        elif t == "flow":
            port, _ = R.choice(PORTS)
            flow = R.randrange(1 << 52)
            cid = "1:" + hashlib.sha1(f"{h}{sp}{port}f".encode()).digest()[:20].hex()[:27] + "="
            e.update({"flow_id": flow, "src_ip": h, "src_port": sp, "dest_ip": addr[d],
                      "dest_port": port, "proto": "TCP", "community_id": cid,
                      "flow": {"pkts_toserver": R.randint(1, 50), "pkts_toclient": R.randint(0, 50),
                               "bytes_toserver": R.randint(60, 50000),
                               "bytes_toclient": R.randint(0, 50000), "start": iso(ts),
                               "end": iso(ts + R.randint(1000, 30000000)), "age": 1,
                               "state": "closed", "reason": "fin", "conn_state": "SF",
                               "history": "ShADaFf"}})
            row = (h, sp, addr[d], port, "TCP", cid, None)
        elif t == "sinkhole_map":
            e["sinkhole_map"] = {"domain": d, "address": addr[d], "family": "ipv4", "action": "new"}
            row = (None, None, None, None, None, None, d)
        elif t == "alert":
            e.update({"alert": {"signature": "delivery queue full: oldest events dropped",
                                "category": "sinktrap"}})
            row = (None, None, None, None, None, None, None)
        else:
            stats_n += 1
            if stats_n % 2:
                e["stats"] = {"worker": "dns", "dns": {"queries": stats_n * 40, "sinkholed": stats_n * 20,
                                                       "forwarded": stats_n * 20, "rules": 120000,
                                                       "pending": 0}}
            else:
                e["stats"] = {"worker": "trap", "trap": {"connections": stats_n * 7, "active": 3,
                                                         "payloads": stats_n}}
            row = (None, None, None, None, None, None, None)
        rows.append((e["event_id"], ts, t, row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                     json.dumps(e, separators=(",", ":")), flow, None, ts + 1000))
        if len(rows) >= 50000:
            db.executemany(ins, rows)
            rows.clear()
    if rows:
        db.executemany(ins, rows)
    db.executemany("INSERT OR IGNORE INTO payloads (sha256, size, first_seen, last_seen, seen, "
                   "kind, name, event_id) VALUES (?,?,?,?,?,?,?,?)",
                   [(k, *v) for k, v in payloads.items()])
    db.executemany("INSERT OR REPLACE INTO sinkhole_map (address, family, domain, first_seen, "
                   "last_seen) VALUES (?,?,?,?,?)",
                   [(addr[d], "ipv4", d, start_us, start_us + span) for d in domains])
    db.commit()

    # Sessions: the captured connections of the same hosts to the trap's addresses.
    have = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    n = max(0, a.sessions - have)
    sts = sorted(start_us + R.randrange(span) for _ in range(n))
    host_seq = R.choices(range(HOSTS), weights=hw, k=n)
    dom_seq = R.choices(range(DOMAINS), weights=dw, k=n)
    sins = ("INSERT INTO sessions (event_id, flow_id, community_id, src_ip, src_port, dest_ip, "
            "dest_port, proto, start_ts, end_ts, pkts_toserver, pkts_toclient, bytes_toserver, "
            "bytes_toclient, tcp_flags, state, end_reason, pcap_files, payload_toserver, "
            "payload_toclient, conn_state, history, pcap_first, pcap_last) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    rows = []
    for i in range(n):
        h = hosts[host_seq[i]]
        d = domains[dom_seq[i]]
        port, _ = R.choice(PORTS)
        sp = R.randint(1024, 65535)
        proto = "UDP" if port == 53 else "TCP"
        ts = sts[i]
        pf = "sinktrap-%s-%010d.pcap" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts // 1000000)), i // 5000)
        cid = "1:" + hashlib.sha1(f"{h}{sp}{port}s{i}".encode()).digest()[:20].hex()[:27] + "="
        pts, ptc = R.randint(1, 40), R.randint(0, 40)
        rows.append((next_eid(), R.randrange(1 << 52), cid, h, sp, addr[d], port, proto, ts,
                     ts + R.randint(1000, 60000000), pts, ptc, pts * R.randint(60, 1500),
                     ptc * R.randint(60, 1500), "1b", "closed", "fin", json.dumps([pf]),
                     pts * 100, ptc * 100, "SF", "ShADaFf", pf, pf))
        if len(rows) >= 50000:
            db.executemany(sins, rows)
            rows.clear()
    if rows:
        db.executemany(sins, rows)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.commit()

    busy = db.execute("SELECT src_ip, count(*) n FROM events WHERE src_ip = ? ", (hosts[0],)).fetchone()
    summary = {
        "events": db.execute("SELECT count(*) FROM events").fetchone()[0],
        "sessions": db.execute("SELECT count(*) FROM sessions").fetchone()[0],
        "payloads": db.execute("SELECT count(*) FROM payloads").fetchone()[0],
        "busy_host": hosts[0], "busy_host_events": busy[1],
        "typical_host": hosts[200],
        "family": fams[0], "domain": domains[0], "day_since": END - 86400 * 3,
        "day_until": END - 86400 * 2, "list": list_path,
    }
    db.close()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
