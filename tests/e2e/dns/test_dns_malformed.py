"""Malformed queries get FORMERR or are dropped, responses are ignored, and the
server keeps answering normal queries afterwards, over UDP and TCP. The dns
worker must survive all of it: its pid is the same at the end."""

import random
import socket
import struct
import time

import dns.exception
import dns.message
import pytest

import harness

FORMERR, NOTIMP, BADVERS = 1, 4, 16


def hdr(id_, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def name(*labels):
    out = b""
    for lab in labels:
        lab = lab.encode() if isinstance(lab, str) else lab
        out += bytes([len(lab)]) + lab
    return out + b"\x00"


QTAIL = struct.pack("!HH", 1, 1)  # A, IN
OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
GOOD_Q = name("malformed", "example") + QTAIL


def badlabel_payload():
    """The UDP payload of the 63 KB fuzzer packet in tcpdump's dns-badlabel test."""
    from scapy.utils import RawPcapReader

    r = RawPcapReader(str(harness.pcaps_dir() / "tcpdump-tests_dns-badlabel.pcap"))
    try:
        data, _ = next(iter(r))
    finally:
        r.close()
    assert data[12:14] == b"\x08\x00" and data[23] == 17  # Ethernet, IPv4, UDP
    ihl = (data[14] & 15) * 4
    payload = data[14 + ihl + 8:]
    assert len(payload) > 60000
    return payload


# name -> (builder(id) -> bytes, expectation)
#   "formerr" / "notimp" / "badvers": that rcode comes back, with QR set and our id
#   "drop": no answer at all
#   "any": FORMERR, another error, or nothing - but never a crash
CASES = {
    "empty": (lambda i: b"", "drop"),
    "truncated-header": (lambda i: hdr(i)[:5], "drop"),
    "header-only": (lambda i: hdr(i), "formerr"),
    "truncated-name": (lambda i: hdr(i) + b"\x09malfor", "formerr"),
    "truncated-type": (lambda i: hdr(i) + name("malformed", "example") + b"\x00", "formerr"),
    "pointer-to-itself": (lambda i: hdr(i) + b"\xc0\x0c" + QTAIL, "formerr"),
    "pointer-loop": (lambda i: hdr(i) + b"\x01a\xc0\x0e" + QTAIL, "formerr"),
    "forward-pointer": (lambda i: hdr(i) + b"\xc0\x20" + QTAIL + b"\x00" * 40, "formerr"),
    "pointer-past-end": (lambda i: hdr(i) + b"\xc0\xff" + QTAIL, "formerr"),
    "pointer-into-header": (lambda i: hdr(i) + b"\xc0\x04" + QTAIL, "any"),
    "qdcount-0": (lambda i: hdr(i, qd=0), "formerr"),
    "qdcount-0-with-question": (lambda i: hdr(i, qd=0) + GOOD_Q, "formerr"),
    "qdcount-2": (lambda i: hdr(i, qd=2) + GOOD_Q + GOOD_Q, "formerr"),
    "qdcount-2-one-question": (lambda i: hdr(i, qd=2) + GOOD_Q, "formerr"),
    "bad-ancount": (lambda i: hdr(i, an=5) + GOOD_Q, "formerr"),
    "bad-nscount": (lambda i: hdr(i, ns=65535) + GOOD_Q, "formerr"),
    "bad-arcount": (lambda i: hdr(i, ar=2) + GOOD_Q + OPT, "formerr"),
    "truncated-opt": (lambda i: hdr(i, ar=1) + GOOD_Q + OPT[:7], "formerr"),
    "opt-rdlen-past-end": (lambda i: hdr(i, ar=1) + GOOD_Q + OPT[:-2] + b"\x01\x00", "formerr"),
    "two-opt": (lambda i: hdr(i, ar=2) + GOOD_Q + OPT + OPT, "formerr"),
    "opt-in-answer": (lambda i: hdr(i, an=1) + GOOD_Q + OPT, "formerr"),
    "label-70": (lambda i: hdr(i) + bytes([70]) + b"a" * 70 + b"\x00" + QTAIL, "formerr"),
    "label-64": (lambda i: hdr(i) + bytes([64]) + b"a" * 64 + b"\x00" + QTAIL, "formerr"),
    "name-over-255": (lambda i: hdr(i) + name(*["a" * 63] * 5) + QTAIL, "formerr"),
    "name-256": (lambda i: hdr(i) + name(*(["a" * 63] * 3 + ["a" * 62])) + QTAIL, "formerr"),
    "pointer-chain-over-255": (
        lambda i: hdr(i, ar=0) + b"\x3f" + b"a" * 63 + b"\xc0\x0c" + QTAIL, "formerr"),
    "edns-version-1": (
        lambda i: hdr(i, ar=1) + GOOD_Q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0x00010000,
                                                               0), "badvers"),
    "opcode-update": (lambda i: hdr(i, flags=0x2800) + GOOD_Q, "notimp"),
    "opcode-15": (lambda i: hdr(i, flags=0x7800) + GOOD_Q, "notimp"),
    # Responses (QR=1) are never answered, however they look.
    "response": (lambda i: hdr(i, flags=0x8180, an=1) + GOOD_Q +
                 b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x7f\x00\x00\x01", "drop"),
    "response-formerr": (lambda i: hdr(i, flags=0x8001) + GOOD_Q, "drop"),
    "response-garbage": (lambda i: hdr(i, flags=0xffff, qd=0xffff) + b"\xc0\x0c" * 20, "drop"),
    "badlabel-pcap": (lambda i: struct.pack("!H", i) + badlabel_payload()[2:], "drop"),
    "badlabel-pcap-as-query": (
        lambda i: struct.pack("!HH", i, struct.unpack("!H", badlabel_payload()[2:4])[0] & 0x7fff)
        + badlabel_payload()[4:], "any"),
}


@pytest.fixture(scope="module")
def st(mres):
    up = mres.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(mres.path("probe.plain"), ["probe.test"])
    s = mres.sinktrap({"dns": {"blocklist": str(bl), "tcp_idle_timeout": "1s"}}, upstream=up)
    s.dns_pid = s.worker_pid("dns")
    assert s.dns_pid
    return s


def check(expect, resp, id_):
    if expect == "drop":
        assert resp is None, f"answered: {resp[:32].hex()}"
        return
    if resp is None:
        assert expect == "any", "no answer, expected one"
        return
    assert len(resp) >= 12
    rid, flags = struct.unpack("!HH", resp[:4])
    assert flags & 0x8000, "answer without QR"
    rcode = flags & 0xF
    if len(resp) > 12:
        try:
            rcode = dns.message.from_wire(resp).rcode()  # with the EDNS extended bits
        except dns.exception.DNSException:
            pass
    if expect == "any":
        return
    assert rid == id_
    want = {"formerr": FORMERR, "notimp": NOTIMP, "badvers": BADVERS}[expect]
    assert rcode == want, f"rcode {rcode}, expected {want}: {resp[:48].hex()}"


def probe_wire(id_):
    return hdr(id_) + name("p%d" % id_, "probe", "test") + QTAIL


def udp_case(st, payload, id_, probe_id, addr="127.0.0.1"):
    """Send payload then a normal query; return the answer to payload (or None).
    Both go out on one socket, so an answer to the first arrives before the
    answer to the second: no need to wait for something that does not come."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.settimeout(5)
        s.sendto(payload, (addr, st.port))
        s.sendto(probe_wire(probe_id), (addr, st.port))
        first = None
        while True:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                raise AssertionError("the normal query after it was not answered")
            if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == probe_id and \
                    len(data) > 12 and data[3] & 0xF == 0:
                return first
            assert first is None, "two answers to one packet"
            first = data


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_udp(st, case):
    build, expect = CASES[case]
    idx = list(CASES).index(case)
    id_ = 0x1000 + idx
    resp = udp_case(st, build(id_), id_, 0x8000 + idx)
    if case.startswith("badlabel") and resp is None:
        return  # 63 KB is more than a UDP query may be: dropped is right
    check(expect, resp, id_)


def tcp_case(st, payload, id_, probe_id):
    """payload framed, then a normal query, on one connection. Returns
    (answer to payload or None, whether the connection was closed)."""
    s = harness.tcp_connect("127.0.0.1", st.port)
    try:
        s.sendall(harness.tcp_frame(payload) + harness.tcp_frame(probe_wire(probe_id)))
        first = None
        while True:
            try:
                msg = harness.tcp_read_msg(s)
            except ConnectionResetError:
                msg = None
            if msg is None:
                return first, True
            if struct.unpack("!H", msg[:2])[0] == probe_id and msg[3] & 0xF == 0:
                return first, False
            assert first is None, "two answers to one message"
            first = msg
    finally:
        s.close()


@pytest.mark.parametrize("case", [c for c in CASES if c != "empty"])
def test_malformed_tcp(st, case):
    build, expect = CASES[case]
    idx = list(CASES).index(case)
    id_ = 0x2000 + idx
    resp, closed = tcp_case(st, build(id_), id_, 0x9000 + idx)
    if closed:
        # Closing on a bad message is fine, if nothing wrong was said first.
        assert resp is None or expect != "drop"
    if not (closed and resp is None):
        check(expect, resp, id_)
    assert harness.a_records(st.query("after-tcp.probe.test", proto="tcp"))


def test_random_garbage(st):
    rng = random.Random(1234)
    qr_ids = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        for i in range(400):
            pkt = bytearray(rng.randbytes(rng.randrange(1, 700)))
            if len(pkt) >= 3:
                pkt[0:2] = struct.pack("!H", 0x4000 + i)
                if i % 2:
                    pkt[2] |= 0x80
                    qr_ids.add(0x4000 + i)
                else:
                    pkt[2] &= 0x7F
            s.sendto(bytes(pkt), ("127.0.0.1", st.port))
            if i % 50 == 49:
                time.sleep(0.01)  # paced, so that nothing is lost to a full buffer
        s.sendto(probe_wire(0x7777), ("127.0.0.1", st.port))
        got = []
        while True:
            data, _ = s.recvfrom(65535)
            rid = struct.unpack("!H", data[:2])[0]
            if rid == 0x7777:
                break
            got.append(data)
    for d in got:
        rid = struct.unpack("!H", d[:2])[0]
        assert rid not in qr_ids, "a response (QR=1) was answered"
        assert d[2] & 0x80
    # And over TCP, garbage in one stream.
    for i in range(20):
        c = harness.tcp_connect("127.0.0.1", st.port)
        try:
            c.sendall(rng.randbytes(rng.randrange(1, 3000)))
            c.shutdown(socket.SHUT_WR)
            c.settimeout(5)
            while harness.tcp_read_msg(c) is not None:
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        finally:
            c.close()
    assert harness.a_records(st.query("after-garbage.probe.test"))


@pytest.mark.parametrize("extra", [1, 100, 60000])
def test_tcp_length_prefix_longer_than_data_then_close(st, extra):
    q = probe_wire(0x5151)
    s = harness.tcp_connect("127.0.0.1", st.port)
    try:
        s.sendall(struct.pack("!H", len(q) + extra if len(q) + extra < 65536 else 65535) + q)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        # Nothing to answer: the server just closes.
        assert harness.tcp_read_msg(s) is None
    finally:
        s.close()
    assert harness.a_records(st.query("after-short.probe.test", proto="tcp"))
    assert harness.a_records(st.query("after-short.probe.test"))


def test_tcp_partial_message_is_cut_off_after_idle_timeout(st):
    s = harness.tcp_connect("127.0.0.1", st.port)
    try:
        s.sendall(b"\x00\x40\x12\x34")  # 64 bytes announced, 2 sent
        s.settimeout(1 + 3)
        t0 = time.monotonic()
        try:
            data = s.recv(10)
        except ConnectionResetError:
            data = b""
        assert data == b"", "expected the server to close the connection"
        assert time.monotonic() - t0 < 1 + 3
    finally:
        s.close()


def test_tcp_zero_length_message_then_query(st):
    s = harness.tcp_connect("127.0.0.1", st.port)
    try:
        s.sendall(b"\x00\x00" + harness.tcp_frame(probe_wire(0x6161)))
        msg = harness.tcp_read_msg(s)
        assert msg is not None and struct.unpack("!H", msg[:2])[0] == 0x6161
    finally:
        s.close()


def test_worker_survived_everything(st):
    """Runs last in this module: the same dns worker served every test above."""
    assert harness.a_records(st.query("last.probe.test"))
    assert harness.a_records(st.query("last.probe.test", proto="tcp", addr="::1"))
    assert st.worker_pid("dns") == st.dns_pid, st.log()
    assert "killed by signal" not in st.log()
    assert "exited with status" not in st.log()
