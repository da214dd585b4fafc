"""A packet capture on one interface of a namespace, read back with tshark.

An AF_PACKET socket opened inside the namespace sees every frame of the
interface, both directions, from the moment it is opened; tshark then reads
the saved file, so fingerprints (JA3) come from an implementation other than
the product's.
"""

import socket
import struct
import subprocess
import time

ETH_P_ALL = 0x0003


class Capture:
    def __init__(self, ns_ctx, ifname):
        with ns_ctx:
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self.s.bind((ifname, 0))
        self.s.setblocking(False)
        self.frames = []

    def drain(self):
        while True:
            try:
                self.frames.append((time.time(), self.s.recv(65535)))
            except BlockingIOError:
                return self.frames

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, path):
        self.drain()
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for ts, fr in self.frames:
                sec = int(ts)
                f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(fr), len(fr)))
                f.write(fr)
        return path


def tshark_fields(pcap, display_filter, fields, decode_as=()):
    argv = ["tshark", "-n", "-r", str(pcap), "-Y", display_filter, "-T", "fields"]
    for d in decode_as:
        argv += ["-d", d]
    for f in fields:
        argv += ["-e", f]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]
