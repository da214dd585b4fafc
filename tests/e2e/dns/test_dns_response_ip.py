"""Response-IP policy: an RPZ list's rpz-ip triggers, and the addresses and
prefixes of an address list (one per line, as C&C address feeds publish
them), sinkhole a forwarded name, listed or not, whose answer holds an
address they cover (a known C&C server behind a fresh name), from a fresh
upstream answer and from the cache; an rpz-passthru trigger on a longer
prefix, or an address on an allowlist, takes an address out."""

import dns.message
import dns.rcode
import dns.rrset
import pytest

import harness

UPSTREAM = [
    "host-record=fresh.domain.test,127.0.9.1",
    "host-record=neighbour.domain.test,127.0.9.7",
    "host-record=clean.domain.test,127.0.10.1",
    "host-record=v6.domain.test,fd00:bad::1",
    "host-record=v6clean.domain.test,fd00:900d::1",
    "host-record=allowed.domain.test,127.0.9.9",
]

RPZ = [
    "$TTL 300",                                   # 1
    "@ SOA localhost. root.localhost. 1 1 1 1 1",  # 2
    "24.0.9.0.127.rpz-ip CNAME .",                # 3: 127.0.9.0/24
    "32.7.9.0.127.rpz-ip CNAME rpz-passthru.",    # 4: but not 127.0.9.7
    "48.zz.bad.fd00.rpz-ip CNAME .",              # 5: fd00:bad::/48
    "33.1.9.0.127.rpz-ip CNAME .",                # 6: not an address
]


# An address feed: Spamhaus DROP's "PREFIX ; SBL" lines, Feodo Tracker's bare
# addresses with "#" comments.
IPLIST = [
    "; C&C address feed",          # 1
    "127.0.9.0/24 ; SBL000001",    # 2
    "fd00:bad::/48",               # 3
    "# feodo style",               # 4
    "127.0.11.5",                  # 5
    "127.0.9.300",                 # 6: not an address
    "0.0.0.0/0",                   # 7: every address
]


@pytest.fixture(scope="module")
def up(mres):
    return mres.dnsmasq(UPSTREAM)


@pytest.fixture(scope="module")
def st(mres, up):
    rpz = harness.write_list(mres.path("c2-ip.rpz"), RPZ)
    al = harness.write_list(mres.path("ip-allow.plain"), ["allowed.domain.test"])
    s = mres.sinktrap({"dns": {"blocklist": str(rpz), "allowlist": str(al)}}, upstream=up)
    s.list_path = str(rpz)
    return s


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_a_name_resolving_to_a_listed_address_is_sinkholed(st, proto):
    for _ in range(2):  # fresh, then from the cache
        r = st.query("fresh.domain.test", proto=proto)
        assert r.rcode() == dns.rcode.NOERROR
        addrs = harness.a_records(r)
        assert len(addrs) == 1 and addrs[0].startswith("127.66."), r
    ev = st.wait_dns_event("fresh.domain.test", count=2)[-1]
    sk = ev["sinkhole"]
    assert sk["action"] == "sinkhole" and sk["reason"] == "blocklist"
    assert sk["rule"] == "127.0.9.0/24"
    assert sk["list"] == st.list_path and sk["line"] == 3
    assert sk["answer_ip"] == "127.0.9.1"
    assert sk["answer"] == addrs[0]
    assert [a["rdata"] for a in ev["dns"]["answers"]] == [addrs[0]]


def test_ipv6_prefix_and_passthru(st):
    r = st.query("v6.domain.test", "AAAA")
    a = harness.a_records(r)
    assert len(a) == 1 and a[0].startswith("fd00:66::"), r
    ev = st.wait_dns_event("v6.domain.test")[0]
    assert ev["sinkhole"]["rule"] == "fd00:bad::/48"
    assert ev["sinkhole"]["answer_ip"] == "fd00:bad::1"
    # outside every prefix, or under a longer passthru: forwarded as they are
    assert harness.a_records(st.query("clean.domain.test")) == ["127.0.10.1"]
    assert harness.a_records(st.query("v6clean.domain.test", "AAAA")) == ["fd00:900d::1"]
    assert harness.a_records(st.query("neighbour.domain.test")) == ["127.0.9.7"]
    # a name an allow rule covers: its answer is not inspected
    assert harness.a_records(st.query("allowed.domain.test")) == ["127.0.9.9"]
    for name in ("clean.domain.test", "v6clean.domain.test", "neighbour.domain.test",
                 "allowed.domain.test"):
        assert not st.dns_events(name)


def test_bad_trigger_is_reported_with_its_line(st):
    assert f"{st.list_path}:6: rpz-ip trigger" in st.log()
    r = st.run_cmd("check-config")
    assert r.returncode == 0, r.stderr


def test_check_names_the_entry_covering_an_address(st):
    r = st.run_cmd("check", "127.0.9.1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"127.0.9.1: blocked by {st.list_path}:3 (127.0.9.0/24)" in r.stdout
    assert "sinkholed" in r.stdout
    r = st.run_cmd("check", "127.0.9.7")
    assert r.returncode == 1
    assert f"allowed by {st.list_path}:4 (127.0.9.7/32)" in r.stdout
    r = st.run_cmd("check", "fd00:bad::99")
    assert r.returncode == 0 and "(fd00:bad::/48)" in r.stdout, r.stdout
    r = st.run_cmd("check", "10.1.2.3")
    assert r.returncode == 1 and "no address entry covers it" in r.stdout


@pytest.fixture(scope="module")
def st_ip(mres, up):
    ipl = harness.write_list(mres.path("c2.ip"), IPLIST)
    # a name list may carry an address; an allowlist's address is exempt
    al = harness.write_list(mres.path("ip-allow2.plain"),
                            ["allowed.domain.test", "127.0.9.7"])
    s = mres.sinktrap({"dns": {"blocklist": str(ipl), "allowlist": str(al)}}, upstream=up)
    s.list_path = str(ipl)
    s.allow_path = str(al)
    return s


def test_an_address_list_sinkholes_what_resolves_into_it(st_ip):
    st = st_ip
    r = st.query("fresh.domain.test")
    a = harness.a_records(r)
    assert len(a) == 1 and a[0].startswith("127.66."), r
    ev = st.wait_dns_event("fresh.domain.test")[0]
    sk = ev["sinkhole"]
    assert sk["rule"] == "127.0.9.0/24"
    assert sk["list"] == st.list_path and sk["line"] == 2
    assert sk["answer_ip"] == "127.0.9.1"
    r = st.query("v6.domain.test", "AAAA", proto="tcp")
    a = harness.a_records(r)
    assert len(a) == 1 and a[0].startswith("fd00:66::"), r
    ev = st.wait_dns_event("v6.domain.test")[0]
    assert ev["sinkhole"]["rule"] == "fd00:bad::/48" and ev["sinkhole"]["line"] == 3
    # exempt by the allowlist's address, or by a name allow rule; outside: passed on
    assert harness.a_records(st.query("neighbour.domain.test")) == ["127.0.9.7"]
    assert harness.a_records(st.query("allowed.domain.test")) == ["127.0.9.9"]
    assert harness.a_records(st.query("clean.domain.test")) == ["127.0.10.1"]
    for name in ("neighbour.domain.test", "allowed.domain.test", "clean.domain.test"):
        assert not st.dns_events(name)


def test_an_address_list_is_checked_and_its_bad_lines_reported(st_ip):
    st = st_ip
    log = st.log()
    assert f"{st.list_path}: 3 entries (ip)" in log, log
    assert f"{st.list_path}:6: \"127.0.9.300\" is not an IPv4 or IPv6 address" in log, log
    assert f"{st.list_path}:7: prefix \"0.0.0.0/0\" would cover every address" in log, log
    r = st.run_cmd("check-config")
    assert r.returncode == 0, r.stderr
    r = st.run_cmd("check", "127.0.11.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"127.0.11.5: blocked by {st.list_path}:5 (127.0.11.5/32)" in r.stdout
    r = st.run_cmd("check", "127.0.9.7")
    assert r.returncode == 1
    assert f"allowed by {st.allow_path}:2 (127.0.9.7/32)" in r.stdout, r.stdout


def records_answer(listed):
    """decoysN.* gets N decoy A records and then the listed address; mapped.*
    (AAAA) the listed address written as an IPv4-mapped IPv6 address."""
    def answer(q):
        name = q.question[0].name
        first = name.labels[0].decode()
        r = dns.message.make_response(q)
        if first.startswith("decoys"):
            addrs = [f"127.0.10.{i + 1}" for i in range(int(first[6:]))] + [listed]
            r.answer.append(dns.rrset.from_text_list(name, 60, "IN", "A", addrs))
        elif first == "mapped":
            r.answer.append(dns.rrset.from_text(name, 60, "IN", "AAAA", f"::ffff:{listed}"))
        return r
    return answer


@pytest.mark.parametrize("name,rdtype", [("decoys31.fresh.test", "A"),
                                         ("decoys40.fresh.test", "A"),
                                         ("decoys70.fresh.test", "A"),
                                         ("mapped.fresh.test", "AAAA")])
def test_a_listed_address_is_found_wherever_the_answer_puts_it(res, name, rdtype):
    """The listed address after many decoy records (it was looked for in the
    first 32 only), or as ::ffff:a.b.c.d in an AAAA record (which a dual-stack
    client reaches over IPv4): the name is sinkholed."""
    up = harness.ScriptUpstream(records_answer("127.0.11.5"))
    try:
        lst = harness.write_list(res.path("c2.ips"), ["127.0.11.5"])
        st = res.sinktrap({"dns": {"blocklist": str(lst), "upstream": f"127.0.0.1:{up.port}",
                                   "cache_size": 0}})
        r = st.query(name, rdtype, proto="tcp")
        got = harness.a_records(r)
        prefix = "127.66." if rdtype == "A" else "fd00:66::"
        assert len(got) == 1 and got[0].startswith(prefix), r
        ev = st.wait_dns_event(name)[0]
        assert ev["sinkhole"]["rule"] == "127.0.11.5/32", ev
    finally:
        up.close()
