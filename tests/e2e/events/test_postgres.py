"""PostgreSQL: the schema created and versioned by sinktrap, every event stored
field by field, exactly once by event_id across a database that is killed and
restarted mid-stream and a sinktrap killed with -9."""

import json
import os
import signal
import time

import pytest

import harness
from checks import settle
from evlib import Sender, eve_time, sinkhole_conf

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
