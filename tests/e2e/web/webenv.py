"""Helpers of the web suite: a sinktrap with DNS, trap and web on loopback, and
an HTTP client that keeps the session cookie and the CSRF token."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import harness
import pytest

HERE = Path(__file__).resolve().parent
PW = HERE.parents[2] / "web" / "node_modules" / "playwright-core"
USER, PASSWORD = "analyst", "correct horse battery staple"
TOKEN = "e2e-token-0123456789abcdef"
HOSTILE = '<img src=x onerror=alert(1)>'
HOSTILE_PATH = '/"><script>alert(3)</script>'
# A right-to-left override: shown raw, "/gate.php?x=\u202efdp.exe" reads "...exe.pdf".
BIDI_PATH = "/gate.php?x=\u202efdp.exe"
BIDI_SHOWN = "/gate.php?x=\\u{202E}fdp.exe"
DOMAIN = "c2-beacon.evil-e2e.example"
PAYLOAD = b"MZ\x90\x00 e2e sample payload \x00\xff" * 20


def start(res, dns=None, users=None, tokens=None, web=None, trap=None):
    """A running sinktrap with every name sinkholed (or the [dns] keys given), the trap
    on one port and the web worker; returns (sinktrap, web base URL, trap port).
    users, tokens: the files [web] names, used as they are (by default made here:
    USER signed up with `sinktrap passwd`, TOKEN). web, trap: more keys of those
    sections."""
    trap_port = harness.free_port(v6=False)
    web_port = harness.free_port(v6=False)
    made_users = users is None
    users = res.path("users") if users is None else users
    if tokens is None:
        tokens = res.path("tokens")
        tokens.write_text("script:%s\n" % hashlib.sha256(TOKEN.encode()).hexdigest())
    st = res.sinktrap({
        "dns": dns or {"mode": "allowlist"},
        "trap": {"enabled": "yes", "listen": "127.0.0.1", "ports": str(trap_port),
                 "read_timeout": "1s", **(trap or {})},
        "web": {"enabled": "yes", "listen": f"127.0.0.1:{web_port}", "users": str(users),
                "tokens": str(tokens), **(web or {})},
    }, start=False)
    if made_users:
        r = subprocess.run([str(st.bin), "passwd", "-f", str(users), USER], input=PASSWORD,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    st.start()
    base = f"http://127.0.0.1:{web_port}"

    def web_up():
        try:
            with urllib.request.urlopen(base + "/login", timeout=1) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    harness.wait_until(web_up, 20, what="the web worker")
    return st, base, trap_port


def http_to_trap(port, path="/", ua="e2e", host=DOMAIN, body=None):
    method = "POST" if body is not None else "GET"
    req = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\n"
           "Connection: close\r\n")
    data = req.encode()
    if body is not None:
        data += b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
    data += b"\r\n" + (body or b"")
    raw_to_trap(port, data)


def raw_to_trap(port, data):
    """Bytes to the trap, its answer read to the end."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


class Client:
    def __init__(self, base):
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = None

    def request(self, method, path, body=None, headers=None, csrf=True, raw=False):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            h.setdefault("Content-Type", "application/json")
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with self.opener.open(req, timeout=30) as r:
                content = r.read()
                status, hdrs = r.status, r.headers
        except urllib.error.HTTPError as e:
            content = e.read()
            status, hdrs = e.code, e.headers
        if raw:
            return status, hdrs, content
        try:
            return status, json.loads(content)
        except ValueError:
            return status, content

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def login(self, user=USER, password=PASSWORD):
        st, j = self.request("POST", "/api/login", {"username": user, "password": password})
        if st == 200:
            self.csrf = j["csrf"]
        return st, j


def wait_db(st, pred, what, timeout=15):
    def check():
        db = st.state_dir / "sinktrap.db"
        if not db.exists():
            return None
        import sqlite3
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return pred(c) or None
        except sqlite3.Error:
            return None
        finally:
            c.close()

    return harness.wait_until(check, timeout, interval=0.1, what=what)


def wait_counts(st, dns_n, trap_n):
    def pred(c):
        d = c.execute("SELECT count(*) FROM events WHERE event_type='dns'").fetchone()[0]
        t = c.execute("SELECT count(*) FROM events WHERE event_type='trap'").fetchone()[0]
        return (d, t) if d >= dns_n and t >= trap_n else None

    return wait_db(st, pred, f"{dns_n} dns and {trap_n} trap events in the store")


def run_browser(script, *args, timeout=180):
    """node SCRIPT ARGS (a script of this folder driving chromium through chromium.mjs);
    skips when chromium, node or playwright-core is missing."""
    if not Path("/usr/bin/chromium").exists() or shutil.which("node") is None:
        pytest.skip("chromium and nodejs are needed (scripts/deps.sh test)")
    if not PW.is_dir():
        pytest.skip("playwright-core is missing: run `npm ci` in web/")
    env = dict(os.environ, PLAYWRIGHT_CORE=str(PW), PLAYWRIGHT_BROWSERS_PATH="0")
    return subprocess.run(["node", str(HERE / script)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, env=env)
