"""Transports: UDP and TCP, IPv4 and IPv6, on every [dns] listen; EDNS0 sizes,
the TC bit, and TCP fallback (with dig as the real client)."""

import ipaddress
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rdatatype
import dns.rcode
import pytest

import harness

# Four TXT records of ~190 bytes: the answer is ~835 bytes, over 512.
BIG_TXT = [f'txt-record={n},"{c * 190}"' for c in "abcd"
           for n in ("big.test", "cache-tcp.big.test", "cache-udp.big.test")]
# Four TXT records of three 250-byte strings: ~3.1 KB, over any UDP default.
HUGE_TXT = [f'txt-record=huge.test,"{c * 250}","{c * 250}","{c * 250}"' for c in "wxyz"]
# Eight such records: ~6.2 KB, more than any UDP answer, fetched over TCP.
GIANT_TXT = [f'txt-record=giant.test,"{c * 250}","{c * 250}","{c * 250}"'
             for c in "stuvwxyz"]


@pytest.fixture(scope="module")
def env(mres):
    # local-ttl: dnsmasq's own records have TTL 0 otherwise, which nothing caches
    up = mres.dnsmasq(["address=/fwd.test/127.0.1.10", "edns-packet-max=4096", "address=/#/",
                       "local-ttl=300", "log-queries"] + BIG_TXT + HUGE_TXT + GIANT_TXT)
    bl = harness.write_list(mres.path("transport.hosts"), ["0.0.0.0 blocked.test"])
    st = harness.Sinktrap(mres.dir, name="transport")
    mres.objs.append(st)
    third = harness.free_port(v6=False)
    st.conf["dns"].update({
        "listen": [f"127.0.0.1:{st.port}", f"[::1]:{st.port}", f"127.0.0.2:{third}"],
        "upstream": f"127.0.0.1:{up.port}",
        "blocklist": str(bl),
    })
    st.start()
    st.listens = [("127.0.0.1", st.port), ("::1", st.port), ("127.0.0.2", third)]
    st.upstream_log = up.dir / f"{up.name}-queries.log"
    return st


def in_pool(addr, pool="127.66.0.0/16"):
    return ipaddress.ip_address(addr) in ipaddress.ip_network(pool)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("listen", [0, 1, 2], ids=["127.0.0.1", "::1", "127.0.0.2"])
def test_every_listen_answers_udp_and_tcp(env, listen, proto):
    addr, port = env.listens[listen]
    name = f"{proto}-{listen}.blocked.test"

    r = env.query(name, "A", proto=proto, addr=addr, port=port)
    assert r.rcode() == dns.rcode.NOERROR
    addrs = harness.a_records(r)
    assert len(addrs) == 1 and in_pool(addrs[0]), r

    r6 = env.query(name, "AAAA", proto=proto, addr=addr, port=port)
    addrs6 = harness.a_records(r6)
    assert len(addrs6) == 1 and in_pool(addrs6[0], "fd00:66::/64"), r6

    fwd = env.query("fwd.test", "A", proto=proto, addr=addr, port=port)
    assert fwd.rcode() == dns.rcode.NOERROR
    assert harness.a_records(fwd) == ["127.0.1.10"]

    # The event names the listen the query came in on and the transport.
    ev = env.wait_dns_event(name)[0]
    assert ev["dest_ip"] == addr
    assert ev["dest_port"] == port
    assert ev["proto"] == proto.upper()
    assert ipaddress.ip_address(ev["src_ip"]).is_loopback
    assert ev["sinkhole"]["answer"] == addrs[0]


def test_no_edns_answer_over_512_is_truncated(env):
    q = harness.make_query("big.test", "TXT")
    wire = harness.udp_exchange(q.to_wire(), "127.0.0.1", env.port)
    assert wire is not None
    assert len(wire) <= 512
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    assert r.flags & dns.flags.TC
    assert r.edns < 0  # no OPT back to a client that sent none


@pytest.mark.parametrize("payload", [600, 800])
def test_edns_small_buffer_is_respected(env, payload):
    q = harness.make_query("big.test", "TXT", edns=0, payload=payload)
    wire = harness.udp_exchange(q.to_wire(), "127.0.0.1", env.port)
    assert wire is not None
    assert len(wire) <= payload
    r = dns.message.from_wire(wire)
    assert r.flags & dns.flags.TC


@pytest.mark.parametrize("addr", ["127.0.0.1", "::1"])
def test_edns_4096_gets_full_answer_over_udp(env, addr):
    r = env.query("big.test", "TXT", edns=0, payload=4096, addr=addr)
    assert not r.flags & dns.flags.TC
    txt = [rr for rr in r.answer if rr.rdtype == dns.rdatatype.TXT]
    assert len(txt) == 1 and len(txt[0]) == 4
    assert len(r.to_wire()) > 512
    assert r.edns == 0


@pytest.mark.parametrize("addr", ["127.0.0.1", "::1"])
def test_tcp_gets_full_answer(env, addr):
    r = env.query("big.test", "TXT", proto="tcp", addr=addr)
    assert not r.flags & dns.flags.TC
    assert sum(len(rr) for rr in r.answer) == 4


def test_dig_sees_tc_and_retries_over_tcp(env):
    ign = env.dig("big.test", "TXT", "+noedns", "+ignore")
    assert ign.returncode == 0, ign.stderr
    assert " tc" in next(line for line in ign.stdout.splitlines() if "flags:" in line)

    auto = env.dig("big.test", "TXT", "+noedns")
    assert auto.returncode == 0, auto.stderr
    assert "Truncated, retrying in TCP mode" in auto.stdout
    assert "ANSWER: 4" in auto.stdout
    assert "(TCP)" in auto.stdout

    tcp = env.dig("big.test", "TXT", "+tcp", addr="::1")
    assert tcp.returncode == 0
    assert "ANSWER: 4" in tcp.stdout


def test_large_upstream_answer_is_complete_over_tcp(env):
    """A ~3 KB answer: a TCP client must get all of it, never a TC answer."""
    r = env.query("huge.test", "TXT", proto="tcp")
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.flags & dns.flags.TC, "answer over TCP has TC set"
    assert sum(len(rr) for rr in r.answer) == 4


def test_answer_over_4k_is_cached_and_served_whole(env):
    """An answer only TCP carries (~6.2 KB) is served from the cache, not
    asked of the upstream again, and whole."""
    def asked():
        return env.upstream_log.read_text().count("query[TXT] giant.test")

    for i in range(3):
        r = env.query("giant.test", "TXT", proto="tcp")
        assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC
        assert sum(len(rr) for rr in r.answer) == 8
        if i == 0:
            # a UDP try (truncated), then TCP
            harness.wait_until(lambda: asked() >= 2, 5, what="the upstream's log")
    time.sleep(0.5)  # the upstream logs what it is asked without delay
    assert asked() == 2, env.upstream_log.read_text()[-2000:]


@pytest.mark.parametrize("first", ["tcp", "udp"])
def test_cached_answer_fits_each_client(env, first):
    """From the cache too, each client gets what fits: TC over plain UDP, all over TCP."""
    name = f"cache-{first}.big.test"
    if first == "tcp":
        assert sum(len(rr) for rr in env.query(name, "TXT", proto="tcp").answer) == 4
    q = harness.make_query(name, "TXT")
    wire = harness.udp_exchange(q.to_wire(), "127.0.0.1", env.port)
    assert len(wire) <= 512
    assert dns.message.from_wire(wire).flags & dns.flags.TC
    r = env.query(name, "TXT", proto="tcp")
    assert not r.flags & dns.flags.TC and sum(len(rr) for rr in r.answer) == 4
    r = env.query(name, "TXT", edns=0, payload=4096)
    assert not r.flags & dns.flags.TC and sum(len(rr) for rr in r.answer) == 4


def test_edns_opt_in_answer_only_when_asked(env):
    for name in ("opt.blocked.test", "fwd.test"):
        with_edns = env.query(name, "A", edns=0, payload=1232)
        assert with_edns.edns == 0
        without = env.query(name, "A")
        assert without.edns < 0


def test_tcp_pipelined_queries_on_one_connection(env):
    qs = [harness.make_query(n, "A") for n in ("p1.blocked.test", "fwd.test", "p2.blocked.test")]
    s = harness.tcp_connect("127.0.0.1", env.port)
    try:
        s.sendall(b"".join(harness.tcp_frame(q.to_wire()) for q in qs))
        got = {}
        for _ in qs:
            wire = harness.tcp_read_msg(s)
            assert wire is not None, "server closed the connection early"
            r = dns.message.from_wire(wire)
            got[r.id] = r
    finally:
        s.close()
    assert set(got) == {q.id for q in qs}
    for q in qs:
        assert got[q.id].question[0].name == q.question[0].name
        assert got[q.id].rcode() == dns.rcode.NOERROR
        assert harness.a_records(got[q.id])


def test_tcp_message_split_across_segments(env):
    q = harness.make_query("split.blocked.test", "A")
    frame = harness.tcp_frame(q.to_wire())
    s = harness.tcp_connect("127.0.0.1", env.port)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(frame)):
            s.sendall(frame[i:i + 1])
        r = dns.message.from_wire(harness.tcp_read_msg(s))
    finally:
        s.close()
    assert r.id == q.id and harness.a_records(r)


@pytest.mark.parametrize("name", ["BlOcKeD.TeSt", "FwD.TeSt"])
def test_question_case_is_kept(env, name):
    q = harness.make_query(name, "A")
    wire = harness.udp_exchange(q.to_wire(), "127.0.0.1", env.port)
    assert wire is not None
    # The question section (offset 12) comes back byte for byte.
    qlen = len(q.to_wire()) - 12
    assert wire[12:12 + qlen] == q.to_wire()[12:12 + qlen]
    r = dns.message.from_wire(wire)
    assert harness.a_records(r)
    assert struct.unpack("!H", wire[:2])[0] == q.id
