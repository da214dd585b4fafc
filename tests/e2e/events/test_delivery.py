"""Nothing lost: a SIEM that dies and comes back, a sinktrap killed with -9,
a queue that hits its size limit, the status command, and the JSON file's
rotation and reopen."""

import json
import os
import signal
import socket
import time

import pytest

import harness
from checks import ids_5424, settle
from evlib import Rsyslog, Sender, add, first_arrival_order, sinkhole_conf


def names(prefix, n):
    return [f"{prefix}-{i}.evil.test" for i in range(n)]


def status(st):
    r = st.run_cmd("status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def sink(st, name):
    return [s for s in status(st)["sinks"] if s["name"] == name][0]


def assert_in_order(rs, want_ids):
    """Every id arrived; the first arrival of each is in the order of the JSON file."""
    order = first_arrival_order(rs.messages(), ids_5424)
    pos = {eid: i for i, eid in enumerate(order)}
    missing = [e for e in want_ids if e not in pos]
    assert not missing, f"{len(missing)} events never arrived, first {missing[:3]}"
    seq = [pos[e] for e in want_ids]
    assert seq == sorted(seq), "events arrived out of order"


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_siem_killed_and_restarted(res, certs, transport):
    """SIGKILL rsyslog mid-stream, keep generating, start it again: every event
    arrives, in order (at least once: the resend window may repeat a few)."""
    rs = add(res, Rsyslog(res.dir, tcp=True, certs=certs,
                          tls="anon" if transport == "tls" else None)).start()
    dest = f"{transport}://127.0.0.1:{rs.tcp_port} name=siem"
    if transport == "tls":
        dest += f" ca={certs.ca}"
    st = res.sinktrap(sinkhole_conf({"syslog": dest}))
    snd = Sender(st.port, names("kill", 2400), rate=400).start()
    time.sleep(1.5)
    rs.kill()
    time.sleep(2.0)
    harness.wait_until(lambda: not sink(st, "siem")["connected"], 10, what="the sink to notice")
    rs.start()
    snd.join()
    evs = settle(st)
    assert len(evs) > 3000
    ids = [e["event_id"] for e in evs]
    rs.wait_for(lambda ms: set(ids) <= {ids_5424(m) for m in ms}, timeout=60,
                what="every event after the restart")
    assert_in_order(rs, ids)
    got = [ids_5424(m) for m in rs.messages() if ids_5424(m)]
    dups = len(got) - len(set(got))
    print(f"{len(ids)} events, {dups} sent twice after the kill")
    s = harness.wait_until(lambda: (lambda k: k if k["queued"] == 0 else None)(sink(st, "siem")),
                           10, what="an empty queue")
    assert s["delivered"] == len(ids)
    assert s["dropped"] == 0
    assert s["reconnects"] >= 2


def test_kill9_sinktrap_keeps_queued_events(res):
    """The SIEM is down; sinktrap is killed with -9 (every process); after both
    are back, the events queued before the kill arrive, in order."""
    rs = add(res, Rsyslog(res.dir, tcp=True))  # not started: the port is closed
    st = res.sinktrap(sinkhole_conf({"syslog": f"tcp://127.0.0.1:{rs.tcp_port} name=siem"}))
    Sender(st.port, names("k9", 600), rate=600).start().join()
    evs = settle(st)
    ids = [e["event_id"] for e in evs]
    harness.wait_until(lambda: sink(st, "siem")["queued"] >= len(ids), 10,
                       what="the events to be queued")
    os.killpg(st.proc.pid, signal.SIGKILL)
    st.proc.wait(10)
    rs.start()
    st.start()
    rs.wait_for(lambda ms: set(ids) <= {ids_5424(m) for m in ms}, timeout=30,
                what="the events queued before the kill")
    assert_in_order(rs, ids)
    s = harness.wait_until(lambda: (lambda k: k if k["queued"] == 0 else None)(sink(st, "siem")),
                           10, what="an empty queue")
    assert s["dropped"] == 0


def test_receiver_dying_during_the_stop_keeps_what_it_held(res):
    """A stop waits out the resend window for what was sent last; a receiver
    that dies meanwhile (here: closes with everything unread, a reset) must
    leave those events queued for the next start, not counted as delivered."""
    rs = add(res, Rsyslog(res.dir, tcp=True))  # started later, on the same port
    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", rs.tcp_port))
    lsn.listen(8)
    lsn.settimeout(15)
    st = res.sinktrap(sinkhole_conf(
        {"syslog": f"tcp://127.0.0.1:{rs.tcp_port} name=siem resend=2s"}))
    conn, _ = lsn.accept()
    want = names("dying", 40)
    for n in want:
        st.query(n)

    def held():  # the receiver's kernel has every message; the receiver read none
        data = conn.recv(1 << 22, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        return all(n.encode() in data for n in want)

    harness.wait_until(held, 10, what="the messages in the receiver's socket")
    st.proc.signal(signal.SIGTERM)
    time.sleep(0.3)
    conn.close()  # unread data: the kernel resets the connection
    lsn.close()
    assert st.proc.wait(30) is not None
    ids = [e["event_id"] for e in st.events("dns")]
    assert len(ids) == len(want)
    rs.start()
    st.start()
    rs.wait_for(lambda ms: set(ids) <= {ids_5424(m) for m in ms}, timeout=30,
                what="the events the dead receiver held")
    assert_in_order(rs, ids)


def test_store_killed_is_restarted_and_resumes(res):
    """kill -9 of the store worker alone: the parent restarts it, the queue resumes."""
    rs = add(res, Rsyslog(res.dir, tcp=True))
    st = res.sinktrap(sinkhole_conf({"syslog": f"tcp://127.0.0.1:{rs.tcp_port} name=siem"}))
    Sender(st.port, names("ks", 300), rate=600).start().join()
    first = [e["event_id"] for e in settle(st)]
    store = st.worker_pid("store")
    os.kill(store, signal.SIGKILL)
    harness.wait_until(lambda: st.worker_pid("store") not in (None, store), 15,
                       what="a new store worker")
    rs.start()
    rs.wait_for(lambda ms: set(first) <= {ids_5424(m) for m in ms}, timeout=30,
                what="the events queued before the kill")
    assert_in_order(rs, first)


def test_queue_limit_drops_oldest_and_says_so(res):
    rs = add(res, Rsyslog(res.dir, tcp=True))
    st = res.sinktrap(sinkhole_conf(
        {"syslog": f"tcp://127.0.0.1:{rs.tcp_port} name=siem queue_max=64k"}))
    Sender(st.port, names("full", 500), rate=1000).start().join()
    settle(st)
    s = harness.wait_until(lambda: (lambda k: k if k["dropped"] > 0 else None)(sink(st, "siem")),
                           10, what="drops")
    assert s["queued"] > 0
    alerts = harness.wait_until(
        lambda: [e for e in st.events("alert")
                 if e["alert"]["signature"].startswith("delivery queue full")], 10,
        what="an alert event")
    assert alerts[0]["stats"]["sink"] == "siem"
    assert sum(a["stats"]["events_dropped"] for a in alerts) == \
        max(a["stats"]["events_dropped_total"] for a in alerts)
    rs.start()
    s = harness.wait_until(lambda: (lambda k: k if k["queued"] == 0 else None)(sink(st, "siem")),
                           20, what="an empty queue")
    evs = settle(st)
    ids = [e["event_id"] for e in evs]
    got = first_arrival_order(rs.messages(), ids_5424)
    # What arrived is the newest part of the stream, in order, the alerts included.
    assert got == ids[len(ids) - len(got):]
    assert s["delivered"] + s["dropped"] == len(ids)
    assert any(json.loads(m["msg"])["event_type"] == "alert" for m in rs.messages())


def test_status_table(res):
    rs = add(res, Rsyslog(res.dir, tcp=True)).start()
    down = harness.free_port(v6=False)
    st = res.sinktrap(sinkhole_conf({"syslog": [f"tcp://127.0.0.1:{rs.tcp_port} name=siem",
                                                f"tcp://127.0.0.1:{down} name=away"]}))
    for n in names("st", 5):
        st.query(n)
    settle(st)

    def table():
        out = st.run_cmd("status")
        lines = {l.split()[0]: l.split() for l in out.stdout.splitlines() if l.strip()}
        ok = ("siem" in lines and lines["siem"][2:5] == ["up", "10", "0"] and "away" in lines
              and lines["away"][2:6] == ["down", "0", "10", "0"])
        return out if ok else None

    out = harness.wait_until(table, 10, what="the status table")
    assert out.returncode == 0
    assert "json" in out.stdout and "sqlite" in out.stdout
    assert "Connection refused" in out.stdout
    j = status(st)
    assert {s["name"] for s in j["sinks"]} == {"json", "sqlite", "siem", "away"}
    st.stop()
    # A stopped store: the status says how old it is, and the exit status says so.
    time.sleep(5.5)
    r = st.run_cmd("status")
    assert r.returncode == 1 and "is sinktrap running?" in r.stdout


def test_json_rotation_and_reopen(res):
    st = res.sinktrap(sinkhole_conf({"json_max_size": "64k", "json_keep": 2}))
    Sender(st.port, names("rot", 400), rate=1000).start().join()
    j = st.json_path
    harness.wait_until(lambda: os.path.exists(f"{j}.2"), 10, what="two rotations")
    for f in (j, f"{j}.1", f"{j}.2"):
        assert 0 < os.path.getsize(f) <= 64 << 10
        for line in open(f, "rb"):
            json.loads(line)  # whole lines only
    assert not os.path.exists(f"{j}.3")
    # logrotate style: move the file away, SIGHUP, the next events go to a new one.
    settle(st)
    os.rename(j, f"{j}.moved")
    st.hup()
    time.sleep(0.5)
    st.query("after-hup.evil.test")
    harness.wait_until(lambda: st.dns_events("after-hup.evil.test"), 10, what="the new file")
    assert b"after-hup" not in open(f"{j}.moved", "rb").read()


def test_a_rotation_cut_short_loses_no_file(res):
    """A crash between renaming events.json to .rotating and .rotating to .1
    leaves .rotating behind; the next rotation must not rename over it."""
    st = res.sinktrap(sinkhole_conf({"json_max_size": "64k", "json_keep": 8}))
    st.stop()
    j = st.json_path
    old = [json.dumps({"event_type": "dns", "event_id": f"cut-{i}"}) for i in range(10)]
    with open(f"{j}.rotating", "w") as f:
        f.write("\n".join(old) + "\n")
    st.start()
    Sender(st.port, names("cut", 300), rate=1000).start().join()
    harness.wait_until(lambda: os.path.exists(f"{j}.2"), 10, what="two rotations")
    settle(st)
    kept = b"".join(open(f, "rb").read() for f in [j] + [f"{j}.{i}" for i in range(1, 9)]
                    if os.path.exists(f))
    assert all(line.encode() in kept for line in old), "the cut rotation's lines are gone"
    assert not os.path.exists(f"{j}.rotating")
    assert "left by a rotation that was cut short" in st.log()


def test_directories_made_for_the_workers_user(res):
    """The state directory and the JSON file in directories that do not exist yet
    (/srv/sinktrap/state, /var/log/sinktrap/...): sinktrap makes them for the
    workers' user, so the store can open its database and write, rotate and
    reopen the JSON file; a directory that user cannot write is named at start."""
    if os.geteuid() != 0:
        pytest.skip("the workers' user is only taken as root")
    j = res.path("logs") / "sinktrap" / "events.json"
    state = res.path("srv") / "sinktrap" / "state"
    st = res.sinktrap(sinkhole_conf({"json": str(j), "json_max_size": "64k", "json_keep": 2},
                                    sinktrap={"state_dir": str(state)}))
    Sender(st.port, names("out", 400), rate=1000).start().join()
    harness.wait_until(lambda: os.path.exists(f"{j}.2"), 10, what="two rotations")
    harness.wait_until(lambda: (state / "sinktrap.db").exists(), 10, what="the database")
    assert "exited with status" not in st.log(), st.log()
    uid = harness.nobody_uid()
    for d in (j.parent, j.parent.parent, state, state.parent, state.parent.parent):
        assert d.stat().st_uid == uid, f"{d} is not the workers' user's"
    for f in (j, f"{j}.1", f"{j}.2"):
        assert os.stat(f).st_uid == uid and os.path.getsize(f) > 0

    # A reload that moves the file to directories not made yet: made the same way.
    moved = res.path("moved") / "deeper" / "events.json"
    st.conf["events"]["json"] = str(moved)
    st.write_conf()
    st.hup()
    time.sleep(0.5)
    st.query("after-move.evil.test")
    harness.wait_until(lambda: moved.exists() and b"after-move" in moved.read_bytes(), 10,
                       what="the event in the moved file")
    for d in (moved.parent, moved.parent.parent):
        assert d.stat().st_uid == uid, f"{d} is not the workers' user's"
    st.stop()

    # A directory there already, that only root may write: said at start.
    closed = res.path("closed")
    closed.mkdir(mode=0o700)
    st2 = res.sinktrap(sinkhole_conf({"json": str(closed / "events.json")}))
    harness.wait_until(lambda: "cannot write in the JSON file's directory" in st2.log(), 10,
                       what="the warning")
    assert f"{closed}: [sinktrap] user 'nobody' cannot write" in st2.log()


def test_reload_changes_where_events_go(res):
    """[events] changes take effect on SIGHUP, no restart: a SIEM added, its filter changed,
    the JSON file moved, then the SIEM taken out again; nothing taken before a change is
    lost, and a reload with an unusable destination keeps the running config."""
    rs = add(res, Rsyslog(res.dir, tcp=True)).start()
    st = res.sinktrap(sinkhole_conf())
    pid = st.worker_pid("store")
    st.query("before.evil.test")
    st.wait_dns_event("before.evil.test")
    assert {s["name"] for s in status(st)["sinks"]} == {"json", "sqlite"}

    # A SIEM, dns events only.
    st.conf["events"]["syslog"] = f"tcp://127.0.0.1:{rs.tcp_port} name=siem types=dns"
    st.write_conf()
    st.hup()
    harness.wait_until(lambda: "siem" in {s["name"] for s in status(st)["sinks"]}, 10,
                       what="the new sink in the status")
    st.query("added.evil.test")
    ev = st.wait_dns_event("added.evil.test")[0]
    rs.wait_for(lambda ms: ev["event_id"] in {ids_5424(m) for m in ms}, what="the dns event")
    assert not any(ids_5424(m) == st.dns_events("before.evil.test")[0]["event_id"]
                   for m in rs.messages()), "an event from before the reload was sent"

    # Its filter changed to sinkhole_map: the next dns event stays home, the map goes.
    st.conf["events"]["syslog"] = f"tcp://127.0.0.1:{rs.tcp_port} name=siem types=sinkhole_map"
    st.write_conf()
    st.hup()
    time.sleep(1.0)
    st.query("filtered.evil.test")
    dns_ev = st.wait_dns_event("filtered.evil.test")[0]
    maps = st.wait_events(lambda es: any(e["event_type"] == "sinkhole_map" and
                                         e["sinkhole_map"]["domain"] == "filtered.evil.test"
                                         for e in es), what="the map event")
    map_ev = [e for e in maps if e["event_type"] == "sinkhole_map" and
              e["sinkhole_map"]["domain"] == "filtered.evil.test"][0]
    rs.wait_for(lambda ms: map_ev["event_id"] in {ids_5424(m) for m in ms}, what="the map")
    assert dns_ev["event_id"] not in {ids_5424(m) for m in rs.messages()}

    # The JSON file moves; the SIEM is taken out.
    old_json = st.json_path
    new_json = st.state_dir / "moved.json"
    st.conf["events"] = {"json": str(new_json), "sqlite": "yes"}
    st.write_conf()
    st.hup()
    harness.wait_until(lambda: {s["name"] for s in status(st)["sinks"]} == {"json", "sqlite"},
                       10, what="the SIEM gone from the status")
    st.query("moved.evil.test")
    harness.wait_until(lambda: new_json.exists() and b"moved.evil.test" in new_json.read_bytes(),
                       10, what="the event in the new JSON file")
    assert b"moved.evil.test" not in old_json.read_bytes()
    n = len(rs.messages())
    time.sleep(0.5)
    assert len(rs.messages()) == n
    # Every dns event is in SQLite, across the reloads.
    got = {r["domain"] for r in st.db_rows("SELECT domain FROM events WHERE event_type = 'dns'")}
    assert {"before.evil.test", "added.evil.test", "filtered.evil.test",
            "moved.evil.test"} <= got

    # A destination that cannot be used (a missing CA file): the reload is refused whole.
    st.conf["events"]["syslog"] = f"tls://127.0.0.1:{rs.tcp_port} ca={res.dir}/missing-ca.pem"
    st.write_conf()
    st.hup()
    harness.wait_until(lambda: "configuration has errors; keeping the running one" in st.log(),
                       10, what="the refused reload in the log")
    assert "missing-ca.pem" in st.log()
    st.conf["events"].pop("syslog")  # `status -c` reads the config too
    assert {s["name"] for s in status(st)["sinks"]} == {"json", "sqlite"}
    st.query("still.evil.test")
    harness.wait_until(lambda: b"still.evil.test" in new_json.read_bytes(), 10,
                       what="events still going to the new JSON file")
    assert st.worker_pid("store") == pid, "the store was restarted"


def test_json_rotation_that_fails_writes_past_the_size(res):
    """The JSON file in a directory that only root may write (the file is the workers'
    user's, a common layout): it cannot be rotated. The store writes past json_max_size,
    says why (once in the log, in the status, in an alert event), goes on taking events
    and stops on SIGTERM; once the directory may be written the file rotates again.
    Before, the store tried to rotate in a loop: full CPU, megabytes of log a second,
    no event taken, SIGTERM ignored."""
    if os.geteuid() != 0:
        pytest.skip("the workers' user is only taken as root")
    d = res.path("jdir")
    d.mkdir(mode=0o755)
    j = d / "events.json"
    st = res.sinktrap(sinkhole_conf({"json": str(j), "json_max_size": "64k"}), start=False)
    st.json_path = j
    st.start()
    snd = Sender(st.port, names("past", 600), rate=1000).start().join()
    assert snd.answered == snd.sent == 600
    harness.wait_until(lambda: len(st.dns_events()) >= 600, 15, what="every event in the file")
    assert os.path.getsize(j) > 64 << 10
    assert not os.path.exists(f"{j}.1")
    alerts = harness.wait_until(
        lambda: [e for e in st.events("alert")
                 if e["alert"]["signature"] == "JSON file past its size: rotation fails"], 10,
        what="the alert event")
    assert str(j) in alerts[0]["alert"]["error"] and "Permission denied" in alerts[0]["alert"]["error"]
    js = harness.wait_until(lambda: (lambda k: k if k.get("last_error") else None)(sink(st, "json")),
                            10, what="the error in the status")
    assert "rotation fails" in js["last_error"]
    out = st.run_cmd("status").stdout
    assert "last error:" in out and "rotation fails" in out, out
    # More events, more flushes past the limit: the warning is not repeated.
    Sender(st.port, names("more", 300), rate=1000).start().join()
    harness.wait_until(lambda: len(st.dns_events()) >= 900, 15, what="the later events")
    log = st.log()
    assert log.count("cannot rename it to") == 1, log[-3000:]
    assert len(log) < 100_000
    assert len(alerts) == 1

    # The directory becomes writable: the next flush after the retry delay rotates.
    os.chown(d, harness.nobody_uid(), -1)
    t0 = time.monotonic()
    while not os.path.exists(f"{j}.1") and time.monotonic() - t0 < 15:
        st.query(f"again-{time.monotonic_ns()}.evil.test")
        time.sleep(0.2)
    assert os.path.exists(f"{j}.1"), st.log()[-3000:]
    assert "after" in st.log() and "failed tries" in st.log()
    harness.wait_until(lambda: not sink(st, "json").get("last_error"), 10,
                       what="the error gone from the status")
    assert st.stop() == 0


def test_reload_while_a_peer_hangs_the_handshake(res):
    """A TLS peer whose TCP takes the connection but that never answers the
    handshake, then a full accept queue, so that the next connection waits for
    the TCP handshake: a reload then ([events] changed) stops the delivery thread
    while it waits. Every wait ends at the stop, so the reload takes no time, and
    nothing of the old configuration is used after it was freed (run under ASan:
    SINKTRAP_SANITIZED=1). Before, the thread went on waiting (connect, then the
    TLS handshake: up to 10 s), the store gave up on it after 6 s, freed the
    configuration it read (heap-use-after-free in tls_setup) and opened its queue
    a second time for the new sink of the same name."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    conns = []
    try:
        tls = f"tls://127.0.0.1:{port} name=tls1 verify=no"
        st = res.sinktrap(sinkhole_conf({"syslog": tls}))
        lsock.settimeout(30)
        c, _ = lsock.accept()  # its first try: the handshake waits 5 s for an answer
        a1 = time.monotonic()
        conns.append(c)
        for _ in range(3):  # the accept queue full: the next try waits in connect()
            d = socket.socket()
            d.setblocking(False)
            try:
                d.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            conns.append(d)
        second = a1 + 5 + 0.25  # the handshake timed out, 250 ms of back-off
        time.sleep(max(0, second + 0.3 - time.monotonic()))
        st.conf["events"]["syslog"] = [tls, f"udp://127.0.0.1:{udp.getsockname()[1]} name=udp2"]
        st.write_conf()
        hup = time.monotonic()
        st.hup()
        # The queue drains meanwhile: the waiting connection goes through to a handshake
        # that gets no answer either.
        time.sleep(max(0, second + 1.6 - time.monotonic()))
        lsock.setblocking(False)
        reloaded = None
        while time.monotonic() < hup + 9:  # past where the old thread's wait would end
            try:
                conns.append(lsock.accept()[0])
            except BlockingIOError:
                time.sleep(0.05)
            if reloaded is None and "2 remote destinations" in st.log():
                reloaded = time.monotonic()
        assert reloaded is not None, st.log()[-3000:]
        assert reloaded - hup < 3, f"the reload took {reloaded - hup:.1f} s"
        assert "does not stop" not in st.log(), st.log()[-3000:]
        assert "Operation canceled" not in st.log()
        # The new sink works, and the store with it.
        st.query("after-reload.evil.test")
        got = b""
        end = time.monotonic() + 10
        while b"after-reload" not in got and time.monotonic() < end:
            try:
                got += udp.recv(70000)
            except socket.timeout:
                pass
        assert b"after-reload" in got
        assert st.stop() == 0
    finally:
        for c in conns:
            c.close()
        lsock.close()
        udp.close()


def test_more_destinations_than_32(res):
    """Every `syslog =` line makes a destination, however many: before, the store made
    the first 32 and silently left out the rest (and PostgreSQL after them) while
    check-config said OK."""
    black = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes, never read
    black.bind(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    try:
        lines = [f"udp://127.0.0.1:{black.getsockname()[1]} name=u{i}" for i in range(1, 34)]
        lines.append(f"udp://127.0.0.1:{udp.getsockname()[1]} name=last")
        st = res.sinktrap(sinkhole_conf({"syslog": lines}))
        r = st.run_cmd("check-config")
        assert r.returncode == 0, r.stdout + r.stderr
        st.query("many.evil.test")
        got = b""
        end = time.monotonic() + 10
        while b"many.evil.test" not in got and time.monotonic() < end:
            try:
                got += udp.recv(70000)
            except socket.timeout:
                pass
        assert b"many.evil.test" in got
        names_up = harness.wait_until(
            lambda: (lambda n: n if len(n) == 36 else None)({s["name"] for s in status(st)["sinks"]}),
            10, what="every destination in the status")
        assert {"u1", "u33", "last"} <= names_up
        assert st.stop() == 0
    finally:
        black.close()
        udp.close()
