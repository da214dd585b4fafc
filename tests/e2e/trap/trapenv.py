"""Helpers of the trap suite (see conftest.py): namespaces, the trap in them, events."""

import contextlib
import ctypes
import hashlib
import itertools
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.query
import dns.rcode

import harness

DATA = Path(__file__).resolve().parent / "data"

CLIENT_IP, TRAP_IP, TRAP_OUT_IP, OUTSIDE_IP = "10.99.0.1", "10.99.0.2", "10.98.0.1", "10.98.0.2"
CLIENT_IP6, TRAP_IP6 = "fd99::1", "fd99::2"
CLIENT_IP_B = "10.99.0.3"  # a second source address on the client
POOL4, POOL6 = "10.66.0.0/16", "fd66::/64"
UPSTREAM_PORT = 5399
REDIRECT_PORT, TPROXY_PORT = 10000, 10001

TOOLS = ("ip", "nft", "curl", "openssl", "swaks", "nmap", "ssh", "dig", "dnsmasq", "tshark")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_topo_seq = itertools.count(1)
NS_RE = re.compile(r"^stt-(\d+)-\d+-(client|trap|outside)$")


# ---------------------------------------------------------------- commands


def run(argv, timeout=30, check=False, input=None):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                       input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


@contextlib.contextmanager
def netns(name):
    """Run the body in network namespace `name` (this thread only).

    Sockets made inside belong to that namespace for their whole life, so
    they may be used after the block too.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns {name}: {os.strerror(e)}")
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    # Never go on in the wrong namespace.
                    os._exit(99)
        finally:
            os.close(target)
    finally:
        os.close(own)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _ns_kill_all(name):
    """Kill what still runs in one of our namespaces (only our processes live there)."""
    r = run(["ip", "netns", "pids", name])
    for p in r.stdout.split():
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _ns_delete(name):
    _ns_kill_all(name)
    for _ in range(50):
        if run(["ip", "netns", "pids", name]).stdout.strip() == "":
            break
        time.sleep(0.1)
    run(["ip", "netns", "del", name])


def remove_stale_namespaces():
    """Namespaces left by an earlier run of this suite that was killed."""
    for line in run(["ip", "netns", "list"]).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NS_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _ns_delete(name)


# ---------------------------------------------------------------- topology


class Topology:
    def __init__(self):
        n = next(_topo_seq)
        pid = os.getpid()
        self.prefix = f"stt-{pid}-{n}-"
        self.client = self.prefix + "client"
        self.trap = self.prefix + "trap"
        self.outside = self.prefix + "outside"
        tag = f"st{pid}x{n}"  # veth names stay within 15 characters
        self.v_client, self.v_trap_c = tag + "c", tag + "t"
        self.v_trap_o, self.v_outside = tag + "u", tag + "o"
        self.made = []

    def up(self):
        try:
            for ns in (self.client, self.trap, self.outside):
                run(["ip", "netns", "add", ns], check=True)
                self.made.append(ns)
                run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            c, t, o = self.client, self.trap, self.outside
            cmds = [
                ["ip", "link", "add", self.v_client, "netns", c, "type", "veth", "peer", "name",
                 self.v_trap_c, "netns", t],
                ["ip", "link", "add", self.v_trap_o, "netns", t, "type", "veth", "peer", "name",
                 self.v_outside, "netns", o],
                ["ip", "-n", c, "addr", "add", f"{CLIENT_IP}/24", "dev", self.v_client],
                ["ip", "-n", c, "addr", "add", f"{CLIENT_IP_B}/24", "dev", self.v_client],
                ["ip", "-n", c, "addr", "add", f"{CLIENT_IP6}/64", "dev", self.v_client, "nodad"],
                ["ip", "-n", t, "addr", "add", f"{TRAP_IP}/24", "dev", self.v_trap_c],
                ["ip", "-n", t, "addr", "add", f"{TRAP_IP6}/64", "dev", self.v_trap_c, "nodad"],
                ["ip", "-n", t, "addr", "add", f"{TRAP_OUT_IP}/24", "dev", self.v_trap_o],
                ["ip", "-n", o, "addr", "add", f"{OUTSIDE_IP}/24", "dev", self.v_outside],
                ["ip", "-n", c, "link", "set", self.v_client, "up"],
                ["ip", "-n", t, "link", "set", self.v_trap_c, "up"],
                ["ip", "-n", t, "link", "set", self.v_trap_o, "up"],
                ["ip", "-n", o, "link", "set", self.v_outside, "up"],
                ["ip", "-n", c, "route", "add", POOL4, "via", TRAP_IP, "src", CLIENT_IP],
                ["ip", "-n", c, "-6", "route", "add", POOL6, "via", TRAP_IP6],
            ]
            for cmd in cmds:
                run(cmd, check=True)
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        for ns in reversed(self.made):
            _ns_delete(ns)
        self.made = []

    def exec(self, ns, argv, timeout=30, check=False, input=None):
        return run(["ip", "netns", "exec", ns] + [str(a) for a in argv], timeout=timeout,
                   check=check, input=input)

    def ns(self, which):
        return netns(getattr(self, which))


# ---------------------------------------------------------------- processes in the trap


class NsDnsmasq(harness.Dnsmasq):
    """The upstream resolver, inside the trap namespace on 127.0.0.1:5399."""

    def __init__(self, workdir, topo, lines=()):
        super().__init__(workdir, lines, port=UPSTREAM_PORT, name="upstream")
        self.topo = topo

    def start(self, timeout=10):
        self.write_conf()
        self.proc = harness.Proc(["ip", "netns", "exec", self.topo.trap, "dnsmasq", "-k",
                                  f"--conf-file={self.conf}"], self.dir / f"{self.name}.log")

        def ready():
            if not self.proc.alive():
                raise AssertionError(f"dnsmasq exited: {self.proc.log()}")
            try:
                with self.topo.ns("trap"):
                    r = dns.query.udp(harness.make_query("upstream-ready.e2e.invalid"),
                                      "127.0.0.1", port=self.port, timeout=0.3)
                return r.rcode() == dns.rcode.NOERROR
            except dns.exception.Timeout:
                return False

        harness.wait_until(ready, timeout, what="dnsmasq to answer")
        return self


class NsSinktrap(harness.Sinktrap):
    """`sinktrap run` inside the trap namespace."""

    def __init__(self, workdir, topo, conf=None, name="trap"):
        self.topo = topo
        self.blocklist = Path(workdir) / "block.hosts"
        shutil.copyfile(DATA / "block.hosts", self.blocklist)
        super().__init__(workdir, conf, name=name)

    def default_conf(self):
        return {
            "sinktrap": {"state_dir": str(self.state_dir), "log_level": "info"},
            "dns": {
                "listen": [f"{TRAP_IP}:53", f"[{TRAP_IP6}]:53"],
                "mode": "blocklist",
                "upstream": f"127.0.0.1:{UPSTREAM_PORT}",
                "blocklist": str(self.blocklist),
                "sinkhole_ipv4": POOL4,
                "sinkhole_ipv6": POOL6,
                "ttl": 300,
                "log_forwarded": "no",
                "upstream_timeout": "1s",
            },
            "trap": {
                "enabled": "yes",
                "listen": TRAP_IP,
                "redirect_port": REDIRECT_PORT,
                "tproxy_port": TPROXY_PORT,
                "exclude_ports": "53",
                "banner": "2222:ssh",
                "read_timeout": "2s",
            },
            "events": {"json": str(self.json_path), "sqlite": "yes"},
        }

    def start(self, wait=True, timeout=30):
        self.write_conf()
        if self.proc is not None:
            assert not self.proc.alive(), "sinktrap is already running"
            self.proc.kill_all()
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = harness.Proc(["ip", "netns", "exec", self.topo.trap, self.bin, "run", "-c",
                                  self.conf_path], self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        def ready():
            if not self.proc.alive():
                raise AssertionError(
                    f"sinktrap exited with {self.proc.p.returncode}:\n{self.log()}")
            if "trap serving" not in self.log()[self.log_offset:]:
                return False
            with self.topo.ns("client"):
                return self.probe(addr=TRAP_IP, port=53)

        harness.wait_until(ready, timeout, what="sinktrap (dns and trap) to be ready")
        return self

    def firewall(self, *args, check=True):
        return self.topo.exec(self.topo.trap, [self.bin, "firewall", "-c", self.conf_path]
                              + list(args), check=check)


# ---------------------------------------------------------------- the environment


def community_id(saddr, daddr, sport, dport, proto, seed=0):
    """Community ID v1, computed here independently of the product."""
    import base64
    import ipaddress

    s, d = ipaddress.ip_address(saddr).packed, ipaddress.ip_address(daddr).packed
    if (s, sport) > (d, dport):
        s, d, sport, dport = d, s, dport, sport
    h = hashlib.sha1(struct.pack("!H", seed) + s + d + struct.pack("!BBHH", proto, 0, sport,
                                                                  dport)).digest()
    return "1:" + base64.b64encode(h).decode()


class TrapEnv:
    def __init__(self, conf_overrides=None):
        self.dir = harness.make_workdir("stt-trap-")
        self.topo = Topology()
        self.objs = []
        self.overrides = conf_overrides or {}
        self.st = None

    # -- lifecycle

    def up(self):
        self.topo.up()
        self.upstream = NsDnsmasq(self.dir, self.topo, [
            "address=/benign.example/10.98.0.2",
            "address=/#/",
        ])
        self.objs.append(self.upstream)
        self.upstream.start()
        self.st = NsSinktrap(self.dir, self.topo, self.overrides)
        self.objs.append(self.st)
        self.st.start()
        self.st.firewall("--apply")
        return self

    def restart(self, overrides=None):
        """Stop the trap and start it again with these [section] keys changed."""
        self.st.stop()
        for sec, kv in (overrides or {}).items():
            self.st.conf.setdefault(sec, {}).update(kv)
        self.st.start()
        return self.st

    def down(self):
        if self.st is not None and self.st.proc is not None:
            try:
                self.st.firewall("--remove", check=False)
            except Exception:
                pass
        for o in reversed(self.objs):
            o.close()
        self.topo.down()
        reports = [r for o in self.objs if isinstance(o, harness.Sinktrap)
                   for r in o.sanitizer_reports()]
        if os.environ.get("SINKTRAP_E2E_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return reports

    # -- running things in the namespaces

    def client(self, argv, timeout=30, check=False, input=None):
        return self.topo.exec(self.topo.client, argv, timeout=timeout, check=check, input=input)

    def in_trap(self, argv, timeout=30, check=False):
        return self.topo.exec(self.topo.trap, argv, timeout=timeout, check=check)

    def in_client(self):
        return self.topo.ns("client")

    def resolve(self, name, rdtype="A"):
        """The pool address the sinkhole hands out for name (asked from the client)."""
        r = self.client(["dig", "+short", "+time=2", "+tries=2", f"@{TRAP_IP}", name, rdtype],
                        check=True)
        addrs = [x for x in r.stdout.split() if x]
        assert len(addrs) == 1, f"{name} {rdtype}: {r.stdout!r} {r.stderr!r}"
        return addrs[0]

    def curl(self, *args, timeout=20):
        return self.client(["curl", "-sS", "--max-time", "10"] + list(args), timeout=timeout)

    def tcp(self, addr, port, src=None, timeout=5.0):
        """A connected TCP socket from the client namespace."""
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with self.in_client():
            s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                s.settimeout(timeout)
                if src:
                    s.bind((src, 0))
                s.connect((addr, port))
            except BaseException:
                s.close()
                raise
        return s

    # -- events

    def mark(self):
        return len(self.st.events())

    def events(self, since=0, event_type=None):
        evs = self.st.events()[since:]
        return [e for e in evs if event_type is None or e.get("event_type") == event_type]

    def wait_for(self, pred, since=0, event_type="trap", count=1, timeout=15, what="event"):
        def check():
            got = [e for e in self.events(since, event_type) if pred(e)]
            return got if len(got) >= count else None

        return harness.wait_until(check, timeout, interval=0.05,
                                  what=f"{count} {event_type} {what}")

    def wait_trap(self, dest_ip=None, src_port=None, since=0, timeout=15, phase="end", pred=None):
        def match(e):
            if dest_ip is not None and e.get("dest_ip") != dest_ip:
                return False
            if src_port is not None and e.get("src_port") != src_port:
                return False
            if phase is not None and e.get("trap", {}).get("phase") != phase:
                return False
            return pred(e) if pred else True

        return self.wait_for(match, since=since, timeout=timeout,
                             what=f"to {dest_ip} from port {src_port}")

    def fileinfo(self, sha, since=0, timeout=10):
        return self.wait_for(lambda e: e["fileinfo"]["sha256"] == sha, since=since,
                             event_type="fileinfo", timeout=timeout, what=f"sha256 {sha}")[0]

    def payload_path(self, sha):
        return self.st.state_dir / "payloads" / sha[:2] / sha

    def ca_cert(self):
        return self.st.state_dir / "ca" / "ca.crt"

    def trap_stats_after_stop(self):
        """Stop sinktrap; the trap worker's last stats event (stats.trap)."""
        mark = self.mark()
        self.st.stop()
        evs = self.wait_for(lambda e: e["stats"].get("worker") == "trap", since=mark,
                            event_type="stats", what="final trap stats")
        return evs[-1]["stats"]["trap"]

    def trap_pid(self):
        pid = self.st.worker_pid("trap")
        assert pid, f"no sinktrap-trap process under {self.st.pid}: {self.st.workers()}"
        return pid

    def assert_serving(self, name="alive.evil.example", port=8080):
        """A plain HTTP request through the catch-all is answered."""
        addr = self.resolve(name)
        r = self.curl("-o", "/dev/null", "-w", "%{http_code}", f"http://{addr}:{port}/alive")
        assert r.stdout == "200", f"trap not serving: curl rc={r.returncode} {r.stderr}"
        return addr


def vmrss_kb(pid):
    return int(harness.proc_status(pid)["VmRSS"].split()[0])


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def sha256(data):
    return hashlib.sha256(data).hexdigest()
