"""PostgreSQL: the schema created and versioned by sinktrap, every event stored
field by field, exactly once by event_id across a database that is killed and
restarted mid-stream and a sinktrap killed with -9."""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time


import harness
from checks import settle
from evlib import Sender, accepts, eve_time, sinkhole_conf

def usec(ts):
    import datetime
    d = eve_time(ts) - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return d // datetime.timedelta(microseconds=1)


def names(prefix, n):
    return [f"{prefix}-{i}.evil.test" for i in range(n)]


def pg_sink(st):
    r = st.run_cmd("status", "--json")
    return [s for s in json.loads(r.stdout)["sinks"] if s["kind"] == "postgresql"][0]


def wait_rows(pg, db, n, timeout=30):
    return harness.wait_until(
        lambda: (lambda c: c if c >= n else None)(
            pg.rows(db, "SELECT count(*) AS n FROM events")[0]["n"]), timeout,
        what=f"{n} rows in PostgreSQL")


def test_schema_and_fields(res, pg):
    uri = pg.create_db("fields")
    st = res.sinktrap(sinkhole_conf({"database": uri}, sinktrap={"sensor": "pg-sensor"}))
    for n in names("f", 5) + ['q"uo]te=x.evil.test']:
        st.query(n)
    evs = settle(st)
    wait_rows(pg, "fields", len(evs))
    # One schema version for both databases.
    version = st.db_rows("PRAGMA user_version")[0]["user_version"]
    assert version >= 2
    assert pg.rows("fields", "SELECT version FROM sinktrap_schema") == [{"version": version}]
    rows = {r["event_id"]: r for r in pg.rows("fields", "SELECT * FROM events ORDER BY id")}
    assert len(rows) == len(evs)
    for e in evs:
        r = rows[e["event_id"]]
        assert r["ts"] == usec(e["timestamp"])
        assert r["event_type"] == e["event_type"]
        for k in ("src_ip", "src_port", "dest_ip", "dest_port", "proto"):
            assert r[k] == e.get(k)
        dom = e.get("dns", {}).get("rrname") or e.get("sinkhole_map", {}).get("domain")
        assert r["domain"] == dom
        assert r["sensor"] == "pg-sensor"
        assert json.loads(r["json"]) == e
        assert r["stored"] >= r["ts"]
    # The sinkhole map is the same as the local one.
    local = st.db_rows("SELECT address, family, domain, first_seen FROM sinkhole_map "
                       "ORDER BY address")
    remote = pg.rows("fields", "SELECT address, family, domain, first_seen FROM sinkhole_map "
                               "ORDER BY address")
    assert remote == local and len(local) == 6
    # The tables of later issues exist, with their columns, in both databases.
    for table, cols in (("sessions", {"flow_id", "community_id", "src_ip", "src_port",
                                      "dest_ip", "dest_port", "proto", "vlan", "start_ts",
                                      "end_ts", "pkts_toserver", "pkts_toclient",
                                      "bytes_toserver", "bytes_toclient", "tcp_flags",
                                      "end_reason", "pcap_files", "expired"}),
                        ("payloads", {"sha256", "size", "first_seen", "kind", "name",
                                      "event_id"})):
        got = {r["column_name"] for r in pg.rows(
            "fields", "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
            (table,))}
        assert cols <= got, table
        lite = {r["name"] for r in st.db_rows(f"PRAGMA table_info({table})")}
        assert cols <= lite, table
    idx = {r["indexname"] for r in pg.rows("fields", "SELECT indexname FROM pg_indexes")}
    assert {"events_ts", "events_type_ts", "events_src_ts", "events_domain",
            "events_dest_ts", "sessions_start"} <= idx
    # A second connection (restart) does not migrate again.
    st.stop()
    st.start()
    assert pg.rows("fields", "SELECT version FROM sinktrap_schema") == [{"version": version}]


def test_a_database_not_in_utf8_is_refused_and_events_stay_queued(res, pg):
    """A LATIN1 database would refuse a batch for one character it cannot hold
    (and every batch behind it, for ever): the sink says so at the connection
    and keeps the events queued."""
    c = pg.connect()
    try:
        c.cursor().execute('DROP DATABASE IF EXISTS "latin"')
        c.cursor().execute("CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' "
                           "LC_CTYPE 'C' TEMPLATE template0")
    finally:
        c.close()
    url = f"postgresql://postgres@127.0.0.1:{pg.port}/latin"
    st = res.sinktrap(sinkhole_conf({"database": url}))
    for n in names("latin", 5):
        st.query(n)
    s = harness.wait_until(lambda: (lambda k: k if k["queued"] >= 5 and k["last_error"]
                                    else None)(pg_sink(st)), 15, what="the sink to refuse")
    assert "encoding is LATIN1" in s["last_error"] and not s["connected"]
    assert "encoding is LATIN1" in st.log()
    assert s["delivered"] == 0 and s["dropped"] == 0
    tables = pg.rows("latin", "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'events'")
    assert tables[0]["n"] == 0


def test_map_history_keeps_every_holder_of_an_address(res, pg):
    """A pool of two addresses and three names: the third takes the first's
    address. Delivered in one batch (the database comes up after the queries:
    the events wait in the queue), the map holds the last holder of each
    address, the history every one, each span ending where the next begins,
    as in SQLite."""
    uri = pg.create_db("history0").replace("/history0", "/history")
    st = res.sinktrap(sinkhole_conf({"database": uri}, dns={"sinkhole_ipv4": "127.78.0.0/30"}))
    for n in ("a.hist.test", "b.hist.test", "c.hist.test"):
        st.query(n)
    want = st.wait_events(lambda es: len([e for e in es if e["event_type"] == "sinkhole_map"
                                          and e["sinkhole_map"]["family"] == "ipv4"]) >= 3)
    pg.create_db("history")
    maps = [(e["sinkhole_map"]["address"], e["sinkhole_map"]["domain"], usec(e["timestamp"]))
            for e in want if e["event_type"] == "sinkhole_map"
            and e["sinkhole_map"]["family"] == "ipv4"]
    q = ("SELECT address, domain, held_from, held_until FROM sinkhole_map_spans "
         "WHERE family = 'ipv4' ORDER BY address, held_from")

    def spans():
        try:
            r = pg.rows("history", q)
        except Exception:  # the store has not created the schema yet
            return None
        return r if len(r) >= 3 else None

    for rows in (harness.wait_until(spans, 30, what="3 spans in PostgreSQL"), st.db_rows(q)):
        assert sorted((r["address"], r["domain"], r["held_from"]) for r in rows) == \
            sorted(maps)
        for r, n in zip(rows, rows[1:] + [None]):
            nxt = n["held_from"] if n and n["address"] == r["address"] else None
            assert r["held_until"] == nxt, rows


def test_postgres_killed_and_restarted(res, pg):
    uri = pg.create_db("killed")
    st = res.sinktrap(sinkhole_conf({"database": uri}))
    snd = Sender(st.port, names("pk", 2400), rate=400).start()
    time.sleep(1.5)
    r = pg.kill()
    assert r.returncode == 0, r.stderr
    time.sleep(2.0)
    harness.wait_until(lambda: not pg_sink(st)["connected"], 10, what="the sink to notice")
    pg.start()
    snd.join()
    evs = settle(st)
    ids = [e["event_id"] for e in evs]
    wait_rows(pg, "killed", len(ids), timeout=60)
    rows = pg.rows("killed", "SELECT event_id FROM events ORDER BY id")
    got = [r["event_id"] for r in rows]
    assert len(got) == len(set(got))  # exactly once
    assert got == ids  # every event, in order
    s = harness.wait_until(lambda: (lambda k: k if k["queued"] == 0 else None)(pg_sink(st)), 10,
                           what="an empty queue")
    assert s["delivered"] >= len(ids) and s["dropped"] == 0


def test_kill9_sinktrap_mid_stream_stores_each_event_once(res, pg):
    """kill -9 while batches are in flight: after the restart the queue is sent
    again from its cursor and what was already committed is not stored twice."""
    uri = pg.create_db("kill9")
    st = res.sinktrap(sinkhole_conf({"database": uri}))
    snd = Sender(st.port, names("k9", 3000), rate=1500).start()
    time.sleep(1.2)
    os.killpg(st.proc.pid, signal.SIGKILL)
    st.proc.wait(10)
    snd.stop()
    snd.join()
    before = [e["event_id"] for e in st.events()]
    st.start()
    for n in names("after", 3):
        st.query(n)
    evs = settle(st)
    ids = [e["event_id"] for e in evs]
    wait_rows(pg, "kill9", len(ids), timeout=60)
    got = [r["event_id"] for r in pg.rows("kill9", "SELECT event_id FROM events ORDER BY id")]
    assert len(got) == len(set(got))
    assert set(before) <= set(got) and set(ids) <= set(got)


def test_database_types(res, pg):
    uri = pg.create_db("types")
    st = res.sinktrap(sinkhole_conf({"database": uri, "database_types": "dns:sinkhole"}))
    for n in names("t", 4):
        st.query(n)
    evs = settle(st)
    wait_rows(pg, "types", 4)
    time.sleep(0.5)
    assert {r["event_type"] for r in pg.rows("types", "SELECT event_type FROM events")} == {"dns"}
    # The map is kept whatever the filter; SQLite has the same filter.
    assert len(pg.rows("types", "SELECT * FROM sinkhole_map")) == 4
    assert {r["event_type"] for r in st.db_rows("SELECT event_type FROM events")} == {"dns"}
    assert len(evs) == 8
    st.stop()

    # No dns event stored at all: a sinkholed answer still raises its address's
    # last_seen in the map, in PostgreSQL as in SQLite.
    uri = pg.create_db("types2")
    st = res.sinktrap(sinkhole_conf({"database": uri, "database_types": "alert"}))
    st.query("seen.evil.test")

    def pg_map():
        rows = pg.rows("types2", "SELECT * FROM sinkhole_map")
        return rows[0] if rows else None
    first = harness.wait_until(pg_map, 10, what="the mapping in PostgreSQL")
    time.sleep(1.1)
    st.query("seen.evil.test")
    later = harness.wait_until(
        lambda: (lambda r: r if r["last_seen"] > first["last_seen"] else None)(pg_map()),
        10, what="last_seen raised in PostgreSQL")
    assert later["first_seen"] == first["first_seen"]
    assert pg.rows("types2", "SELECT count(*) AS n FROM events WHERE event_type = 'dns'") == \
        [{"n": 0}]
    harness.wait_until(lambda: [r for r in st.db_rows("SELECT * FROM sinkhole_map")
                                if r["last_seen"] > r["first_seen"]], 10,
                       what="last_seen raised in SQLite")


def _trap_post(port, body, path="/upload.php"):
    """One HTTP POST to the trap with curl (a real client); the body becomes a payload."""
    r = subprocess.run(["curl", "-sS", "-m", "10", "-o", "/dev/null", "--data-binary", "@-",
                        "-H", "Content-Type: application/octet-stream",
                        f"http://127.0.0.1:{port}{path}"], input=body, capture_output=True)
    assert r.returncode == 0, r.stderr


def test_sessions_and_payloads_match_sqlite(res, pg):
    """The tables beside `events` fill the same in both databases: a captured session (the
    flow event, here kept out of `events` by the filter, as the local store does) is a
    `sessions` row, a payload POSTed twice is one `payloads` row seen twice."""
    uri = pg.create_db("tables")
    port = harness.free_port(v6=False)
    conf = sinkhole_conf(
        {"database": uri, "database_types": "trap,fileinfo"},
        trap={"enabled": "yes", "listen": "127.0.0.1", "ports": str(port)},
        capture={"enabled": "yes", "interface": "lo", "filter": f"tcp port {port}",
                 "tcp_closed_timeout": "1s", "tcp_new_timeout": "2s", "stats_interval": "1s"})
    st = res.sinktrap(conf)
    body = b"MZ\x90\x00 payload for the database " + os.urandom(16).hex().encode()
    harness.wait_until(lambda: accepts(port), 15, what="the trap listening")
    _trap_post(port, body)
    _trap_post(port, body, "/again.php")
    sha = hashlib.sha256(body).hexdigest()

    # SQLite: two sessions captured, one payload seen twice.
    lite = harness.wait_until(
        lambda: (lambda r: r if len(r) >= 2 else None)(
            st.db_rows(f"SELECT * FROM sessions WHERE dest_port = {port} OR src_port = {port} "
                       "ORDER BY start_ts")), 30, what="two sessions in SQLite")
    lite_pay = harness.wait_until(
        lambda: (lambda r: r if r and r[0]["seen"] == 2 else None)(
            st.db_rows("SELECT * FROM payloads WHERE sha256 = ?", (sha,))),
        15, what="the payload seen twice in SQLite")
    assert {r["event_type"] for r in st.db_rows("SELECT event_type FROM events")} <= \
        {"trap", "fileinfo"}

    # PostgreSQL: the same rows, column by column.
    def pg_sessions():
        r = pg.rows("tables", f"SELECT * FROM sessions WHERE dest_port = {port} OR "
                              f"src_port = {port} ORDER BY start_ts")
        return r if len(r) >= len(lite) else None
    rows = harness.wait_until(pg_sessions, 30, what="the sessions in PostgreSQL")
    cols = ("event_id", "flow_id", "community_id", "src_ip", "src_port", "dest_ip",
            "dest_port", "proto", "vlan", "start_ts", "end_ts", "pkts_toserver",
            "pkts_toclient", "bytes_toserver", "bytes_toclient", "payload_toserver",
            "payload_toclient", "tcp_flags", "tcp_flags_ts", "tcp_flags_tc", "state",
            "end_reason", "conn_state", "history", "pcap_files", "pcap_first", "pcap_last")
    assert len(rows) == len(lite)
    for a, b in zip(lite, rows):
        assert {k: a[k] for k in cols} == {k: b[k] for k in cols}
        assert bool(a["expired"]) == b["expired"]
        assert b["pkts_toserver"] > 0 and b["bytes_toclient"] > 0
    pay = harness.wait_until(
        lambda: (lambda r: r if r and r[0]["seen"] == 2 else None)(
            pg.rows("tables", "SELECT * FROM payloads WHERE sha256 = %s", (sha,))),
        15, what="the payload seen twice in PostgreSQL")
    for k in ("sha256", "size", "first_seen", "last_seen", "seen", "kind", "name"):
        assert pay[0][k] == lite_pay[0][k], k
    assert pay[0]["size"] == len(body)
    assert pay[0]["first_seen"] < pay[0]["last_seen"]



def stop_backend(pg, db):
    """SIGSTOP the store's idle PostgreSQL backend for db; return its pid."""
    backend = pg.rows(db, "SELECT pid FROM pg_stat_activity WHERE "
                          f"application_name = 'sinktrap' AND datname = '{db}'")[0]["pid"]
    os.kill(backend, signal.SIGSTOP)
    return backend


def test_a_server_that_stops_answering_costs_the_connection(res, pg):
    """The PostgreSQL backend stops answering (SIGSTOP: its host and TCP stay up, so
    keepalives see nothing). Each wait for the server ends after database_timeout:
    the connection is dropped, a new one made, and the batch stored through it.
    Before, the delivery thread waited in libpq for ever and nothing more was
    stored."""
    uri = pg.create_db("silent")
    st = res.sinktrap(sinkhole_conf({"database": uri, "database_timeout": "2s"}))
    for n in names("s1", 5):
        st.query(n)
    wait_rows(pg, "silent", len(settle(st)))
    backend = stop_backend(pg, "silent")
    try:
        for n in names("s2", 5):
            st.query(n)
        evs = settle(st)
        wait_rows(pg, "silent", len(evs), timeout=20)
        assert "no answer from the server in 2000 ms" in st.log()
    finally:
        os.kill(backend, signal.SIGCONT)
    rows = pg.rows("silent", "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events")
    assert rows[0]["n"] == rows[0]["d"] == len(evs)
    assert pg_sink(st)["connected"]
    assert st.stop() == 0


def test_reload_while_the_database_hangs(res, pg):
    """The PostgreSQL backend stops answering (SIGSTOP) while a batch waits for it,
    and a reload ([events] changed) stops the delivery thread: its wait ends with
    the stop's grace, the new sink takes the same queue, and every event is stored,
    once. (Before the waits were bounded, the old thread could not end while libpq
    waited: the store kept that sink and its queue until it did; before that, the
    sink was given up, its configuration freed under it.)"""
    uri = pg.create_db("hung")
    st = res.sinktrap(sinkhole_conf({"database": uri}))
    for n in names("h1", 5):
        st.query(n)
    wait_rows(pg, "hung", len(settle(st)))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    backend = stop_backend(pg, "hung")
    try:
        for n in names("h2", 5):  # the next batch waits for the stopped backend
            st.query(n)
        time.sleep(1)
        st.conf["events"]["syslog"] = f"udp://127.0.0.1:{udp.getsockname()[1]} name=siem"
        st.write_conf()
        st.hup()
        harness.wait_until(lambda: "1 remote destination" in st.log() or
                           "2 remote destinations" in st.log(), 10, what="the reload")
        for n in names("h3", 5):  # queued for the new sink
            st.query(n)
        evs = settle(st)
        wait_rows(pg, "hung", len(evs), timeout=20)
    finally:
        os.kill(backend, signal.SIGCONT)
        udp.close()
    rows = pg.rows("hung", "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events")[0]
    assert rows["n"] == rows["d"] == len(evs)
    assert {e["event_id"] for e in evs} == {
        r["event_id"] for r in pg.rows("hung", "SELECT event_id FROM events")}
    assert st.stop() == 0


def _keepalive_timers(port):
    """The keepalive timers (seconds left) of the established connections to port."""
    out = subprocess.run(["ss", "-tno", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    timers = []
    for mins, val, unit in re.findall(r"timer:\(keepalive,(?:(\d+)min)?(?:([\d.]+)(sec|ms))?",
                                      out):
        timers.append(int(mins or 0) * 60 + float(val or 0) / (1000 if unit == "ms" else 1))
    return timers


def test_connection_probes_a_silent_server(res, pg):
    """The connection to the database is kept with TCP keepalives after 10 s idle
    (a host that is gone is given up in about half a minute, not the kernel's two
    hours); a connection string may set its own."""
    uri = pg.create_db("keepalive")
    st = res.sinktrap(sinkhole_conf({"database": uri}))
    st.query("ka.evil.test")
    wait_rows(pg, "keepalive", 1)
    timers = harness.wait_until(lambda: _keepalive_timers(pg.port), 10,
                                what="a keepalive timer on the store's connection")
    assert all(t <= 10.5 for t in timers), timers
    st.stop()

    uri = pg.create_db("keepalive2") + "?keepalives_idle=300"
    st = res.sinktrap(sinkhole_conf({"database": uri}))
    st.query("ka2.evil.test")
    wait_rows(pg, "keepalive2", 1)
    timers = harness.wait_until(lambda: _keepalive_timers(pg.port), 10,
                                what="a keepalive timer on the store's connection")
    assert all(60 < t <= 300.5 for t in timers), timers
