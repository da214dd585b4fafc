#!/usr/bin/python3
"""A reproducible capture for the benchmark's spool: one large TCP session
(a host downloading MB megabytes from a sinkholed address) among small ones.

    genpcap.py OUT.pcap [--mb 48] [--small 300]"""

import argparse
import random
import struct

START = 1793491200  # 2026-10-31T00:00:00Z


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def packet(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, ip4(src),
                      ip4(dst))
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + iph + tcp


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def write(self, t_us, data):
        self.f.write(struct.pack("<IIII", t_us // 1000000, t_us % 1000000, len(data), len(data)))
        self.f.write(data)


def session(out, t, cli, srv, sport, dport, down_bytes, up=b"GET / HTTP/1.1\r\n\r\n"):
    """A whole TCP session; returns the time after it."""
    SYN, ACK, PSH, FIN = 2, 16, 8, 1
    cs, ss = 1000, 5000
    out.append((t, packet(cli, srv, sport, dport, cs, 0, SYN)))
    out.append((t + 100, packet(srv, cli, dport, sport, ss, cs + 1, SYN | ACK)))
    out.append((t + 200, packet(cli, srv, sport, dport, cs + 1, ss + 1, ACK)))
    out.append((t + 300, packet(cli, srv, sport, dport, cs + 1, ss + 1, PSH | ACK, up)))
    cs += 1 + len(up)
    ss += 1
    t += 400
    sent = 0
    chunk = bytes(range(256)) * 6
    while sent < down_bytes:
        n = min(1448, down_bytes - sent)
        out.append((t, packet(srv, cli, dport, sport, ss, cs, ACK, chunk[:n])))
        ss += n
        sent += n
        t += 20
        if sent % (1448 * 8) == 0:
            out.append((t, packet(cli, srv, sport, dport, cs, ss, ACK)))
    out.append((t + 10, packet(srv, cli, dport, sport, ss, cs, FIN | ACK)))
    out.append((t + 20, packet(cli, srv, sport, dport, cs, ss + 1, FIN | ACK)))
    out.append((t + 30, packet(srv, cli, dport, sport, ss + 1, cs + 1, ACK)))
    return t + 40


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--mb", type=int, default=48)
    ap.add_argument("--small", type=int, default=300)
    a = ap.parse_args()
    R = random.Random(7)
    pkts = []
    t = START * 1000000
    for i in range(a.small):
        t = session(pkts, t + R.randint(1000, 200000), "10.1.%d.%d" % (i // 250, i % 250 + 1),
                    "10.66.0.%d" % (i % 200 + 1), 30000 + i, R.choice([80, 8080, 443]),
                    R.randint(100, 20000))
    session(pkts, t + 1000, "10.1.200.1", "10.66.0.1", 40000, 80, a.mb * 1000000)
    pkts.sort(key=lambda p: p[0])
    w = Writer(a.out)
    for ts, data in pkts:
        w.write(ts, data)
    w.f.close()


if __name__ == "__main__":
    main()
