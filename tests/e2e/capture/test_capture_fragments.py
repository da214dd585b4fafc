"""IP fragments that come before their datagram's first fragment (reordered on
the way, or sent tail first to slip past a sensor): `sinktrap ingest` counts
them in the datagram's session, and `sinktrap pcap --session` returns all of
them, through the indexes and, with the indexes gone, by reading the capture.
UDP and TCP over IPv4, UDP over IPv6 (fragment headers); both ingest paths: a
classic pcap adopted as it is, and a pcapng converted packet by packet (the
live capture's path). tshark (reassembly off) selects the same frames. A tail
whose first fragment never comes goes where it always went: a session without
ports."""

import pytest

import caplib

C4, S4 = "192.0.2.1", "198.51.100.2"
C6, S6 = "2001:db8::1", "2001:db8::2"


def _tail_first(path):
    """The capture (classic pcap at path): {name: (session ports, its frames' indexes)}."""
    from scapy.layers.inet import IP, TCP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    pkts, t, want = [], [1700000000.0], {}

    def add(name, p):
        e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
        e.time = t[0]
        t[0] += 0.001
        want.setdefault(name, []).append(len(pkts))
        pkts.append(e)

    # UDP over IPv4: four fragments, the last first
    dg = IP(src=C4, dst=S4, id=0x1111) / UDP(sport=40001, dport=5353) / (b"A" * 3000)
    frags = fragment(dg, fragsize=1000)
    assert len(frags) == 4
    for f in reversed(frags):
        add("udp4", f)
    # TCP over IPv4: a handshake, a segment in three fragments sent tail first, an ACK
    add("tcp4", IP(src=C4, dst=S4, id=1) / TCP(sport=40002, dport=80, flags="S", seq=1000))
    add("tcp4", IP(src=S4, dst=C4, id=2) / TCP(sport=80, dport=40002, flags="SA", seq=5000,
                                              ack=1001))
    add("tcp4", IP(src=C4, dst=S4, id=3) / TCP(sport=40002, dport=80, flags="A", seq=1001,
                                              ack=5001))
    seg = IP(src=C4, dst=S4, id=0x2222) / TCP(sport=40002, dport=80, flags="PA", seq=1001,
                                             ack=5001) / (b"B" * 2400)
    frags = fragment(seg, fragsize=1000)
    assert len(frags) == 3
    for f in (frags[2], frags[1], frags[0]):
        add("tcp4", f)
    add("tcp4", IP(src=S4, dst=C4, id=4) / TCP(sport=80, dport=40002, flags="A", seq=5001,
                                              ack=3401))
    # UDP over IPv6, in fragment headers, the last first
    dg6 = IPv6(src=C6, dst=S6) / IPv6ExtHdrFragment(id=0x33333333) / \
        UDP(sport=40003, dport=5353) / (b"C" * 3000)
    frags = fragment6(dg6, 1280)
    assert len(frags) == 3
    for f in reversed(frags):
        add("udp6", f)
    # the tail of a datagram whose first fragment never comes
    lone = fragment(IP(src=C4, dst=S4, id=0x4444) / UDP(sport=40004, dport=5353) /
                    (b"D" * 1500), fragsize=1000)
    add("lone", lone[-1])
    wrpcap(str(path), pkts)
    return want


# the frames of each session as tshark selects them, with reassembly off (so the first
# fragment is the one with the TCP or UDP header, as on the wire)
TSHARK = {
    "udp4": "ip.id == 0x1111",
    "tcp4": "tcp.port == 40002 || ip.id == 0x2222",
    "udp6": "ipv6.fraghdr.ident == 0x33333333",
}
PORTS = {"udp4": 40001, "tcp4": 40002, "udp6": 40003}


def _tshark_frames(src, flt, out):
    caplib.run(["tshark", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
                "-r", src, "-Y", flt, "-F", "pcap", "-w", out])
    return caplib.read_pcap(out)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_fragments_before_their_first(mres, tmp_path, fmt):
    src = tmp_path / "tail-first.pcap"
    want = _tail_first(src)
    frames = caplib.read_pcap(src)
    if fmt == "pcapng":  # converted packet by packet, as live capture records them
        ng = tmp_path / "tail-first.pcapng"
        caplib.run(["editcap", "-F", "pcapng", src, ng])
        src = ng
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, src)
    ss = caplib.sessions(st)
    by_port = {s["src_port"]: s for s in ss}

    # the counts: every fragment in its datagram's session, none beside it
    assert by_port[40001]["pkts_toserver"] == 4 and by_port[40001]["pkts_toclient"] == 0
    assert by_port[40002]["pkts_toserver"] == 5 and by_port[40002]["pkts_toclient"] == 2
    assert by_port[40003]["pkts_toserver"] == 3
    assert by_port[40001]["bytes_toserver"] == sum(len(frames[i][2]) for i in want["udp4"])
    lone = [s for s in ss if s["src_port"] in (0, None)]
    assert len(lone) == 1 and lone[0]["pkts_toserver"] == 1, ss
    assert len(ss) == 4, ss

    # the packets: all the session's frames, in capture order, as tshark selects them
    got = {}
    for name, port in PORTS.items():
        s = by_port[port]
        ours = caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
        assert [p[2] for p in ours] == [frames[i][2] for i in want[name]], name
        theirs = _tshark_frames(src, TSHARK[name], tmp_path / f"{name}.pcap")
        assert caplib.usec(ours) == caplib.usec(theirs), name
        got[name] = ours
    ours = caplib.read_pcap(caplib.pcap(st, "--session", lone[0]["flow_id"]).stdout)
    assert [p[2] for p in ours] == [frames[i][2] for i in want["lone"]]

    # without the indexes the capture is read: the same packets
    for f in caplib.spool(st).glob("*.idx"):
        f.unlink()
    for name, port in PORTS.items():
        r = caplib.pcap(st, "--session", by_port[port]["flow_id"])
        assert caplib.read_pcap(r.stdout) == got[name], name
    assert len(caplib.read_pcap(caplib.pcap(st, "--port", "5353").stdout)) == 4 + 3


def test_a_clock_that_steps_back_ages_fragments_alike_in_the_index_and_the_scan(mres, tmp_path):
    """The tail at T+1000 s, then packets back at T+0..40 s, then the first fragment at
    T+45 s: by the capture's clock (it only moves forward, by the time between packets)
    the tail waited 45 s, past its 30 s, so it goes port-less. Reading the capture without
    the indexes must decide the same, and return the tail for that port-less session."""
    from scapy.all import IP, UDP, Ether, fragment, wrpcap

    t0 = 1700000000.0
    pkts = []

    def add(p, t):
        e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
        e.time = t
        pkts.append(e)

    fr = fragment(IP(src=C4, dst=S4, id=0x5555) / UDP(sport=40010, dport=5353) /
                  (b"A" * 1500), fragsize=1000)
    add(fr[1], t0 + 1000)
    for i in range(5):
        add(IP(src="203.0.113.9", dst="203.0.113.10") / UDP(sport=1000, dport=2000) / b"x",
            t0 + i * 10)
    add(fr[0], t0 + 45)
    src = tmp_path / "dip.pcap"
    wrpcap(str(src), pkts)
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, src)
    ss = caplib.sessions(st)
    by_port = {s["src_port"]: s for s in ss if s["src_ip"] == C4}
    assert set(by_port) == {40010, 0} or set(by_port) == {40010, None}, ss
    lone = by_port.get(0) or by_port.get(None)
    indexed = {p: caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
               for p, s in by_port.items()}
    assert len(indexed[40010]) == 1 and len(indexed[lone["src_port"]]) == 1
    for f in caplib.spool(st).glob("*.idx"):
        f.unlink()
    for p, s in by_port.items():
        assert caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout) == \
            indexed[p], p
