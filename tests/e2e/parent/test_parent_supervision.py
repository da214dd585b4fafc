"""Supervision by the parent when a worker dies: a DNS worker is restarted with the
lists it served (whatever became of the files since), a SIGHUP starts one waiting for
its back-off at once, and a SIGTERM while the store waits for its restart still
stores every event the producers hold."""

import os
import signal
import time

import dns.message
import dns.query

import harness


def new_pid(st, kind, old, timeout):
    return harness.wait_until(lambda: (lambda p: p if p and p != old else None)(
        st.worker_pid(kind)), timeout, what=f"a new {kind} worker")


def sinkholed(st, name):
    a = harness.a_records(st.query(name))
    return bool(a) and a[0].startswith("127.66.")


def kill_dns(st):
    """SIGKILL the DNS worker; return once its successor answers."""
    old = st.worker_pid("dns")
    os.kill(old, signal.SIGKILL)
    harness.wait_until(lambda: f"dns worker (pid {old}) killed by signal 9" in st.log(), 10,
                       what="the parent to notice")
    new_pid(st, "dns", old, 10)
    harness.wait_until(st.probe, 10, what="the restarted dns worker to answer")


def test_a_restarted_dns_worker_loads_the_lists_it_served(res):
    """A DNS worker that dies is restarted with the lists it served, not with the
    files as they are at the restart: one list deleted and one replaced since
    (without a reload) change nothing, and the worker comes back at once."""
    a = harness.write_list(res.path("keep-a.plain"), ["gone.test"])
    b = harness.write_list(res.path("keep-b.plain"), ["old.test"])
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"dns": {"blocklist": [str(a), str(b)]}}, upstream=up)
    assert sinkholed(st, "x.gone.test") and sinkholed(st, "x.old.test")
    os.unlink(a)
    nb = harness.write_list(res.path("keep-b.new"), ["new.test"])
    os.rename(nb, b)
    kill_dns(st)
    assert sinkholed(st, "y.gone.test"), st.log()
    assert sinkholed(st, "y.old.test")
    assert not sinkholed(st, "y.new.test")
    assert "the dns worker cannot start" not in st.log()
    # A reload is what reads the files again: it fails while one is missing
    # (the running lists stay, and stay what a restart loads) ...
    st.hup()
    harness.wait_until(lambda: "No such file or directory" in st.log(), 10,
                       what="the reload to fail for the missing list")
    kill_dns(st)
    assert sinkholed(st, "z.gone.test") and not sinkholed(st, "z.new.test")
    # ... and once it succeeds, a restart loads the new lists.
    harness.write_list(a, ["back.test"])
    st.hup()
    harness.wait_until(lambda: sinkholed(st, "x.new.test"), 10, what="the reload")
    kill_dns(st)
    assert sinkholed(st, "y.back.test") and sinkholed(st, "w.new.test")
    assert not sinkholed(st, "w.gone.test") and not sinkholed(st, "w.old.test")


def test_a_list_refused_by_a_reload_is_not_loaded_at_a_restart(res):
    """A reload refuses a list that turned to junk and keeps the old one; a
    restart after it loads the old one too, not the junk."""
    bl = harness.write_list(res.path("junk.plain"), ["kept.test"])
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=up)
    assert sinkholed(st, "x.kept.test")
    junk = harness.write_list(res.path("junk.new"),
                              ["<html>", "<body>not a list</body>", "</html>"])
    os.rename(junk, bl)
    st.hup()
    harness.wait_until(lambda: "reload failed, previous lists kept" in st.log(), 10,
                       what="the reload to refuse the junk")
    kill_dns(st)
    assert sinkholed(st, "y.kept.test"), st.log()


def test_sighup_starts_a_dns_worker_waiting_for_its_restart(res):
    """While a DNS worker that keeps dying waits for its restart (4 s of back-off
    here), a SIGHUP starts it at once, with the lists as they are now."""
    bl = harness.write_list(res.path("sup.plain"), ["first.test"])
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=up)
    for backoff in (500, 1000, 2000, 4000):
        old = st.worker_pid("dns")
        os.kill(old, signal.SIGKILL)
        harness.wait_until(lambda: f"restarting dns worker in {backoff} ms" in st.log(), 10,
                           what=f"the restart in {backoff} ms")
        if backoff < 4000:
            new_pid(st, "dns", old, 10)
    harness.write_list(bl, ["second.test"])
    st.hup()
    new_pid(st, "dns", old, 1.5)  # well before the 4 s back-off ends
    harness.wait_until(st.probe, 2, what="the dns worker to answer")
    assert sinkholed(st, "z.second.test") and not sinkholed(st, "z.first.test")
    assert "reload: starting the dns worker" in st.log()
    # the timer of the back-off does not start a second one
    pid = st.worker_pid("dns")
    time.sleep(4.5)
    assert st.worker_pid("dns") == pid
    assert st.log().count("started dns worker") == 5, st.log()


def test_sigterm_while_the_store_waits_for_its_restart_loses_no_event(res):
    """The store was killed and waits for its restart (2 s of back-off) when
    SIGTERM comes: the parent starts it before it stops the producers, so every
    event they held is stored, in the JSON file and in SQLite."""
    bl = harness.write_list(res.path("st.plain"), ["held.test"])
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.0.0.9"}},
                      upstream=up)
    # three deaths in a row: the back-off goes 0.5 s, 1 s, 2 s
    for backoff in (500, 1000, 2000):
        old = st.worker_pid("store")
        os.kill(old, signal.SIGKILL)
        harness.wait_until(
            lambda: f"restarting store worker in {backoff} ms" in st.log(), 10,
            what=f"the store's restart in {backoff} ms")
        if backoff < 2000:
            new_pid(st, "store", old, 10)
    sent = 0
    for i in range(100):
        dns.query.udp(dns.message.make_query(f"n{i}.held.test", "A"), "127.0.0.1",
                      port=st.port, timeout=5)
        sent += 1
    assert not st.worker_pid("store")  # still waiting for its restart
    assert st.stop() == 0
    names = {f"n{i}.held.test" for i in range(100)}
    got = [e for e in st.events("dns") if e["dns"]["rrname"] in names]
    assert len(got) == sent, f"{len(got)} of {sent} events in the JSON file:\n{st.log()}"
    rows = st.db_rows("SELECT event_id FROM events WHERE event_type = 'dns'")
    assert {e["event_id"] for e in got} <= {r["event_id"] for r in rows}


def test_a_restart_after_overlapping_reloads_loads_the_last_one_taken(res):
    """Three SIGHUPs while the first reload still loads a large list: the second is
    queued, the third replaces it in the queue (the second is told as never run
    before the first ends), the first is taken and the third refused (junk). A
    worker restarted then loads the first reload's lists, the ones it served.
    Before, the early word on the second let go of the first's set, and the
    restart loaded the lists of the start."""
    filler = [f"f{i}.filler-e2e.example" for i in range(2_000_000)]
    path = res.path("overlap.plain")
    harness.write_list(path, filler + ["v0.test"])
    v1 = harness.write_list(res.path("overlap.v1"), filler + ["v1.test"])
    v2 = harness.write_list(res.path("overlap.v2"), filler + ["v2.test"])
    junk = harness.write_list(res.path("overlap.junk"), ["<html>"] * 1000)
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"dns": {"blocklist": str(path)}}, upstream=up, start=False)
    st.start(timeout=120)
    harness.wait_until(lambda: sinkholed(st, "x.v0.test"), 60, what="the first load")
    for n, new in enumerate((v1, v2, junk), 1):
        os.rename(new, path)
        st.hup()
        harness.wait_until(lambda: st.log().count("lists handed to the dns worker") >= n,
                           10, what=f"reload {n} handed over")
    harness.wait_until(lambda: "reload failed, previous lists kept" in st.log(), 120,
                       what="the third reload refused")
    assert "reload queued behind the one running" in st.log(), st.log()
    assert sinkholed(st, "x.v1.test") and not sinkholed(st, "x.v0.test")
    old = st.worker_pid("dns")
    os.kill(old, signal.SIGKILL)
    new_pid(st, "dns", old, 10)
    harness.wait_until(st.probe, 120, what="the restarted dns worker to answer")
    assert sinkholed(st, "y.v1.test"), st.log()
    assert not sinkholed(st, "y.v0.test") and not sinkholed(st, "y.v2.test")


def test_a_second_sigterm_during_the_stop_starts_nothing(res):
    """A stop that takes a while (here the store waits out its grace for a
    syslog receiver that reads nothing) and a second SIGTERM meanwhile (a
    second Ctrl-C): the second is ignored; before, it was read after the first
    stop had ended and found the store down, so a new store was started to be
    stopped again."""
    import socket
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(4)
    port = lsn.getsockname()[1]
    st = res.sinktrap({"dns": {"mode": "allowlist"},
                       "events": {"syslog": f"tcp://127.0.0.1:{port} name=slow resend=20s"}})
    lsn.settimeout(10)
    conn, _ = lsn.accept()  # accepted, never read: the stop waits its grace
    for i in range(5):
        st.query(f"n{i}.twice.test")
    st.wait_dns_event("n4.twice.test")
    st.proc.signal(signal.SIGTERM)
    time.sleep(0.5)
    st.proc.signal(signal.SIGTERM)
    assert st.proc.wait(60) == 0
    log = st.log()
    assert log.count("started store worker") == 1, log
    assert "before stopping" not in log, log
    conn.close()
    lsn.close()
