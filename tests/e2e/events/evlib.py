"""Helpers of the event delivery tests: a real rsyslog (UDP, TCP, TLS, unix
socket inputs, its config written here), a real PostgreSQL (initdb into a
temporary directory), TLS certificates made with openssl, a paced DNS sender
that makes the sinkhole produce events, and parsers for what rsyslog wrote
(RFC 5424, RFC 3164, CEF), so every field is compared with the event.

Everything listens on 127.0.0.1 only and is stopped when the test ends.
"""

import datetime
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.message
import dns.name
import pytest

import harness

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _need(path, what):
    if not Path(path).exists():
        pytest.fail(f"{what} is missing ({path}); scripts/deps.sh test installs it")


# ---------------------------------------------------------------- certificates


class Certs:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    def __init__(self, d):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for who in ("ca", "other-ca"):
            self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", f"{who}.key", "-out", f"{who}.pem", "-days", "2",
                      "-subj", f"/CN=sinktrap test {who}")
        self._leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\n")
        self._leaf("client", "subjectAltName=DNS:sensor.test\nextendedKeyUsage=clientAuth\n")
        for f in self.dir.iterdir():
            os.chmod(f, 0o644)  # the store runs as an unprivileged user
        self.ca = self.dir / "ca.pem"
        self.other_ca = self.dir / "other-ca.pem"
        self.server_cert, self.server_key = self.dir / "server.pem", self.dir / "server.key"
        self.client_cert, self.client_key = self.dir / "client.pem", self.dir / "client.key"

    def _run(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

    def _leaf(self, name, ext):
        (self.dir / f"{name}.ext").write_text(ext)
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        self._run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                  f"{name}.ext")


# ---------------------------------------------------------------- rsyslog


class Rsyslog:
    """rsyslogd -n with its own config: inputs on 127.0.0.1 (and a unix socket),
    every message written as one JSON line with rsyslog's own parse of it and
    the raw bytes."""

    def __init__(self, workdir, name="rsyslog", udp=False, tcp=False, unix=False, tls=None,
                 certs=None, direct=True):
        _need(RSYSLOGD, "rsyslogd")
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.udp_port = harness.free_port(v6=False) if udp else None
        self.tcp_port = harness.free_port(v6=False) if tcp else None
        self.socket = self.dir / "log.sock" if unix else None
        self.tls = tls  # None, "anon" or "x509/certvalid"
        self.certs = certs
        self.direct = direct
        self.out = self.dir / "out.json"
        self.conf = self.dir / "rsyslog.conf"
        self.pidfile = self.dir / "rsyslogd.pid"
        self.proc = None
        harness.LIVE.append(self)

    def write_conf(self):
        g = [f'workDirectory="{self.dir}"', 'maxMessageSize="64k"']
        if self.tls:
            g += [f'defaultNetstreamDriverCAFile="{self.certs.ca}"',
                  f'defaultNetstreamDriverCertFile="{self.certs.server_cert}"',
                  f'defaultNetstreamDriverKeyFile="{self.certs.server_key}"']
        lines = [f"global({' '.join(g)})"]
        if self.direct:
            # Synchronous: a message is in the file before the next one is read, so a
            # killed rsyslog loses only what its kernel buffers held.
            lines.append('main_queue(queue.type="Direct")')
        if self.udp_port:
            lines.append('module(load="imudp")')
        if self.tcp_port:
            if self.tls:
                lines.append('module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" '
                             f'StreamDriver.AuthMode="{self.tls}")')
            else:
                lines.append('module(load="imtcp")')
        if self.socket:
            lines.append('module(load="imuxsock" SysSock.Use="off")')
        props = [("raw", "rawmsg"), ("input", "inputname"), ("hostname", "hostname"),
                 ("app", "app-name"), ("procid", "procid"), ("msgid", "msgid"),
                 ("sd", "structured-data"), ("msg", "msg"), ("pri", "pri")]
        lines.append('template(name="j" type="list" option.jsonf="on") {')
        for out, prop in props:
            lines.append(f'  property(outname="{out}" name="{prop}" format="jsonf")')
        lines.append('  property(outname="received" name="timegenerated" dateFormat="rfc3339" '
                     'format="jsonf")')
        lines.append("}")
        lines.append(f'ruleset(name="r") {{ action(type="omfile" file="{self.out}" template="j" '
                     'flushOnTXEnd="on" asyncWriting="off") }')
        if self.udp_port:
            lines.append(f'input(type="imudp" address="127.0.0.1" port="{self.udp_port}" '
                         'ruleset="r")')
        if self.tcp_port:
            lines.append(f'input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" '
                         'ruleset="r")')
        if self.socket:
            lines.append(f'input(type="imuxsock" socket="{self.socket}" ruleset="r")')
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout=15):
        self.write_conf()
        if self.pidfile.exists():
            self.pidfile.unlink()
        self.proc = harness.Proc([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pidfile],
                                 self.dir / "rsyslogd.log")

        def ready():
            if not self.proc.alive():
                raise AssertionError(f"rsyslogd exited: {self.log()}")
            if self.tcp_port and not accepts(self.tcp_port):
                return False
            if self.socket and not self.socket.exists():
                return False
            return True

        harness.wait_until(ready, timeout, what="rsyslogd to listen")
        if self.socket:
            os.chmod(self.socket, 0o666)
        return self

    def kill(self, sig=signal.SIGKILL):
        """Kill rsyslogd (SIGKILL by default: no chance to flush anything)."""
        if self.proc and self.proc.alive():
            self.proc.signal(sig)
            self.proc.wait(10)
        if self.proc:
            self.proc.kill_all()
            self.proc = None

    def close(self):
        if self.proc:
            self.proc.kill_all()
            self.proc = None
        if self in harness.LIVE:
            harness.LIVE.remove(self)

    def log(self):
        try:
            return (self.dir / "rsyslogd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def messages(self):
        try:
            data = self.out.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in data.split(b"\n"):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    break  # a line being written
        return out

    def wait_for(self, pred, timeout=20, what="messages"):
        def check():
            m = self.messages()
            return m if pred(m) else None

        return harness.wait_until(check, timeout, interval=0.1, what=what)


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- PostgreSQL


class Postgres:
    """A PostgreSQL cluster of its own (initdb as the postgres user) on 127.0.0.1."""

    def __init__(self, workdir, name="pg"):
        _need(PG_BIN / "initdb", "PostgreSQL 15")
        self.name = name
        self.dir = Path(workdir) / name
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.port = harness.free_port(v6=False)
        self.logfile = self.dir / "postgres.log"
        pw = pwd.getpwnam("postgres")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        for d in (self.dir, self.sock):
            os.chown(d, self.uid, self.gid)
            os.chmod(d, 0o755)
        self.started = self.ever_started = False
        harness.LIVE.append(self)

    def _as_pg(self, argv, **kw):
        return subprocess.run([str(a) for a in argv], user=self.uid, group=self.gid,
                              extra_groups=[], cwd=self.dir, capture_output=True, text=True,
                              **kw)

    def start(self):
        if not (self.data / "PG_VERSION").exists():
            r = self._as_pg([PG_BIN / "initdb", "-D", self.data, "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            assert r.returncode == 0, r.stderr
        # fsync=off: a killed server keeps what it committed (the OS has it);
        # only a machine crash would lose it, and tests do not crash machines.
        for attempt in range(3):
            opts = (f"-k {self.sock} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c full_page_writes=off -c max_connections=20")
            r = self._as_pg([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t",
                             "60", "-o", opts, "start"])
            if r.returncode == 0:
                self.started = self.ever_started = True
                return self
            # Another process may have taken the port since it was found free (a
            # restart keeps its port: the sinktrap under test knows it).
            if "already in use" not in self.log() or attempt == 2 or self.ever_started:
                break
            self.port = harness.free_port(v6=False)
        raise AssertionError(r.stdout + r.stderr + self.log())

    def kill(self):
        """Stop at once, as a crash would (SIGQUIT to every process, no checkpoint)."""
        r = self._as_pg([PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])
        self.started = False
        return r

    def close(self):
        if self.started:
            self.kill()
        if self in harness.LIVE:
            harness.LIVE.remove(self)

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except (FileNotFoundError, PermissionError):
            return ""

    def connect(self, db="postgres"):
        import psycopg2
        c = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=db,
                             connect_timeout=5)
        c.autocommit = True
        return c

    def create_db(self, name):
        c = self.connect()
        try:
            c.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            c.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def rows(self, db, sql, args=()):
        c = self.connect(db)
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
        finally:
            c.close()


# ---------------------------------------------------------------- DNS load


def sinkhole_conf(extra_events=None, **sections):
    """A sinktrap config where every name is sinkholed (allowlist mode, no lists),
    so any query makes a dns event; no upstream is needed."""
    conf = {"dns": {"mode": "allowlist", "sinkhole_ipv6": "fd00:66::/64"},
            "events": dict(extra_events or {})}
    for k, v in sections.items():
        conf.setdefault(k, {}).update(v)
    return conf


class Sender:
    """Paced DNS queries to a sinktrap over UDP, in a thread: rate per second,
    names from a generator. Answers are read and counted, not waited for."""

    def __init__(self, port, names, rate=200, duration=None):
        self.port, self.names, self.rate, self.duration = port, names, rate, duration
        self.sent = 0
        self.answered = 0
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t.start()
        return self

    def _run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        t0 = time.monotonic()
        for i, name in enumerate(self.names):
            if self._stop.is_set():
                break
            due = t0 + i / self.rate
            while True:
                try:
                    while s.recv(4096):
                        self.answered += 1
                except BlockingIOError:
                    pass
                now = time.monotonic()
                if now >= due:
                    break
                time.sleep(min(due - now, 0.005))
            q = dns.message.make_query(name, "A", use_edns=False)
            s.sendto(q.to_wire(), ("127.0.0.1", self.port))
            self.sent += 1
        end = time.monotonic() + 2
        while time.monotonic() < end and self.answered < self.sent:
            try:
                while s.recv(4096):
                    self.answered += 1
            except BlockingIOError:
                time.sleep(0.01)
        s.close()

    def join(self, timeout=120):
        self.t.join(timeout)
        assert not self.t.is_alive(), "sender did not finish"
        return self

    def stop(self):
        self._stop.set()


def query_all(st, names, timeout=5.0):
    """Query each name once and wait for its answer (a deterministic small load)."""
    for n in names:
        st.query(n, timeout=timeout)


# ---------------------------------------------------------------- parsing syslog


_SD_ID = "sinktrap@32473"


def parse_5424(raw):
    """(header fields, {param: value} of our SD element, MSG) of an RFC 5424 message."""
    m = re.match(rb"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ", raw)
    assert m, raw[:200]
    hdr = {"pri": int(m.group(1)), "timestamp": m.group(2).decode(),
           "hostname": m.group(3).decode(), "app": m.group(4).decode(),
           "procid": m.group(5).decode(), "msgid": m.group(6).decode()}
    i = m.end()
    params = {}
    assert raw[i:i + 1] == b"[", raw[:300]
    i += 1
    j = raw.index(b" ", i) if b" " in raw[i:] else len(raw)
    sdid = raw[i:min(j, raw.index(b"]", i))].decode()
    assert sdid == _SD_ID, sdid
    i += len(sdid)
    while raw[i:i + 1] == b" ":
        i += 1
        eq = raw.index(b"=", i)
        name = raw[i:eq].decode()
        assert raw[eq + 1:eq + 2] == b'"'
        k = eq + 2
        val = bytearray()
        while True:
            c = raw[k:k + 1]
            assert c, "unterminated PARAM-VALUE"
            if c == b"\\" and raw[k + 1:k + 2] in (b'"', b"\\", b"]"):
                val += raw[k + 1:k + 2]
                k += 2
                continue
            if c == b'"':
                break
            assert c != b"]", "unescaped ] inside a PARAM-VALUE"
            val += c
            k += 1
        params[name] = val.decode("utf-8")  # must be valid UTF-8
        i = k + 1
    assert raw[i:i + 2] == b"] ", raw[i:i + 20]
    return hdr, params, raw[i + 2:]


def parse_3164(raw, with_host=True):
    pat = rb"<(\d{1,3})>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
    pat += rb"(\S+) " if with_host else rb"()"
    pat += rb"([^\[: ]+)\[(\d+)\]: "
    m = re.match(pat, raw)
    assert m, raw[:200]
    return ({"pri": int(m.group(1)), "timestamp": m.group(2).decode(),
             "hostname": m.group(3).decode(), "tag": m.group(4).decode(),
             "pid": m.group(5).decode()}, raw[m.end():])


def _split_unescaped(s, sep):
    out, cur, i = [], "", 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur += s[i:i + 2]
            i += 2
            continue
        if c == sep:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


def _unescape_header(v):
    return re.sub(r"\\([|\\])", r"\1", v)


def _unescape_ext(v):
    return re.sub(r"\\([=\\nr])", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), v)


def parse_cef(raw, with_host=True):
    """(syslog header, [7 CEF header fields], {extension key: value})."""
    pat = rb"<(\d{1,3})>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
    pat += rb"(\S+) " if with_host else rb"()"
    m = re.match(pat + rb"CEF:", raw)
    assert m, raw[:200]
    text = raw[m.end() - 4:].decode("utf-8")
    parts = _split_unescaped(text, "|")
    assert len(parts) >= 8, text
    header = [_unescape_header(p) for p in parts[:7]]
    ext_text = "|".join(parts[7:])
    # key=value pairs; a key starts after a space and ends at an unescaped '='.
    keys = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", ext_text))
    keys = [k for k in keys if k.start() == 0 or ext_text[k.start() - 1] != "\\"]
    ext = {}
    for n, k in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(ext_text)
        ext[k.group(1)] = _unescape_ext(ext_text[k.end():end])
    return ({"pri": int(m.group(1)), "timestamp": m.group(2).decode(),
             "hostname": m.group(3).decode()}, header, ext)


def eve_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")


def rfc3339(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def by_event_id(msgs, extract):
    """{event_id: [messages]} using extract(msg) -> event_id or None."""
    out = {}
    for m in msgs:
        eid = extract(m)
        if eid:
            out.setdefault(eid, []).append(m)
    return out


def json_of(m):
    """The EVE JSON a message carries (RFC 5424 / 3164 MSG)."""
    raw = m["raw"].encode("utf-8")
    i = raw.find(b"{")
    return json.loads(raw[i:]) if i >= 0 else None


def first_arrival_order(msgs, key):
    seen, order = set(), []
    for m in msgs:
        k = key(m)
        if k and k not in seen:
            seen.add(k)
            order.append(k)
    return order


def add(res, obj):
    """Hand obj to the fixture's Resources so it is closed with them."""
    res.objs.append(obj)
    return obj
