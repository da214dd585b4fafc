#!/usr/bin/env python3
"""Regenerate tls_vectors.inc: real ClientHellos captured on loopback.

Each vector is the first client-to-server TCP payload of a real client
(openssl s_client, curl) talking to `openssl s_server` on 127.0.0.1,
captured with tshark on lo. The expected JA3 string and hash are tshark's
own (`tls.handshake.ja3_full`, `tls.handshake.ja3`). tshark 4.0 has no JA4,
so the expected JA4 is computed here from the fields tshark dissected,
following the FoxIO specification (technical_details/JA4.md), independently
of the C code under test.

One more vector ("grease") is a real hello rewritten to carry GREASE values
(RFC 8701) the way browsers do; it is sent over loopback to a plain listener
so that tshark computes its JA3 too.

Needs: openssl, curl, tshark (Debian: apt-get install -y tshark), root or
the wireshark group for capturing on lo.

Usage: capture_tls.py [OUTPUT]   (default: tls_vectors.inc beside this file)
"""
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

PORT = 44330
RAW_PORT = 44339
HERE = os.path.dirname(os.path.abspath(__file__))

# (name, argv, comment). {port} is replaced. stdin is /dev/null.
CLIENTS = [
    ("openssl_sni", ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                     "-servername", "x.example"],
     "openssl s_client -connect 127.0.0.1:PORT -servername x.example"),
    ("openssl_alpn", ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                      "-servername", "x.example", "-alpn", "h2,http/1.1"],
     "openssl s_client ... -servername x.example -alpn h2,http/1.1"),
    ("openssl_tls12", ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                       "-servername", "x.example", "-tls1_2"],
     "openssl s_client ... -servername x.example -tls1_2"),
    ("openssl_nosni", ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                       "-noservername"],
     "openssl s_client ... -noservername"),
    ("openssl_split", ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                       "-servername", "split-record.example",
                       "-cipher", "ALL:COMPLEMENTOFALL:@SECLEVEL=0",
                       "-alpn", "h2,http/1.1,spdy/3.1,acme-tls/1,imap,pop3,"
                       "managesieve,ftp,xmpp-client,xmpp-server",
                       "-max_send_frag", "512"],
     "openssl s_client ... -cipher ALL:COMPLEMENTOFALL:@SECLEVEL=0 -alpn <10 names>"
     " -max_send_frag 512: the hello spans two records (512 + rest)"),
    ("curl_sni", ["curl", "-sk", "-m", "3", "--resolve",
                  "x.example:{port}:127.0.0.1", "https://x.example:{port}/"],
     "curl -sk --resolve x.example:PORT:127.0.0.1 https://x.example:PORT/"),
    ("curl_ip", ["curl", "-sk", "-m", "3", "https://127.0.0.1:{port}/"],
     "curl -sk https://127.0.0.1:PORT/ (no SNI for an IP literal)"),
    ("curl_tls12", ["curl", "-sk", "-m", "3", "--tlsv1.2", "--tls-max", "1.2",
                    "--http1.1", "--resolve", "x.example:{port}:127.0.0.1",
                    "https://x.example:{port}/"],
     "curl -sk --tlsv1.2 --tls-max 1.2 --http1.1 https://x.example:PORT/"),
]

FIELDS = [
    "tcp.stream", "tcp.dstport", "tls.handshake.ja3_full", "tls.handshake.ja3",
    "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
    "tls.handshake.version", "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite", "tls.handshake.extension.type",
    "tls.handshake.sig_hash_alg", "tls.record.version",
]


def grease(v):
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def ja4_from_fields(f):
    """JA4 and JA4_r from tshark's dissection, per the FoxIO spec."""
    ints = lambda key: [int(x, 0) for x in f[key].split(",") if x]
    ciphers = [c for c in ints("tls.handshake.ciphersuite") if not grease(c)]
    exts = [e for e in ints("tls.handshake.extension.type") if not grease(e)]
    assert 50 not in exts, "signature_algorithms_cert would confuse sig_hash_alg"
    sigs = [s for s in ints("tls.handshake.sig_hash_alg") if not grease(s)]
    vers = [v for v in ints("tls.handshake.extensions.supported_version") if not grease(v)]
    ver = max(vers) if vers else int(f["tls.handshake.version"], 0)
    vcode = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10",
             0x0300: "s3", 0x0002: "s2"}.get(ver, "00")
    alpns = [a for a in f["tls.handshake.extensions_alpn_str"].split(",") if a]
    a = "00"
    if alpns:
        s = alpns[0].encode()
        if s[:1].isalnum() and s[-1:].isalnum():
            a = chr(s[0]) + chr(s[-1])
        else:
            a = s.hex()[0] + s.hex()[-1]
    part_a = "t%s%s%02d%02d%s" % (vcode, "d" if 0 in exts else "i",
                                 min(len(ciphers), 99), min(len(exts), 99), a)
    cs = ",".join("%04x" % c for c in sorted(ciphers))
    es = ",".join("%04x" % e for e in sorted(exts) if e not in (0, 16))
    if sigs:
        es += "_" + ",".join("%04x" % s for s in sigs)
    h = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"
    return "%s_%s_%s" % (part_a, h(cs), h(es)), "%s_%s_%s" % (part_a, cs, es)


def tshark_fields(pcap, port):
    cmd = ["tshark", "-r", pcap, "-d", "tcp.port==%d,tls" % port, "-Y",
           "tls.handshake.type == 1 && tcp.dstport == %d" % port, "-T", "fields", "-E", "separator=|",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in FIELDS:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        vals = dict(zip(FIELDS, line.split("|")))
        rows.setdefault(int(vals["tcp.stream"]), vals)
    return rows


def first_payloads(pcap, port):
    cmd = ["tshark", "-r", pcap, "-Y", "tcp.dstport == %d && tcp.len > 0" % port,
           "-T", "fields", "-E", "separator=|", "-e", "tcp.stream", "-e", "tcp.payload"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    first = {}
    for line in out.splitlines():
        stream, payload = line.split("|")
        first.setdefault(int(stream), payload.replace(":", ""))
    return first


def add_grease(hello):
    """Rewrite one TLS record holding a ClientHello to carry GREASE values."""
    rec = bytearray(hello)
    assert rec[0] == 0x16 and len(rec) == 5 + int.from_bytes(rec[3:5], "big")
    body = bytes(rec[9:])
    p = 0
    out = bytearray(body[:34])
    p = 34
    sid = body[p]
    out += body[p:p + 1 + sid]
    p += 1 + sid
    n = int.from_bytes(body[p:p + 2], "big")
    ciphers = b"\x3a\x3a" + body[p + 2:p + 2 + n]
    out += len(ciphers).to_bytes(2, "big") + ciphers
    p += 2 + n
    out += body[p:p + 1 + body[p]]
    p += 1 + body[p]
    elen = int.from_bytes(body[p:p + 2], "big")
    p += 2
    exts = bytearray(b"\xda\xda\x00\x00")  # leading empty GREASE extension
    end = p + elen
    while p < end:
        t = int.from_bytes(body[p:p + 2], "big")
        ln = int.from_bytes(body[p + 2:p + 4], "big")
        data = body[p + 4:p + 4 + ln]
        p += 4 + ln
        if t == 0x000A:  # supported_groups: GREASE first
            data = (len(data)).to_bytes(2, "big") + b"\x8a\x8a" + data[2:]
        elif t == 0x002B:  # supported_versions: GREASE first
            data = bytes([data[0] + 2]) + b"\x7a\x7a" + data[1:]
        elif t == 0x0033:  # key_share: a 1-byte GREASE share first
            share = b"\x8a\x8a\x00\x01\x00"
            data = (int.from_bytes(data[:2], "big") + len(share)).to_bytes(2, "big") \
                + share + data[2:]
        exts += t.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    exts += b"\x1a\x1a\x00\x01\x00"  # trailing 1-byte GREASE extension
    out += len(exts).to_bytes(2, "big") + exts
    hs = b"\x01" + len(out).to_bytes(3, "big") + out
    return bytes(rec[:3]) + len(hs).to_bytes(2, "big") + hs


def raw_listener():
    """A listening socket on the first free port of a small loopback range."""
    for port in range(RAW_PORT, RAW_PORT + 20):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen(1)
        return s, port
    raise SystemExit("no free port for the raw listener")


def c_hex(h, indent="\t\t"):
    lines = [h[i:i + 64] for i in range(0, len(h), 64)]
    return "\n".join('%s"%s"' % (indent, ln) for ln in lines)


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "tls_vectors.inc")
    work = tempfile.mkdtemp(prefix="sinktrap-tlsvec-")
    key, crt = os.path.join(work, "srv.key"), os.path.join(work, "srv.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=x.example"], check=True,
                   capture_output=True)
    pcap = os.path.join(work, "tls.pcap")
    lsock, raw_port = raw_listener()
    server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % PORT,
                               "-cert", crt, "-key", key, "-www", "-quiet"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    cap = subprocess.Popen(["tshark", "-i", "lo", "-f", "tcp port %d or tcp port %d"
                            % (PORT, raw_port), "-w", pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    try:
        for _, argv, _ in CLIENTS:
            argv = [a.replace("{port}", str(PORT)) for a in argv]
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
            time.sleep(0.3)
        # The GREASE vector goes to a listener that only reads.
        time.sleep(0.5)
        first = first_payloads(pcap, PORT)
        base = bytes.fromhex(first[1])  # openssl_alpn
        greased = add_grease(base)

        def sink():
            c, _ = lsock.accept()
            c.recv(65536)
            time.sleep(0.3)
            c.close()
        t = threading.Thread(target=sink)
        t.start()
        c = socket.create_connection(("127.0.0.1", raw_port))
        c.sendall(greased)
        t.join()
        c.close()
        lsock.close()
        time.sleep(1.5)
    finally:
        cap.terminate()
        cap.wait()
        server.terminate()
        server.wait()

    rows = tshark_fields(pcap, PORT)
    first = first_payloads(pcap, PORT)
    grows = tshark_fields(pcap, raw_port)
    gfirst = first_payloads(pcap, raw_port)
    vectors = []
    for i, (name, _, comment) in enumerate(CLIENTS):
        vectors.append((name, comment, first[i], rows[i]))
    gs = min(grows)
    vectors.append(("grease", "openssl_alpn rewritten with GREASE cipher, extensions "
                    "(empty first, 1-byte last), group, version and key share; "
                    "sent raw to a listener", gfirst[gs], grows[gs]))

    ver = subprocess.run(["tshark", "--version"], capture_output=True,
                         text=True).stdout.splitlines()[0]
    ossl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    curl = subprocess.run(["curl", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]
    with open(out_path, "w") as fp:
        fp.write("/*\n * Generated by capture_tls.py: real ClientHellos captured on lo.\n")
        fp.write(" * %s\n * %s\n * %s\n" % (ver, ossl, curl))
        fp.write(" * ja3/ja3_hash: tshark's tls.handshake.ja3_full / tls.handshake.ja3.\n")
        fp.write(" * ja4/ja4_r: computed by capture_tls.py from tshark's dissection.\n */\n")
        for name, comment, hexbytes, f in vectors:
            ja4, ja4_r = ja4_from_fields(f)
            alpn = f["tls.handshake.extensions_alpn_str"]
            fp.write("/* %s */\n{\n" % comment)
            fp.write('\t.name = "%s",\n' % name)
            fp.write("\t.hex =\n%s,\n" % c_hex(hexbytes))
            fp.write('\t.sni = "%s",\n' % f["tls.handshake.extensions_server_name"])
            fp.write('\t.alpn = "%s",\n' % alpn)
            fp.write('\t.ja3 = "%s",\n' % f["tls.handshake.ja3_full"])
            fp.write('\t.ja3_hash = "%s",\n' % f["tls.handshake.ja3"])
            fp.write('\t.ja4 = "%s",\n' % ja4)
            fp.write('\t.ja4_r = "%s",\n' % ja4_r)
            fp.write("},\n")
            with open(os.path.join(work, name + ".bin"), "wb") as b:
                b.write(bytes.fromhex(hexbytes))
    print("wrote %s (%d vectors); raw files in %s" % (out_path, len(vectors), work))


if __name__ == "__main__":
    main()
