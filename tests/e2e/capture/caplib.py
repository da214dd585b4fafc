"""Helpers of the capture suite: pcap reading, tshark, sinktrap's capture commands,
and network namespaces with a veth pair (all removed again, whatever happens)."""

import itertools
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import harness

PCAPS = harness.pcaps_dir()
ATTACK = PCAPS / "honeynet_fc2010-1_attack-trace.pcap"
CAPTURES = {
    # file: what it is (SOURCES.md)
    "honeynet_fc2010-1_attack-trace.pcap": "attack on a honeypot",
    "ek_to_cryptowall4.pcapng": "exploit kit to ransomware",
    "cryptowall4_c2.pcapng": "malware C2",
    "http_espn.pcapng": "ordinary browsing",
    "evilfingers_xscan_capture.pcap": "vulnerability scanner",
    "synscan.pcapng": "SYN scan",
    "capture-Thu-11-24-16-10-28-11_cerber.pcap": "Cerber (pcapng named .pcap)",
    "macgyver.pcap": "mixed LAN with IPv6 (pcapng named .pcap)",
    "dns_tcp.pcapng": "DNS over TCP",
    "http_ip4and6.pcapng": "dual stack",
}
LONG = "24h"  # flow timeouts that never split a session of these captures


def run(argv, timeout=120, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({r.returncode}):\n"
                             f"{r.stdout[-3000:]!r}\n{r.stderr[-3000:]!r}")
    return r


# ---------------------------------------------------------------- pcap files


def read_pcap(data):
    """Classic pcap bytes (either byte order, usec or nsec) -> [(ts_ns, origlen, bytes)]."""
    if isinstance(data, (str, Path)):
        data = Path(data).read_bytes()
    assert len(data) >= 24, "not a pcap file"
    magic = data[:4]
    table = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
             b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
    assert magic in table, f"not a classic pcap (magic {magic.hex()})"
    e, mul = table[magic]
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, origlen = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + caplen]
        assert len(pkt) == caplen, "truncated record"
        out.append((sec * 1_000_000_000 + frac * mul, origlen, pkt))
        off += 16 + caplen
    return out


def usec(pkts):
    """The same packets with times to the microsecond (what tshark -F pcap keeps)."""
    return [(ts // 1000, ol, b) for ts, ol, b in pkts]


# ---------------------------------------------------------------- tshark


def tshark(*args, timeout=120):
    r = run(["tshark", *args], timeout=timeout)
    return r.stdout.decode(errors="replace")


def tshark_select(path, display_filter, out):
    """The packets tshark -Y selects, written as classic pcap and read back."""
    run(["tshark", "-r", path, "-Y", display_filter, "-F", "pcap", "-w", out])
    return read_pcap(out)


def five_tuple_filter(s):
    """tshark display filter of a session's 5-tuple (either direction)."""
    v = "ipv6" if ":" in s["src_ip"] else "ip"
    f = (f"{v}.addr=={s['src_ip']} && {v}.addr=={s['dest_ip']}")
    proto = s["proto"].lower()
    if proto in ("tcp", "udp"):
        f += (f" && {proto}.port=={s['src_port']} && {proto}.port=={s['dest_port']}"
              f" && !icmp && !icmpv6")
    return f


def conversations(path):
    """tshark -z conv,tcp -z conv,udp: {proto: {frozenset of two (addr, port)}:
    [(frames, bytes as printed)]}."""
    text = tshark("-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp")
    convs = {"tcp": {}, "udp": {}}
    cur = None
    pat = re.compile(r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+)\s+(\d+ \S+)\s+(\d+)\s+(\d+ \S+)"
                     r"\s+(\d+)\s+(\d+ \S+)")
    for line in text.splitlines():
        if line.startswith("TCP Conversations"):
            cur = convs["tcp"]
        elif line.startswith("UDP Conversations"):
            cur = convs["udp"]
        m = pat.match(line)
        if m and cur is not None:
            a, pa, b, pb, _, _, _, _, frames, size = m.groups()
            k = frozenset([(a, int(pa)), (b, int(pb))])
            cur.setdefault(k, []).append((int(frames), size))
    return convs


def frames(path):
    """One tshark pass: {proto: {conversation: exact frame bytes}} (conv rounds to kB),
    and {community id: frames} as tshark's Community ID computes them."""
    text = tshark("-r", path, "--enable-protocol", "communityid", "-T", "fields",
                  "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
                  "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport",
                  "-e", "udp.dstport", "-e", "frame.len", "-e", "icmp.type", "-e", "icmpv6.type",
                  "-e", "communityid")
    agg = {"tcp": {}, "udp": {}}
    cids = {}
    for line in text.splitlines():
        f = line.split("\t")
        for cid in filter(None, f[11].split(",")):
            cids[cid] = cids.get(cid, 0) + 1
        s, d = f[0] or f[1], f[2] or f[3]
        if "," in s or "," in d or f[9] or f[10]:
            continue  # tunnels and ICMP errors: more than one header
        for proto, i in (("tcp", 4), ("udp", 6)):
            if f[i] and "," not in f[i]:
                k = frozenset([(s, int(f[i])), (d, int(f[i + 1]))])
                agg[proto][k] = agg[proto].get(k, 0) + int(f[8])
    return agg, cids


# ---------------------------------------------------------------- sinktrap


def capture_conf(extra=None, dns=False, timeouts=None):
    """Sinktrap sections for the capture commands (no DNS worker unless asked)."""
    conf = {"capture": {}}
    if not dns:
        conf["dns"] = {"enabled": "no"}
    if timeouts:
        conf["capture"].update({k: timeouts for k in (
            "tcp_timeout", "tcp_new_timeout", "tcp_closed_timeout", "udp_timeout",
            "other_timeout")})
    for sec, kv in (extra or {}).items():
        conf.setdefault(sec, {}).update(kv)
    return conf


def cmd(st, *args, check=True, timeout=120):
    """`sinktrap CMD -c CONF ARGS` with bytes output."""
    st.write_conf()
    argv = [st.bin, args[0], "-c", st.conf_path, *args[1:]]
    return run(argv, check=check, timeout=timeout)


def ingest(st, *files, check=True):
    return cmd(st, "ingest", *files, check=check)


def sessions(st, *args):
    r = cmd(st, "sessions", "--json", "--limit", "0", *args)
    return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def pcap(st, *args, check=True):
    """`sinktrap pcap ... -w -`: the packets, parsed."""
    r = cmd(st, "pcap", *args, "-w", "-", check=check)
    return r


def spool(st):
    return st.state_dir / "pcap"


def spool_files(st):
    return sorted(p.name for p in spool(st).iterdir()
                  if p.name.startswith("sinktrap-") and not p.name.endswith((".idx", ".tmp")))


# ---------------------------------------------------------------- namespaces

_seq = itertools.count(1)


class Veth:
    """A network namespace joined to this one by a veth pair.

    Host side HOST_IP/24 on `host_if`; the namespace side NS_IP on `ns_if`.
    Every namespace, link and process made here goes in close().
    """

    def __init__(self, prefix="stc"):
        n = next(_seq)
        tag = f"{os.getpid() % 10000}{n}"
        self.ns = f"{prefix}-{tag}"
        self.host_if = f"{prefix}h{tag}"[:15]
        self.ns_if = f"{prefix}n{tag}"[:15]
        octet = (os.getpid() + n) % 200 + 20
        self.host_ip = f"10.231.{octet}.1"
        self.ns_ip = f"10.231.{octet}.2"
        self.procs = []
        try:
            self._ip("netns", "add", self.ns)
            self._ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            self._ip("link", "set", self.ns_if, "netns", self.ns)
            self._ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            self._ip("link", "set", self.host_if, "up")
            self.ns_run("ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if)
            self.ns_run("ip", "link", "set", self.ns_if, "up")
            self.ns_run("ip", "link", "set", "lo", "up")
            self.ns_run("ip", "route", "add", "default", "via", self.host_ip)
            # IPv6 router solicitations and the like stay out of the way
            for d in (self.host_if,):
                run(["sysctl", "-qw", f"net.ipv6.conf.{d}.disable_ipv6=1"], check=False)
            self.ns_run("sysctl", "-qw", f"net.ipv6.conf.{self.ns_if}.disable_ipv6=1",
                        check=False)
        except BaseException:
            self.close()
            raise

    def _ip(self, *args):
        return run(["ip", *args])

    def ns_run(self, *argv, check=True, timeout=60):
        return run(["ip", "netns", "exec", self.ns, *argv], check=check, timeout=timeout)

    def ns_popen(self, *argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns, *map(str, argv)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        self.procs = []
        run(["ip", "link", "del", self.host_if], check=False)
        run(["ip", "netns", "del", self.ns], check=False)


def have(*tools):
    return all(shutil.which(t) for t in tools)
