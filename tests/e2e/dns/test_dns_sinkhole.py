"""Sinkhole answers: A and AAAA from the configured addresses or pools, NODATA
with a SOA for other types, the TTL; per-domain pool addresses that are stable,
durable across restarts, announced as sinkhole_map events, and recycled (least
recently used first) when the pool is exhausted."""

import ipaddress

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

import harness


def only_addr(r, rdtype="A"):
    t = dns.rdatatype.from_text(rdtype)
    addrs = [rd.address for rrset in r.answer for rd in rrset if rrset.rdtype == t]
    assert len(addrs) == 1, r
    return addrs[0]


@pytest.fixture(scope="module")
def single(mres):
    up = mres.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(mres.path("single.plain"), ["single.test"])
    return mres.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.0.0.7",
                                  "sinkhole_ipv6": "::1", "ttl": 123}}, upstream=up)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_single_address_a_and_aaaa_with_ttl(single, proto):
    for name in ("single.test", "other.single.test"):
        r = single.query(name, "A", proto=proto)
        assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.AA
        assert only_addr(r) == "127.0.0.7"
        assert r.answer[0].ttl == 123
        r6 = single.query(name, "AAAA", proto=proto)
        assert only_addr(r6, "AAAA") == "::1"
        assert r6.answer[0].ttl == 123


@pytest.mark.parametrize("rdtype", ["MX", "TXT", "NS", "SRV", "HTTPS", "PTR", "CNAME", "SOA"])
def test_other_types_get_nodata_with_soa(single, rdtype):
    name = f"nodata-{rdtype.lower()}.single.test"
    r = single.query(name, rdtype)
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.answer
    assert len(r.authority) == 1
    soa = r.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 123
    assert soa[0].minimum == 123
    ev = single.wait_dns_event(name)[0]
    assert ev["dns"]["rrtype"] == rdtype
    assert ev["sinkhole"]["answer"] == "NODATA"


def test_no_ipv6_sinkhole_gives_nodata_for_aaaa(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("v4only.plain"), ["v4only.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.0.0.8",
                               "sinkhole_ipv6": None}}, upstream=up)
    assert only_addr(st.query("v4only.test")) == "127.0.0.8"
    r6 = st.query("v4only.test", "AAAA")
    assert r6.rcode() == dns.rcode.NOERROR and not r6.answer
    assert r6.authority[0].rdtype == dns.rdatatype.SOA


def map_events(st, action=None):
    return [e["sinkhole_map"] for e in st.events("sinkhole_map")
            if action is None or e["sinkhole_map"]["action"] == action]


def test_pool_gives_each_domain_a_stable_address_durable_across_restart(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("pool.plain"), ["pool.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.77.0.0/24",
                               "sinkhole_ipv6": "fd00:77::/120"}}, upstream=up)
    net4 = ipaddress.ip_network("127.77.0.0/24")
    net6 = ipaddress.ip_network("fd00:77::/120")
    names = ["a.pool.test", "b.pool.test", "c.pool.test", "pool.test"]

    v4 = {n: only_addr(st.query(n)) for n in names}
    v6 = {n: only_addr(st.query(n, "AAAA"), "AAAA") for n in names}
    assert len(set(v4.values())) == len(names), v4
    assert len(set(v6.values())) == len(names), v6
    for a in v4.values():
        ip = ipaddress.ip_address(a)
        assert ip in net4 and ip not in (net4.network_address, net4.broadcast_address)
    assert all(ipaddress.ip_address(a) in net6 for a in v6.values())

    # Stable: asked again (any case, over TCP too), the same address.
    for n in names:
        assert only_addr(st.query(n.upper())) == v4[n]
        assert only_addr(st.query(n, proto="tcp")) == v4[n]
        assert only_addr(st.query(n, "AAAA"), "AAAA") == v6[n]

    # One sinkhole_map event per new mapping, none for repeats.
    st.wait_events(lambda es: len([e for e in es if e["event_type"] == "sinkhole_map"])
                   >= 2 * len(names), what="sinkhole_map events")
    st.wait_dns_event("pool.test", count=5)  # every answer so far is in
    maps = map_events(st)
    assert len(maps) == 2 * len(names), maps
    assert all(m["action"] == "new" for m in maps)
    assert {(m["domain"], m["address"]) for m in maps if m["family"] == "ipv4"} == set(v4.items())
    assert {(m["domain"], m["address"]) for m in maps if m["family"] == "ipv6"} == set(v6.items())

    # The JSON line is written as the store takes the event, the row at the
    # batch's commit: wait for it.
    want = set(v4.items())
    got = harness.wait_until(
        lambda: (lambda s: s if s == want else None)(
            {(r["domain"], r["address"]) for r in st.db_rows(
                "SELECT address, domain, family FROM sinkhole_map") if r["family"] == "ipv4"}),
        10, what="the map's rows in SQLite")
    assert got == want

    # Durable: the same addresses after a restart, and no new mapping events.
    assert st.stop() == 0
    st.start()
    for n in names:
        assert only_addr(st.query(n)) == v4[n], f"{n} changed address across a restart"
        assert only_addr(st.query(n, "AAAA"), "AAAA") == v6[n]
    new = only_addr(st.query("d.pool.test"))
    assert new not in v4.values()
    st.wait_events(lambda es: any(e["event_type"] == "sinkhole_map" and
                                  e["sinkhole_map"]["domain"] == "d.pool.test" for e in es))
    assert len(map_events(st)) == 2 * len(names) + 1


def test_pool_exhaustion_recycles_least_recently_used(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("tiny.plain"), ["tiny.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.78.0.0/30"}},
                      upstream=up)
    usable = {"127.78.0.1", "127.78.0.2"}

    a = only_addr(st.query("a.tiny.test"))
    b = only_addr(st.query("b.tiny.test"))
    assert {a, b} == usable
    assert only_addr(st.query("a.tiny.test")) == a  # a is now the most recent

    # A third name: the pool is full, b (least recently used) gives up its address.
    c = only_addr(st.query("c.tiny.test"))
    assert c == b
    ev = st.wait_events(lambda es: any(e["event_type"] == "sinkhole_map" and
                                       e["sinkhole_map"]["domain"] == "c.tiny.test"
                                       for e in es))
    m = [e["sinkhole_map"] for e in ev if e["event_type"] == "sinkhole_map" and
         e["sinkhole_map"]["domain"] == "c.tiny.test"][0]
    assert m["action"] == "recycled"
    assert m["address"] == b
    assert m.get("evicted_domain") == "b.tiny.test"
    assert only_addr(st.query("c.tiny.test")) == c

    # b comes back: now a is the least recently used.
    b2 = only_addr(st.query("b.tiny.test"))
    assert b2 == a
    st.wait_events(lambda es: len([e for e in es if e["event_type"] == "sinkhole_map"]) >= 4)
    m = [e["sinkhole_map"] for e in st.events("sinkhole_map")][-1]
    assert (m["domain"], m["action"], m["address"], m.get("evicted_domain")) == \
        ("b.tiny.test", "recycled", a, "a.tiny.test")
    st.wait_dns_event("b.tiny.test", count=2)
    want = {(b, "c.tiny.test"), (a, "b.tiny.test")}
    got = harness.wait_until(
        lambda: (lambda s: s if s == want else None)(
            {(r["address"], r["domain"])
             for r in st.db_rows("SELECT address, domain FROM sinkhole_map")}),
        10, what="the map's rows in SQLite")
    assert got == want
    # The history keeps who held each address when: what went to an address
    # before it was recycled stays its earlier name's.
    hist = st.db_rows("SELECT address, domain, held_from, held_until FROM "
                      "sinkhole_map_spans ORDER BY address, held_from")
    assert [(h["address"], h["domain"], h["held_until"] is None) for h in hist] == sorted([
        (a, "a.tiny.test", False), (a, "b.tiny.test", True),
        (b, "b.tiny.test", False), (b, "c.tiny.test", True)])
    for h, n in zip(hist, hist[1:]):
        if h["address"] == n["address"]:
            assert h["held_until"] == n["held_from"]
    assert all(h["held_from"] > 0 for h in hist)

    # c is used last; after a restart the order is kept: a new name evicts b.
    assert only_addr(st.query("c.tiny.test")) == c
    st.wait_dns_event("c.tiny.test", count=3)
    assert st.stop() == 0
    st.start()
    d = only_addr(st.query("d.tiny.test"))
    assert d == a, "after a restart the least recently used mapping was not the one recycled"
    assert only_addr(st.query("c.tiny.test")) == c


def test_pool_mapping_of_a_long_escaped_name_is_durable(res):
    """A name whose presentation form is long (bytes that need \\DDD escapes)
    keeps its address across a restart like any other."""
    import dns.message
    import dns.name

    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("esc.plain"), ["esc.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "sinkhole_ipv4": "127.79.0.0/24"}},
                      upstream=up)
    weird = dns.name.Name([b"\xff" * 63, b"\x01" * 40, b"esc", b"test", b""])
    q = dns.message.make_query(weird, "A")
    first = only_addr(st.query(None, q=q))
    st.wait_events(lambda es: any(e["event_type"] == "sinkhole_map" for e in es))
    assert st.stop() == 0
    st.start()
    # A new name first: it must not be handed the long name's address.
    other = only_addr(st.query("new.esc.test"))
    assert other != first, "the long name's mapping was not restored after the restart"
    assert only_addr(st.query(None, q=dns.message.make_query(weird, "A"))) == first
