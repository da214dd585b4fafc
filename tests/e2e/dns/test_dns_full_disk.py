"""A full disk under the store: sinktrap keeps answering, says what is wrong,
keeps every event it took in memory, and once there is room again writes them
all, each once, to the JSON lines file and to SQLite. The state directory is
on a small tmpfs of the test's own, filled by a file the test then removes."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

import dns.message
import pytest

import harness

BATCH = 3000


@pytest.fixture
def small_fs(res):
    mnt = res.path("fs")
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def ask(port, names):
    """Each name once over UDP; the number answered with an address."""
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        for n in names:
            q = dns.message.make_query(n, "A")
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            while True:
                r = dns.message.from_wire(s.recv(4096))
                if r.id == q.id:
                    break
            got += bool(harness.a_records(r))
    return got


def fill(mnt, leave_kb):
    st = os.statvfs(mnt)
    free_kb = st.f_bavail * st.f_frsize // 1024
    with open(mnt / "filler", "wb") as f:
        chunk = b"\0" * (1 << 20)
        left = (free_kb - leave_kb) * 1024
        while left > 0:
            f.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)


def on_small_fs(res, small_fs, name, entries, json_lines=False):
    """A sinktrap whose state directory is on the small file system."""
    state = small_fs / "state"
    bl = harness.write_list(res.path(f"{name}.hosts"), [f"0.0.0.0 {e}" for e in entries])
    st = res.sinktrap({"sinktrap": {"state_dir": str(state)},
                       "dns": {"blocklist": str(bl)},
                       "events": {"json": str(state / "events.json") if json_lines else "no"}},
                      upstream=res.dnsmasq(["address=/#/"]))
    st.state_dir, st.json_path = state, state / "events.json"
    return st


def first_stored(st, name, sql="SELECT 1 FROM events WHERE event_type = 'dns'"):
    """One query answered, and what it makes in SQLite (the database is up)."""
    assert ask(st.port, [name]) == 1
    harness.wait_until(lambda: st.db_rows(sql), what=f"{name} in SQLite")


def flood_full(st, small_fs, leave_kb, names):
    """The disk filled to leave_kb free, then every name asked: all answered."""
    fill(small_fs, leave_kb)
    assert ask(st.port, names) == len(names)


def wait_db_down(st, timeout=15):
    harness.wait_until(lambda: "events wait in memory for it" in st.log(), timeout=timeout,
                       what="the store to say the database cannot be written")


def test_full_disk_loses_no_event(res, small_fs):
    st = on_small_fs(res, small_fs, "full", ["full.test"], json_lines=True)
    first_stored(st, "first.full.test")
    # The disk fills up under the events: every query is still answered.
    flood_full(st, small_fs, 512, [f"a{i}.full.test" for i in range(BATCH)])
    wait_db_down(st)
    # Which of the two writers meets the full disk first is a race; each says so
    # when it does (the JSON lines at their next flush).
    harness.wait_until(lambda: "No space left on device" in st.log(), timeout=5,
                       what="the JSON lines file to say the disk is full")
    assert "database commit: database or disk is full" in st.log()
    assert st.proc.alive()

    # Room again: what waited is written, and what comes after.
    os.unlink(small_fs / "filler")
    harness.wait_until(lambda: "database writable again" in st.log(), timeout=40,
                       what="the store to write what waited")
    assert ask(st.port, [f"b{i}.full.test" for i in range(100)]) == 100
    st.stop()

    want = 1 + BATCH + 100
    lines = st.json_path.read_text().splitlines()
    evs = [json.loads(x) for x in lines]  # every line whole
    dns_ids = [e["event_id"] for e in evs if e["event_type"] == "dns"]
    assert len(dns_ids) == want and len(set(dns_ids)) == want
    rows = st.db_rows("SELECT event_id FROM events WHERE event_type = 'dns'")
    assert sorted(r["event_id"] for r in rows) == sorted(dns_ids)
    log = st.log()
    assert "written again" in log
    assert "not stored" not in log and "given up" not in log and "are lost" not in log


def test_database_full_at_stop_is_said(res, small_fs):
    """Still full when sinktrap stops: how many events SQLite did not get is said."""
    st = on_small_fs(res, small_fs, "stop", ["stop.test"])
    first_stored(st, "first.stop.test")
    flood_full(st, small_fs, 256, [f"c{i}.stop.test" for i in range(BATCH)])
    wait_db_down(st)
    time.sleep(0.5)
    st.stop()
    log = st.log()
    assert "still not writable at the stop" in log, log[-2000:]
    n = int(log.split("still not writable at the stop: ")[1].split()[0])
    taken = int(log.split("stopped: ")[1].split()[0])
    stored = st.db_rows("SELECT count(*) AS n FROM events")[0]["n"]
    # what SQLite has and what it was said not to have: every event taken, no more
    assert n >= BATCH
    assert stored + n == taken


def test_database_locked_loses_no_event(res):
    """Another writer holds the database longer than the busy timeout (5 s):
    the batch that could not be written is done again once it lets go."""
    bl = harness.write_list(res.path("lock.hosts"), ["0.0.0.0 lock.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=res.dnsmasq(["address=/#/"]))
    first_stored(st, "first.lock.test")
    other = sqlite3.connect(st.db_path(), isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert ask(st.port, [f"d{i}.lock.test" for i in range(500)]) == 500
        wait_db_down(st, timeout=20)
    finally:
        other.execute("ROLLBACK")
        other.close()
    harness.wait_until(lambda: "database writable again" in st.log(), timeout=60,
                       what="the store to write what waited")
    st.stop()
    dns_ids = [json.loads(x)["event_id"] for x in st.json_path.read_text().splitlines()
               if '"event_type":"dns"' in x]
    assert len(dns_ids) == 501
    rows = st.db_rows("SELECT event_id FROM events WHERE event_type = 'dns'")
    assert sorted(r["event_id"] for r in rows) == sorted(dns_ids)


def test_mappings_waiting_for_the_database_survive_a_worker_restart(res, small_fs):
    """New pool addresses handed out while the database cannot take them: a
    dns worker started meanwhile gets them from the store all the same, so a
    domain keeps its address (and a later connection to it its attribution)."""
    st = on_small_fs(res, small_fs, "map", [f"m{i}.map.test" for i in range(40)])
    first_stored(st, "m0.map.test", "SELECT 1 FROM sinkhole_map")
    # enough events to fill what is left, then the new mappings
    flood_full(st, small_fs, 256, [f"x{i}.m0.map.test" for i in range(BATCH)])
    names = [f"m{i}.map.test" for i in range(1, 40)]
    before = {n: harness.a_records(st.query(n))[0] for n in names}
    wait_db_down(st)
    assert not st.db_rows("SELECT 1 FROM sinkhole_map WHERE domain = 'm39.map.test'")
    old = st.worker_pid("dns")
    os.kill(old, signal.SIGKILL)
    harness.wait_until(lambda: (lambda p: p if p and p != old else None)(
        st.worker_pid("dns")), 15, what="a new dns worker")
    harness.wait_until(st.probe, 15, what="the new dns worker to answer")
    # asked in the other order: a worker that had to hand them out again would
    # not give each the same address
    after = {n: harness.a_records(st.query(n))[0] for n in reversed(names)}
    assert after == before


def test_damaged_database_at_start_loses_no_event(res):
    """sinktrap.db is not a database when sinktrap starts (a damaged disk, a
    file copied over it): the store says so and keeps running, the events go
    to the JSON lines file, the pool's mappings are still handed out, and once
    the file is moved away every event that waited is stored, each once."""
    bl = harness.write_list(res.path("dmg.hosts"), ["0.0.0.0 dmg.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "10.66.0.0/24"}},
                      upstream=res.dnsmasq(["address=/#/"]), start=False)
    st.state_dir.mkdir(parents=True, exist_ok=True)
    garbage = os.urandom(64 * 1024)
    st.db_path().write_bytes(garbage)
    st.start()
    names = [f"d{i}.dmg.test" for i in range(200)]
    assert ask(st.port, names) == 200
    wait_db_down(st)
    log = st.log()
    assert f"database: {st.db_path()}: file is not a database" in log, log
    assert "exited with status" not in log and "fatal" not in log, log
    # the JSON lines have them all meanwhile, and the file is left as it was
    harness.wait_until(lambda: len(st.events("dns")) == 200, 10, what="the JSON lines")
    assert st.db_path().read_bytes() == garbage
    addr = {n: harness.a_records(st.query(n))[0] for n in names[:5]}
    os.rename(st.db_path(), st.db_path().with_name("damaged.db"))
    harness.wait_until(lambda: "database writable again" in st.log(), timeout=60,
                       what="the store to open a new database and store what waited")
    st.stop()
    dns_ids = [e["event_id"] for e in st.events("dns")]
    assert len(dns_ids) == 205
    rows = st.db_rows("SELECT event_id FROM events WHERE event_type = 'dns'")
    assert sorted(r["event_id"] for r in rows) == sorted(dns_ids)
    # the mappings made meanwhile are in the new database's map
    got = {r["domain"]: r["address"]
           for r in st.db_rows("SELECT domain, address FROM sinkhole_map")}
    assert all(got.get(n) == a for n, a in addr.items()), (got, addr)
