"""The service manager's notifications across a reload (sd_notify, as systemd reads them
for Type=notify): RELOADING=1 when SIGHUP comes, READY=1 once the dns worker answers from
the new lists, or has refused them, so that `systemctl reload` returns when the reload has
taken effect."""

import random
import socket
import time

import harness

BIG = 300_000  # names: a reload that takes a while to build


def notes(sock, until, timeout=30):
    """Datagrams received until one holds `until`; returns all of them."""
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(dict(x.split("=", 1) for x in msg.split("\n") if "=" in x))
        if until in msg.split("\n"):
            return got
    raise AssertionError(f"no {until} in {got}")


def started_with_notify(res, monkeypatch, conf):
    path = res.path("notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    st = res.sinktrap(conf, upstream=up)
    monkeypatch.delenv("NOTIFY_SOCKET")
    notes(sock, "READY=1")
    return st, sock


def test_reload_says_reloading_then_ready_once_the_new_lists_answer(res, monkeypatch):
    bl = harness.write_list(res.path("big.plain"), [f"n{i}.big.test" for i in range(BIG)])
    st, sock = started_with_notify(res, monkeypatch, {"dns": {"blocklist": str(bl)}})
    with sock:
        for rnd in range(2):
            new = f"added{rnd}.test"
            harness.write_list(bl, [f"n{i}.big.test" for i in range(BIG)] + [new])
            st.hup()
            got = notes(sock, "READY=1")
            # READY=1 came: the name added before the SIGHUP is sinkholed at once.
            assert harness.a_records(st.query(new))[0].startswith("127.66."), rnd
            assert got[0].get("RELOADING") == "1", got
            assert int(got[0]["MONOTONIC_USEC"]) > 0
            assert got[-1]["STATUS"] == "serving (lists reloaded)", got
            assert "READY" not in got[0]


def test_a_refused_reload_ends_with_ready_and_says_why(res, monkeypatch):
    bl = harness.write_list(res.path("small.plain"), ["one.test"])
    st, sock = started_with_notify(res, monkeypatch, {"dns": {"blocklist": str(bl)}})
    with sock:
        # A configuration with an error: the running one is kept.
        st.conf["dns"]["ttl"] = "soon"
        st.write_conf()
        st.hup()
        got = notes(sock, "READY=1", timeout=10)
        assert got[0].get("RELOADING") == "1"
        assert got[-1]["STATUS"] == "serving (reload refused: the configuration has errors)"
        # A list that is not one (binary garbage): the loaded lists are kept.
        st.conf["dns"]["ttl"] = 300
        st.write_conf()
        harness.replace_file(bl, random.Random(1).randbytes(50000))
        st.hup()
        got = notes(sock, "READY=1", timeout=10)
        assert got[0].get("RELOADING") == "1"
        assert got[-1]["STATUS"] == "serving (reload failed: previous lists kept)", got
        assert harness.a_records(st.query("x.one.test"))[0].startswith("127.66.")
