"""Replay the DNS queries of real captures: the Cerber infection resolves
exactly one listed name, the benign captures none.

The names are taken from the captures with scapy and asked of sinktrap; every
name not listed goes to the local dnsmasq, which has no upstream and answers
NXDOMAIN for everything (address=/#/), so nothing leaves the machine."""

import ipaddress
import struct
from functools import lru_cache

import dns.rcode
import dns.rdatatype
import pytest

import harness

CERBER = "capture-Thu-11-24-16-10-28-11_cerber.pcap"  # pcapng, whatever its name says
CERBER_HIT = "ffoqr3ug7m726zou.04hyxg.top"
MARKER = "replay-marker.e2e.test"
RANSOMWARE = [
    "blocklistproject_ransomware.hosts.txt",
    "blocklistproject_ransomware-ags.adblock.txt",
    "blocklistproject_ransomware-nl.domains.txt",
    "blocklistproject_ransomware-dnsmasq.conf.txt",
]
POOL = ipaddress.ip_network("127.66.0.0/16")


@lru_cache(maxsize=None)
def query_names(pcap):
    """Distinct (qname, qtype) of the DNS queries sent to port 53 in pcap."""
    from scapy.layers.dns import DNS
    from scapy.layers.l2 import Ether
    from scapy.utils import RawPcapReader

    out = []
    seen = set()
    r = RawPcapReader(str(harness.pcaps_dir() / pcap))
    try:
        for data, _meta in r:
            # A cheap look at Ethernet + IPv4/IPv6 + UDP/TCP port 53 before dissecting.
            if len(data) < 42:
                continue
            et = data[12:14]
            if et == b"\x08\x00":
                proto, l4 = data[23], 14 + (data[14] & 15) * 4
            elif et == b"\x86\xdd":
                proto, l4 = data[20], 54
            else:
                continue
            if proto not in (6, 17) or struct.unpack("!H", data[l4 + 2:l4 + 4])[0] != 53:
                continue
            pkt = Ether(data)
            if not pkt.haslayer(DNS):
                continue
            d = pkt[DNS]
            if d.qr != 0 or not d.qd:
                continue
            qd = d.qd[0] if hasattr(d.qd, "__getitem__") else d.qd
            key = (qd.qname.decode(), int(qd.qtype))
            if key not in seen:
                seen.add(key)
                out.append(key)
    finally:
        r.close()
    return out


def replay(st, names):
    """Ask every name; return the set of names sinktrap sinkholed (from its events)."""
    before = len(st.dns_events())
    for qname, qtype in names:
        r = st.query(qname, qtype, timeout=5)
        assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), (qname, qtype, r)
    # A listed name after the replay: once its event is in, all earlier ones are.
    marker = f"m{before}.{MARKER}"
    st.query(marker)
    st.wait_dns_event(marker)
    evs = st.dns_events()[before:]
    return {e["dns"]["rrname"] for e in evs if e["sinkhole"]["action"] == "sinkhole"} - {marker}


def test_capture_names_extracted():
    names = query_names(CERBER)
    assert len({n for n, _ in names}) >= 100
    assert (CERBER_HIT + ".", 1) in names
    assert len(query_names("http_espn.pcapng")) >= 10
    types = {t for _, t in query_names("wireshark-wiki_dns.pcap")}
    assert {1, 28, 15, 16, 12, 33, 2, 255} <= types


def make(res, lists):
    up = res.dnsmasq(["address=/#/"])
    marker = harness.write_list(res.path("marker.plain"), [MARKER])
    return res.sinktrap({"dns": {"blocklist": [str(harness.blocklists_dir() / f) for f in lists]
                                 + [str(marker)]}}, upstream=up)


@pytest.mark.parametrize("listfile", RANSOMWARE)
def test_cerber_replay_sinkholes_exactly_the_listed_name(res, listfile):
    st = make(res, [listfile])
    assert replay(st, query_names(CERBER)) == {CERBER_HIT}
    r = st.query(CERBER_HIT)
    addrs = harness.a_records(r)
    assert len(addrs) == 1 and ipaddress.ip_address(addrs[0]) in POOL
    ev = st.dns_events(CERBER_HIT, "sinkhole")[0]
    assert ev["sinkhole"]["list"] == str(harness.blocklists_dir() / listfile)


@pytest.fixture(scope="module")
def all_lists(mres):
    return make(mres, sorted(p.name for p in harness.blocklists_dir().iterdir()))


def test_cerber_replay_with_every_list(all_lists):
    assert replay(all_lists, query_names(CERBER)) == {CERBER_HIT}


@pytest.mark.parametrize("pcap", ["http_espn.pcapng", "wireshark-wiki_dns.pcap"])
def test_benign_replay_sinkholes_nothing(all_lists, pcap):
    names = query_names(pcap)
    assert names
    assert replay(all_lists, names) == set()
