"""UDP at the trap: every datagram to a trap address (TPROXY catch-all) is a
`trap` event with phase datagram and its original destination; DNS asked of a
pool address is answered with that address, from the address and port the
client asked."""

import os
import random
import socket
import time

import dns.message
import dns.rdatatype

import harness
import trapenv
from trapenv import CLIENT_IP, CLIENT_IP_B, TRAP_IP


def udp_send(env, addr, port, data):
    with env.in_client():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((CLIENT_IP, 0))
    lport = s.getsockname()[1]
    s.sendto(data, (addr, port))
    return s, lport


def test_datagram_keeps_original_destination(env):
    addr = env.resolve("beacon.drop.example")
    port = random.randint(20000, 60999)
    data = b"beacon:" + os.urandom(100)
    mark = env.mark()
    s, lport = udp_send(env, addr, port, data)
    s.close()
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark, phase="datagram")[0]
    assert ev["proto"] == "UDP"
    assert ev["src_ip"] == CLIENT_IP
    assert ev["dest_port"] == port
    t = ev["trap"]
    assert t["listener"] == "tproxy"
    assert t["domain"] == "beacon.drop.example"
    assert t["domain_source"] == "sinkhole_map"
    assert t["bytes_toserver"] == len(data)
    assert t["bytes_toclient"] == 0
    assert t["payload_hex"] == data[:64].hex()
    assert t["payload_sha256"] == trapenv.sha256(data)


def test_datagram_community_id(env):
    addr = env.resolve("cid.drop.example")
    port = random.randint(20000, 60999)
    mark = env.mark()
    s, lport = udp_send(env, addr, port, b"cid")
    s.close()
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark, phase="datagram")[0]
    assert ev.get("community_id") == trapenv.community_id(CLIENT_IP, addr, lport, port, 17), ev


def test_datagram_to_listen_address(env):
    """The trap's own listen address is a trap address too (no domain)."""
    port = random.randint(20000, 60999)
    mark = env.mark()
    s, lport = udp_send(env, TRAP_IP, port, b"hello trap")
    s.close()
    ev = env.wait_trap(dest_ip=TRAP_IP, src_port=lport, since=mark, phase="datagram")[0]
    assert ev["dest_port"] == port
    assert ev["trap"]["listener"] == "tproxy"
    assert "domain" not in ev["trap"]


def _dig_answer(r):
    lines = [x for x in r.stdout.splitlines() if x and not x.startswith(";")]
    return [x.split() for x in lines]


def test_dig_pool_address_port_53(env):
    """A bot that uses its C2's address as a resolver gets the address back."""
    addr = env.resolve("resolver.drop.example")
    mark = env.mark()
    r = env.client(["dig", "+time=2", "+tries=1", f"@{addr}", "-p", "53", "anything.example"],
                   timeout=20)
    assert r.returncode == 0, f"dig @{addr} -p 53: {r.stdout}{r.stderr}"
    answers = _dig_answer(r)
    assert answers == [["anything.example.", "60", "IN", "A", addr]], r.stdout
    ev = env.wait_trap(dest_ip=addr, since=mark, phase="datagram",
                       pred=lambda e: e["dest_port"] == 53)[0]
    assert ev["app_proto"] == "dns"
    assert ev["dns"] == {"rrname": "anything.example", "rrtype": "A"}


def test_dig_pool_address_port_53_over_tcp(env):
    addr = env.resolve("tcpresolver.drop.example")
    r = env.client(["dig", "+tcp", "+time=2", "+tries=1", f"@{addr}", "-p", "53",
                    "anything.example"], timeout=20)
    assert r.returncode == 0, f"dig +tcp @{addr} -p 53: {r.stdout}{r.stderr}"
    assert _dig_answer(r) == [["anything.example.", "60", "IN", "A", addr]], r.stdout


def test_udp_reply_comes_from_the_original_port(env):
    """DNS on 5353 (mDNS-style) to a pool address: the answer must come from
    (pool address, 5353), or the client drops it."""
    addr = env.resolve("mdns.drop.example")
    q = dns.message.make_query("printer.local", "A", use_edns=False)
    mark = env.mark()
    s, lport = udp_send(env, addr, 5353, q.to_wire())
    s.settimeout(3)
    try:
        try:
            wire, src = s.recvfrom(4096)
        except socket.timeout:
            wire, src = None, None
    finally:
        s.close()
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark, phase="datagram")[0]
    assert ev["dest_port"] == 5353
    assert ev["trap"]["bytes_toclient"] > 0, "the trap made no answer"
    assert wire is not None, (
        f"the trap answered ({ev['trap']['bytes_toclient']} bytes) but nothing reached "
        f"the client at {CLIENT_IP}:{lport}")
    assert src == (addr, 5353)
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    assert harness.a_records(r) == [addr]
    assert r.answer[0].rdtype == dns.rdatatype.A


def test_large_datagram_is_measured_and_hashed_whole(env):
    """Datagrams far past 16 KiB, up to the largest IPv4 carries: the event has
    their real size and the hash of every byte, and says nothing was cut."""
    addr = env.resolve("bigudp.drop.example")
    port = random.randint(20000, 60999)
    for size in (60000, 65507):
        data = b"BIGUDP" + os.urandom(size - 6)
        mark = env.mark()
        s, lport = udp_send(env, addr, port, data)
        s.close()
        ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark, phase="datagram")[0]
        t = ev["trap"]
        assert t["bytes_toserver"] == size, t
        assert t["payload_sha256"] == trapenv.sha256(data)
        assert t["payload_hex"] == data[:64].hex()
        assert "payload_truncated" not in t


def test_a_dns_response_is_never_answered(env):
    """A DNS response (QR set) sent to the trap's port 53 is recorded and not
    answered: answering it would let two traps, or a trap and any server that
    answers responses, bounce one datagram between them for ever. A malformed
    query still gets FORMERR."""
    addr = env.resolve("reflect.drop.example")
    resp = dns.message.make_response(dns.message.make_query("loop.example", "A"))
    mark = env.mark()
    s, lport = udp_send(env, addr, 53, resp.to_wire())
    s.settimeout(1.5)
    try:
        got = s.recvfrom(4096)
    except socket.timeout:
        got = None
    finally:
        s.close()
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark, phase="datagram")[0]
    assert got is None, got
    assert ev["trap"]["bytes_toclient"] == 0
    # a query whose question is cut: FORMERR, as before
    bad = dns.message.make_query("cut.example", "A", use_edns=False).to_wire()[:-3]
    s, lport = udp_send(env, addr, 53, bad)
    s.settimeout(3)
    try:
        wire, _ = s.recvfrom(4096)
    finally:
        s.close()
    assert wire[3] & 0x0F == 1  # FORMERR


def _spoofed_udp(src_ip, dst_ip, dport, payload):
    """An IPv4 datagram from src_ip, header and all (the checksum left to the kernel
    for the IP header; the UDP one is optional and left 0)."""
    import struct
    udp = struct.pack("!HHHH", random.randint(1024, 65535), dport, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload),
                     random.randint(0, 65535), 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    return ip + udp + payload


def test_forged_udp_sources_do_not_lift_the_tcp_limits(env):
    """A burst of datagrams from 40,000 forged sources fills the per-source
    accounting the UDP side uses; a real TCP client that comes after is still held
    to max_per_source. Before, TCP and UDP shared one table: the forged sources took
    every slot and the TCP client, finding none, was not counted at all."""
    env.restart({"trap": {"max_per_source": "4", "rate_per_source": "100000"}})
    harness.wait_until(lambda: env.trap_pid(), 10, what="trap worker")
    addr = env.resolve("spoof.drop.example")
    with env.in_client():
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        for i in range(40000):
            src = f"10.77.{(i >> 8) & 0xff}.{i & 0xff}"
            raw.sendto(_spoofed_udp(src, addr, 7777, b"x"), (addr, 0))
    finally:
        raw.close()
    kept = []
    try:
        for _ in range(10):
            try:
                s = env.tcp(addr, 8081, src=CLIENT_IP_B, timeout=3)
                s.settimeout(1)
                s.sendall(b"hello\r\n")
                kept.append(s)
            except OSError:
                pass
        time.sleep(1)
        alive = 0
        for s in kept:
            try:
                s.recv(1)
                alive += 1
            except socket.timeout:
                alive += 1  # open and quiet
            except OSError:
                pass
        assert alive <= 4, f"{alive} connections from one source kept, max_per_source 4"
    finally:
        for s in kept:
            s.close()
