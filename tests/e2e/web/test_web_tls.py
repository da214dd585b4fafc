"""HTTPS with [web] tls_cert/tls_key: the API over TLS, Secure cookies."""

import json
import shutil
import ssl
import subprocess
import urllib.request

import pytest

import harness
import webenv


def test_https(res):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing")
    cert, key = res.path("web.crt"), res.path("web.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    port = harness.free_port(v6=False)
    users = res.path("users")
    st = res.sinktrap({"dns": {"mode": "allowlist"},
                       "web": {"enabled": "yes", "listen": f"127.0.0.1:{port}",
                               "users": str(users), "tls_cert": str(cert),
                               "tls_key": str(key)}}, start=False)
    r = subprocess.run([str(st.bin), "passwd", "-f", str(users), webenv.USER],
                       input=webenv.PASSWORD, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    st.start()
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    base = f"https://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(base + "/login", context=ctx, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    harness.wait_until(up, 20, what="the web worker over TLS")
    req = urllib.request.Request(base + "/api/login", method="POST",
                                 data=json.dumps({"username": webenv.USER,
                                                  "password": webenv.PASSWORD}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    # Plain HTTP on the TLS port gets nothing useful.
    with pytest.raises(Exception):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=3).read()
    # SIGTERM stops the web worker with the rest.
    assert st.stop() == 0
    assert "web: stopped" in st.log()
