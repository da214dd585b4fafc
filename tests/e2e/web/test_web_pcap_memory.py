"""What cutting a PCAP holds, whatever the number of packets it writes.

A PCAP download (`/api/pcap?...`, `/api/sessions/{id}/pcap`) runs the code of
`sinktrap pcap` in a child process. That code used to gather the file offset of
every packet to write before writing the first one: 8 bytes a packet, so a
broad filter over a large spool cost memory in proportion (and 64 downloads
run at once). It now takes a file's packets a window of offsets at a time.

A spool of one file of PACKETS small packets is cut twice: a third of its
packets (one subnet's flows) and all of them. The peak memory (VmHWM) of the
command and of the download's child, read while the reader holds the end of
the output back, must grow by much less than 8 bytes for each packet
the second cut writes more: it grew by at least that much before. Both cuts
are the capture's packets, byte for byte, in file order: what one gathering
of all offsets wrote.

Then, on shared captures (the Cerber capture, copied into the spool whole, and
an exploit kit's pcapng, converted into 64 KiB files), filters, --bpf and
sessions are cut by the command and downloaded: both give the bytes the
command wrote before it took windows (their SHA-256 digests, recorded from
it; the spool is made afresh from the same captures each time).
"""

import hashlib
import json
import os
import socket
import struct
import subprocess
from urllib.parse import urlencode

import pytest

import harness
import webenv

PACKETS = 3_000_000
FLOWS = 30_000  # a third of them from 10.0.0.0/16, the rest from 10.1.0.0/16
# What the old way held for the second cut beyond the first: 8 bytes for each
# packet more (more when its array doubled). A quarter of that is the bound.
MORE = PACKETS - PACKETS // 3
BOUND = 8 * MORE // 4
# The body held back from the client while the child's peak is read: more
# than the pipe, the server's socket and the client's together can hold, so
# the child is still there, blocked on its last writes.
HELD_BACK = 64 << 20
# A sanitizer's allocator keeps what is freed for a while (its quarantine) and
# adds memory of its own to what is used: its peaks are not the program's.
# Under one, only the outputs are checked.
SANITIZED = bool(os.environ.get("SINKTRAP_SANITIZED"))
PCAPS = harness.pcaps_dir()
CERBER = PCAPS / "capture-Thu-11-24-16-10-28-11_cerber.pcap"
EK = PCAPS / "ek_to_cryptowall4.pcapng"


def write_capture(path):
    """A nanosecond pcap of PACKETS UDP packets (Ethernet, 60 bytes) of FLOWS
    flows taking turns; returns {net: (SHA-256 of the records, bytes)} for the
    packets of 10.0.0.0/16 and of 10.0.0.0/8 (all)."""
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    third = hashlib.sha256()
    every = hashlib.sha256()
    nthird = 0
    t0 = 1_700_000_000 * 10**9
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        chunk = []
        for i in range(PACKETS):
            fl = i % FLOWS
            net = 0 if fl % 3 == 0 else 1
            src = bytes([10, net, (fl >> 8) & 255, fl & 255])
            udp = struct.pack("!HHHH", 1024 + fl % 50000, 53, 26, 0) + b"x" * 18
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                             src, b"\xc0\x00\x02\x01")
            pkt = eth + ip + udp
            ts = t0 + i * 1000
            rec = struct.pack("<IIII", ts // 10**9, ts % 10**9, len(pkt), len(pkt)) + pkt
            chunk.append(rec)
            every.update(rec)
            if net == 0:
                third.update(rec)
                nthird += len(rec)
            if len(chunk) >= 65536:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    size = os.path.getsize(path) - 24
    return {"10.0.0.0/16": (third.hexdigest(), nthird), "10.0.0.0/8": (every.hexdigest(), size)}


# What `sinktrap pcap` writes first: a nanosecond pcap of the spool's link type
# (Ethernet), snaplen 262144.
HEADER = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)


@pytest.fixture(scope="module")
def big(mres):
    st, base, _ = webenv.start(mres)
    cap = mres.path("many.pcap")
    want = write_capture(cap)
    r = st.run_cmd("ingest", str(cap), timeout=600)
    assert r.returncode == 0, r.stderr
    cap.unlink()
    return {"st": st, "base": base, "want": want}


def cli_cut(st, net, length):
    """`sinktrap pcap --net NET -w -` (length: the records' bytes to come), its peak
    (VmHWM) read while HELD_BACK of the output is held back: (exit status, peak,
    SHA-256 of the records, their length). (Its rusage would not do: the peak it
    gives counts the test's own memory, which the child had before its exec.)"""
    st.write_conf()
    p = subprocess.Popen([str(st.bin), "pcap", "-c", str(st.conf_path), "--net", net,
                          "-w", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    head = p.stdout.read(len(HEADER))
    assert head == HEADER
    h = hashlib.sha256()
    n, peak = 0, None
    while True:
        if peak is None and n >= length - HELD_BACK:
            peak = kib(p.pid, "VmHWM") * 1024
        d = p.stdout.read(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    p.stdout.close()
    assert peak is not None, f"the output ended after {n} bytes"
    return p.wait(), peak, h.hexdigest(), n


def children(pid):
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(c) for c in r.stdout.split()]


def kib(pid, key):
    return int(harness.proc_status(pid)[key].split()[0])


class Download:
    """GET path over a socket with a small receive buffer, its chunked body read
    and hashed as it comes, so that the client decides when the rest is read."""

    def __init__(self, base, path):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.s.settimeout(120)
        self.s.connect((host, int(port)))
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                        f"Authorization: Bearer {webenv.TOKEN}\r\n"
                        "Connection: close\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            assert d, "closed before the headers"
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in
                        (line.partition(":") for line in lines[1:])}
        self.body = 0  # bytes of the body taken
        self.h = hashlib.sha256()
        self.head = b""
        self.ended = False

    def _more(self):
        d = self.s.recv(1 << 20)
        assert d, "the connection closed inside the chunked body"
        self.buf += d

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read(self, upto=None):
        """The body's chunks until upto bytes of it were taken (None: the end)."""
        assert self.headers.get("transfer-encoding") == "chunked"
        while not self.ended and (upto is None or self.body < upto):
            while b"\r\n" not in self.buf:
                self._more()
            line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.ended = True
                break
            d = self._take(size)
            self._take(2)
            if len(self.head) < len(HEADER):
                k = len(HEADER) - len(self.head)
                self.head += d[:k]
                d = d[k:]
            self.h.update(d)
            self.body += size
        return self.body

    def close(self):
        self.s.close()


def web_cut(st, base, net, length):
    """Download /api/pcap?net=NET (length: the records' bytes to come), the child's
    peak (VmHWM) read while HELD_BACK of the body is held back; (peak, SHA-256
    of the records, their length)."""
    web = harness.wait_until(lambda: st.worker_pid("web"), 10, what="the web worker")
    helpers = children(web)
    assert helpers, "no helper process of the web worker"
    d = Download(base, "/api/pcap?net=" + net)
    assert d.status == 200, d.buf[:300]
    assert d.headers["content-type"] == "application/vnd.tcpdump.pcap"
    d.read(len(HEADER) + length - HELD_BACK)
    kids = [c for h in helpers for c in children(h)]
    assert len(kids) == 1, f"the download's child not found ({kids})"
    peak = kib(kids[0], "VmHWM") * 1024
    d.read()
    d.close()
    assert d.head == HEADER
    return peak, d.h.hexdigest(), d.body - len(HEADER)


def test_cut_holds_no_offset_per_packet(big):
    """The command's peak grows by less than BOUND from a third of the packets
    to all of them (it grew by 8 bytes a packet more, and more), and both
    outputs are the capture's packets."""
    st, want = big["st"], big["want"]
    peaks = {}
    for net in ("10.0.0.0/16", "10.0.0.0/8"):
        rc, peaks[net], digest, length = cli_cut(st, net, want[net][1])
        assert rc == 0
        assert (digest, length) == want[net], net
    grew = peaks["10.0.0.0/8"] - peaks["10.0.0.0/16"]
    assert SANITIZED or grew < BOUND, (
        f"sinktrap pcap: {peaks['10.0.0.0/16'] >> 10} KiB for {PACKETS // 3} packets, "
        f"{peaks['10.0.0.0/8'] >> 10} KiB for {PACKETS}: grew {grew >> 10} KiB "
        f"(bound {BOUND >> 10} KiB, {8 * MORE >> 10} KiB at 8 bytes a packet)")


def test_download_child_holds_no_offset_per_packet(big):
    """The same through /api/pcap: the child's peak grows by less than BOUND,
    and both downloads are the capture's packets."""
    st, base, want = big["st"], big["base"], big["want"]
    peaks = {}
    for net in ("10.0.0.0/16", "10.0.0.0/8"):
        peaks[net], digest, length = web_cut(st, base, net, want[net][1])
        assert (digest, length) == want[net], net
    grew = peaks["10.0.0.0/8"] - peaks["10.0.0.0/16"]
    assert SANITIZED or grew < BOUND, (
        f"download child: {peaks['10.0.0.0/16'] >> 10} KiB for {PACKETS // 3} packets, "
        f"{peaks['10.0.0.0/8'] >> 10} KiB for {PACKETS}: grew {grew >> 10} KiB "
        f"(bound {BOUND >> 10} KiB, {8 * MORE >> 10} KiB at 8 bytes a packet)")


# ---------------------------------------------------------------- shared captures

# SHA-256 and length of what `sinktrap pcap` wrote, before it took windows, for
# these cuts of a spool holding CERBER then EK (64 KiB files).
BEFORE = {
    ("--net", "0.0.0.0/0"):
        ("eeeaa60cb70fceb5a533643082ead6688f48bb6fdad4ee8dbfdeaf791be203e0", 6368971),
    ("--proto", "tcp"):
        ("f9c9d1269287e9779f5d969c8dbaa4968d4324121e258a80921b09d8428af4e3", 5676424),
    ("--proto", "udp"):
        ("9a7663b8f0c74ae374225754b5062a2a076008630995cec5570a01cdea6a4500", 601561),
    ("--port", "80"):
        ("00d79f9d9852df89e48ba3fd2d3877e6821a7e38af6191018703995c78dfe84b", 3674939),
    ("--bpf", "tcp[13] & 2 != 0", "--net", "0.0.0.0/0"):
        ("aa2a836e97e3ea948968195910276ec69546618ddfb7d28548ae1f31702bb844", 43720),
}
# ... and for sessions, named by their 5-tuple
SESSIONS = {
    ("192.168.1.46", 49214, "23.217.129.16", 80):
        ("e162cdf1427699cad7b9bf5561c770770334e01600e441b96355650896baec94", 359997),
    ("192.168.122.145", 49339, "45.32.238.202", 80):
        ("97921820f7fcd6b3f225874359e2497b1728ccdfacb2b8fee6a2c31dc6e54a34", 380720),
}
QUERY = {"--net": "net", "--proto": "proto", "--port": "port"}  # the API has no --bpf


@pytest.fixture(scope="module")
def shared(mres):
    for c in (CERBER, EK):
        if not c.exists():
            pytest.skip(f"{c} is missing")
    st, base, _ = webenv.start(mres)
    st.conf.setdefault("capture", {})["file_size"] = "64k"
    st.write_conf()
    for c in (CERBER, EK):
        r = st.run_cmd("ingest", str(c), timeout=300)
        assert r.returncode == 0, r.stderr
    r = st.run_cmd("sessions", "--json", "--limit", "0")
    assert r.returncode == 0, r.stderr
    ss = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    ids = {(s["src_ip"], s.get("src_port"), s["dest_ip"], s.get("dest_port")): s["flow_id"]
           for s in ss}
    c = webenv.Client(base)
    assert c.login()[0] == 200
    return {"st": st, "client": c, "ids": ids}


def digest(body):
    return hashlib.sha256(body).hexdigest(), len(body)


def test_shared_captures_cut_as_before(shared, tmp_path):
    """Filters and sessions of the shared captures: the command and the downloads
    write what the command wrote before windows, byte for byte."""
    st, c, ids = shared["st"], shared["client"], shared["ids"]
    cuts = []
    for q, want in BEFORE.items():
        path = None
        if all(q[i] in QUERY for i in range(0, len(q), 2)):
            path = "/api/pcap?" + urlencode([(QUERY[q[i]], q[i + 1]) for i in range(0, len(q), 2)])
        cuts.append((list(q), path, want))
    for t, want in SESSIONS.items():
        assert t in ids, f"no session {t}"
        cuts.append((["--session", str(ids[t])], f"/api/sessions/{ids[t]}/pcap", want))
    for args, path, want in cuts:
        out = tmp_path / "cut.pcap"
        r = st.run_cmd("pcap", *args, "-w", str(out))
        assert r.returncode == 0, r.stderr
        assert digest(out.read_bytes()) == want, args
        if path is None:
            continue
        status, _, body = c.get(path, raw=True)
        assert status == 200, (path, body[:200])
        assert digest(body) == want, path

