"""End-to-end harness: a real sinktrap (`sinktrap run`) and a real upstream (dnsmasq).

Everything here talks only to loopback addresses. Every process started is
tracked and stopped by the owning object's `close()`, which the pytest fixtures
call in their finalizers, so nothing is left running even when a test fails.
"""

import json
import os
import pwd
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rdatatype
import dns.rcode

E2E_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = E2E_DIR.parent.parent


def sinktrap_bin():
    return Path(os.environ.get("SINKTRAP_BIN", PROJECT_ROOT / "build" / "sinktrap")).resolve()


def shared_dir():
    return Path(os.environ.get("SINKTRAP_SHARED", PROJECT_ROOT.parent / "shared")).resolve()


def blocklists_dir():
    return shared_dir() / "data" / "blocklists"


def pcaps_dir():
    return shared_dir() / "data" / "pcaps"


class Timeout(AssertionError):
    pass


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def make_workdir(prefix="sinktrap-e2e-"):
    """A private temp dir that the unprivileged worker user can traverse."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)
    return d


# ---------------------------------------------------------------- ports


def _bindable(port, v6=True):
    fams = [(socket.AF_INET, "127.0.0.1")]
    if v6:
        fams.append((socket.AF_INET6, "::1"))
    socks = []
    try:
        for fam, host in fams:
            for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(fam, typ)
                socks.append(s)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


_used_ports = set()


def free_port(v6=True):
    """A port that is free for UDP and TCP on 127.0.0.1 (and ::1)."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port in _used_ports:
            continue
        if _bindable(port, v6):
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port found")


def closed_udp_port():
    """A UDP port on 127.0.0.1 where nothing listens (queries there get no answer)."""
    return free_port(v6=False)


# ---------------------------------------------------------------- processes


class Proc:
    """A started process in its own session, with its output in a log file."""

    def __init__(self, argv, log_path, cwd=None, stdout_path=None):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.logf = open(self.log_path, "ab")
        self.outf = open(stdout_path, "ab") if stdout_path else None
        self.p = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.outf or self.logf,
            stderr=self.logf,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_all(self):
        """Kill the process and everything still in its session (which we created)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(timeout=10)
        else:
            # Workers may outlive a dead parent for a moment: reap the group too.
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (self.logf, self.outf):
            if f:
                f.close()

    def log(self):
        self.logf.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


# The exit status of a sanitized process that hit a finding (set by conftest).
SANITIZER_EXIT = 86


def sanitizer_lines(text):
    """The lines of a log that report an AddressSanitizer or UBSan finding."""
    marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "WARNING: AddressSanitizer")
    return [line for line in text.splitlines() if any(m in line for m in marks)]


def children(pid):
    """{comm: pid} of the live children of pid."""
    out = {}
    try:
        r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    except FileNotFoundError:
        r = None
    pids = r.stdout.split() if r else []
    for c in pids:
        try:
            comm = Path(f"/proc/{c}/comm").read_text().strip()
            state = proc_status(int(c)).get("State", "")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state.startswith("Z"):
            continue
        out[comm] = int(c)
    return out


def proc_status(pid):
    st = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        st[k] = v.strip()
    return st


# ---------------------------------------------------------------- DNS helpers


def make_query(name, rdtype="A", edns=None, payload=None, want_dnssec=False, **kw):
    """A dnspython query; edns=None means no OPT record at all."""
    if edns is None:
        q = dns.message.make_query(name, rdtype, use_edns=False, **kw)
    else:
        q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload or 1232,
                                   want_dnssec=want_dnssec, **kw)
    return q


def udp_exchange(wire, addr, port, timeout=3.0):
    """Send raw bytes over UDP; return the raw response (bytes) or None on timeout."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (addr, port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except socket.timeout:
            return None


def tcp_connect(addr, port, timeout=5.0):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((addr, port))
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_read_msg(s):
    """One length-prefixed DNS message, or None when the server closed."""
    hdr = recv_exact(s, 2)
    if hdr is None:
        return None
    (n,) = struct.unpack("!H", hdr)
    return recv_exact(s, n)


def tcp_frame(wire):
    return struct.pack("!H", len(wire)) + wire


def run_dig(args, timeout=20):
    r = subprocess.run(["dig"] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    return r


def a_records(resp):
    return sorted(rd.address for rrset in resp.answer for rd in rrset
                  if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))


# ---------------------------------------------------------------- dnsmasq


# Every Sinktrap and Dnsmasq not yet closed: their logs go into failure reports.
LIVE = []


class Dnsmasq:
    """A dnsmasq on 127.0.0.1:port that answers from its own config only.

    It has no upstream servers (no-resolv, no server= lines), so no query it
    receives ever leaves the machine.
    """

    def __init__(self, workdir, lines=(), port=None, name="dnsmasq"):
        self.dir = Path(workdir)
        self.port = port or free_port(v6=False)
        self.name = name
        self.conf = self.dir / f"{name}.conf"
        self.lines = list(lines)
        self.proc = None
        LIVE.append(self)

    def write_conf(self):
        base = [
            f"port={self.port}",
            "listen-address=127.0.0.1",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "no-poll",
            "no-negcache",
            f"pid-file={self.dir / (self.name + '.pid')}",
            f"log-facility={self.dir / (self.name + '-queries.log')}",
            # A well-known name to see that it is up.
            "address=/upstream-ready.e2e.invalid/127.0.0.53",
        ]
        self.conf.write_text("\n".join(base + self.lines) + "\n")

    def start(self, timeout=10):
        self.write_conf()
        self.proc = Proc(["dnsmasq", "-k", f"--conf-file={self.conf}"],
                         self.dir / f"{self.name}.log")

        def ready():
            if not self.proc.alive():
                raise AssertionError(f"dnsmasq exited: {self.proc.log()}")
            try:
                r = dns.query.udp(make_query("upstream-ready.e2e.invalid"), "127.0.0.1",
                                  port=self.port, timeout=0.3)
                return r.rcode() == dns.rcode.NOERROR
            except (dns.exception.Timeout, dns.query.BadResponse, dns.query.UnexpectedSource):
                # a stray datagram on the probe's port (a reply meant for an
                # earlier query) is not dnsmasq's answer: ask again
                return False

        wait_until(ready, timeout, what="dnsmasq to answer")
        return self

    def stop(self):
        if self.proc:
            self.proc.signal(signal.SIGTERM)
            if self.proc.wait(10) is None:
                self.proc.signal(signal.SIGKILL)
                self.proc.wait(5)

    def close(self):
        if self.proc:
            self.proc.kill_all()
            self.proc = None
        if self in LIVE:
            LIVE.remove(self)

    def log(self):
        return self.proc.log() if self.proc else ""


# ---------------------------------------------------------------- sinktrap


def render_conf(sections):
    """INI text from {section: {key: value or [values]}} (lists repeat the key)."""
    out = []
    for sec, kv in sections.items():
        out.append(f"[{sec}]")
        for k, v in kv.items():
            if v is None:
                continue
            vals = v if isinstance(v, (list, tuple)) else [v]
            for x in vals:
                out.append(f"{k} = {x}")
        out.append("")
    return "\n".join(out)


class ScriptUpstream:
    """A UDP DNS server on 127.0.0.1 (port chosen by the system) whose every
    answer is made by answer(query): a dns.message to send, or None to stay
    silent. For answers no real server can be told to give."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                wire, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            r = self.answer(dns.message.from_wire(wire))
            if r is not None:
                self.sock.sendto(r.to_wire(), src)

    def close(self):
        self.stop = True
        self.sock.close()
        self.t.join(2)


class Sinktrap:
    """One `sinktrap run` instance with its own config, state dir and ports."""

    def __init__(self, workdir, conf=None, bin_path=None, name="sinktrap"):
        self.dir = Path(workdir)
        self.bin = Path(bin_path or sinktrap_bin())
        self.name = name
        self.state_dir = self.dir / f"{name}-state"
        self.json_path = self.state_dir / "events.json"
        self.conf_path = self.dir / f"{name}.conf"
        self.log_path = self.dir / f"{name}.log"
        self.port = free_port()
        self.proc = None
        LIVE.append(self)
        self.conf = self.default_conf()
        for sec, kv in (conf or {}).items():
            self.conf.setdefault(sec, {}).update(kv)

    def default_conf(self):
        return {
            "sinktrap": {"state_dir": str(self.state_dir), "log_level": "info"},
            "dns": {
                "listen": [f"127.0.0.1:{self.port}", f"[::1]:{self.port}"],
                "mode": "blocklist",
                "sinkhole_ipv4": "127.66.0.0/16",
                "sinkhole_ipv6": "fd00:66::/64",
                "ttl": 300,
                "log_forwarded": "no",
                "upstream_timeout": "1s",
            },
            "events": {"json": str(self.json_path), "sqlite": "yes"},
        }

    # -- config and lifecycle

    def write_conf(self):
        """Write the config if it changed, atomically: a reload reading it at that moment
        sees the old file or the new one, never a half-written one."""
        text = render_conf(self.conf)
        try:
            if self.conf_path.read_text() == text:
                return self.conf_path
        except FileNotFoundError:
            pass
        tmp = self.conf_path.with_name(self.conf_path.name + ".new")
        tmp.write_text(text)
        os.replace(tmp, self.conf_path)
        return self.conf_path

    def run_cmd(self, *args, timeout=60):
        """`sinktrap ARGS -c CONF` to completion (for check / check-config)."""
        self.write_conf()
        argv = [str(self.bin), args[0], "-c", str(self.conf_path)] + [str(a) for a in args[1:]]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def start(self, wait=True, timeout=30):
        self.write_conf()
        if self.proc is not None:
            assert not self.proc.alive(), "sinktrap is already running"
            self.proc.kill_all()
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = Proc([self.bin, "run", "-c", self.conf_path], self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self

    def probe(self, addr="127.0.0.1", port=None, timeout=0.3):
        """True when the dns worker answers. A STATUS-opcode query gets an
        immediate NOTIMP and makes no event, so probing leaves no trace."""
        q = dns.message.make_query("probe.e2e.invalid", "A", use_edns=False)
        q.set_opcode(dns.opcode.STATUS)
        r = udp_exchange(q.to_wire(), addr, port or self.port, timeout)
        return r is not None and len(r) >= 12 and r[:2] == q.to_wire()[:2]

    def wait_ready(self, timeout=30):
        def ready():
            if not self.proc.alive():
                raise AssertionError(
                    f"sinktrap exited with {self.proc.p.returncode}:\n{self.log()}")
            return self.probe()

        wait_until(ready, timeout, what="sinktrap to answer queries")
        # The workers are up: the dns worker answers once it has the store's map.
        return self

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return children(self.pid)

    def worker_pid(self, kind):
        return self.workers().get(f"sinktrap-{kind}")

    def hup(self):
        self.proc.signal(signal.SIGHUP)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status (asserts it stopped)."""
        if self.proc is None:
            return None
        self.proc.signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        assert rc is not None, f"sinktrap did not stop within {timeout}s after SIGTERM"
        # No worker may survive the parent.
        wait_until(lambda: not self._group_alive(), 10, what="workers to exit")
        return rc

    def _group_alive(self):
        try:
            os.killpg(self.proc.pid, 0)
            # Zombies still count as members; look for live ones.
            for p in Path("/proc").iterdir():
                if not p.name.isdigit():
                    continue
                try:
                    if os.getpgid(int(p.name)) == self.proc.pid:
                        if not proc_status(int(p.name)).get("State", "").startswith("Z"):
                            return True
                except (ProcessLookupError, FileNotFoundError):
                    continue
            return False
        except ProcessLookupError:
            return False

    def close(self):
        if self.proc:
            self.proc.kill_all()
        if self in LIVE:
            LIVE.remove(self)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_reports(self):
        """AddressSanitizer / UBSan reports in the log (an instrumented SINKTRAP_BIN)."""
        return sanitizer_lines(self.log())

    # -- queries

    def query(self, name, rdtype="A", proto="udp", addr="127.0.0.1", port=None, edns=None,
              payload=None, timeout=5.0, q=None, **kw):
        """One query over UDP or TCP; a truncated UDP answer is returned as is."""
        q = q or make_query(name, rdtype, edns=edns, payload=payload, **kw)
        port = port or self.port
        if proto == "udp":
            return dns.query.udp(q, addr, port=port, timeout=timeout,
                                 raise_on_truncation=False)
        return dns.query.tcp(q, addr, port=port, timeout=timeout)

    def dig(self, *args, addr="127.0.0.1", port=None):
        return run_dig([f"@{addr}", "-p", port or self.port, "+tries=1", "+time=5"] +
                       list(args))

    # -- events

    def events(self, event_type=None):
        """The events in the JSON file so far: whole lines only (the store may be writing
        the last one), read incrementally while the file only grows."""
        try:
            f = open(self.json_path, "rb")
        except FileNotFoundError:
            return []
        with f:
            st = os.fstat(f.fileno())
            cache = getattr(self, "_ev_cache", None)
            if cache is None or cache[0] != st.st_ino or st.st_size < cache[1]:
                cache = (st.st_ino, 0, [])
            ino, off, evs = cache
            f.seek(off)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].split(b"\n"):
            if line.strip():
                evs.append(json.loads(line))
        self._ev_cache = (ino, off + end, evs)
        if event_type is None:
            return list(evs)
        return [e for e in evs if e.get("event_type") == event_type]

    def dns_events(self, rrname=None, action=None):
        out = []
        for e in self.events("dns"):
            if rrname is not None and e["dns"]["rrname"] != rrname:
                continue
            if action is not None and e.get("sinkhole", {}).get("action") != action:
                continue
            out.append(e)
        return out

    def wait_events(self, pred, timeout=10, what="events"):
        """Poll the JSON events until pred(events) is true; returns the events."""
        def check():
            evs = self.events()
            return evs if pred(evs) else None

        return wait_until(check, timeout, interval=0.05, what=what)

    def wait_dns_event(self, rrname, action=None, count=1, timeout=10):
        return wait_until(
            lambda: (lambda l: l if len(l) >= count else None)(self.dns_events(rrname, action)),
            timeout, interval=0.05, what=f"{count} dns event(s) for {rrname}")

    def db_path(self):
        return self.state_dir / "sinktrap.db"

    def db(self):
        c = sqlite3.connect(f"file:{self.db_path()}?mode=ro", uri=True, timeout=10)
        c.row_factory = sqlite3.Row
        return c

    def db_rows(self, sql, args=()):
        c = self.db()
        try:
            return [dict(r) for r in c.execute(sql, args).fetchall()]
        finally:
            c.close()


def nobody_uid():
    return pwd.getpwnam("nobody").pw_uid


def write_list(path, lines):
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def replace_file(path, data):
    """Atomically replace path's content (as a list updater would)."""
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{random.randrange(1 << 30)}")
    if isinstance(data, str):
        data = data.encode()
    tmp.write_bytes(data)
    os.replace(tmp, path)


def copy_list(src, dst_dir):
    dst = Path(dst_dir) / Path(src).name
    shutil.copyfile(src, dst)
    return dst
