"""The web worker's memory under many downloads at once.

Payload archives are made as they are sent: however many large downloads
run together, the worker holds a small constant each, never the payload
(it used to hold each payload twice while its archive was built). Every
archive is the same, byte for byte, as one built whole, and one whose file
changes while it is sent ends in a closed connection, never in a body of
the announced length. JSON answers built in memory count against
[web] memory_max: past it a request gets 503 with Retry-After, and every
200 is whole."""

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import pytest

import harness
import webenv

MiB = 1 << 20
# Downloads at once, from several addresses (at most 16 connections from one).
DOWNLOADS = 24
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
PAYLOAD_SIZE = 32 * MiB
# What the design lets a download hold: the block it is sent in (64 KiB),
# the block the CRC is computed in before (64 KiB), libmicrohttpd's
# connection pool and a thread's stack: well under 512 KiB. Plus the worker's
# own slack (a thread's first allocations, the log, the allocator's arenas).
PER_DOWNLOAD = 512 * 1024
SLACK = 16 * MiB
BOUND = SLACK + DOWNLOADS * PER_DOWNLOAD
assert BOUND < PAYLOAD_SIZE  # a bound that not even one whole payload fits in


# ---------------------------------------------------------------- helpers


class RawGet:
    """GET path over a socket of its own (from src), read in two steps: the
    head (status, headers) and then the rest, so that many downloads can be
    held open at once."""

    def __init__(self, base, path, src="127.0.0.1", rcvbuf=None):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(120)
        self.s.bind((src, 0))
        self.s.connect((host, int(port)))
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                        f"Authorization: Bearer {webenv.TOKEN}\r\n"
                        "Connection: close\r\n\r\n").encode())
        self.buf = b""
        self.status = None
        self.headers = {}

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            assert d, "the connection closed before the headers: %r" % self.buf[:200]
            self.buf += d
        h, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = h.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        return self.status

    def rest(self):
        """The body as far as the server sent it, to the end of the connection."""
        chunks = [self.buf]
        while True:
            try:
                d = self.s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not d:
                break
            chunks.append(d)
        self.s.close()
        return b"".join(chunks)


def web_pid(st):
    pid = harness.wait_until(lambda: st.worker_pid("web"), 10, what="the web worker")
    return pid


def kib(pid, key):
    return int(harness.proc_status(pid)[key].split()[0])


def reset_peak(pid):
    """Start the peak (VmHWM) over from what the worker holds now."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as e:
        pytest.skip(f"cannot reset the web worker's peak memory: {e}")
    return kib(pid, "VmHWM") * 1024


def place_payload(st, data):
    sha = hashlib.sha256(data).hexdigest()
    d = st.state_dir / "payloads" / sha[:2]
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    p = d / sha
    p.write_bytes(data)
    os.chmod(p, 0o644)
    return sha, p


def zip_key_init(password):
    k = [0x12345678, 0x23456789, 0x34567890]
    for c in password:
        zip_key_update(k, c)
    return k


CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xEDB88320 if _c & 1 else _c >> 1
    CRC_TABLE.append(_c)


def zip_key_update(k, c):
    k[0] = CRC_TABLE[(k[0] ^ c) & 0xff] ^ (k[0] >> 8)
    k[1] = (k[1] + (k[0] & 0xff)) & 0xffffffff
    k[1] = (k[1] * 134775813 + 1) & 0xffffffff
    k[2] = CRC_TABLE[(k[2] ^ (k[1] >> 24)) & 0xff] ^ (k[2] >> 8)


def zip_decrypt(k, data):
    out = bytearray()
    for c in data:
        t = (k[2] | 2) & 0xffff
        p = c ^ (((t * (t ^ 1)) >> 8) & 0xff)
        zip_key_update(k, p)
        out.append(p)
    return bytes(out)


def check_archive(body, sha, data, tmp_path):
    """body is the archive a payload download is: byte for byte what the
    whole-archive writer made (but for the random bytes of the encryption
    header and the time, which change at every download), and unzip opens it
    to the payload."""
    name = (sha + ".bin").encode()
    n, size, crc = len(name), len(data), zlib.crc32(data)
    assert len(body) == 30 + n + 12 + size + 46 + n + 22
    dtime, ddate = struct.unpack_from("<HH", body, 10)
    head = (struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 1, 0, dtime, ddate, crc, size + 12,
                        size, n, 0) + name)
    assert body[:30 + n] == head
    # The encryption header: 11 random bytes, then the CRC's high byte.
    hdr = zip_decrypt(zip_key_init(b"infected"), body[30 + n:30 + n + 12])
    assert hdr[11] == crc >> 24
    cd_off = 30 + n + 12 + size
    cd = (struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 0x0314, 20, 1, 0, dtime, ddate, crc,
                      size + 12, size, n, 0, 0, 0, 0, 0o100644 << 16, 0) + name)
    eocd = struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 1, 1, len(cd), cd_off, 0)
    assert body[cd_off:] == cd + eocd
    # The data: unzip decrypts it (and checks its CRC) to the payload.
    zp = tmp_path / f"{threading.get_ident()}-{sha[:8]}.zip"
    zp.write_bytes(body)
    try:
        r = subprocess.run(["unzip", "-tqq", "-P", "infected", str(zp)], capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr
        r = subprocess.run(["unzip", "-p", "-P", "infected", str(zp)], capture_output=True)
        assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == sha
    finally:
        zp.unlink()


def run_together(gets):
    """Every request's head first (so that all are being answered at once), then
    every body; returns [(status, headers, body)]."""
    out = [None] * len(gets)
    errors = []
    barrier = threading.Barrier(len(gets), timeout=300)

    def one(i, g):
        try:
            g.head()
            barrier.wait()
            out[i] = (g.status, g.headers, g.rest())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
            barrier.abort()

    ths = [threading.Thread(target=one, args=(i, g)) for i, g in enumerate(gets)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(600)
    assert not errors, errors
    return out


# ---------------------------------------------------------------- downloads


@pytest.fixture(scope="module")
def dl(mres):
    if shutil.which("unzip") is None:
        pytest.skip("unzip is missing")
    st, base, _ = webenv.start(mres)
    rnd = os.urandom(PAYLOAD_SIZE)
    payloads = []
    for i in range(2):
        data = bytes([i]) + rnd[1:]  # two payloads, one file apart
        sha, path = place_payload(st, data)
        payloads.append((sha, data, path))
    return {"st": st, "base": base, "payloads": payloads}


def test_concurrent_payload_downloads_hold_no_payload(dl, tmp_path):
    """DOWNLOADS downloads of PAYLOAD_SIZE payloads at once: the worker's peak
    resident memory grows by less than BOUND (it grew by about twice
    DOWNLOADS x PAYLOAD_SIZE when each archive was built in memory), and every
    download is the whole, right archive."""
    st, base = dl["st"], dl["base"]
    pid = web_pid(st)
    # Settled: the worker has counted the store and answered a download once.
    c = webenv.Client(base)
    assert c.get("/api/stats", headers={"Authorization": "Bearer " + webenv.TOKEN})[0] == 200
    sha0, data0, _ = dl["payloads"][0]
    g = RawGet(base, f"/api/payloads/{sha0}")
    assert g.head() == 200
    check_archive(g.rest(), sha0, data0, tmp_path)

    start = reset_peak(pid)
    gets = []
    for i in range(DOWNLOADS):
        sha, _, _ = dl["payloads"][i % 2]
        gets.append(RawGet(base, f"/api/payloads/{sha}", src=ADDRESSES[i % len(ADDRESSES)],
                           rcvbuf=256 * 1024))
    results = run_together(gets)
    grew = kib(pid, "VmHWM") * 1024 - start
    assert st.proc.alive() and web_pid(st) == pid
    for i, (status, hdrs, body) in enumerate(results):
        sha, data, _ = dl["payloads"][i % 2]
        assert status == 200, body[:200]
        assert hdrs["content-type"] == "application/zip"
        assert hdrs["content-disposition"] == f'attachment; filename="{sha}.zip"'
        assert int(hdrs["content-length"]) == len(body)
        check_archive(body, sha, data, tmp_path)
    assert grew < BOUND, (
        f"{DOWNLOADS} downloads of {PAYLOAD_SIZE >> 20} MiB at once: the web worker's peak "
        f"grew by {grew >> 20} MiB (bound {BOUND >> 20} MiB)")


@pytest.mark.parametrize("change", ["shorter", "other bytes"])
def test_a_payload_changed_while_sent_never_looks_whole(dl, change, tmp_path):
    """The archive's headers are written from a first reading of the file; a
    file that is not the same when it is sent (shorter, or other bytes) ends
    the download with the connection closed before the announced length: a
    client never keeps a broken archive for a whole one."""
    st, base = dl["st"], dl["base"]
    data = os.urandom(PAYLOAD_SIZE)
    sha, path = place_payload(st, data)
    # A small receive buffer: the file is read as the client reads, not ahead.
    g = RawGet(base, f"/api/payloads/{sha}", rcvbuf=64 * 1024)
    assert g.head() == 200
    length = int(g.headers["content-length"])
    with open(path, "r+b") as f:
        if change == "shorter":
            f.truncate(PAYLOAD_SIZE // 2)
        else:
            f.seek(PAYLOAD_SIZE - 100)
            f.write(bytes(b ^ 0xff for b in data[-100:]))
    body = g.rest()
    assert len(body) < length, "a changed payload was sent as a whole archive"
    # The worker goes on serving.
    g = RawGet(base, f"/api/payloads/{dl['payloads'][1][0]}")
    assert g.head() == 200
    check_archive(g.rest(), dl["payloads"][1][0], dl["payloads"][1][1], tmp_path)


def test_head_of_a_download(dl):
    sha, data, _ = dl["payloads"][0]
    host, port = dl["base"].removeprefix("http://").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall((f"HEAD /api/payloads/{sha} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {webenv.TOKEN}\r\nConnection: close\r\n\r\n").encode())
    resp = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        resp += d
    s.close()
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    n = len(sha) + 4
    assert b"\r\nContent-Length: %d" % (30 + n + 12 + len(data) + 46 + n + 22) in head
    assert body == b""


# ---------------------------------------------------------------- answers built in memory


# Trap events of about 100 KB (30 headers of control bytes, each written \u0001
# in JSON): a page of them is far more than memory_max, and more than the
# sockets between the worker and a client that does not read can take.
BIG_EVENTS = 80
ANSWERS = 8


def big_request(port, i):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    headers = "".join("X-H%d: %s\r\n" % (k, "\x01" * 2000) for k in range(30))
    s.sendall((f"GET /big{i} HTTP/1.1\r\nHost: {webenv.DOMAIN}\r\n{headers}"
               "Connection: close\r\n\r\n").encode())
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


@pytest.fixture(scope="module")
def small(mres):
    """A worker with the least memory_max (1 MiB) and trap events large enough
    that one page of them is several times that."""
    st, base, trap_port = webenv.start(mres, web={"memory_max": "1M"},
                                       trap={"rate_per_source": "100000"})
    for i in range(BIG_EVENTS):
        big_request(trap_port, i)
    webenv.wait_counts(st, 0, BIG_EVENTS)
    return {"st": st, "base": base}


def test_answers_past_memory_max_get_503_never_a_broken_body(small):
    """ANSWERS pages of more than memory_max asked for at once and held open:
    those that would take the worker past memory_max get 503 with
    Retry-After (and a JSON error), every 200 is the whole page; once the
    pages held are read, the refused ones are answered."""
    st, base = small["st"], small["base"]
    c = webenv.Client(base)
    tok = {"Authorization": "Bearer " + webenv.TOKEN}
    status, _, raw = c.get("/api/trap?limit=1000", headers=tok, raw=True)
    whole = json.loads(raw)
    assert status == 200 and len(whole["items"]) == BIG_EVENTS
    assert len(raw) > 6 * MiB, len(raw)
    gets = [RawGet(base, "/api/trap?limit=1000", src=ADDRESSES[i % len(ADDRESSES)],
                   rcvbuf=64 * 1024) for i in range(ANSWERS)]
    results = run_together(gets)
    codes = sorted(r[0] for r in results)
    assert set(codes) <= {200, 503}, codes
    assert codes.count(503) >= 1, codes
    for status, hdrs, body in results:
        if status == 200:
            assert int(hdrs["content-length"]) == len(body)
            assert json.loads(body) == whole
        else:
            assert hdrs["retry-after"] == "5"
            assert hdrs["content-type"] == "application/json"
            j = json.loads(body)
            assert j["status"] == 503 and "memory_max" in j["error"]
    # Nothing held any longer: asked again, one at a time, each is answered.
    for _ in range(codes.count(503)):
        status, j = c.get("/api/trap?limit=1000", headers=tok)
        assert status == 200 and j == whole
    # Small answers never wait for the budget.
    assert c.get("/api/stats", headers=tok)[0] == 200
    assert "memory_max" in st.log() and "answered 503" in st.log()


def test_memory_max_is_checked_in_the_config(res):
    st = res.sinktrap({"dns": {"mode": "allowlist"},
                       "web": {"enabled": "yes", "memory_max": "100k"}}, start=False)
    r = st.run_cmd("check-config")
    assert r.returncode != 0
    conf = str(st.conf_path)
    lines = st.conf_path.read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t.startswith("memory_max"))
    assert f"{conf}:{line}:" in r.stderr and "memory_max" in r.stderr, r.stderr
    st.conf["web"]["memory_max"] = "64M"
    r = st.run_cmd("check-config")
    assert r.returncode == 0, r.stderr
