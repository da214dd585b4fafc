"""Modes: blocklist (listed names sinkholed, the rest forwarded through a cache
that honours TTLs) and allowlist (strict: only internal zones and allowlisted
names are forwarded)."""

import ipaddress
import time

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

import harness

FORWARDED = "127.0.9.9"
POOL = ipaddress.ip_network("127.66.0.0/16")


def a_of(r):
    return [rd.address for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A]


def ttl_of(r):
    return [rrset.ttl for rrset in r.answer if rrset.rdtype == dns.rdatatype.A][0]


def test_blocklist_mode_forwards_unlisted_and_caches_until_ttl(res):
    up = res.dnsmasq(["address=/cached.test/127.0.2.1", "local-ttl=4", "address=/#/"])
    bl = harness.write_list(res.path("bl.plain"), ["listed.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "log_forwarded": "yes",
                               "upstream_timeout": "500ms"}}, upstream=up)

    # Listed: sinkholed; unlisted: the upstream's answer.
    assert ipaddress.ip_address(a_of(st.query("listed.test"))[0]) in POOL

    t0 = time.monotonic()
    r1 = st.query("cached.test")
    assert a_of(r1) == ["127.0.2.1"]
    assert ttl_of(r1) == 4

    # The second answer comes from the cache.
    r2 = st.query("cached.test")
    assert a_of(r2) == ["127.0.2.1"]
    evs = st.wait_dns_event("cached.test", "forward", count=2)
    assert [e["sinkhole"]["cached"] for e in evs[:2]] == [False, True]
    assert evs[0]["sinkhole"]["reason"] == "unlisted"

    # A second later the cached TTL has gone down.
    harness.wait_until(lambda: time.monotonic() - t0 >= 1.2, 5)
    r3 = st.query("cached.test")
    assert a_of(r3) == ["127.0.2.1"]
    assert ttl_of(r3) < 4, "cached answer TTL does not decrease"

    # Without the upstream the cached name still answers until its TTL runs out...
    up.stop()
    assert time.monotonic() - t0 < 3.5, "too slow to check the cache before expiry"
    r4 = st.query("cached.test")
    assert r4.rcode() == dns.rcode.NOERROR and a_of(r4) == ["127.0.2.1"]

    # ...and then it is gone: SERVFAIL once the upstream is asked again.
    def expired():
        r = st.query("cached.test", timeout=5)
        if r.rcode() == dns.rcode.NOERROR:
            assert time.monotonic() - t0 <= 4 + 0.5, "served from cache after TTL expiry"
            return None
        return r

    r5 = harness.wait_until(expired, 4 + 1 + 3, interval=0.1, what="cache expiry")
    assert r5.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - t0 >= 3.0, "cache entry dropped before its TTL"
    # Never cached: a name the upstream never answered.
    r6 = st.query("never.test", timeout=5)
    assert r6.rcode() == dns.rcode.SERVFAIL


@pytest.fixture(scope="module")
def strict(mres):
    up = mres.dnsmasq([f"address=/#/{FORWARDED}"])
    allow = harness.write_list(mres.path("allow.plain"), ["allowed.example"])
    block = harness.write_list(mres.path("block.plain"), ["bad.corp.test"])
    return mres.sinktrap({"dns": {
        "mode": "allowlist",
        "internal_zone": ["Corp.Test.", "lan"],
        "allowlist": str(allow),
        "blocklist": str(block),
        "log_forwarded": "yes",
    }}, upstream=up)


@pytest.mark.parametrize("name,want,reason", [
    ("host.corp.test", "forward", "internal_zone"),
    ("corp.test", "forward", "internal_zone"),
    ("A.B.CORP.TEST", "forward", "internal_zone"),
    ("printer.lan", "forward", "internal_zone"),
    ("allowed.example", "forward", "allowlist"),
    ("www.allowed.example", "forward", "allowlist"),
    ("random.example", "sinkhole", "strict"),
    ("notcorp.test", "sinkhole", "strict"),
    ("corp.test.evil.example", "sinkhole", "strict"),
    ("allowed.example.evil", "sinkhole", "strict"),
    ("bad.corp.test", "sinkhole", "blocklist"),
])
def test_allowlist_mode(strict, name, want, reason):
    r = strict.query(name)
    assert r.rcode() == dns.rcode.NOERROR
    addrs = a_of(r)
    assert len(addrs) == 1
    if want == "forward":
        assert addrs == [FORWARDED]
    else:
        assert ipaddress.ip_address(addrs[0]) in POOL
    ev = strict.wait_dns_event(name.lower())[0]
    assert ev["sinkhole"]["action"] == want
    assert ev["sinkhole"]["reason"] == reason


def test_allowlist_mode_other_types(strict):
    r6 = strict.query("strict6.example", "AAAA")
    a6 = harness.a_records(r6)
    assert len(a6) == 1 and ipaddress.ip_address(a6[0]) in ipaddress.ip_network("fd00:66::/64")
    mx = strict.query("strict-mx.example", "MX")
    assert mx.rcode() == dns.rcode.NOERROR and not mx.answer
    assert mx.authority and mx.authority[0].rdtype == dns.rdatatype.SOA


def test_allowlist_mode_check(strict):
    r = strict.run_cmd("check", "random.example")
    assert r.returncode == 0 and "strict" in r.stdout, r.stdout + r.stderr
    r = strict.run_cmd("check", "host.corp.test")
    assert r.returncode == 1 and "internal_zone" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("labels", [[b"exfil-data.corp", b"test"],
                                    [b"evil.allowed", b"example"],
                                    [b"x", b"evil.allowed", b"example"]])
def test_a_dot_inside_a_label_is_not_a_way_into_a_zone(strict, labels):
    """A label holding a dot ("exfil-data\\.corp.test" is a name under test,
    not under corp.test) reaches neither an internal zone nor an allowlisted
    name: strict mode sinkholes it."""
    name = dns.name.Name(labels + [b""])
    r = strict.query(None, q=dns.message.make_query(name, "A"))
    addrs = a_of(r)
    assert len(addrs) == 1 and ipaddress.ip_address(addrs[0]) in POOL, r
    text = name.to_text(omit_final_dot=True)
    ev = strict.wait_dns_event(text)[0]
    assert ev["sinkhole"]["action"] == "sinkhole", ev
    assert ev["sinkhole"]["reason"] == "strict", ev
