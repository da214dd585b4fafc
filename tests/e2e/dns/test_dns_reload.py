"""SIGHUP reloads the lists atomically: queries keep being answered during
reloads, a new list takes effect, and a broken new list keeps the old set in
place with an alert event."""

import random
import socket
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

import harness

FORWARDED = "127.0.9.9"
N_LIST = 50000
N_QUERIES = 3000
N_HUPS = 6

HTML_ERROR_PAGE = """<!DOCTYPE html>
<html>
<head><title>404 Not Found</title></head>
<body>
<h1>Not Found</h1>
<p>The requested URL /lists/malware.txt was not found on this server.</p>
<hr>
<address>Apache/2.4.57 (Debian) Server at lists.example Port 443</address>
</body>
</html>
"""


# A pretty-printed error page: some of its lines are a bare word.
HTML_PRETTY_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <title>
      403 Forbidden
    </title>
  </head>
  <body>
    <h1>
      Forbidden
    </h1>
    <p>
      You don't have permission to access this resource.
    </p>
    <hr>
    <address>
      nginx
    </address>
  </body>
</html>
"""


def reload_events(st):
    return [e for e in st.events("stats") if "reload" in e["stats"]]


def alerts(st):
    return st.events("alert")


def is_sinkholed(st, name):
    r = st.query(name)
    addrs = harness.a_records(r)
    assert r.rcode() == dns.rcode.NOERROR and len(addrs) == 1, r
    return addrs[0] != FORWARDED


def test_no_query_lost_during_reloads(res):
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    names = [f"n{i}.reload-list.test" for i in range(N_LIST)]
    lst = harness.write_list(res.path("big.plain"), ["# 50k names"] + names)
    st = res.sinktrap({"dns": {"blocklist": str(lst)}}, upstream=up)

    rng = random.Random(7)
    plan = []
    for i in range(N_QUERIES):
        if i % 10 == 9:
            plan.append((f"u{i}.unlisted.test", False))
        else:
            plan.append((rng.choice(names), True))

    progress = [0]
    failures = []

    def sender():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i, (name, listed) in enumerate(plan):
                q = dns.message.make_query(name, "A", use_edns=False)
                try:
                    r = dns.query.udp(q, "127.0.0.1", port=st.port, timeout=3, sock=s)
                except dns.exception.Timeout:
                    failures.append((i, name, "timeout"))
                else:
                    addrs = harness.a_records(r)
                    if r.rcode() != dns.rcode.NOERROR or len(addrs) != 1 or \
                            (addrs[0] != FORWARDED) != listed:
                        failures.append((i, name, r.to_text()))
                progress[0] = i + 1
                time.sleep(0.0002)  # paced: a steady stream, not a flood
        finally:
            s.close()

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        for k in range(1, N_HUPS + 1):
            target = k * N_QUERIES // (N_HUPS + 1)
            harness.wait_until(lambda: progress[0] >= target or not t.is_alive(), 60,
                               interval=0.005, what="the sender")
            st.hup()
    finally:
        t.join(120)
    assert not t.is_alive()
    assert progress[0] == N_QUERIES
    assert failures == [], f"{len(failures)} queries failed, first: {failures[:3]}"
    # At least one reload really ran (overlapping ones may be folded together).
    evs = harness.wait_until(lambda: reload_events(st), 30, what="a reload stats event")
    print(f"{len(evs)} reloads ran during {N_QUERIES} queries")
    assert evs[-1]["stats"]["reload"]["rules"] == N_LIST
    assert alerts(st) == []
    assert st.proc.alive()


@pytest.fixture
def reloadable(res):
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    lst = harness.write_list(res.path("r.plain"), ["old.test", "kept.test"])
    st = res.sinktrap({"dns": {"blocklist": str(lst)}}, upstream=up)
    st.list_path = lst
    return st


def test_reload_applies_the_new_list(reloadable):
    st = reloadable
    assert is_sinkholed(st, "old.test")
    assert not is_sinkholed(st, "new.test")
    harness.replace_file(st.list_path, "kept.test\nnew.test\n")
    st.hup()
    harness.wait_until(lambda: reload_events(st), 10, what="the reload")
    assert is_sinkholed(st, "new.test")
    assert is_sinkholed(st, "kept.test")
    assert not is_sinkholed(st, "old.test")
    ev = reload_events(st)[-1]["stats"]["reload"]
    assert ev["rules"] == 2
    assert ev["lists"][0]["path"] == str(st.list_path)


@pytest.mark.parametrize("garbage", ["binary", "html", "html-pretty", "empty", "comments"])
def test_broken_new_list_keeps_the_old_set(reloadable, garbage):
    """Garbage where the list was (a binary, an HTML error page), or a download
    that failed (a 0-byte file, or one left with its header comments only):
    the list in service, which had entries, is kept."""
    st = reloadable
    data = {
        "binary": lambda: random.Random(1).randbytes(50000),
        "html": lambda: HTML_ERROR_PAGE.encode(),
        "html-pretty": lambda: HTML_PRETTY_PAGE.encode(),
        "empty": lambda: b"",
        "comments": lambda: b"# Blocklist\n# updated: never\n\n",
    }[garbage]()
    harness.replace_file(st.list_path, data)
    st.hup()
    harness.wait_until(lambda: alerts(st) or reload_events(st), 10,
                       what="the reload to succeed or fail")
    taken = reload_events(st)
    assert taken == [], f"the {garbage} file was taken as a list: {taken[0]['stats']}"
    a = alerts(st)[0]
    assert str(st.list_path) in a["alert"]["error"], a
    assert f"reload failed, previous lists kept: {st.list_path}" in st.log()
    assert is_sinkholed(st, "old.test")
    assert is_sinkholed(st, "sub.kept.test")
    assert not is_sinkholed(st, "other.test")
    # A good list afterwards is taken again.
    harness.replace_file(st.list_path, "fixed.test\n")
    st.hup()
    harness.wait_until(lambda: reload_events(st), 10, what="the reload")
    assert is_sinkholed(st, "fixed.test")
    assert not is_sinkholed(st, "old.test")


def test_empty_list_at_start_is_a_warning(res):
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    empty = harness.write_list(res.path("empty.plain"), ["# nothing yet"])
    full = harness.write_list(res.path("full.plain"), ["old.test"])
    st = res.sinktrap({"dns": {"blocklist": [str(empty), str(full)]}}, upstream=up)
    assert is_sinkholed(st, "old.test")
    assert f"{empty}: no entries" in st.log()
    # A list that was empty may stay empty on a reload.
    st.hup()
    harness.wait_until(lambda: reload_events(st), 10, what="the reload")
    assert alerts(st) == []


def test_missing_list_on_reload_keeps_the_old_set_with_an_alert(reloadable):
    st = reloadable
    st.list_path.unlink()
    st.hup()
    # The reload has run when the failure shows in the log (as FILE: reason).
    harness.wait_until(lambda: f"{st.list_path}': No such file" in st.log(), 10,
                       what="the failed reload in the log")
    assert is_sinkholed(st, "old.test")
    assert is_sinkholed(st, "sub.kept.test")
    assert st.proc.alive()
    # Like any other list that cannot be taken, it is an alert.
    a = harness.wait_until(lambda: alerts(st), 3, what="an alert event")[0]
    assert str(st.list_path) in a["alert"]["error"], a


def test_reload_picks_up_a_list_added_to_the_config(reloadable, res):
    st = reloadable
    extra = harness.write_list(res.path("extra.hosts"), ["0.0.0.0 extra.test"])
    assert not is_sinkholed(st, "extra.test")
    st.conf["dns"]["blocklist"] = [str(st.list_path), str(extra)]
    st.write_conf()
    st.hup()
    harness.wait_until(lambda: reload_events(st), 10, what="the reload")
    assert is_sinkholed(st, "extra.test")
    assert is_sinkholed(st, "old.test")
    assert len(reload_events(st)[-1]["stats"]["reload"]["lists"]) == 2


def test_list_rewritten_in_place_during_reloads(res):
    """An updater that rewrites the list in place (no rename) while reloads run:
    the worker must neither crash nor stop answering."""
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    names = [f"n{i}.inplace.test" for i in range(20000)]
    body = ("\n".join(names) + "\n").encode()
    lst = res.path("inplace.plain")
    lst.write_bytes(body)
    st = res.sinktrap({"dns": {"blocklist": str(lst)}}, upstream=up)
    pid = st.worker_pid("dns")
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            with open(lst, "r+b") as f:
                f.truncate(0)
                for k in range(0, len(body), 4096):
                    f.write(body[k:k + 4096])
                    f.flush()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        for i in range(15):
            st.hup()
            r = st.query(f"q{i}.unlisted.test", timeout=3)
            assert r.rcode() == dns.rcode.NOERROR
            time.sleep(0.02)
    finally:
        stop.set()
        t.join(10)
    # The file is whole again: a reload takes all of it.
    lst.write_bytes(body)

    for _ in range(5):
        st.hup()
        try:
            harness.wait_until(lambda: is_sinkholed(st, "n19999.inplace.test"), 2,
                               interval=0.1, what="the whole list")
            break
        except harness.Timeout:
            continue  # (a signal lost to a reload still running has its own test)
    assert is_sinkholed(st, "n19999.inplace.test")
    assert st.worker_pid("dns") == pid, "the dns worker died during the reloads"
    assert "killed by signal" not in st.log()


def test_reload_with_a_broken_config_keeps_running(reloadable):
    st = reloadable
    st.conf["dns"]["colour"] = "blue"
    st.write_conf()
    st.hup()
    harness.wait_until(lambda: f"{st.conf_path}:" in st.log(), 10,
                       what="the config error in the log")
    assert "unknown key 'colour'" in st.log()
    assert is_sinkholed(st, "old.test")
    assert not is_sinkholed(st, "other.test")
    assert st.proc.alive()


def test_hup_during_a_running_reload_is_not_lost(res):
    """A list updated and signalled while an earlier reload still runs: the
    update must be loaded (a later reload), not dropped."""
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    small = harness.write_list(res.path("small.plain"), ["one.test"])
    big = harness.blocklists_dir() / "blocklistproject_phishing-nl.domains.txt"
    st = res.sinktrap({"dns": {"blocklist": [str(big), str(small)]}}, upstream=up)
    st.hup()  # a reload of 190k names: it runs for a while
    harness.wait_until(lambda: "lists handed to the dns worker" in st.log(), 5, interval=0.001)
    harness.replace_file(small, "one.test\ntwo.test\n")
    st.hup()  # the update, while the first reload runs
    harness.wait_until(lambda: reload_events(st), 20, what="the first reload")
    assert harness.wait_until(lambda: is_sinkholed(st, "two.test"), 5, interval=0.2,
                              what="the updated list to be loaded"), st.log()[-2000:]


def test_reload_while_an_allowed_query_is_out(res):
    """A forwarded query decided by an allowlist entry, still waiting for its
    upstream when a reload replaces the lists: its event (log_forwarded) names
    the rule and list it was decided by, and the worker lives on (it read the
    freed list before)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        allow = harness.write_list(res.path("allow.plain"), ["slow.test"])
        block = harness.write_list(res.path("block.plain"), ["evil.test"])
        st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{silent.getsockname()[1]}",
                                   "upstream_timeout": "1s", "log_forwarded": "yes",
                                   "allowlist": str(allow), "blocklist": str(block)}})
        pid = st.worker_pid("dns")
        out = []
        t = threading.Thread(target=lambda: out.append(st.query("a.slow.test", timeout=8)))
        t.start()
        time.sleep(0.3)
        harness.replace_file(allow, "other.test\n" * 50000)
        st.hup()
        harness.wait_until(lambda: reload_events(st), 10, what="the reload")
        t.join(10)
        assert out and out[0].rcode() == dns.rcode.SERVFAIL
        ev = st.wait_dns_event("a.slow.test")[0]
        assert ev["sinkhole"]["rule"] == "slow.test", ev
        assert ev["sinkhole"]["list"] == str(allow), ev
        assert st.worker_pid("dns") == pid, "the dns worker was restarted"
        assert is_sinkholed(st, "evil.test")
    finally:
        silent.close()
