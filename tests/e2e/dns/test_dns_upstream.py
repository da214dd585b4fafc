"""A dead upstream gets SERVFAIL within upstream_timeout (plus a small margin),
never a hang, and the server answers normally once the upstream is back."""

import socket
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

import harness

TIMEOUT_S = 1.0
MARGIN_S = 2.0


def timed_query(st, name, **kw):
    t0 = time.monotonic()
    r = st.query(name, timeout=TIMEOUT_S + MARGIN_S + 5, **kw)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("kind", ["closed-port", "silent", "two-dead"])
def test_dead_upstream_gets_servfail_in_time(res, kind):
    silent = None
    if kind == "closed-port":
        ups = f"127.0.0.1:{harness.closed_udp_port()}"
    elif kind == "silent":
        # Bound, so no ICMP error comes back, but never read: a black hole.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        ups = f"127.0.0.1:{silent.getsockname()[1]}"
    else:
        ups = [f"127.0.0.1:{harness.closed_udp_port()}", f"127.0.0.1:{harness.closed_udp_port()}"]
    try:
        bl = harness.write_list(res.path("b.plain"), ["blocked.test"])
        st = res.sinktrap({"dns": {"upstream": ups, "blocklist": str(bl),
                                   "upstream_timeout": f"{int(TIMEOUT_S * 1000)}ms",
                                   "log_forwarded": "yes"}})
        for proto in ("udp", "tcp"):
            r, dt = timed_query(st, f"{proto}.unlisted.test", proto=proto)
            assert r.rcode() == dns.rcode.SERVFAIL, r
            assert dt <= TIMEOUT_S + MARGIN_S, f"SERVFAIL after {dt:.2f}s"
        # Sinkholed names do not wait for the upstream at all.
        r, dt = timed_query(st, "blocked.test")
        assert harness.a_records(r)
        ev = st.wait_dns_event("udp.unlisted.test", "forward")[0]
        assert ev["dns"]["rcode"] == "SERVFAIL"
    finally:
        if silent:
            silent.close()


def test_many_queries_to_dead_upstream_all_fail_in_time(res):
    st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{harness.closed_udp_port()}",
                               "upstream_timeout": "1s"}})
    results = {}

    def one(i):
        q = dns.message.make_query(f"q{i}.dead.test", "A")
        t0 = time.monotonic()
        try:
            r = dns.query.udp(q, "127.0.0.1", port=st.port, timeout=TIMEOUT_S + MARGIN_S + 5)
            results[i] = (r.rcode(), time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001
            results[i] = (repr(e), time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 100
    bad = {i: v for i, v in results.items()
           if v[0] != dns.rcode.SERVFAIL or v[1] > TIMEOUT_S + MARGIN_S}
    assert not bad, bad


def test_upstream_coming_back_is_used_again(res):
    port = harness.closed_udp_port()
    st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{port}", "upstream_timeout": "500ms"}})
    r, _ = timed_query(st, "back.test")
    assert r.rcode() == dns.rcode.SERVFAIL
    res.dnsmasq(["address=/back.test/127.0.3.3"], port=port)
    r, _ = timed_query(st, "back.test")
    assert r.rcode() == dns.rcode.NOERROR
    assert harness.a_records(r) == ["127.0.3.3"]


def questionless_answer(rcode, id_delta=0):
    """An upstream that answers every query with rcode and no question
    section (QDCOUNT 0), as some servers refuse a query."""
    def answer(q):
        r = dns.message.make_response(q)
        r.question = []
        r.id = (q.id + id_delta) & 0xffff
        r.set_rcode(rcode)
        return r
    return answer


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.NOTIMP])
def test_error_answer_without_a_question_is_passed_on(res, rcode):
    """An error answer without a question, with the query's id, on the query's
    own socket: the client gets that rcode with its own question (it waited
    out upstream_timeout and got SERVFAIL)."""
    up = harness.ScriptUpstream(questionless_answer(rcode))
    try:
        st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{up.port}"}})
        for proto in ("udp", "tcp"):
            name = f"refused-{proto}.test"
            r = st.query(name, proto=proto, timeout=10)
            assert r.rcode() == rcode, r
            assert [str(x.name) for x in r.question] == [name + "."], r
        # Asked again (an error is not cached): the same.
        r = st.query("refused-udp.test", timeout=10)
        assert r.rcode() == rcode, r
    finally:
        up.close()


@pytest.mark.parametrize("kind", ["noerror", "nxdomain", "other-id"])
def test_questionless_answer_that_is_no_error_for_this_query_is_ignored(res, kind):
    """Without a question, NOERROR and NXDOMAIN say nothing about a name, and an
    answer with another id is not for this query: each is dropped, and the
    query fails as with no answer at all (SERVFAIL)."""
    rcode, delta = {"noerror": (dns.rcode.NOERROR, 0),
                    "nxdomain": (dns.rcode.NXDOMAIN, 0),
                    "other-id": (dns.rcode.REFUSED, 1)}[kind]
    up = harness.ScriptUpstream(questionless_answer(rcode, delta))
    try:
        st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{up.port}", "cache_size": 0,
                                   "upstream_timeout": "500ms"}})
        r = st.query(f"{kind}.test", timeout=10)
        assert r.rcode() == dns.rcode.SERVFAIL, r
    finally:
        up.close()
