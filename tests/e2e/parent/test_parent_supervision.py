"""Supervision by the parent when a worker cannot come back at once: the DNS worker
whose list cannot be opened at its restart is tried again with back-off (and at once
by SIGHUP), and a SIGTERM while the store waits for its restart still stores every
event the producers hold."""

import os
import re
import signal
import time

import dns.message
import dns.query

import harness


def new_pid(st, kind, old, timeout):
    return harness.wait_until(lambda: (lambda p: p if p and p != old else None)(
        st.worker_pid(kind)), timeout, what=f"a new {kind} worker")


def dns_down_for_its_list(res):
    """A sinktrap whose DNS worker was killed while its list was gone."""
    bl = harness.write_list(res.path("sup.plain"), ["gone.test"])
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=up)
    assert harness.a_records(st.query("x.gone.test"))[0].startswith("127.66.")
    away = res.path("sup.plain.away")
    os.rename(bl, away)
    old = st.worker_pid("dns")
    os.kill(old, signal.SIGKILL)
    harness.wait_until(lambda: f"dns worker (pid {old}) killed by signal 9" in st.log(), 10,
                       what="the parent to notice")
    harness.wait_until(lambda: f"'{bl}': No such file or directory" in st.log(), 10,
                       what="the restart to fail for the missing list")
    return st, bl, away, old


def test_dns_worker_whose_list_is_missing_at_restart_comes_back(res):
    """The list is missing when the killed DNS worker is restarted: the parent tries
    again with back-off, and once the list is back the worker serves again."""
    st, bl, away, old = dns_down_for_its_list(res)
    os.rename(away, bl)
    new_pid(st, "dns", old, 15)
    harness.wait_until(st.probe, 10, what="the dns worker to answer")
    assert harness.a_records(st.query("y.gone.test"))[0].startswith("127.66.")
    assert "the dns worker cannot start" in st.log()


def test_sighup_starts_a_dns_worker_that_could_not_start(res):
    """While the restarts keep failing, the back-off grows (4 s here); a SIGHUP once
    the list is back starts the worker at once, not at the next try."""
    st, bl, away, old = dns_down_for_its_list(res)
    harness.wait_until(lambda: "restarting dns worker in 4000 ms" in st.log(), 15,
                       what="the back-off to reach 4 s")
    tries = len(re.findall(r"the dns worker cannot start", st.log()))
    assert tries >= 3
    os.rename(away, bl)
    st.hup()
    new_pid(st, "dns", old, 1.5)  # well before the 4 s back-off ends
    harness.wait_until(st.probe, 2, what="the dns worker to answer")
    assert harness.a_records(st.query("z.gone.test"))[0].startswith("127.66.")
    assert "reload: starting the dns worker" in st.log()
    # the timer of the back-off does not start a second one
    pid = st.worker_pid("dns")
    time.sleep(4.5)
    assert st.worker_pid("dns") == pid
    assert st.log().count("started dns worker") == 2, st.log()


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
