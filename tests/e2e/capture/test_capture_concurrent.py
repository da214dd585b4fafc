"""Two `sinktrap ingest` at the same time into one new state directory: both
create the database at once (each schema step is taken once, under the write
lock) and each session gets a flow id of its own (ids are taken in blocks
recorded in the spool, not from the clock alone)."""

import socket
import sqlite3
import subprocess
import threading
import time

import dns.message
import pytest

import caplib
import harness

A = caplib.PCAPS / "capture-Thu-11-24-16-10-28-11_cerber.pcap"
B = caplib.PCAPS / "evilfingers_xscan_capture.pcap"


@pytest.mark.parametrize("round_", range(3))
def test_two_ingests_at_once(mres, round_):
    if not (A.exists() and B.exists()):
        pytest.skip("captures missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    st.write_conf()
    procs = [subprocess.Popen([st.bin, "ingest", "-q", "-c", str(st.conf_path), str(p)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for p in (A, B)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()
    rows = st.db().execute("SELECT flow_id FROM sessions").fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) > 1000
    assert len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} flow ids shared"
    # one counter for every run, from the clock (ms << 10) up: no kind bit on
    # top, which would bring the ids near 2^53 (JSON's exact integers)
    now_ms = time.time_ns() // 1_000_000
    assert max(ids) < (now_ms << 10) + (1 << 26)
    # every session's packets come back by its id, from its own capture alone
    for s in caplib.sessions(st)[:: max(1, len(ids) // 20)]:
        got = caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
        assert len(got) == s["pkts_toserver"] + s["pkts_toclient"], s
    ids_file = (caplib.spool(st) / ".flow-ids").read_text()
    assert ids_file.startswith("capture ") and "\ningest " in ids_file


def test_ingest_says_what_the_database_did_not_take(mres):
    """Another writer holds the database past the busy timeout and past
    --db-wait: the ingest fails, names the database and how many events it
    did not get, and the packets are in the spool."""
    small = caplib.PCAPS / "macgyver.pcap"
    if not (small.exists() and B.exists()):
        pytest.skip("captures missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, small)  # the database exists, with its schema
    other = sqlite3.connect(st.db_path(), isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    try:
        r = caplib.ingest(st, "--db-wait", "2", B, check=False)
    finally:
        other.execute("ROLLBACK")
        other.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "written again in 1 s" in err, err  # tried once more within the 2 s
    assert "events not stored" in err and "database is locked" in err, err
    n = int(err.split("sinktrap.db: ")[1].split()[0])
    assert n > 0
    files = caplib.spool_files(st)
    assert len(files) == 2  # the second capture is in the spool all the same


def test_ingest_waits_out_a_writer_that_holds_the_lock(mres):
    """Another writer holds the database for 8 s, past the 5 s busy timeout:
    the ingest rolls its batch back, writes it again from the records it kept
    once the lock is free, and stores every session once; the JSON file has
    each event once."""
    if not B.exists():
        pytest.skip("captures missing")
    ref = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(ref, B)
    want = sorted(tuple(r) for r in ref.db().execute(
        "SELECT src_ip, ifnull(src_port, -1), dest_ip, ifnull(dest_port, -1), proto, "
        "pkts_toserver, pkts_toclient "
        "FROM sessions"))
    assert len(want) > 100

    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, caplib.PCAPS / "macgyver.pcap")  # the database exists
    before = st.db().execute("SELECT count(*) FROM sessions").fetchone()[0]
    held = threading.Event()

    def hold():
        other = sqlite3.connect(st.db_path(), isolation_level=None, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(8)
        other.execute("ROLLBACK")
        other.close()

    t = threading.Thread(target=hold)
    t.start()
    try:
        held.wait(10)
        t0 = time.monotonic()
        r = caplib.ingest(st, B, check=False)
        took = time.monotonic() - t0
    finally:
        t.join()
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "written again in" in err and "not stored" not in err, err
    assert took > 6, took  # it did wait for the lock, not go around it
    got = sorted(tuple(r) for r in st.db().execute(
        "SELECT src_ip, ifnull(src_port, -1), dest_ip, ifnull(dest_port, -1), proto, "
        "pkts_toserver, pkts_toclient "
        "FROM sessions ORDER BY id LIMIT -1 OFFSET ?", (before,)))
    assert got == want
    flows = [e for e in st.events("flow")]
    assert len(flows) == before + len(want)  # JSON lines written once, not per try
    assert len({e["event_id"] for e in flows}) == len(flows)
    n_ev = st.db().execute("SELECT count(*) FROM events WHERE event_type = 'flow'").fetchone()[0]
    assert n_ev == before + len(want)


def test_ingest_beside_a_running_store(mres):
    """`sinktrap ingest` while the daemon's store takes a steady stream of
    sinkholed queries: the store takes the write lock only for the moment it
    writes a batch, so each ingest gets its turn (it used to wait out its busy
    timeout behind a store that took the lock again at every event, and lose
    its batch), and the store stores every query meanwhile."""
    if not A.exists():
        pytest.skip("captures missing")
    st = mres.sinktrap(caplib.capture_conf(
        {"dns": {"mode": "allowlist", "sinkhole_ipv6": "fd00:66::/64"}},
        dns=True, timeouts=caplib.LONG))
    stop = threading.Event()
    sent = []

    def queries():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)
            while not stop.is_set():
                q = dns.message.make_query(f"q{len(sent)}.busy.test", "A")
                s.sendto(q.to_wire(), ("127.0.0.1", st.port))
                try:
                    s.recv(4096)
                    sent.append(q.id)
                except socket.timeout:
                    pass
                time.sleep(0.002)

    t = threading.Thread(target=queries, daemon=True)
    t.start()
    try:
        time.sleep(1)
        for _ in range(3):
            r = caplib.ingest(st, A, check=False)
            assert r.returncode == 0, r.stderr.decode()
    finally:
        stop.set()
        t.join()
    flows = st.db().execute("SELECT count(*) FROM sessions").fetchone()[0]
    events = st.db().execute("SELECT count(*) FROM events WHERE event_type = 'flow'").fetchone()[0]
    assert flows == events and flows > 3 * 1000
    harness.wait_until(lambda: st.db().execute(
        "SELECT count(*) FROM events WHERE event_type = 'dns'").fetchone()[0] == len(sent),
        what=f"the {len(sent)} answered queries in SQLite")
    assert len(sent) > 500


def test_ingest_waits_for_a_database_another_process_holds_at_open(mres):
    """The database is locked by another writer past the busy timeout while
    ingest opens it (two ingests at once on a slow machine meet this): the
    ingest tries again within --db-wait and stores everything."""
    small = caplib.PCAPS / "macgyver.pcap"
    if not small.exists():
        pytest.skip("captures missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    st.write_conf()
    st.state_dir.mkdir(parents=True, exist_ok=True)
    other = sqlite3.connect(st.db_path(), isolation_level=None, timeout=30)
    other.execute("BEGIN EXCLUSIVE")  # a new, empty file, locked
    p = subprocess.Popen([st.bin, "ingest", "-q", "--db-wait", "60", "-c", str(st.conf_path),
                          str(small)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(7)  # past the 5 s busy timeout
    assert p.poll() is None, p.communicate()[1].decode()
    other.execute("COMMIT")
    other.close()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    assert "database is locked; trying again in" in err.decode()
    assert st.db().execute("SELECT count(*) FROM sessions").fetchone()[0] > 0
