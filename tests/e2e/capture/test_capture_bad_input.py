"""Bad input: truncated and corrupt captures, packets longer than their snaplen,
non-IP frames, files that are no capture, and queries with nothing in them. Each
gets a clear message and an exit status, never a crash, and whatever is readable
is ingested and indexed."""

import os
import re
import resource
import signal
import struct

import pytest

import caplib


def _st(mres):
    return mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)


def _no_crash(r):
    assert r.returncode in (0, 1, 2), f"exit {r.returncode}: {r.stderr!r}"


def _records(data):
    """Offsets of the records of a classic little-endian pcap."""
    offs, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        offs.append(off)
        off += 16 + caplen
    return offs


@pytest.fixture(scope="module")
def attack():
    if not caplib.ATTACK.exists():
        pytest.skip("capture missing")
    return caplib.ATTACK.read_bytes()


def test_truncated_pcap(mres, attack, tmp_path):
    st = _st(mres)
    offs = _records(attack)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(attack[:offs[200] + 30])  # inside the 201st record
    r = caplib.ingest(st, cut, check=False)
    _no_crash(r)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "truncated packet at offset" in err and "the 200 packets before it are ingested" in err
    ss = caplib.sessions(st)
    assert sum(s["pkts_toserver"] + s["pkts_toclient"] for s in ss) == 200
    # the spool file holds exactly the complete records, and its index covers them
    files = caplib.spool_files(st)
    assert len(files) == 1
    assert (caplib.spool(st) / files[0]).stat().st_size == offs[200]
    got = caplib.read_pcap(caplib.pcap(st, "--host", "98.114.205.102").stdout)
    assert len(got) == 200


def test_corrupt_record(mres, attack, tmp_path):
    st = _st(mres)
    offs = _records(attack)
    bad = bytearray(attack)
    bad[offs[100] + 8:offs[100] + 12] = struct.pack("<I", 0x7FFFFFF0)  # an absurd caplen
    p = tmp_path / "corrupt.pcap"
    p.write_bytes(bytes(bad))
    r = caplib.ingest(st, p, check=False)
    _no_crash(r)
    assert r.returncode == 1
    assert "above the" in r.stderr.decode() and "100 packets before it" in r.stderr.decode()
    assert sum(s["pkts_toserver"] + s["pkts_toclient"] for s in caplib.sessions(st)) == 100


def test_longer_than_snaplen(mres, attack, tmp_path):
    st = _st(mres)
    small = bytearray(attack)
    small[16:20] = struct.pack("<I", 96)  # snaplen 96, but the packets are longer
    p = tmp_path / "snaplen.pcap"
    p.write_bytes(bytes(small))
    r = caplib.ingest(st, p, check=False)
    _no_crash(r)
    assert r.returncode == 0
    assert "longer than the file's snaplen (kept whole)" in r.stderr.decode()
    ss = caplib.sessions(st, "--port", "1080")
    assert len(ss) == 1
    got = caplib.read_pcap(caplib.pcap(st, "--session", ss[0]["flow_id"]).stdout)
    assert len(got) == 271 and max(len(b) for _, _, b in got) > 1000


def test_truncated_pcapng(mres, tmp_path):
    src = caplib.PCAPS / "ek_to_cryptowall4.pcapng"
    if not src.exists():
        pytest.skip("capture missing")
    st = _st(mres)
    data = src.read_bytes()
    p = tmp_path / "cut.pcapng"
    p.write_bytes(data[:len(data) // 2 + 7])
    r = caplib.ingest(st, p, check=False)
    _no_crash(r)
    assert r.returncode == 1 and "packets before it are ingested" in r.stderr.decode()
    n = sum(s["pkts_toserver"] + s["pkts_toclient"] for s in caplib.sessions(st))
    assert 100 < n < 653


def _file_size_limit(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_write_error_fails_the_ingest(mres, tmp_path):
    """A write into the spool that fails (a file size limit here, a full disk alike) fails
    the ingest: exit status 1, the reason, the packets not written counted, and the spool
    file ends with its last whole record: no partial record left as a packet."""
    src = caplib.PCAPS / "http_espn.pcapng"
    if not src.exists() or not caplib.ATTACK.exists():
        pytest.skip("capture missing")
    # no store: the database would meet the limit first
    st = mres.sinktrap(caplib.capture_conf(
        {"events": {"sqlite": "no", "json": "no"}}, timeouts=caplib.LONG), start=False)
    st.write_conf()
    r = caplib.run([st.bin, "ingest", "-c", st.conf_path, src, caplib.ATTACK], check=False,
                   preexec_fn=_file_size_limit(300000))
    _no_crash(r)
    err, out = r.stderr.decode(), r.stdout.decode()
    assert r.returncode == 1, (out, err)
    assert "http_espn.pcapng: write into" in err and "File too large" in err, err
    assert "ingest stopped, the files after it are not read" in err, err
    m = re.search(r"ingested (\d+) packets .* (\d+) not written \(write errors\)", out)
    assert m, out
    kept, lost = int(m.group(1)), int(m.group(2))
    assert kept > 0 and lost > 0 and kept + lost <= 956
    assert f"{kept} packets ingested, {lost} not written" in err
    files = caplib.spool_files(st)
    assert len(files) == 1  # the attack trace was not read
    data = (caplib.spool(st) / files[0]).read_bytes()
    assert len(data) < 300000
    # whole records up to the end of the file, as many as were said ingested
    off, n = 24, 0
    while off < len(data):
        assert off + 16 <= len(data), "a partial record header at the end"
        off += 16 + struct.unpack("<I", data[off + 8:off + 12])[0]
        n += 1
    assert off == len(data), "a partial record at the end"
    assert n == kept
    got = caplib.read_pcap(caplib.pcap(st, "--since", "@0").stdout)
    assert len(got) == kept and min(ts for ts, _, _ in got) > 0


def test_not_captures(mres, tmp_path):
    st = _st(mres)
    text = tmp_path / "notes.txt"
    text.write_text("this is not a capture file\n" * 10)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.pcap"
    header_only.write_bytes(caplib.ATTACK.read_bytes()[:24] if caplib.ATTACK.exists() else b"")
    r = caplib.ingest(st, text, empty, tmp_path / "missing.pcap", check=False)
    _no_crash(r)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "notes.txt" in err and "empty.pcap" in err and "missing.pcap" in err
    if caplib.ATTACK.exists():
        r = caplib.ingest(st, header_only, check=False)
        assert r.returncode == 0 and b"nothing to ingest" in r.stderr
    assert caplib.spool_files(st) == []


def test_not_files(mres, tmp_path):
    """A FIFO and "-" (standard input) are refused at once with a message (ingest
    reads a capture twice; a FIFO would block its open for ever), the other
    files are ingested, and the exit status is 1."""
    if not caplib.ATTACK.exists():
        pytest.skip("capture missing")
    st = _st(mres)
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)
    r = caplib.cmd(st, "ingest", fifo, "-", tmp_path, caplib.ATTACK, check=False,
                   timeout=20)
    _no_crash(r)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert f"{fifo}: not a regular file (a pipe)" in err, err
    assert f"{tmp_path}: not a regular file (a directory)" in err, err
    assert "-: ingest reads capture files, not standard input" in err, err
    assert b"ingested 348 packets" in r.stdout
    assert len(caplib.spool_files(st)) == 1


def test_non_ip_only(mres):
    src = caplib.PCAPS / "tcpdump-tests_802.1ad_QinQ.pcap"
    if not src.exists():
        pytest.skip("capture missing")
    st = _st(mres)
    r = caplib.ingest(st, src)
    assert b"0 sessions, 2 packets not IP" in r.stdout
    assert caplib.sessions(st) == []
    # the frames are kept in the spool all the same
    assert len(caplib.spool_files(st)) == 1


def test_queries_with_nothing(mres, attack):
    st = _st(mres)
    caplib.ingest(st, caplib.ATTACK)
    r = caplib.pcap(st, "--since", "2030-01-01", "--until", "2030-01-02", check=False)
    _no_crash(r)
    assert r.returncode == 1 and b"no packets match" in r.stderr
    assert caplib.read_pcap(r.stdout) == []  # still a valid (empty) capture
    # a window that ends before it starts is a usage error, for both commands
    for c in ("pcap", "sessions"):
        r = caplib.cmd(st, c, "--since", "2009-04-21", "--until", "2009-04-20",
                       *(("-w", "-") if c == "pcap" else ()), check=False)
        assert r.returncode == 2 and b"--since is after --until" in r.stderr, r.stderr
    r = caplib.pcap(st, "--session", "12345", check=False)
    assert r.returncode == 1 and b"no session 12345" in r.stderr
    r = caplib.pcap(st, "--host", "not-an-address", check=False)
    assert r.returncode == 2 and b"is not an IP address" in r.stderr
    r = caplib.pcap(st, "--port", "80", "--bpf", "tcp port", check=False)
    assert r.returncode == 2 and b"--bpf" in r.stderr
    r = caplib.cmd(st, "pcap", "--port", "80", check=False)
    assert r.returncode == 2 and b"-w OUT" in r.stderr
    assert caplib.sessions(st, "--host", "192.0.2.1") == []


def _pcapng_ns(path, packets, tsoffset=0):
    """A pcapng of two raw-IP interfaces with if_tsresol 9, the second with
    if_tsoffset tsoffset (seconds): packets are (raw 64-bit time stamp, UDP source
    port[, interface]), each a UDP datagram 10.0.0.1:PORT -> 10.0.0.2:53."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        ln = 12 + len(body)
        return struct.pack("<II", btype, ln) + body + struct.pack("<I", ln)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    tsresol = struct.pack("<HHB3x", 9, 1, 9)
    out += block(1, struct.pack("<HHI", 101, 0, 65535) + tsresol + struct.pack("<HH", 0, 0))
    out += block(1, struct.pack("<HHI", 101, 0, 65535) + tsresol +
                 struct.pack("<HHq", 14, 8, tsoffset) + struct.pack("<HH", 0, 0))
    for i, (ts, sport, *ifc) in enumerate(packets):
        udp = struct.pack(">HHHH", sport, 53, 8 + 4, 0) + struct.pack(">I", i)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        out += block(6, struct.pack("<IIIII", ifc[0] if ifc else 0, ts >> 32, ts & 0xFFFFFFFF, len(ip),
                                    len(ip)) + ip)
    path.write_bytes(out)


T0 = 1700000000 * 10**9
HOUR = 3600 * 10**9


def _ingested_with_udp_timeout(mres, src):
    """src ingested, UDP sessions ending after 2 minutes idle: exit 0."""
    st = _st(mres)
    st.conf["capture"]["udp_timeout"] = "120s"
    r = caplib.ingest(st, src, check=False)
    _no_crash(r)
    assert r.returncode == 0, r.stderr
    return st


def test_time_stamp_past_what_a_file_holds(mres, tmp_path):
    """A packet stamped 2^63 - 1 ns (the pcapng reader's largest time) is taken
    as the latest time a spool file holds (2106): the flow table's clock goes on
    counting the time between the packets after it, so two datagrams an hour
    apart are two UDP sessions, and the spool file, the index and the store
    give every packet one and the same time."""
    src = tmp_path / "max.pcapng"
    _pcapng_ns(src, [(T0, 1000), (0x7FFFFFFF_FFFFFFFF, 2000),
                     (T0 + 10**9, 3000), (T0 + HOUR, 3000)])
    st = _ingested_with_udp_timeout(mres, src)
    ss = caplib.sessions(st, "--port", "3000")
    assert len(ss) == 2, ss
    assert all(s["pkts_toserver"] == 1 for s in ss)
    far = caplib.sessions(st, "--port", "2000")
    assert len(far) == 1
    got = caplib.read_pcap(caplib.pcap(st, "--session", far[0]["flow_id"]).stdout)
    assert [ts for ts, _, _ in got] == [0xFFFFFFFF * 10**9 + 999999999]
    assert far[0]["start"] == far[0]["end"] and far[0]["start"].startswith("2106-02-07T06:28:15")


def test_negative_first_time_stamp(mres, tmp_path):
    """A first packet stamped long before 1970 (an interface's if_tsoffset of
    -9 * 10^9 s) is taken as 1970-01-01: its session times out as any other,
    instead of never (its idle time, from a time that far back, overflowed)."""
    src = tmp_path / "neg.pcapng"
    _pcapng_ns(src, [(0, 2000, 1), (T0, 3000), (T0 + HOUR, 3000)], tsoffset=-9 * 10**9)
    st = _ingested_with_udp_timeout(mres, src)
    far = caplib.sessions(st, "--port", "2000")
    assert len(far) == 1, far
    assert far[0]["start"].startswith("1970-01-01T00:00:00"), far
    assert far[0]["reason"] == "timeout", far
    assert len(caplib.sessions(st, "--port", "3000")) == 2


def test_one_session_refuses_a_time_window(mres, tmp_path):
    """--session and --community-id name one session: --since and --until are
    refused with a usage error as the other filters are, not ignored (which gave
    the whole session for a window that held none of it)."""
    src = tmp_path / "udp.pcapng"
    _pcapng_ns(src, [(T0, 3000), (T0 + 10**9, 3000)])
    st = _st(mres)
    caplib.ingest(st, src)
    s = caplib.sessions(st)[0]
    for name, value in (("--session", s["flow_id"]), ("--community-id", s["community_id"])):
        assert len(caplib.read_pcap(caplib.pcap(st, name, value).stdout)) == 2
        for window in (("--since", "@1800000000"), ("--until", "@1600000000"),
                       ("--since", "@1600000000", "--until", "@1800000000")):
            r = caplib.pcap(st, name, value, *window, check=False)
            assert r.returncode == 2, (name, window, r)
            assert f"{name} names one session: --host, --net, --port, --proto, --since, " \
                   "--until and --domain do not go with it".encode() in r.stderr, r.stderr
            assert r.stdout == b""


def test_indexed_packet_unreadable(mres, tmp_path):
    """A spool file damaged after it was indexed (a record header overwritten):
    `pcap --session` writes the packets it can read, names the file and the
    offset it could not read, and exits 1 (it wrote fewer packets, exit 0)."""
    src = tmp_path / "five.pcapng"
    _pcapng_ns(src, [(T0 + i * 10**9, 3000) for i in range(5)])
    st = _st(mres)
    caplib.ingest(st, src)
    ss = caplib.sessions(st)
    assert len(ss) == 1
    fid = ss[0]["flow_id"]
    assert len(caplib.read_pcap(caplib.pcap(st, "--session", fid).stdout)) == 5
    name = caplib.spool_files(st)[0]
    path = caplib.spool(st) / name
    data = bytearray(path.read_bytes())
    offs = _records(bytes(data))
    assert len(offs) == 5
    data[offs[2] + 8:offs[2] + 12] = struct.pack("<I", 0x7FFFFFF0)  # an absurd caplen
    path.write_bytes(bytes(data))
    r = caplib.pcap(st, "--session", fid, check=False)
    _no_crash(r)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert f"{path}: the packet at offset {offs[2]} cannot be read (" in err, err
    assert "1 packet could not be read from the spool; the capture written lacks it" in err
    got = caplib.read_pcap(r.stdout)
    assert [ts for ts, _, _ in got] == [T0 + i * 10**9 for i in (0, 1, 3, 4)]


def test_full_spool_on_another_file_system(mres, tmp_path):
    """A classic pcap adopted into a spool on another file system is copied by
    hand (copy_file_range cannot cross them); the spool filling up says so (no
    space left, not an I/O error) and the ingest fails with nothing kept."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount)")
    src = tmp_path / "big.pcap"
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    for i in range(1000):
        udp = struct.pack(">HHHH", 40000, 53, 8 + 1000, 0) + bytes(1000)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        out += struct.pack("<IIII", 1700000000 + i, 0, len(ip), len(ip)) + ip
    src.write_bytes(out)
    sp = tmp_path / "spool"
    sp.mkdir()
    caplib.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "sinktrap-test", sp])
    try:
        st = mres.sinktrap(caplib.capture_conf({"capture": {"spool": str(sp)}},
                                               timeouts=caplib.LONG), start=False)
        r = caplib.ingest(st, src, check=False)
        _no_crash(r)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert f"big.pcap: copy into {sp}: No space left on device" in err, err
        assert [p for p in os.listdir(sp) if p.startswith("sinktrap-")] == []
    finally:
        caplib.run(["umount", sp])


def test_file_dropped_empty_keeps_its_number(mres, tmp_path):
    """A classic pcap whose first record is broken is adopted into a spool file
    that gets no packet and is dropped; the next file (a pcapng converted into a
    pcapng spool: another name) must not take its number, or the sessions in it
    name the dropped file, which never existed (nor was ever marked expired)."""
    broken = tmp_path / "broken.pcap"
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    broken.write_bytes(hdr + struct.pack("<IIII", 1700000000, 0, 0x7FFFFFF0, 20) + bytes(20))
    good = tmp_path / "good.pcapng"
    _pcapng_ns(good, [(T0 + i * 10**9, 3000) for i in range(3)])
    st = mres.sinktrap(caplib.capture_conf({"capture": {"format": "pcapng"}},
                                           timeouts=caplib.LONG), start=False)
    r = caplib.ingest(st, broken, good, check=False)
    _no_crash(r)
    assert r.returncode == 1 and b"broken.pcap: caplen" in r.stderr, r.stderr
    files = set(caplib.spool_files(st))
    assert len(files) == 1, files
    ss = caplib.sessions(st)
    assert len(ss) == 1 and ss[0]["pkts_toserver"] == 3
    for s in ss:
        assert s["pcap_first"] in files and s["pcap_last"] in files, (s, files)
