"""A database an older sinktrap wrote (schema version 1: events and the
sinkhole map, nothing of sessions) is upgraded in place at the start: what it
held is still there and still used, the new columns and tables are there,
the log says it once, and a second start changes nothing. The same for a
PostgreSQL database."""

import sqlite3

import harness
from evlib import sinkhole_conf

# The whole schema of version 1, as the first sinktrap that stored events made it.
SCHEMA_V1 = """
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL,
  event_type TEXT NOT NULL,
  src_ip TEXT, src_port INTEGER, dest_ip TEXT, dest_port INTEGER, proto TEXT,
  community_id TEXT,
  domain TEXT,
  json TEXT NOT NULL);
CREATE INDEX events_ts ON events(ts);
CREATE INDEX events_type_ts ON events(event_type, ts);
CREATE INDEX events_src_ts ON events(src_ip, ts);
CREATE INDEX events_domain ON events(domain);
CREATE TABLE sinkhole_map (
  address TEXT PRIMARY KEY,
  family TEXT NOT NULL,
  domain TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL);
CREATE INDEX sinkhole_map_domain ON sinkhole_map(domain);
PRAGMA user_version = 1;
"""

OLD_EVENT = ('{"timestamp":"2026-01-02T03:04:05.000000+0000","event_type":"dns",'
             '"event_id":"0000000000000000000000aa","src_ip":"10.1.2.3","src_port":5000,'
             '"dest_ip":"10.0.0.53","dest_port":53,"proto":"UDP",'
             '"dns":{"type":"answer","rrname":"old.upgrade.test","rrtype":"A"}}')
OLD_TS = 1767323045000000
# The address's holder before old.upgrade.test, known from its sinkhole_map event only.
OLDER_MAP_EVENT = ('{"timestamp":"2026-01-02T03:04:04.000000+0000",'
                   '"event_type":"sinkhole_map","event_id":"0000000000000000000000ab",'
                   '"sinkhole_map":{"domain":"older.upgrade.test","address":"127.77.0.200",'
                   '"family":"ipv4","action":"new"}}')


def old_database(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute("INSERT INTO events(event_id, ts, event_type, src_ip, src_port, dest_ip, "
               "dest_port, proto, domain, json) VALUES (?,?,?,?,?,?,?,?,?,?)",
               ("0000000000000000000000aa", OLD_TS, "dns", "10.1.2.3", 5000, "10.0.0.53", 53,
                "UDP", "old.upgrade.test", OLD_EVENT))
    db.execute("INSERT INTO events(event_id, ts, event_type, json) VALUES (?,?,?,?)",
               ("0000000000000000000000ab", OLD_TS - 1000000, "sinkhole_map",
                OLDER_MAP_EVENT))
    db.execute("INSERT INTO sinkhole_map VALUES ('127.77.0.200', 'ipv4', 'old.upgrade.test', "
               "?, ?)", (OLD_TS, OLD_TS))
    db.commit()
    db.close()


def columns(st, table):
    return {r["name"] for r in st.db_rows(f"PRAGMA table_info({table})")}


def test_version_1_database_upgraded_in_place(res):
    bl = harness.write_list(res.path("up.plain"), ["upgrade.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.77.0.0/24"}},
                      start=False, upstream=res.dnsmasq(["address=/#/127.0.9.9"]))
    old_database(st.db_path())
    st.start()

    assert st.db_rows("PRAGMA user_version")[0]["user_version"] == 4
    assert "database schema upgraded from version 1 to 4" in st.log()
    assert "database created" not in st.log()
    # What version 2, 3 and 4 added; the map's history from its events and the map.
    assert st.db_rows("SELECT domain, held_from, held_until FROM sinkhole_map_spans "
                      "WHERE address = '127.77.0.200' ORDER BY held_from") == [
        {"domain": "older.upgrade.test", "held_from": OLD_TS - 1000000, "held_until": OLD_TS},
        {"domain": "old.upgrade.test", "held_from": OLD_TS, "held_until": None}]
    assert {"flow_id", "sensor", "stored"} <= columns(st, "events")
    assert {"payload_toserver", "conn_state", "history", "pcap_first", "pcap_last"} <= \
        columns(st, "sessions")
    assert columns(st, "payloads")

    # The old mapping still decides the domain's address: it was not handed out again.
    a = st.query("old.upgrade.test")
    assert harness.a_records(a) == ["127.77.0.200"]
    b = harness.a_records(st.query("new.upgrade.test"))
    assert len(b) == 1 and b[0] != "127.77.0.200"
    st.wait_dns_event("new.upgrade.test")
    harness.wait_until(lambda: st.db_rows(
        "SELECT 1 FROM events WHERE domain = 'new.upgrade.test'"), what="the new event in SQLite")
    # a new mapping goes into the history as it is made
    hist = harness.wait_until(lambda: st.db_rows(
        "SELECT address, held_until FROM sinkhole_map_spans "
        "WHERE domain = 'new.upgrade.test'"), what="the new mapping in the history")
    assert hist == [{"address": b[0], "held_until": None}]

    # The old event is kept as it was, beside the new ones.
    old = st.db_rows("SELECT * FROM events WHERE event_id = '0000000000000000000000aa'")
    assert len(old) == 1
    assert old[0]["json"] == OLD_EVENT and old[0]["ts"] == OLD_TS
    assert old[0]["flow_id"] is None

    # A second start finds the current version: nothing to say, nothing changed.
    assert st.stop() == 0
    n = len(st.log().splitlines())
    st.start()
    later = "\n".join(st.log().splitlines()[n:])
    assert "schema" not in later and "database created" not in later
    assert st.db_rows("PRAGMA user_version")[0]["user_version"] == 4
    assert harness.a_records(st.query("old.upgrade.test")) == ["127.77.0.200"]
    assert st.stop() == 0


def test_new_database_is_said_to_be_created(res):
    st = res.sinktrap(upstream=res.dnsmasq(["address=/#/127.0.9.9"]))
    assert st.db_rows("PRAGMA user_version")[0]["user_version"] == 4
    assert "database created (schema version 4)" in st.log()
    assert "upgraded" not in st.log()


# The same version 1 in PostgreSQL, with its version table.
PG_SCHEMA_V1 = [
    """CREATE TABLE events (id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
       ts BIGINT NOT NULL, event_type TEXT NOT NULL, src_ip TEXT, src_port INTEGER,
       dest_ip TEXT, dest_port INTEGER, proto TEXT, community_id TEXT, domain TEXT,
       json TEXT NOT NULL)""",
    "CREATE INDEX events_ts ON events(ts)",
    "CREATE INDEX events_type_ts ON events(event_type, ts)",
    "CREATE INDEX events_src_ts ON events(src_ip, ts)",
    "CREATE INDEX events_domain ON events(domain)",
    """CREATE TABLE sinkhole_map (address TEXT PRIMARY KEY, family TEXT NOT NULL,
       domain TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL)""",
    "CREATE INDEX sinkhole_map_domain ON sinkhole_map(domain)",
    "CREATE TABLE sinktrap_schema (version INTEGER NOT NULL)",
    "INSERT INTO sinktrap_schema VALUES (1)",
]


def test_postgres_version_1_upgraded_in_place(res, pg):
    uri = pg.create_db("upgrade")
    c = pg.connect("upgrade")
    try:
        cur = c.cursor()
        for sql in PG_SCHEMA_V1:
            cur.execute(sql)
        cur.execute("INSERT INTO events(event_id, ts, event_type, src_ip, domain, json) "
                    "VALUES ('0000000000000000000000aa', %s, 'dns', '10.1.2.3', "
                    "'old.upgrade.test', %s)", (OLD_TS, OLD_EVENT))
        cur.execute("INSERT INTO sinkhole_map VALUES ('127.77.0.200', 'ipv4', "
                    "'old.upgrade.test', %s, %s)", (OLD_TS, OLD_TS))
    finally:
        c.close()
    st = res.sinktrap(sinkhole_conf({"database": uri}))
    st.query("new.upgrade.test")
    harness.wait_until(lambda: pg.rows("upgrade", "SELECT 1 FROM events WHERE domain = "
                                                  "'new.upgrade.test'"),
                       what="the new event in PostgreSQL")
    assert pg.rows("upgrade", "SELECT version FROM sinktrap_schema") == [{"version": 4}]
    assert "postgresql: schema upgraded from version 1 to 4" in st.log()
    # the map's history: the mapping it held, and the new one as it was made
    assert pg.rows("upgrade", "SELECT address, held_from, held_until FROM "
                              "sinkhole_map_spans WHERE domain = 'old.upgrade.test'") == [
        {"address": "127.77.0.200", "held_from": OLD_TS, "held_until": None}]
    harness.wait_until(lambda: pg.rows("upgrade", "SELECT 1 FROM sinkhole_map_spans WHERE "
                                                  "domain = 'new.upgrade.test'"),
                       what="the new mapping in the PostgreSQL history")
    old = pg.rows("upgrade", "SELECT * FROM events WHERE event_id = '0000000000000000000000aa'")
    assert len(old) == 1 and old[0]["json"] == OLD_EVENT and old[0]["flow_id"] is None
    got = {r["column_name"] for r in pg.rows(
        "upgrade", "SELECT column_name FROM information_schema.columns "
                   "WHERE table_name = 'sessions'")}
    assert {"payload_toserver", "conn_state", "history", "pcap_first", "pcap_last"} <= got
    # The new row has what version 2 added.
    new = pg.rows("upgrade", "SELECT sensor, stored FROM events WHERE domain = "
                             "'new.upgrade.test'")
    assert new[0]["stored"] is not None
