"""Ingest of the real captures: sessions against tshark's conversations and
Community IDs, and the packets of a session against what tshark -Y selects."""

import ipaddress
import os
import pwd
import sqlite3
import struct

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


def test_pcap_of_a_domain(mres, tmp_path):
    """pcap --domain: the packets of the sessions to the addresses the sinkhole
    map gave the domain or a name under it, while the domain held them (the
    map's history: an address the pool recycled to another name); the same
    sessions as sessions --domain, read from the spool's indexes."""
    name = "honeynet_fc2010-1_attack-trace.pcap"
    path = caplib.PCAPS / name
    if not path.exists():
        pytest.skip("capture missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, path)
    assert caplib.spool_files(st) and all(
        (caplib.spool(st) / (f + ".idx")).exists() for f in caplib.spool_files(st))
    # the victim as if it were a trap address: the sessions it answered. The
    # map written as the store writes it (db_map_upsert, per sinkhole_map event).
    victim = "192.150.11.111"
    db = sqlite3.connect(st.db_path())

    def mapped(domain, since):
        # the mapping replaced goes to the history, then the map takes the new one
        db.execute("INSERT OR IGNORE INTO sinkhole_map_history SELECT address, domain, family, "
                   "first_seen, ?2 FROM sinkhole_map WHERE address = ?1 AND first_seen < ?2 "
                   "AND domain IS NOT ?3", (victim, since, domain))
        db.execute("INSERT INTO sinkhole_map (address, family, domain, first_seen, last_seen) "
                   "VALUES (?1, 'ipv4', ?2, ?3, ?3) ON CONFLICT(address) DO UPDATE SET "
                   "domain = excluded.domain, family = excluded.family, "
                   "first_seen = excluded.first_seen, last_seen = excluded.last_seen",
                   (victim, domain, since))
        db.commit()

    mapped("c2.evil.example", 0)
    f = caplib.read_pcap(caplib.pcap(st, "--domain", "evil.example").stdout)
    # not the FTP session the victim opened itself (to port 8884)
    t = caplib.tshark_select(path, f"ip.addr=={victim} && tcp.port != 8884",
                             tmp_path / "a.pcap")
    assert caplib.usec(f) == caplib.usec(t) and len(t) == 321
    # the pool recycles the address to another name at 1240198110: what went to
    # it from then on (the 1957 and 1080 sessions) is that name's, the rest stays
    # the first's
    mapped("dga-next.example", 1240198110000000)
    db.close()
    for dom, ports, flt, n in (
            ("dga-next.example", [1080, 1957], "tcp.port==1957 || tcp.port==1080", 283),
            ("c2.evil.example", [445, 445], "tcp.port==445", 38)):
        got = caplib.sessions(st, "--domain", dom)
        assert sorted(s["dest_port"] for s in got) == ports, dom
        assert {s["domain"] for s in got} == {dom}  # each session names its domain
        want = []
        for sess in got:
            want += caplib.read_pcap(caplib.pcap(st, "--session", sess["flow_id"]).stdout)
        f = caplib.read_pcap(caplib.pcap(st, "--domain", dom).stdout)
        t = caplib.tshark_select(path, flt, tmp_path / "b.pcap")
        assert sorted(f) == sorted(want) and caplib.usec(f) == caplib.usec(t), dom
        assert len(t) == n
    # a session to an address no domain held has none; the table shows it too
    assert [s.get("domain") for s in caplib.sessions(st, "--port", "8884")] == [None]
    table = caplib.cmd(st, "sessions", "--port", "1957").stdout.decode().splitlines()
    assert table[0].split()[-1] == "DOMAIN" and table[1].split()[-1] == "dga-next.example"
    # a domain the sinkhole never answered: nothing, and why
    r = caplib.pcap(st, "--domain", "other.example", check=False)
    assert r.returncode == 1 and caplib.read_pcap(r.stdout) == []
    assert b"has given other.example" in r.stderr
    # an option of the other command is refused, not ignored
    r = caplib.cmd(st, "sessions", "--bpf", "tcp", check=False)
    assert r.returncode == 2 and b"--bpf is for pcap" in r.stderr


def test_sessions_listing(ingested):
    name = "http_ip4and6.pcapng"
    if name not in ingested:
        pytest.skip("capture missing")
    st = ingested[name]
    allv = caplib.sessions(st)
    v6 = [s for s in allv if ":" in s["src_ip"]]
    assert len(allv) >= 2 and v6
    net = caplib.sessions(st, "--net", v6[0]["src_ip"] + "/64")  # host bits let through
    in64 = ipaddress.ip_network(v6[0]["src_ip"] + "/64", strict=False)
    assert sorted(s["flow_id"] for s in net) == sorted(
        s["flow_id"] for s in allv
        if any(ipaddress.ip_address(s[k]) in in64 for k in ("src_ip", "dest_ip")))
    r = caplib.cmd(st, "sessions", "--net", "10.0.0.0/33", check=False)
    assert r.returncode == 2 and b"--net: '10.0.0.0/33': bad prefix length" in r.stderr
    one = caplib.sessions(st, "--community-id", v6[0]["community_id"])
    assert [s["flow_id"] for s in one] == [v6[0]["flow_id"]]
    assert len(caplib.sessions(st, "--limit", "1")) == 1
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


def test_index_overhead(ingested):
    """The index files of the spool cost under 3 % of the packet bytes they index, for
    every capture of 100 kB or more (the smallest are mostly the index's fixed header).

    The one exception is the SYN scan, every session one or two 60-byte packets to a
    random port: its index is 3.2 % of the spool's 149 kB (the scanned ports alone,
    random, deflate to about 1.9 bytes each). It is held to that, so that it cannot
    grow unnoticed."""
    checked = 0
    for name, st in ingested.items():
        files = [caplib.spool(st) / f for f in caplib.spool_files(st)]
        pkt = sum(f.stat().st_size for f in files)
        idx = sum((f.parent / (f.name + ".idx")).stat().st_size for f in files)
        assert idx > 0, name
        if pkt >= 100_000:
            bound = 3.25 if name == "synscan.pcapng" else 3.0
            assert 100 * idx / pkt < bound, f"{name}: index {idx} bytes for {pkt} bytes"
            checked += 1
    assert checked >= 3


def _qinq(data, outer, inners):
    """A classic Ethernet pcap with every frame repeated once per inner VLAN, each copy
    tagged 802.1ad `outer` then 802.1Q `inner` (the same time stamp)."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack("<I", data[20:24])[0] == 1
    out = [data[:16], struct.pack("<I", struct.unpack("<I", data[16:20])[0] + 8), data[20:24]]
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, origlen = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        for inner in inners:
            tagged = (frame[:12] + struct.pack(">HHHH", 0x88A8, outer, 0x8100, inner) +
                      frame[12:])
            out.append(struct.pack("<IIII", sec, frac, caplen + 8, origlen + 8) + tagged)
        off += 16 + caplen
    return b"".join(out)


def test_qinq_sessions_per_vlan(mres, tmp_path):
    """The same packets in two QinQ VLANs (outer 200, inner 2001 and 2002) are two
    sets of sessions; each session's packets are exactly its VLAN's, as tshark
    selects them, tags and all."""
    if not caplib.ATTACK.exists():
        pytest.skip("capture missing")
    p = tmp_path / "qinq.pcap"
    p.write_bytes(_qinq(caplib.ATTACK.read_bytes(), 200, (2001, 2002)))
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, p)
    ss = caplib.sessions(st)
    plain = caplib.conversations(caplib.ATTACK)["tcp"]
    by_vlan = {}
    for s in ss:
        by_vlan.setdefault(s.get("vlan"), []).append(s)
    assert set(by_vlan) == {"200,2001", "200,2002"}, set(by_vlan)
    for vlan, group in by_vlan.items():
        tcp = [s for s in group if s["proto"] == "TCP"]
        assert len(tcp) == len(plain), vlan
        for s in tcp:
            k = frozenset([(s["src_ip"], s["src_port"]), (s["dest_ip"], s["dest_port"])])
            frames = sum(x[0] for x in plain[k])
            assert s["pkts_toserver"] + s["pkts_toclient"] == frames, (vlan, s)
    dl = [s for s in by_vlan["200,2002"] if s["dest_port"] == 1080]
    assert len(dl) == 1
    ours = caplib.read_pcap(caplib.pcap(st, "--session", dl[0]["flow_id"]).stdout)
    theirs = caplib.tshark_select(p, "vlan.id==2002 && " + caplib.five_tuple_filter(dl[0]),
                                  tmp_path / "t.pcap")
    assert len(ours) == 271 and caplib.usec(ours) == caplib.usec(theirs)
    assert all(b[12:20] == struct.pack(">HHHH", 0x88A8, 200, 0x8100, 2002) for _, _, b in ours)
    # the same 5-tuple in the other VLAN is another session with its own packets
    twin = [s for s in by_vlan["200,2001"] if s["dest_port"] == 1080][0]
    assert twin["flow_id"] != dl[0]["flow_id"]
    other = caplib.read_pcap(caplib.pcap(st, "--session", twin["flow_id"]).stdout)
    assert [(t, b[:12] + b[20:]) for t, _, b in other] == \
        [(t, b[:12] + b[20:]) for t, _, b in ours]


def test_bpf_on_raw_ip(mres, tmp_path):
    """--bpf on a spool of raw IP (LINKTYPE_RAW, 101 in the file): the filter is
    compiled for libpcap's DLT_RAW, and selects what tshark selects."""
    src = caplib.PCAPS / "ivre_dnsbl_rawip.pcap"
    if not src.exists():
        pytest.skip("capture missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, src)
    r = caplib.pcap(st, "--since", "@0", "--bpf", "udp port 53", check=False)
    assert r.returncode == 0, r.stderr
    got = caplib.read_pcap(r.stdout)
    want = caplib.tshark_select(src, "udp.port == 53", tmp_path / "t.pcap")
    assert len(want) == 20
    assert caplib.usec(got) == caplib.usec(want)
    assert r.stdout[20:24] == struct.pack("<I", 101)  # written as it was: raw IP


def _pcapng_two_links(path, n):
    """A pcapng of two interfaces, Ethernet and raw IP, taking turns: the same
    UDP flow seen on both, n packets."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        ln = 12 + len(body)
        return struct.pack("<II", btype, ln) + body + struct.pack("<I", ln)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))    # interface 0: Ethernet
    out += block(1, struct.pack("<HHI", 101, 0, 65535))  # interface 1: raw IP
    for i in range(n):
        udp = struct.pack(">HHHH", 40000, 53, 8 + 4, 0) + struct.pack(">I", i)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        frame = ip if i % 2 else b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip
        ts = (1700000000 + i) * 1000000
        out += block(6, struct.pack("<IIIII", i % 2, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                                    len(frame)) + frame)
    path.write_bytes(out)


def test_pcapng_of_link_types_taking_turns(mres, tmp_path):
    """A pcapng whose interfaces of two link types take turns packet by packet:
    one spool file per link type, not one per packet; the session on both
    names the two files."""
    src = tmp_path / "two.pcapng"
    _pcapng_two_links(src, 200)
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    r = caplib.ingest(st, src)
    assert b"ingested 200 packets" in r.stdout
    files = caplib.spool_files(st)
    assert len(files) == 2, files
    links = sorted(struct.unpack("<I", (caplib.spool(st) / f).read_bytes()[20:24])[0]
                   for f in files)
    assert links == [1, 101]
    ss = caplib.sessions(st)
    assert len(ss) == 1 and ss[0]["pkts_toserver"] == 200
    assert {ss[0]["pcap_first"], ss[0]["pcap_last"]} == set(files)


def test_link_types_taking_turns_past_the_open_files(mres, tmp_path):
    """A pcapng whose packets cycle through nine link types, one more than the
    spool keeps files open for: each packet would finish a file and start one.
    After 64 files finished for room the ingest stops with a message: at most
    8 + 64 spool files, holding the packets before the stop, not one file per
    packet."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        ln = 12 + len(body)
        return struct.pack("<II", btype, ln) + body + struct.pack("<I", ln)
    links = [1, 101, 228, 229, 113, 0, 108, 12, 14]
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for lt in links:
        out += block(1, struct.pack("<HHI", lt, 0, 65535))
    for i in range(300):
        frame = bytes(40) + struct.pack(">I", i)
        ts = (1700000000 + i) * 1000000
        out += block(6, struct.pack("<IIIII", i % len(links), ts >> 32, ts & 0xFFFFFFFF,
                                    len(frame), len(frame)) + frame)
    src = tmp_path / "nine.pcapng"
    src.write_bytes(out)
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    r = caplib.ingest(st, src, check=False)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert (f"{src}: packet 73 of link type {links[72 % 9]}: more link types take turns "
            "than the spool can keep files open for") in err, err
    assert "the 72 packets before it are ingested" in err, err
    files = caplib.spool_files(st)
    assert len(files) == 72, len(files)
    n = sum(len(caplib.read_pcap(caplib.spool(st) / f)) for f in files)
    assert n == 72


def test_ingest_as_root_into_a_new_spool_leaves_it_to_the_workers(mres):
    """`sinktrap ingest` run as root before the daemon ever ran: the spool it
    makes, and every file and index in it, belong to the workers' user, so the
    capture worker started later can index and rotate them (they were root's,
    and every start said the files could not be indexed)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    src = caplib.PCAPS / "evilfingers_xscan_capture.pcap"
    if not src.exists():
        pytest.skip("capture missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, src)
    nobody = pwd.getpwnam("nobody").pw_uid
    sp = caplib.spool(st)
    assert sp.stat().st_uid == nobody
    made = [p for p in sp.iterdir() if p.name.startswith("sinktrap-")]
    assert made
    for p in made:
        assert p.stat().st_uid == nobody, p
