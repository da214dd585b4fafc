"""`sinktrap pcap --session` from the spool's indexes alone, and when it must
ask the store: a session spread over several files comes back whole without the
store; one whose packets go on into a file still being written (no index yet)
is found through the store; a file being written that starts after the session
ended does not stop the index-only way. An index with a corrupt block hides
nothing: its capture is read instead. A file read without an index matches
Community IDs of the configured seed, and later IP fragments by their first
fragment's ports, as the flow table and the indexes have them."""

import json
import os
import shutil
import struct

import pytest

import caplib

EK = caplib.PCAPS / "ek_to_cryptowall4.pcapng"


def _spread_st(mres, *captures):
    """A spool of small files (64 KB) holding the captures, and its sessions."""
    for c in captures:
        if not c.exists():
            pytest.skip(f"{c.name} missing")
    st = mres.sinktrap(caplib.capture_conf(extra={"capture": {"file_size": "64k"}},
                                           timeouts=caplib.LONG), start=False)
    caplib.ingest(st, *captures)
    return st, caplib.sessions(st)


def _spread(sessions):
    return [s for s in sessions if s["pcap_first"] != s["pcap_last"]]


class _StoreBroken:
    """The store's database replaced by bytes SQLite refuses, then put back:
    a command that asks the store then fails."""

    def __init__(self, st):
        self.db = st.db_path()
        self.saved = self.db.with_name("saved.db")

    def __enter__(self):
        for ext in ("-wal", "-shm"):
            p = self.db.with_name(self.db.name + ext)
            if p.exists():
                p.unlink()
        shutil.move(self.db, self.saved)
        self.db.write_bytes(b"not a database, " * 512)
        return self

    def __exit__(self, *exc):
        self.db.unlink()
        shutil.move(self.saved, self.db)


def _packets(st, flow_id, check=True):
    r = caplib.pcap(st, "--session", flow_id, check=check)
    return r, caplib.read_pcap(r.stdout) if r.returncode == 0 else None


def test_session_over_several_files_without_the_store(mres):
    st, ss = _spread_st(mres, EK)
    assert len(caplib.spool_files(st)) >= 5
    spread = _spread(ss)
    assert spread, "no session spans two files"
    chosen = spread[:4] + [s for s in ss if s not in spread][:2]
    want = {s["flow_id"]: _packets(st, s["flow_id"])[1] for s in chosen}
    for s in chosen:
        assert len(want[s["flow_id"]]) == s["pkts_toserver"] + s["pkts_toclient"]
    with _StoreBroken(st):
        # the store cannot be read: the index-only way must not need it
        r = caplib.cmd(st, "sessions", check=False)
        assert r.returncode != 0
        for s in chosen:
            r, got = _packets(st, s["flow_id"], check=False)
            assert r.returncode == 0, r.stderr
            assert got == want[s["flow_id"]], s["flow_id"]


def test_session_going_on_into_a_file_being_written(mres):
    """The last file of a session as if still being written (NAME.part, no
    index yet): the indexes cannot vouch for it, so the store is asked, and
    the session still comes back whole."""
    st, ss = _spread_st(mres, EK)
    s = max(_spread(ss), key=lambda s: s["pkts_toserver"] + s["pkts_toclient"])
    whole = _packets(st, s["flow_id"])[1]
    last = caplib.spool(st) / s["pcap_last"]
    os.rename(last, last.with_name(last.name + ".part"))
    last.with_name(last.name + ".idx").unlink()
    r, got = _packets(st, s["flow_id"])
    assert got == whole
    with _StoreBroken(st):
        r, _ = _packets(st, s["flow_id"], check=False)
        assert r.returncode != 0, "the store was not asked"


def test_file_being_written_after_the_session_ended(mres):
    """A file being written whose first packet comes after the session's last
    one plus the longest flow timeout cannot hold more of it: the index-only
    way stands."""
    st, ss = _spread_st(mres, caplib.ATTACK, EK)
    # the attack trace (2009) and the exploit kit (2016): an exploit kit file
    # being written cannot continue a session of the attack trace
    attack = [s for s in ss if s["start"] < "2012"]
    ek = [s for s in ss if s["start"] > "2014"]
    assert attack and ek
    s = max(attack, key=lambda s: s["pkts_toserver"] + s["pkts_toclient"])
    whole = _packets(st, s["flow_id"])[1]
    last = caplib.spool(st) / caplib.spool_files(st)[-1]
    assert last.name not in {x["pcap_first"] for x in attack}
    os.rename(last, last.with_name(last.name + ".part"))
    last.with_name(last.name + ".idx").unlink()
    with _StoreBroken(st):
        r, got = _packets(st, s["flow_id"], check=False)
        assert r.returncode == 0, r.stderr
        assert got == whole


def test_corrupt_index_block_hides_nothing(mres):
    """An index whose header and block table are sound but whose block does not
    decode: every query reads that file's capture instead, and says so."""
    st, ss = _spread_st(mres, caplib.ATTACK)
    s = [x for x in ss if x["dest_port"] == 1080][0]
    queries = {
        "session": ("--session", s["flow_id"]),
        "community id": ("--community-id", s["community_id"]),
        "filter": ("--port", "1080"),
        "all": ("--since", "@0"),
    }
    want = {k: caplib.read_pcap(caplib.pcap(st, *q).stdout) for k, q in queries.items()}
    assert len(want["session"]) == 271 and len(want["all"]) == 348
    idx = caplib.spool(st) / (s["pcap_last"] + ".idx")
    data = bytearray(idx.read_bytes())
    data[-1] ^= 0x55  # the last block's Adler-32: header and table still check out
    idx.write_bytes(bytes(data))
    for k, q in queries.items():
        r = caplib.pcap(st, *q, check=False)
        assert r.returncode == 0, (k, r.stderr)
        assert caplib.read_pcap(r.stdout) == want[k], k
        err = r.stderr.decode()
        assert f"{idx.name}: " in err and "reading the capture instead" in err, (k, err)


def test_community_id_seed_in_a_file_without_index(mres):
    """--community-id of a session the store does not hold, in a file without an
    index (a crash's, or one being written): every packet is matched with the
    Community ID of the configured seed, as the indexes and the flow events have it."""
    if not caplib.ATTACK.exists():
        pytest.skip("capture missing")
    st = mres.sinktrap(caplib.capture_conf(
        {"capture": {"community_id_seed": "7"}, "events": {"sqlite": "no"}},
        timeouts=caplib.LONG), start=False)
    caplib.ingest(st, caplib.ATTACK)
    flows = [e for e in map(json.loads, st.json_path.read_text().splitlines())
             if e["event_type"] == "flow" and e.get("dest_port") == 1080]
    assert len(flows) == 1
    cid = flows[0]["community_id"]
    by_index = caplib.read_pcap(caplib.pcap(st, "--community-id", cid).stdout)
    assert len(by_index) == 271
    name = flows[0]["pcap"]["file_last"]
    (caplib.spool(st) / (name + ".idx")).unlink()
    r = caplib.pcap(st, "--community-id", cid, check=False)
    assert r.returncode == 0, r.stderr
    assert caplib.read_pcap(r.stdout) == by_index


def _fragmented_udp(path):
    """Four UDP datagrams to port 5353, each in four IP fragments, and one
    unfragmented datagram to another port; a classic pcap at path."""
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    pkts, t = [], 1700000000.0
    for i in range(4):
        dg = IP(src="192.0.2.1", dst="198.51.100.2", id=100 + i) / \
            UDP(sport=40000 + i, dport=5353) / (bytes([65 + i]) * 3000)
        for f in fragment(dg, fragsize=1000):
            e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / f
            e.time = t
            t += 0.001
            pkts.append(e)
    other = Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=1, dport=9999) / b"x"
    other.time = t
    pkts.append(other)
    wrpcap(str(path), pkts)
    return len(pkts) - 1


def test_fragments_in_a_file_without_index(mres, tmp_path):
    """Later fragments carry no ports; read without an index (a file being
    written, or left unindexed), they are matched with their first fragment's
    ports, as the flow table gave them to the session in the store and in the
    indexes: --port and --session find the whole datagrams."""
    src = tmp_path / "frag.pcap"
    nfrag = _fragmented_udp(src)
    assert nfrag == 16
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, src)
    ss = caplib.sessions(st, "--port", "5353")
    assert len(ss) == 4 and all(s["pkts_toserver"] == 4 for s in ss)
    by_index = caplib.read_pcap(caplib.pcap(st, "--port", "5353").stdout)
    assert len(by_index) == nfrag
    sess = {s["flow_id"]: caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
            for s in ss}
    assert all(len(v) == 4 for v in sess.values())
    for f in caplib.spool(st).glob("*.idx"):
        f.unlink()
    assert caplib.read_pcap(caplib.pcap(st, "--port", "5353").stdout) == by_index
    for fid, want in sess.items():
        assert caplib.read_pcap(caplib.pcap(st, "--session", fid).stdout) == want, fid


def _icmp_pcap(path):
    """An echo between two hosts with port unreachables from the answering one
    in between: two ICMP sessions of the same addresses (raw IP, classic pcap).
    Returns the packets' times of each: (echo, unreachable)."""
    a, b = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])

    def ip(src, dst, payload):
        return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, 1, 0,
                           src, dst) + payload
    inner = ip(a, b, struct.pack(">HHHH", 40000, 53, 8, 0))
    pkts = []
    for i in range(3):
        pkts.append(("echo", ip(a, b, struct.pack(">BBHHH", 8, 0, 0, 7, i) + b"ping")))
        pkts.append(("echo", ip(b, a, struct.pack(">BBHHH", 0, 0, 0, 7, i) + b"ping")))
        pkts.append(("unreach", ip(b, a, struct.pack(">BBHI", 3, 3, 0, 0) + inner)))
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    times = {"echo": [], "unreach": []}
    for n, (kind, p) in enumerate(pkts):
        sec, usec = 1700000000, n * 100000
        out += struct.pack("<IIII", sec, usec, len(p), len(p)) + p
        times[kind].append(sec * 10**9 + usec * 1000)
    path.write_bytes(out)
    return times["echo"], times["unreach"]


def test_icmp_sessions_of_the_same_hosts_without_index(mres, tmp_path):
    """An echo and port unreachables between the same two hosts are two
    sessions (the flow table keys ICMP by type): `pcap --session` gives each its
    own packets through the index, and the same without it (the capture
    scanned, the session's Community ID telling the ICMP exchanges apart)."""
    src = tmp_path / "icmp.pcap"
    echo, unreach = _icmp_pcap(src)
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    caplib.ingest(st, src)
    ss = caplib.sessions(st, "--proto", "icmp")
    assert len(ss) == 2, ss
    want = {}
    for s in ss:
        got = [ts for ts, _, _ in caplib.read_pcap(caplib.pcap(st, "--session",
                                                               s["flow_id"]).stdout)]
        assert got in (echo, unreach), got
        want[s["flow_id"]] = got
    assert sorted(want.values()) == sorted([echo, unreach])
    for f in caplib.spool(st).glob("*.idx"):
        f.unlink()
    for fid, times in want.items():
        r = caplib.pcap(st, "--session", fid, check=False)
        assert r.returncode == 0, r.stderr
        assert [ts for ts, _, _ in caplib.read_pcap(r.stdout)] == times, fid
