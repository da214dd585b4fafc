"""Client-IP policy: an RPZ list's rpz-client-ip triggers, or the addresses of
a client_blocklist file, put a host in quarantine (every name it asks is
sinkholed, listed or not, so that all it tries to reach comes to the trap);
rpz-passthru or a client_allowlist file exempts it from every rule (for the
security team's own scanners); the longest prefix decides, and other hosts
are decided by the names they ask as before."""

import dns.message
import dns.query
import dns.rcode
import pytest

import harness

UPSTREAM = [
    "host-record=fine.client.test,127.0.10.1",
    "host-record=evil.client.test,127.0.9.1",
    "host-record=v6.client.test,fd00:900d::1",
]

RPZ = [
    "$TTL 300",                                       # 1
    "@ SOA localhost. root.localhost. 1 1 1 1 1",      # 2
    "evil.client.test CNAME .",                       # 3
    "32.5.0.0.127.rpz-client-ip CNAME .",             # 4: 127.0.0.5 in quarantine
    "30.4.0.0.127.rpz-client-ip CNAME .",             # 5: 127.0.0.4/30 as well...
    "32.6.0.0.127.rpz-client-ip CNAME rpz-passthru.",  # 6: ...but not 127.0.0.6
    "32.1.2.0.999.rpz-client-ip CNAME .",             # 7: not an address
]


@pytest.fixture(scope="module")
def st(mres):
    up = mres.dnsmasq(UPSTREAM)
    rpz = harness.write_list(mres.path("clients.rpz"), RPZ)
    s = mres.sinktrap({"dns": {"blocklist": str(rpz)}}, upstream=up)
    s.list_path = str(rpz)
    return s


def ask(st, name, source, rdtype="A", proto="udp"):
    q = harness.make_query(name, rdtype)
    if proto == "udp":
        return dns.query.udp(q, "127.0.0.1", port=st.port, source=source, timeout=5)
    return dns.query.tcp(q, "127.0.0.1", port=st.port, source=source, timeout=5)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_a_host_in_quarantine_gets_every_name_sinkholed(st, proto):
    r = ask(st, "fine.client.test", "127.0.0.5", proto=proto)
    assert r.rcode() == dns.rcode.NOERROR
    a = harness.a_records(r)
    assert len(a) == 1 and a[0].startswith("127.66."), r
    # the same name asked by another host is resolved
    assert harness.a_records(ask(st, "fine.client.test", "127.0.0.1", proto=proto)) == [
        "127.0.10.1"]
    ev = [e for e in st.wait_dns_event("fine.client.test")
          if e["src_ip"] == "127.0.0.5"][-1]
    sk = ev["sinkhole"]
    assert sk["action"] == "sinkhole" and sk["reason"] == "client"
    assert sk["rule"] == "127.0.0.5/32"
    assert sk["list"] == st.list_path and sk["line"] == 4
    assert sk["answer"] == a[0]
    # AAAA and other types too; its address is the name's own pool address
    r = ask(st, "v6.client.test", "127.0.0.7", "AAAA")
    assert harness.a_records(r)[0].startswith("fd00:66::"), r
    assert st.wait_dns_event("v6.client.test")[0]["sinkhole"]["line"] == 5


def test_an_exempt_host_is_not_sinkholed_even_for_a_listed_name(st):
    assert harness.a_records(ask(st, "evil.client.test", "127.0.0.6")) == ["127.0.9.1"]
    # every other host gets the listed name sinkholed
    r = ask(st, "evil.client.test", "127.0.0.1")
    assert harness.a_records(r)[0].startswith("127.66."), r
    evs = st.wait_dns_event("evil.client.test")
    assert [e["src_ip"] for e in evs] == ["127.0.0.1"]
    assert evs[0]["sinkhole"]["reason"] == "blocklist"


def test_check_names_the_client_entry_and_the_bad_line(st):
    assert f"{st.list_path}:7: rpz-client-ip trigger" in st.log()
    r = st.run_cmd("check", "127.0.0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"client 127.0.0.5: blocked by {st.list_path}:4 (127.0.0.5/32): "
            "every name it asks is sinkholed") in r.stdout, r.stdout
    r = st.run_cmd("check", "127.0.0.6")
    assert r.returncode == 1
    assert f"client 127.0.0.6: allowed by {st.list_path}:6 (127.0.0.6/32)" in r.stdout
    r = st.run_cmd("check", "127.0.0.9")
    assert r.returncode == 1 and "no rpz-client-ip entry covers it" in r.stdout


@pytest.fixture
def st_files(res):
    up = res.dnsmasq(UPSTREAM)
    bl = harness.write_list(res.path("evil.plain"), ["evil.client.test"])
    quarantine = harness.write_list(res.path("quarantine.txt"), [
        "# hosts the SOC has isolated",   # 1
        "127.0.0.5",                      # 2
        "127.0.0.8/30 ; the lab subnet",  # 3: .8-.11
        "infected.example",               # 4: a name, not an address
    ])
    exempt = harness.write_list(res.path("exempt.txt"), ["127.0.0.9  # the scanner"])
    s = res.sinktrap({"dns": {"blocklist": str(bl), "client_blocklist": str(quarantine),
                              "client_allowlist": str(exempt)}}, upstream=up)
    s.quarantine, s.exempt = quarantine, exempt
    return s


def test_client_list_files_quarantine_and_exempt(st_files):
    st = st_files
    for src in ("127.0.0.5", "127.0.0.10"):
        a = harness.a_records(ask(st, "fine.client.test", src))
        assert len(a) == 1 and a[0].startswith("127.66."), (src, a)
    ev = [e for e in st.wait_dns_event("fine.client.test", count=2)
          if e["src_ip"] == "127.0.0.10"][0]
    assert ev["sinkhole"]["reason"] == "client"
    assert ev["sinkhole"]["rule"] == "127.0.0.8/30"
    assert ev["sinkhole"]["list"] == str(st.quarantine) and ev["sinkhole"]["line"] == 3
    # the exempt scanner inside the quarantined subnet, and any other host
    assert harness.a_records(ask(st, "evil.client.test", "127.0.0.9")) == ["127.0.9.1"]
    assert harness.a_records(ask(st, "fine.client.test", "127.0.0.1")) == ["127.0.10.1"]
    log = st.log()
    assert f"{st.quarantine}: 2 entries (ip, clients)" in log, log
    assert (f"{st.quarantine}:4: \"infected.example\" is not a client's IPv4 or IPv6 "
            "address") in log
    r = st.run_cmd("check", "127.0.0.9")
    assert r.returncode == 1
    assert f"client 127.0.0.9: allowed by {st.exempt}:1 (127.0.0.9/32)" in r.stdout, r.stdout


def test_client_list_reloads_on_sighup(st_files):
    st = st_files
    assert harness.a_records(ask(st, "fine.client.test", "127.0.0.20")) == ["127.0.10.1"]
    st.quarantine.write_text(st.quarantine.read_text() + "127.0.0.20\n")
    st.hup()

    def quarantined():
        a = harness.a_records(ask(st, "fine.client.test", "127.0.0.20"))
        return a and a[0].startswith("127.66.")
    harness.wait_until(quarantined, 10, what="127.0.0.20 in quarantine after the reload")
