#!/usr/bin/env python3
"""Regenerate ssh_vectors.inc: what real SSH clients send first.

A tiny listener on 127.0.0.1 plays an OpenSSH server: it sends the banner
"SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n" and a KEXINIT, then records the
client's identification line and its KEXINIT packet and hangs up. Clients:
the OpenSSH client (several option sets) and libssh2 (through curl's sftp://).
tshark captures the same connections on lo; its `ssh.kex.hassh` and
`ssh.kex.hassh_algorithms` are the expected HASSH values.

Needs: ssh (openssh-client), curl built with libssh2, tshark.
Usage: capture_ssh.py [OUTPUT]   (default: ssh_vectors.inc beside this file)
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_PORT = 44420
SERVER_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-F", "/dev/null"]
CLIENTS = [
    ("openssh", ["ssh", "-p", "{port}"] + SSH_OPTS + ["trap@127.0.0.1", "true"],
     "ssh -p PORT trap@127.0.0.1 (OpenSSH client defaults)"),
    ("openssh_opts", ["ssh", "-p", "{port}", "-C", "-c", "aes256-gcm@openssh.com",
                      "-m", "hmac-sha2-512-etm@openssh.com", "-o",
                      "KexAlgorithms=curve25519-sha256", "-o",
                      "HostKeyAlgorithms=ssh-ed25519"] + SSH_OPTS
     + ["trap@127.0.0.1", "true"],
     "ssh -C -c aes256-gcm@openssh.com -m hmac-sha2-512-etm@openssh.com"
     " -o KexAlgorithms=curve25519-sha256 -o HostKeyAlgorithms=ssh-ed25519"),
    ("libssh2", ["curl", "-s", "-m", "3", "-k", "sftp://127.0.0.1:{port}/x"],
     "curl sftp://127.0.0.1:PORT/x (libssh2)"),
]


def name_list(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


def server_kexinit():
    payload = bytes([20]) + os.urandom(16)
    for s in ["sntrup761x25519-sha512@openssh.com,curve25519-sha256,"
              "curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ext-info-s",
              "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
              "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
              "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
              "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
              "hmac-sha2-512-etm@openssh.com,hmac-sha2-256",
              "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
              "hmac-sha2-512-etm@openssh.com,hmac-sha2-256",
              "none,zlib@openssh.com", "none,zlib@openssh.com", "", ""]:
        payload += name_list(s)
    payload += b"\x00" + b"\x00\x00\x00\x00"
    pad = 8 - (5 + len(payload)) % 8
    if pad < 4:
        pad += 8
    return struct.pack(">IB", 1 + len(payload) + pad, pad) + payload + bytes(pad)


def client_bytes(conn):
    """Read the identification line and one binary packet after it."""
    data = b""
    conn.settimeout(5)
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
        nl = data.find(b"\n")
        if nl < 0 or len(data) < nl + 5:
            continue
        plen = struct.unpack(">I", data[nl + 1:nl + 5])[0]
        if len(data) >= nl + 5 + plen:
            return data[:nl + 5 + plen]


def listen():
    for port in range(BASE_PORT, BASE_PORT + 40):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen(4)
        return s, port
    raise SystemExit("no free port")


def c_hex(h, indent="\t\t"):
    return "\n".join('%s"%s"' % (indent, h[i:i + 64]) for i in range(0, len(h), 64))


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "ssh_vectors.inc")
    work = tempfile.mkdtemp(prefix="sinktrap-sshvec-")
    pcap = os.path.join(work, "ssh.pcap")
    lsock, port = listen()
    cap = subprocess.Popen(["tshark", "-i", "lo", "-f", "tcp port %d" % port, "-w", pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    got = []
    try:
        for name, argv, comment in CLIENTS:
            result = {}

            def serve():
                conn, _ = lsock.accept()
                conn.sendall(SERVER_BANNER + server_kexinit())
                result["data"] = client_bytes(conn)
                time.sleep(0.2)
                conn.close()
            t = threading.Thread(target=serve)
            t.start()
            subprocess.run([a.replace("{port}", str(port)) for a in argv],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=15)
            t.join()
            got.append((name, comment, result["data"]))
            time.sleep(0.3)
        time.sleep(1.5)
    finally:
        cap.terminate()
        cap.wait()
        lsock.close()

    cmd = ["tshark", "-r", pcap, "-d", "tcp.port==%d,ssh" % port, "-Y",
           "ssh.kex.hassh && tcp.dstport == %d" % port, "-T", "fields", "-E",
           "separator=|", "-e", "tcp.stream", "-e", "ssh.protocol", "-e", "ssh.kex.hassh",
           "-e", "ssh.kex.hassh_algorithms"]
    rows = {}
    for line in subprocess.run(cmd, capture_output=True, text=True,
                               check=True).stdout.splitlines():
        stream, proto, hassh, algs = line.split("|")
        rows.setdefault(int(stream), (hassh, algs))
    protos = {}
    cmd = ["tshark", "-r", pcap, "-d", "tcp.port==%d,ssh" % port, "-Y",
           "ssh.protocol && tcp.dstport == %d" % port, "-T", "fields", "-E",
           "separator=|", "-e", "tcp.stream", "-e", "ssh.protocol"]
    for line in subprocess.run(cmd, capture_output=True, text=True,
                               check=True).stdout.splitlines():
        stream, proto = line.split("|", 1)
        protos.setdefault(int(stream), proto)

    ver = subprocess.run(["tshark", "--version"], capture_output=True,
                         text=True).stdout.splitlines()[0]
    sshv = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    with open(out_path, "w") as fp:
        fp.write("/*\n * Generated by capture_ssh.py: SSH clients' first bytes on lo.\n")
        fp.write(" * %s\n * %s\n" % (ver, sshv))
        fp.write(" * hassh/hassh_string: tshark's ssh.kex.hassh / ssh.kex.hassh_algorithms;\n")
        fp.write(" * banner: tshark's ssh.protocol for the client.\n */\n")
        for i, (name, comment, data) in enumerate(got):
            hassh, algs = rows[i]
            nl = data.find(b"\n")
            fp.write("/* %s */\n{\n" % comment)
            fp.write('\t.name = "%s",\n' % name)
            fp.write("\t.hex =\n%s,\n" % c_hex(data.hex()))
            fp.write('\t.banner = "%s",\n' % protos[i])
            fp.write("\t.banner_len = %d,\n" % (nl + 1))
            fp.write('\t.hassh = "%s",\n' % hassh)
            fp.write('\t.hassh_string = "%s",\n' % algs)
            fp.write("},\n")
            with open(os.path.join(work, name + ".bin"), "wb") as b:
                b.write(data)
    print("wrote %s (%d vectors); raw files in %s" % (out_path, len(got), work))


if __name__ == "__main__":
    main()
