"""CNAME inspection: a forwarded answer whose CNAME chain reaches a listed
name is sinkholed as that name (the chain up to it, then its sinkhole
record), from a fresh upstream answer and from the cache alike; an allow
rule for the alias target, or cname_inspect = no, lets it through."""

import re

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

import harness

# The upstream's aliases: www.legit.test -> cdn.alias.test -> c2.evil.test
# (listed by its parent evil.test), and aliases that reach nothing listed.
UPSTREAM = [
    "host-record=c2.evil.test,127.0.9.1",
    "host-record=good.evil.test,127.0.9.2",
    "host-record=web.ok.test,127.0.9.3",
    "cname=cdn.alias.test,c2.evil.test",
    "cname=www.legit.test,cdn.alias.test",
    "cname=shop.legit.test,web.ok.test",
    "cname=partner.legit.test,good.evil.test",
    "cname=direct.legit.test,c2.evil.test",
    "cname=trusted.legit.test,c2.evil.test",
]

# A long chain: nine aliases of 4 labels of 60 bytes (about 250 bytes a
# name) before c2.evil.test. The sinkhole's answer writes each name out in
# full, about 4.6 KB: over UDP a truncation, over TCP the whole chain.
LONG = [".".join(f"{i}{c}" * 30 for c in "abcd") + ".long.test" for i in range(9)]
UPSTREAM += [f"cname={LONG[i]},{LONG[i + 1]}" for i in range(8)]
UPSTREAM += [f"cname={LONG[8]},c2.evil.test"]


def chain(r):
    """The answer section as [(owner, type, data)], owners lowercased (the first
    points at the question, which keeps the client's spelling)."""
    out = []
    for rrset in r.answer:
        for rd in rrset:
            data = rd.target.to_text() if rrset.rdtype == dns.rdatatype.CNAME else rd.to_text()
            out.append((rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype), data))
    return out


@pytest.fixture(scope="module")
def st(mres):
    up = mres.dnsmasq(UPSTREAM)
    bl = harness.write_list(mres.path("cname.hosts"), ["# C&C", "0.0.0.0 evil.test"])
    al = harness.write_list(mres.path("cname-allow.plain"),
                            ["good.evil.test", "trusted.legit.test"])
    s = mres.sinktrap({"dns": {"blocklist": str(bl), "allowlist": str(al)}}, upstream=up)
    s.list_path = str(bl)
    s.upstream = up
    return s


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_alias_of_a_listed_name_is_sinkholed_as_that_name(st, proto):
    direct = st.query("c2.evil.test", "A", proto=proto)
    addr = harness.a_records(direct)[0]
    assert addr.startswith("127.66.")

    for i in range(2):  # the upstream's answer, then the cached one
        r = st.query("WWW.Legit.test", "A", proto=proto)
        assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.AA
        assert r.question[0].name.to_text() == "WWW.Legit.test."
        assert chain(r) == [
            ("www.legit.test.", "CNAME", "cdn.alias.test."),
            ("cdn.alias.test.", "CNAME", "c2.evil.test."),
            ("c2.evil.test.", "A", addr),  # the listed name's own pool address
        ], (i, r)
        assert all(rrset.ttl <= 300 for rrset in r.answer)

    evs = st.wait_dns_event("www.legit.test", count=2 * (1 if proto == "udp" else 2))
    ev = evs[-1]
    sk = ev["sinkhole"]
    assert sk["action"] == "sinkhole" and sk["reason"] == "blocklist"
    assert sk["rule"] == "evil.test"
    assert sk["list"] == st.list_path and sk["line"] == 2
    assert sk["cname"] == "c2.evil.test"
    assert sk["answer"] == addr
    assert [(a["rrname"], a["rrtype"], a["rdata"]) for a in ev["dns"]["answers"]] == [
        ("www.legit.test", "CNAME", "cdn.alias.test"),
        ("cdn.alias.test", "CNAME", "c2.evil.test"),
        ("c2.evil.test", "A", addr)]
    rows = harness.wait_until(
        lambda: st.db_rows("SELECT domain FROM events WHERE event_id = ?", (ev["event_id"],)),
        10, what="the event in SQLite")
    assert rows[0]["domain"] == "www.legit.test"
    # one address for the listed name, however it was reached
    maps = [e["sinkhole_map"] for e in st.events("sinkhole_map")]
    assert [m["domain"] for m in maps if m["address"] == addr] == ["c2.evil.test"]
    assert not [m for m in maps if m["domain"] in ("www.legit.test", "cdn.alias.test")]


def test_a_chain_longer_than_a_udp_answer_goes_whole_over_tcp(st):
    r = st.query(LONG[0], "A", edns=0, payload=1232)
    assert r.flags & dns.flags.TC and not r.answer, r
    r = st.query(LONG[0], "A", proto="tcp")
    assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC, r
    c = chain(r)
    assert [x[0] for x in c] == [n + "." for n in LONG] + ["c2.evil.test."], c
    assert c[-1][1] == "A" and c[-1][2].startswith("127.66."), c
    # as sent (dnspython's to_wire() would compress it again)
    d = st.dig(LONG[0], "A", "+tcp")
    m = re.search(r"MSG SIZE\s+rcvd: (\d+)", d.stdout)
    assert m and int(m.group(1)) > 4096, d.stdout
    assert "status: NOERROR" in d.stdout and " tc" not in d.stdout.split("flags:")[1][:20]
    # the truncated answer is reported (no address), then the two over TCP
    evs = st.wait_dns_event(LONG[0], count=3)
    assert [e["sinkhole"]["answer"] for e in evs].count("TRUNCATED") == 1
    ev = evs[-1]
    assert ev["sinkhole"]["cname"] == "c2.evil.test"
    assert len(ev["dns"]["answers"]) == 10


def test_a_truncated_sinkhole_answer_is_reported_without_an_address(res):
    """The sinkhole answer that does not fit over UDP is replaced by a
    truncated stub: the query is reported (a client that never retries was
    still looking for the name), but with no address and no pool mapping for
    an answer the client never got (before, the address was taken and the
    event named it). Its retry over TCP gets both."""
    target = "tc.evil.test"
    up = res.dnsmasq([f"host-record={target},127.0.9.1",
                      "host-record=marker.evil.test,127.0.9.2"] +
                     [f"cname={LONG[i]},{LONG[i + 1]}" for i in range(8)] +
                     [f"cname={LONG[8]},{target}"])
    bl = harness.write_list(res.path("tc.hosts"), ["0.0.0.0 evil.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=up)
    r = st.query(LONG[0], "A", edns=0, payload=1232)
    assert r.flags & dns.flags.TC and not r.answer, r
    # Events come in order: once the next query's is there, one for the
    # truncated answer would be too.
    st.query("marker.evil.test", "A")
    st.wait_dns_event("marker.evil.test")
    evs = st.dns_events(LONG[0])
    assert len(evs) == 1 and evs[0]["sinkhole"]["answer"] == "TRUNCATED", evs
    assert evs[0]["dns"]["truncated"] is True and "answers" not in evs[0]["dns"]
    assert [e for e in st.events("sinkhole_map")
            if e["sinkhole_map"]["domain"] == target] == []
    r = st.query(LONG[0], "A", proto="tcp")
    addr = chain(r)[-1][2]
    assert addr.startswith("127.66."), chain(r)
    ev = st.wait_dns_event(LONG[0], count=2)[-1]
    assert ev["sinkhole"]["answer"] == addr and ev["proto"] == "TCP", ev
    maps = harness.wait_until(
        lambda: [e for e in st.events("sinkhole_map")
                 if e["sinkhole_map"]["domain"] == target], 10, what="the mapping")
    assert [m["sinkhole_map"]["address"] for m in maps] == [addr]


def test_aaaa_and_other_types_through_an_alias(st):
    # the upstream has no AAAA for the target: the answer still is the sinkhole's
    r = st.query("direct.legit.test", "AAAA")
    c = chain(r)
    assert c[0] == ("direct.legit.test.", "CNAME", "c2.evil.test.")
    assert c[1][:2] == ("c2.evil.test.", "AAAA") and c[1][2].startswith("fd00:66::")
    assert len(c) == 2
    # MX: the chain, then NODATA with the sinkhole's SOA
    r = st.query("direct.legit.test", "MX")
    assert r.rcode() == dns.rcode.NOERROR
    assert chain(r) == [("direct.legit.test.", "CNAME", "c2.evil.test.")]
    assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]
    assert r.authority[0].name.to_text() == "c2.evil.test."
    ev = st.wait_dns_event("direct.legit.test", count=2)
    mx = [e for e in ev if e["dns"]["rrtype"] == "MX"][0]
    assert mx["sinkhole"]["answer"] == "NODATA" and mx["sinkhole"]["cname"] == "c2.evil.test"


def test_aliases_to_unlisted_or_allowed_names_are_forwarded(st):
    assert chain(st.query("shop.legit.test")) == [
        ("shop.legit.test.", "CNAME", "web.ok.test."), ("web.ok.test.", "A", "127.0.9.3")]
    # good.evil.test is under the listed evil.test, but allowed: an allow rule wins
    assert chain(st.query("partner.legit.test")) == [
        ("partner.legit.test.", "CNAME", "good.evil.test."),
        ("good.evil.test.", "A", "127.0.9.2")]
    # an allow rule for the name asked wins over what its answer leads to
    assert chain(st.query("trusted.legit.test")) == [
        ("trusted.legit.test.", "CNAME", "c2.evil.test."), ("c2.evil.test.", "A", "127.0.9.1")]
    assert not st.dns_events("shop.legit.test")
    assert not st.dns_events("partner.legit.test")
    assert not st.dns_events("trusted.legit.test")


def test_check_says_answers_are_inspected(st):
    r = st.run_cmd("check", "www.legit.test")
    assert r.returncode == 1, r
    assert "forwarded to upstream (unlisted)" in r.stdout
    assert "CNAME chain reaches a blocked name" in r.stdout


def test_cname_inspect_off_forwards_the_alias(res):
    up = res.dnsmasq(UPSTREAM)
    bl = harness.write_list(res.path("off.hosts"), ["0.0.0.0 evil.test"])
    s = res.sinktrap({"dns": {"blocklist": str(bl), "cname_inspect": "no"}}, upstream=up)
    assert chain(s.query("www.legit.test")) == [
        ("www.legit.test.", "CNAME", "cdn.alias.test."),
        ("cdn.alias.test.", "CNAME", "c2.evil.test."),
        ("c2.evil.test.", "A", "127.0.9.1")]
    assert not s.dns_events("www.legit.test")
    r = s.run_cmd("check", "www.legit.test")
    assert "CNAME" not in r.stdout


def test_strict_mode_applies_block_rules_to_the_chain_only(res):
    """In allowlist mode an internal name is resolved with its aliases, unless an
    alias is on a block list."""
    up = res.dnsmasq(UPSTREAM)
    bl = harness.write_list(res.path("strict.hosts"), ["0.0.0.0 evil.test"])
    s = res.sinktrap({"dns": {"mode": "allowlist", "internal_zone": "legit.test",
                              "blocklist": str(bl)}}, upstream=up)
    r = s.query("www.legit.test")
    assert chain(r)[-1][:2] == ("c2.evil.test.", "A")
    assert chain(r)[-1][2].startswith("127.66.")
    ev = s.wait_dns_event("www.legit.test")[0]
    assert ev["sinkhole"]["reason"] == "blocklist" and ev["sinkhole"]["cname"] == "c2.evil.test"
    # web.ok.test is neither internal nor allowed, but the internal name was asked
    assert chain(s.query("shop.legit.test")) == [
        ("shop.legit.test.", "CNAME", "web.ok.test."), ("web.ok.test.", "A", "127.0.9.3")]
    # asked directly, the external name is sinkholed as strict mode does
    assert harness.a_records(s.query("web.ok.test"))[0].startswith("127.66.")


def hops_answer(q):
    """hopsN.deep.test: a chain of N aliases, then c2.evil.test and its address,
    all in one answer (as an attacker's own server can give it)."""
    name = q.question[0].name
    n = int(name.labels[0].decode()[4:])
    names = [name] + [dns.name.from_text(f"h{i}.deep.test") for i in range(1, n)]
    names.append(dns.name.from_text("c2.evil.test"))
    r = dns.message.make_response(q)
    for a, b in zip(names, names[1:]):
        r.answer.append(dns.rrset.from_text(a, 60, "IN", "CNAME", b.to_text()))
    r.answer.append(dns.rrset.from_text(names[-1], 60, "IN", "A", "127.0.9.1"))
    return r


@pytest.mark.parametrize("n", [15, 16, 17, 40])
def test_a_listed_name_at_the_end_of_a_long_chain_is_sinkholed(res, n):
    """Past the 16 links the chain is followed for, a listed alias target is
    still found: the answer is the sinkhole's, never the listed name's
    address."""
    up = harness.ScriptUpstream(hops_answer)
    try:
        bl = harness.write_list(res.path("deep.hosts"), ["0.0.0.0 evil.test"])
        s = res.sinktrap({"dns": {"blocklist": str(bl), "upstream": f"127.0.0.1:{up.port}",
                                  "cache_size": 0}})
        r = s.query(f"hops{n}.deep.test", "A", proto="tcp")
        addrs = [x[2] for x in chain(r) if x[1] == "A"]
        assert len(addrs) == 1 and addrs[0].startswith("127.66."), chain(r)
        ev = s.wait_dns_event(f"hops{n}.deep.test")[0]
        assert ev["sinkhole"]["rule"] == "evil.test", ev["sinkhole"]
    finally:
        up.close()
