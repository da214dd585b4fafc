"""Handshakes as old or hostile clients make them: TLS 1.0, 1.1 and 1.2 from a
real openssl client (with and without SNI, with ALPN) completes and is
recorded; a malformed ClientHello, an overlong SSH identification line and
DNS over TCP keep the client's bytes as a payload and say what failed; an SNI
that is no host name names no domain."""

import os
import random
import re
import socket
import struct

import pytest

from trapenv import TRAP_IP, sha256

# Longer than the wait for a partial opening (3 s).
TRAP_CONF = {"trap": {"read_timeout": "5s"}}


def send_and_drain(env, addr, port, data, timeout=8):
    """data on a fresh connection, the write side shut, then whatever comes back."""
    s = env.tcp(addr, port, timeout=timeout)
    lport = s.getsockname()[1]
    reply = b""
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        s.close()
    return lport, reply


def assert_kept(env, ev, data, since):
    """data is a stored raw payload of this connection, named in its event."""
    sha = sha256(data)
    assert sha in ev["trap"].get("payloads", []), ev["trap"]
    fi = env.fileinfo(sha, since=since)
    assert fi["fileinfo"]["kind"] == "raw"
    assert fi["fileinfo"]["size"] == len(data)
    assert fi["fileinfo"]["truncated"] is False
    assert fi["src_port"] == ev["src_port"]
    assert env.payload_path(sha).read_bytes() == data


# ---------------------------------------------------------------- TLS versions


VERSIONS = {"-tls1": "TLSv1", "-tls1_1": "TLSv1.1", "-tls1_2": "TLSv1.2"}


@pytest.mark.parametrize("flag", list(VERSIONS))
@pytest.mark.parametrize("sni", [None, "old.c2.botnet.example"])
def test_old_tls_versions_complete_with_alpn(env, flag, sni):
    """openssl s_client at one version, at security level 0 as old malware's TLS
    stacks are: the handshake completes whatever certificate the SNI picks,
    ALPN is answered, and the request inside is recorded."""
    name = f"tls{flag[1:].replace('_', '')}{'sni' if sni else 'nosni'}.c2.botnet.example"
    addr = env.resolve(name)
    path = f"/old{flag}-{'sni' if sni else 'nosni'}-{random.randrange(1 << 30)}"
    mark = env.mark()
    argv = ["timeout", "15", "openssl", "s_client", "-connect", f"{addr}:443", flag,
            "-cipher", "DEFAULT:@SECLEVEL=0", "-alpn", "http/1.1", "-ign_eof"]
    argv += ["-servername", sni] if sni else ["-noservername"]
    r = env.client(argv, input=f"GET {path} HTTP/1.0\r\nHost: {name}\r\n\r\n", timeout=20)
    out = r.stdout + r.stderr
    assert "alert" not in out, out[-2000:]
    assert re.search(r"Protocol\s*: " + re.escape(VERSIONS[flag]) + r"\n", out), out[-2000:]
    assert "ALPN protocol: http/1.1" in out, out[-2000:]
    assert "HTTP/1.1 200 OK" in out, out[-2000:]
    ev = env.wait_trap(dest_ip=addr, since=mark,
                       pred=lambda e: e.get("http", {}).get("url") == path)[0]
    assert ev["dest_port"] == 443
    assert ev["trap"]["tls"] is True
    assert ev["trap"]["domain"] == name
    assert ev["tls_session"]["version"] == VERSIONS[flag]
    assert ev["tls_session"]["alpn"] == "http/1.1"
    assert ev["tls"]["alpn"] == ["http/1.1"]
    if sni:
        assert ev["tls"]["sni"] == sni
    else:
        assert "sni" not in ev["tls"]
    assert ev["http"]["http_method"] == "GET"


def test_alpn_with_sni_at_the_newest_version(env):
    """The default handshake (TLS 1.3) with SNI: ALPN is negotiated too."""
    addr = env.resolve("alpn13.c2.botnet.example")
    mark = env.mark()
    r = env.client(["timeout", "15", "openssl", "s_client", "-connect", f"{addr}:443",
                    "-servername", "alpn13.c2.botnet.example", "-alpn", "h2,http/1.1"],
                   input="", timeout=20)
    assert "ALPN protocol: http/1.1" in r.stdout, r.stdout[-2000:] + r.stderr[-1000:]
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert ev["tls_session"]["alpn"] == "http/1.1"
    assert ev["tls"]["alpn"] == ["h2", "http/1.1"]


# ---------------------------------------------------------------- what failed is kept


def malformed_hello():
    """A ClientHello whose session id length (255) overruns it, shellcode-like body."""
    body = b"\x03\x03" + b"\x90" * 32 + b"\xff" + b"EXPLOIT-SHELLCODE-" * 40
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def test_malformed_client_hello_is_kept_with_the_reason(env):
    addr = env.resolve("badhello.drop.example")
    data = malformed_hello()
    mark = env.mark()
    lport, reply = send_and_drain(env, addr, 443, data)
    if reply:
        assert reply[0] == 0x15, reply[:16]  # an alert
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark)[0]
    t = ev["trap"]
    assert t["detected"] == "tls"
    assert t["end"] == "tls_failed"
    assert t["bytes_toserver"] == len(data)
    assert t["error"].startswith("ClientHello: "), t
    assert "TLS handshake: " in t["error"], t
    assert "tls" not in ev  # nothing to fingerprint
    assert_kept(env, ev, data, mark)


def test_failed_handshake_of_a_good_hello_is_kept(env):
    """A ClientHello that parses, then a handshake record where the client's next
    flight belongs that no TLS stack sends: the handshake fails, the
    fingerprint, the reason and the bytes are kept."""
    addr = env.resolve("badflight.drop.example")
    data = hello_with_sni(b"badflight.drop.example") + b"\x16\x03\x03\x00\x05" + b"\xee" * 5
    mark = env.mark()
    lport, _ = send_and_drain(env, addr, 443, data)
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark)[0]
    assert ev["trap"]["end"] == "tls_failed"
    assert ev["trap"]["error"].startswith("TLS handshake: "), ev["trap"]
    assert ev["tls"]["sni"] == "badflight.drop.example"
    assert_kept(env, ev, data, mark)


def test_overlong_ssh_identification_is_kept_without_empty_fields(env):
    """An identification line over 255 bytes (an overflow probe against SSH
    servers): no ssh{} object with empty fields, the reason, the bytes."""
    addr = env.resolve("sshlong.drop.example")
    data = b"SSH-2.0-" + b"A" * 400 + b"\r\n"
    mark = env.mark()
    lport, reply = send_and_drain(env, addr, 22, data)
    assert reply.startswith(b"SSH-2.0-"), reply[:64]
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark)[0]
    assert ev["app_proto"] == "ssh"
    assert ev["trap"]["end"] == "protocol_error"
    assert ev["trap"]["error"] == "SSH identification: identification line over 255 bytes"
    assert "ssh" not in ev, ev.get("ssh")
    assert_kept(env, ev, data, mark)


def test_ssh_with_a_broken_kexinit_keeps_the_identification_and_the_bytes(env):
    addr = env.resolve("sshkex.drop.example")
    kex = struct.pack(">IB", 12, 4) + bytes([20]) + b"\x00" * 10  # too short for KEXINIT
    data = b"SSH-2.0-Probe_1.0\r\n" + kex
    mark = env.mark()
    lport, _ = send_and_drain(env, addr, 22, data)
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark)[0]
    assert ev["trap"]["end"] == "ssh_recorded"
    assert ev["trap"]["error"].startswith("SSH KEXINIT: "), ev["trap"]
    assert ev["ssh"]["client"] == {"proto_version": "2.0", "software_version": "Probe_1.0"}
    assert_kept(env, ev, data, mark)


def dns_tcp_query(name, qid, qtype=1):
    body = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        body += bytes([len(label)]) + label.encode()
    body += b"\x00" + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(body)) + body


def test_dns_over_tcp_questions_are_recorded(env):
    """Two queries on one connection to any port (a tunnelling client's names):
    both answered, both in the event, the stream kept."""
    addr = env.resolve("dnstcp.drop.example")
    port = random.randint(20000, 60999)
    data = (dns_tcp_query("exfil-4142434445.tunnel.evil.example", 1) +
            dns_tcp_query("c2-dga-qwxzrt.evil.example", 2, qtype=28))
    mark = env.mark()
    lport, reply = send_and_drain(env, addr, port, data)
    assert len(reply) > 4, reply
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark)[0]
    assert ev["app_proto"] == "dns"
    assert ev["dns"]["rrname"] == "exfil-4142434445.tunnel.evil.example"
    assert ev["dns"]["rrtype"] == "A"
    assert ev["dns"]["query_count"] == 2
    assert ev["dns"]["queries"] == [
        {"rrname": "exfil-4142434445.tunnel.evil.example", "rrtype": "A"},
        {"rrname": "c2-dga-qwxzrt.evil.example", "rrtype": "AAAA"}]
    assert_kept(env, ev, data, mark)


def test_dig_over_tcp_question_is_recorded(env):
    """dig +tcp to a pool address on 53: the question is in the event, as a
    datagram's is."""
    addr = env.resolve("digtcp.drop.example")
    mark = env.mark()
    r = env.client(["dig", "+tcp", "+time=2", "+tries=1", f"@{addr}", "-p", "53",
                    "beacon.tunnel.example", "TXT"], timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 53)[0]
    assert ev["app_proto"] == "dns"
    assert ev["dns"] == {"rrname": "beacon.tunnel.example", "rrtype": "TXT"}
    assert ev["trap"]["payloads"], ev["trap"]


# ---------------------------------------------------------------- SNI


def hello_with_sni(sni):
    sn = struct.pack(">BH", 0, len(sni)) + sni
    ext_sni = struct.pack(">HH", 0, len(sn) + 2) + struct.pack(">H", len(sn)) + sn
    groups = struct.pack(">HHH", 10, 4, 2) + struct.pack(">H", 23)
    sig = struct.pack(">HHH", 13, 4, 2) + struct.pack(">H", 0x0401)
    exts = ext_sni + groups + sig
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + struct.pack(">H", 4) +
            b"\xc0\x2f\x00\x2f" + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def test_sni_with_a_nul_names_no_domain(env):
    """"paypal.com\\0.evil.example" to the trap's own address (no mapping):
    the domain is not "paypal.com", and the SNI is recorded escaped; a pool
    address keeps the domain it was handed out for."""
    mark = env.mark()
    lport, _ = send_and_drain(env, TRAP_IP, 443, hello_with_sni(b"paypal.com\x00.evil.example"))
    ev = env.wait_trap(dest_ip=TRAP_IP, src_port=lport, since=mark)[0]
    assert "domain" not in ev["trap"], ev["trap"]
    assert ev["tls"]["sni"] == "paypal.com\\x00.evil.example"
    # A name that is one still names the domain, lower-cased.
    mark = env.mark()
    lport, _ = send_and_drain(env, TRAP_IP, 443, hello_with_sni(b"Clean.Evil.Example"))
    ev = env.wait_trap(dest_ip=TRAP_IP, src_port=lport, since=mark)[0]
    assert ev["trap"]["domain"] == "clean.evil.example"
    assert ev["trap"]["domain_source"] == "tls_sni"
    # An address is no domain.
    mark = env.mark()
    lport, _ = send_and_drain(env, TRAP_IP, 443, hello_with_sni(b"192.0.2.1"))
    ev = env.wait_trap(dest_ip=TRAP_IP, src_port=lport, since=mark)[0]
    assert "domain" not in ev["trap"], ev["trap"]
    assert ev["tls"]["sni"] == "192.0.2.1"
    # To a pool address, the domain is the one the address was handed out for.
    addr = env.resolve("mapped-nul.drop.example")
    mark = env.mark()
    lport, _ = send_and_drain(env, addr, 443, hello_with_sni(b"paypal.com\x00.evil.example"))
    ev = env.wait_trap(dest_ip=addr, src_port=lport, since=mark)[0]
    assert ev["trap"]["domain"] == "mapped-nul.drop.example"
    assert ev["trap"]["domain_source"] == "sinkhole_map"

