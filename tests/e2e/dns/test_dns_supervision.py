"""Supervision by the parent: killed workers are restarted, SIGTERM stops
cleanly with every accepted event stored, and the workers run as the
unprivileged user."""

import os
import pwd
import signal
import socket

import dns.message
import dns.query
import pytest

import harness


def uids(pid):
    st = harness.proc_status(pid)
    return ([int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()],
            st.get("NoNewPrivs"))


@pytest.fixture
def sup(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("sup.plain"), ["sup.test"])
    return res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=up)


@pytest.mark.parametrize("user", [None, "daemon"])
def test_workers_run_as_the_configured_user(res, user):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"sinktrap": {"user": user}}, upstream=up)
    pw = pwd.getpwnam(user or "nobody")
    w = harness.wait_until(lambda: (lambda d: d if len(d) == 2 else None)(st.workers()), 10)
    assert set(w) == {"sinktrap-dns", "sinktrap-store"}, w
    for comm, pid in w.items():
        u, g, nnp = uids(pid)
        assert u == [pw.pw_uid] * 4, f"{comm} runs with uids {u}"
        assert g == [pw.pw_gid] * 4, f"{comm} runs with gids {g}"
        assert nnp == "1", f"{comm} may gain privileges"
        # the user's own groups, as a login has them (never root's, nor group 0)
        groups = sorted(int(x) for x in harness.proc_status(pid)["Groups"].split())
        want = sorted(set(os.getgrouplist(pw.pw_name, pw.pw_gid)) - {0})
        assert groups == want, f"{comm} runs in groups {groups}, not {want}"
    assert uids(st.pid)[0][1] == 0  # the parent keeps root to reopen lists
    assert harness.a_records(st.query("priv.test"))


def test_killed_dns_worker_is_restarted(sup):
    for round_ in range(2):  # twice: the back-off must not stop it
        old = sup.worker_pid("dns")
        assert old
        os.kill(old, signal.SIGKILL)
        new = harness.wait_until(lambda: (lambda p: p if p and p != old else None)(
            sup.worker_pid("dns")), 15, what="a new dns worker")
        harness.wait_until(sup.probe, 15, what="the new dns worker to answer")
        name = f"r{round_}.sup.test"
        assert harness.a_records(sup.query(name))
        assert harness.a_records(sup.query(name, proto="tcp", addr="::1"))
        # Its events still reach the store.
        ev = sup.wait_dns_event(name, count=2)[0]
        harness.wait_until(lambda: sup.db_rows("SELECT 1 FROM events WHERE event_id = ?",
                                               (ev["event_id"],)), 10)
        assert f"dns worker (pid {old}) killed by signal 9" in sup.log()
        assert uids(new)[0][0] == pwd.getpwnam("nobody").pw_uid


def test_killed_store_worker_is_restarted_and_no_event_lost(sup):
    assert harness.a_records(sup.query("before.sup.test"))
    sup.wait_dns_event("before.sup.test")
    old = sup.worker_pid("store")
    os.kill(old, signal.SIGKILL)
    # Once the parent has reaped it (what was in flight to it then is gone with
    # it), queries keep being answered while there is no store...
    harness.wait_until(lambda: f"store worker (pid {old}) killed by signal 9" in sup.log(),
                       10, what="the parent to notice")
    assert harness.a_records(sup.query("during.sup.test"))
    harness.wait_until(lambda: (lambda p: p if p and p != old else None)(
        sup.worker_pid("store")), 15, what="a new store worker")
    assert harness.a_records(sup.query("after.sup.test"))
    # ...and their events are stored once the store is back.
    for name in ("after.sup.test", "during.sup.test"):
        sup.wait_dns_event(name, timeout=15)
        harness.wait_until(lambda: sup.db_rows(
            "SELECT 1 FROM events WHERE domain = ? AND event_type = 'dns'", (name,)), 10,
            what=f"{name} in SQLite")


def test_sigterm_stops_cleanly_and_every_event_is_stored(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    names = [f"n{i}.term.test" for i in range(400)]
    bl = harness.write_list(res.path("term.plain"), ["term.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "log_forwarded": "yes",
                               "sinkhole_ipv4": "127.0.0.9"}}, upstream=up)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for n in names:
            dns.query.udp(dns.message.make_query(n, "A"), "127.0.0.1", port=st.port,
                          timeout=5, sock=s)
            sent += 1
    for i in range(50):
        dns.query.tcp(dns.message.make_query(f"t{i}.term.test", "A"), "::1", port=st.port,
                      timeout=5)
        sent += 1
    for i in range(50):
        dns.query.udp(dns.message.make_query(f"f{i}.forwarded.test", "A"), "127.0.0.1",
                      port=st.port, timeout=5)
        sent += 1
    # Stop at once: nothing is waited for, the stop itself must flush everything.
    assert st.stop() == 0
    assert not st.worker_pid("dns") and not st.worker_pid("store")

    json_dns = st.events("dns")
    assert len(json_dns) == sent
    assert len({e["event_id"] for e in json_dns}) == sent
    rows = st.db_rows("SELECT event_id FROM events WHERE event_type = 'dns'")
    assert len(rows) == sent
    assert {r["event_id"] for r in rows} == {e["event_id"] for e in json_dns}
    # Every event of any type made it to both.
    all_json = st.events()
    all_rows = st.db_rows("SELECT COUNT(*) AS n FROM events")[0]["n"]
    assert all_rows == len(all_json)
    assert "stopped" in st.log()


def test_pool_mappings_survive_a_dns_worker_restart(sup):
    addrs = {}
    for n in ("m1.sup.test", "m2.sup.test", "m3.sup.test"):
        addrs[n] = harness.a_records(sup.query(n))[0]
    sup.wait_events(lambda es: len([e for e in es if e["event_type"] == "sinkhole_map"]) >= 3)
    old = sup.worker_pid("dns")
    os.kill(old, signal.SIGKILL)
    harness.wait_until(lambda: (lambda p: p and p != old)(sup.worker_pid("dns")), 15)
    harness.wait_until(sup.probe, 15)
    assert harness.a_records(sup.query("m4.sup.test"))[0] not in addrs.values()
    for n, a in addrs.items():
        assert harness.a_records(sup.query(n)) == [a]
