"""List syntaxes (hosts, plain, adblock, dnsmasq, RPZ), their matching rules,
allow entries, invalid lines, and every real list in the shared data."""

import ipaddress
from pathlib import Path

import dns.rcode
import pytest

import harness

DATA = Path(__file__).resolve().parent / "data"
FORWARDED = "127.0.9.9"  # what the upstream answers for every name
POOL = ipaddress.ip_network("127.66.0.0/16")

BLOCK_LISTS = ["block.hosts", "block.plain", "block.adblock", "block.dnsmasq", "block.rpz",
               "origin.rpz"]


def line_of(path, marker):
    """1-based number of the first line of path containing marker."""
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(f"{marker!r} not in {path}")


def verdict(st, name, rdtype="A"):
    """'sinkhole' or 'forward', from the answer itself."""
    r = st.query(name, rdtype)
    assert r.rcode() == dns.rcode.NOERROR, (name, r)
    addrs = harness.a_records(r)
    assert len(addrs) == 1, (name, r)
    if addrs[0] == FORWARDED:
        return "forward"
    assert ipaddress.ip_address(addrs[0]) in POOL, (name, addrs)
    return "sinkhole"


@pytest.fixture(scope="module")
def listed(mres):
    up = mres.dnsmasq([f"address=/#/{FORWARDED}"])
    st = mres.sinktrap({"dns": {
        "blocklist": [str(DATA / f) for f in BLOCK_LISTS],
        "allowlist": str(DATA / "allow.plain"),
    }}, upstream=up)
    return st


# (query name, expected verdict, deciding list, marker of the deciding line)
CASES = [
    # hosts: a listed name and its subdomains; several names a line; case; trailing dot
    ("hosts-block.example", "sinkhole", "block.hosts", "0.0.0.0 hosts-block.example"),
    ("deep.sub.hosts-block.example", "sinkhole", "block.hosts", "0.0.0.0 hosts-block.example"),
    ("hosts-a.example", "sinkhole", "block.hosts", "hosts-a.example hosts-b"),
    ("hosts-b.example", "sinkhole", "block.hosts", "hosts-a.example hosts-b"),
    ("upper-hosts.example", "sinkhole", "block.hosts", "UPPER-Hosts"),
    ("UPPER-HOSTS.EXAMPLE", "sinkhole", "block.hosts", "UPPER-Hosts"),
    ("dotted-hosts.example", "sinkhole", "block.hosts", "dotted-hosts"),
    ("hosts-v6.example", "sinkhole", "block.hosts", ":: hosts-v6"),
    ("xhosts-block.example", "forward", None, None),  # not on a label boundary
    ("hosts-block.example.org", "forward", None, None),  # a prefix is not a suffix
    ("localhost", "forward", None, None),  # hosts boilerplate is no block
    ("hosts-invalid.example", "forward", None, None),  # its line was invalid
    # allowlist wins over a block of the parent and over an identical block
    ("allowed.hosts-block.example", "forward", "allow.plain", "allowed.hosts-block"),
    ("x.allowed.hosts-block.example", "forward", "allow.plain", "allowed.hosts-block"),
    ("both-listed.example", "forward", "allow.plain", "both-listed"),
    # plain
    ("plain-block.example", "sinkhole", "block.plain", "plain-block.example"),
    ("www.plain-block.example", "sinkhole", "block.plain", "plain-block.example"),
    ("Upper-Plain.example", "sinkhole", "block.plain", "UPPER-Plain"),
    ("dotted-plain.example", "sinkhole", "block.plain", "dotted-plain"),
    ("under_score.plain.example", "sinkhole", "block.plain", "under_score"),
    # adblock: ||x^ covers subdomains, @@||x^ allows and wins
    ("ad-block.example", "sinkhole", "block.adblock", "||ad-block.example^"),
    ("cdn.ad-block.example", "sinkhole", "block.adblock", "||ad-block.example^"),
    ("good.ad-block.example", "forward", "block.adblock", "@@||good"),
    ("img.good.ad-block.example", "forward", "block.adblock", "@@||good"),
    ("upper-ad.example", "sinkhole", "block.adblock", "UPPER-Ad"),
    ("dotted-ad.example", "sinkhole", "block.adblock", "dotted-ad"),
    ("ad-modifier.example", "forward", None, None),
    ("ad-path.example", "forward", None, None),
    ("ad-cosmetic.example", "forward", None, None),
    # dnsmasq: server=/x/ and address=/x/ cover subdomains
    ("dm-block.example", "sinkhole", "block.dnsmasq", "dm-block"),
    ("a.b.dm-block.example", "sinkhole", "block.dnsmasq", "dm-block"),
    ("dm-address.example", "sinkhole", "block.dnsmasq", "dm-address"),
    ("dm-multi1.example", "sinkhole", "block.dnsmasq", "dm-multi1"),
    ("x.dm-multi2.example", "sinkhole", "block.dnsmasq", "dm-multi1"),
    ("upper-dm.example", "sinkhole", "block.dnsmasq", "UPPER-Dm"),
    ("dm-local.example", "sinkhole", "block.dnsmasq", "local=/dm-local"),
    ("dm-noslash.example", "forward", None, None),
    # RPZ: exact unless *., rpz-passthru. allows
    ("rpz-exact.example", "sinkhole", "block.rpz", "rpz-exact"),
    ("sub.rpz-exact.example", "forward", None, None),
    ("rpz-wild.example", "forward", None, None),
    ("a.rpz-wild.example", "sinkhole", "block.rpz", "*.rpz-wild"),
    ("a.b.rpz-wild.example", "sinkhole", "block.rpz", "*.rpz-wild"),
    ("pass.rpz-wild.example", "forward", "block.rpz", "pass.rpz-wild"),
    ("rpz-both.example", "sinkhole", "block.rpz", "rpz-both.example CNAME"),
    ("www.rpz-both.example", "sinkhole", "block.rpz", "*.rpz-both"),
    ("upper-rpz.example", "sinkhole", "block.rpz", "UPPER-Rpz"),
    ("rpz-drop.example", "sinkhole", "block.rpz", "rpz-drop.example"),
    ("rpz-bad-action.example", "forward", None, None),
    # RPZ with $ORIGIN: owners are relative to the zone, absolute ones lose the apex
    ("origin-exact.example", "sinkhole", "origin.rpz", "origin-exact"),
    ("www.origin-exact.example", "forward", None, None),
    ("a.origin-wild.example", "sinkhole", "origin.rpz", "*.origin-wild"),
    ("absolute.example", "sinkhole", "origin.rpz", "absolute.example"),
    ("origin-data.example", "sinkhole", "origin.rpz", "origin-data"),
    ("origin-exact.example.rpz.e2e.local", "forward", None, None),
]


@pytest.mark.parametrize("name,want,listfile,marker", CASES, ids=[c[0] for c in CASES])
def test_list_semantics(listed, name, want, listfile, marker):
    assert verdict(listed, name) == want
    if want == "sinkhole":
        # AAAA too, from the IPv6 sinkhole.
        r6 = listed.query(name, "AAAA")
        a6 = harness.a_records(r6)
        assert len(a6) == 1 and ipaddress.ip_address(a6[0]) in ipaddress.ip_network(
            "fd00:66::/64")
        ev = listed.wait_dns_event(name.lower(), "sinkhole")[0]
        assert ev["sinkhole"]["list"] == str(DATA / listfile)
        assert ev["sinkhole"]["line"] == line_of(DATA / listfile, marker)
        assert ev["sinkhole"]["reason"] == "blocklist"


@pytest.mark.parametrize("name", ["hosts-block.example.", "Plain-Block.Example.",
                                  "dm-block.example"])
def test_trailing_dot_and_case_in_check(listed, name):
    r = listed.run_cmd("check", name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sinkholed" in r.stdout


@pytest.mark.parametrize("name,listfile,marker", [
    ("good.ad-block.example", "block.adblock", "@@||good"),
    ("allowed.hosts-block.example", "allow.plain", "allowed.hosts-block"),
    ("pass.rpz-wild.example", "block.rpz", "pass.rpz-wild"),
])
def test_check_names_the_allow_entry(listed, name, listfile, marker):
    r = listed.run_cmd("check", name)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{DATA / listfile}:{line_of(DATA / listfile, marker)}" in r.stdout


INVALID = [
    ("block.hosts", "bad..hosts"),
    ("block.hosts", "not-an-address"),
    ("block.hosts", "hosts-long.example"),
    ("block.plain", "bad name with spaces"),
    ("block.plain", "bad!char"),
    ("block.adblock", "$third-party"),
    ("block.adblock", "banner.js"),
    ("block.adblock", "##.banner"),
    ("block.dnsmasq", "dm-noslash"),
    ("block.dnsmasq", "cache-size"),
    ("block.rpz", "rpz-tcp-only"),
    ("block.rpz", "FOO bar"),
]


def test_invalid_lines_are_warned_with_file_and_line(listed):
    log = listed.log()
    for f, marker in INVALID:
        where = f"{DATA / f}:{line_of(DATA / f, marker)}:"
        assert where in log, f"no warning {where} ({marker}) in:\n{log}"
    # Valid lines never are.
    for f, marker in [("block.hosts", "hosts-block.example"), ("block.rpz", "rpz-exact")]:
        assert f"{DATA / f}:{line_of(DATA / f, marker)}:" not in log
    # Still running: invalid lines are never fatal.
    assert listed.proc.alive()


def test_check_reports_invalid_lines_without_failing(listed):
    r = listed.run_cmd("check-config")
    assert r.returncode == 0 and "configuration OK" in r.stdout, r.stdout + r.stderr


# ------------------------------------------------------------ the real lists

REAL = {
    "blocklistproject_ransomware.hosts.txt": ("hosts", 1904),
    "blocklistproject_ransomware-ags.adblock.txt": ("adblock", 1904),
    "blocklistproject_ransomware-nl.domains.txt": ("plain", 1904),
    "blocklistproject_ransomware-dnsmasq.conf.txt": ("dnsmasq", 1904),
    "blocklistproject_phishing-nl.domains.txt": ("plain", 190215),
    "digitalside_osint_malware.hosts.txt": ("hosts", 2211),
    "coinblocker.hosts.txt": ("hosts", 14402),
    "hagezi_dyndns.rpz": ("rpz", 2954),
}


@pytest.fixture(scope="module")
def real(mres):
    files = sorted(harness.blocklists_dir().iterdir())
    assert {f.name for f in files} >= set(REAL), files
    up = mres.dnsmasq([f"address=/#/{FORWARDED}"])
    st = mres.sinktrap({"dns": {"blocklist": [str(f) for f in files]}}, upstream=up)
    return st


@pytest.mark.parametrize("name,want", [
    ("ffoqr3ug7m726zou.04hyxg.top", "sinkhole"),       # ransomware, all four syntaxes
    ("25z5g623wpqpdwis.onion.to", "sinkhole"),
    ("bestetnpool.com", "sinkhole"),                    # coinblocker, uppercase in the file
    ("stratum.mybtccoin.com", "sinkhole"),
    ("localhost.miningspeed.com", "sinkhole"),          # 'localhost' prefix is still a name
    ("10x45.com", "sinkhole"),                          # digitalside
    ("0.01.2.13.3.sydneypropertyinvestors.com", "sinkhole"),  # phishing
    ("google.com.gohiding.com", "sinkhole"),
    ("google.com", "forward"),                          # look-alike prefix, not a suffix
    ("120v.ac", "sinkhole"),                            # hagezi RPZ
    ("duckdns.org", "sinkhole"),
    ("someone.duckdns.org", "sinkhole"),                # *.duckdns.org
    ("example.org", "forward"),
])
def test_real_lists_known_entries(real, name, want):
    assert verdict(real, name) == want


def test_real_lists_invalid_coinblocker_lines_reported(real):
    log = real.log()
    cb = harness.blocklists_dir() / "coinblocker.hosts.txt"
    for marker in ("de2.node..aeon-pool.com", "zec-asia1..nanopool.org"):
        assert f"{cb}:{line_of(cb, marker)}:" in log, log[-3000:]


def test_real_lists_parse_counts_on_reload(real):
    """After SIGHUP the stats event lists every file: the four syntaxes of the
    ransomware list give the same number of entries."""
    real.hup()
    evs = real.wait_events(lambda es: any(e["event_type"] == "stats" and "reload" in
                                          e["stats"] for e in es), 60, "reload stats")
    st = [e for e in evs if e["event_type"] == "stats" and "reload" in e["stats"]][-1]
    lists = {Path(li["path"]).name: li for li in st["stats"]["reload"]["lists"]}
    for fname, (fmt, entries) in REAL.items():
        assert lists[fname]["format"] == fmt, lists[fname]
        assert lists[fname]["entries"] == entries, lists[fname]
    assert lists["coinblocker.hosts.txt"]["invalid"] == 2
    # Still answering with the reloaded set.
    assert verdict(real, "ffoqr3ug7m726zou.04hyxg.top") == "sinkhole"


def test_list_with_mostly_invalid_lines_is_not_fatal_at_startup(res):
    """Invalid lines are skipped with a warning, never fatal: a hand-written
    list with more bad lines than good ones still loads its good ones."""
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    lst = harness.write_list(res.path("typos.plain"), [
        "typo-block.example",
        "typo one.example",
        "typo two.example",
    ])
    st = res.sinktrap({"dns": {"blocklist": str(lst)}}, upstream=up, start=False)
    st.start(wait=False)
    harness.wait_until(st.probe, 5, what="sinktrap to answer with a list of mostly typos")
    assert verdict(st, "typo-block.example") == "sinkhole"
    assert f"{lst}:2:" in st.log() and f"{lst}:3:" in st.log()
    assert "exited with status" not in st.log()


def test_names_written_in_unicode(res):
    """A list line in Unicode sinkholes the name as queries carry it (its
    xn-- form), subdomains too; a line whose Unicode only disguises a plain
    ASCII name is refused with FILE:LINE instead of blocking that name."""
    up = res.dnsmasq([f"address=/#/{FORWARDED}"])
    lst = res.path("idn.hosts")
    lst.write_text("0.0.0.0 bücher.example\n"
                   "0.0.0.0 ÄPFEL.example\n"
                   "0.0.0.0 exa\u200bmple.org\n"
                   "0.0.0.0 ｇｏｏｄ.example\n", encoding="utf-8")
    st = res.sinktrap({"dns": {"blocklist": str(lst)}}, upstream=up)
    for name in ("xn--bcher-kva.example", "www.xn--bcher-kva.example",
                 "XN--PFEL-KOA.example"):
        assert verdict(st, name) == "sinkhole", name
    for name in ("example.org", "good.example"):
        assert verdict(st, name) == "forward", name
    log = st.log()
    assert f"{lst}:3: name \"exa\\xe2\\x80\\x8bmple.org\": a label written in Unicode " \
           "becomes the plain ASCII \"example\"" in log, log
    assert f"{lst}:4:" in log and f"{lst}:1:" not in log and f"{lst}:2:" not in log
    ev = st.wait_dns_event("www.xn--bcher-kva.example")[0]
    assert ev["sinkhole"]["rule"] == "xn--bcher-kva.example" and ev["sinkhole"]["line"] == 1
    # `check` takes the name as written, and says what it looked up.
    r = st.run_cmd("check", "Bücher.example.")
    assert r.returncode == 0 and r.stdout.startswith(
        f"xn--bcher-kva.example: blocked by {lst}:1"), r.stdout + r.stderr
    r = st.run_cmd("check", "ｇｏｏｄ.example")
    assert r.returncode == 2 and "becomes the plain ASCII \"good\"" in r.stderr


@pytest.mark.parametrize("name,why", [
    ("a..hosts-block.example", "an empty label"),
    (".hosts-block.example", "an empty label"),
    ("x" * 64 + ".hosts-block.example", "a label longer than 63 characters"),
    (("x" * 60 + ".") * 4 + "hosts-block.example", "longer than 253 characters"),
    ("a b.hosts-block.example", "a space or control character"),
    ("a\tb.example", "a space or control character"),
])
def test_check_refuses_what_no_query_can_carry(listed, name, why):
    """`check` answers for names a query can carry: the others are an error
    (exit 2) saying why, not a verdict on a name that never reaches the
    sinkhole. The root is a name: "." gets its verdict."""
    r = listed.run_cmd("check", name)
    assert r.returncode == 2 and f"not a domain name: {why}" in r.stderr, r.stdout + r.stderr
    r = listed.run_cmd("check", ".")
    assert r.returncode == 1 and r.stdout.startswith(".: no list entry"), r.stdout
