"""The web API: authentication, CSRF, paging, queries, downloads and path traversal."""

import hashlib
import io
import json
import shutil
import subprocess
import zipfile

import pytest

import webenv


def test_everything_needs_login(web):
    c = webenv.Client(web["base"])
    for path in ("/api/stats", "/api/hosts", "/api/dns", "/api/trap", "/api/sessions",
                 "/api/hosts/127.0.0.1", "/api/payloads/" + "0" * 64, "/api/lists/check?name=x",
                 "/api/session"):
        st, j = c.get(path)
        assert st == 401, path
        assert "error" in j
    # Pages redirect to the sign-in page, which is public.
    st, hdrs, body = c.get("/", raw=True)
    assert st == 200 and b"login-form" in body  # urllib followed the 303
    st, hdrs, body = c.get("/app.js", raw=True)
    assert b"login-form" in body


def test_security_headers(web):
    c = webenv.Client(web["base"])
    st, hdrs, body = c.get("/login", raw=True)
    assert st == 200
    csp = hdrs["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert hdrs["X-Content-Type-Options"] == "nosniff"
    assert hdrs["Referrer-Policy"] == "no-referrer"
    assert b"<script>" not in body and b"style=" not in body


def test_login_wrong_password_and_cookie_flags(web):
    c = webenv.Client(web["base"])
    st, j = c.login(password="wrong")
    assert st == 401 and "error" in j
    st, hdrs, body = c.request("POST", "/api/login",
                               {"username": webenv.USER, "password": webenv.PASSWORD}, raw=True)
    assert st == 200
    cookie = hdrs["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie


def test_csrf_refused_without_token(web):
    c = webenv.Client(web["base"])
    assert c.login()[0] == 200
    st, j = c.request("POST", "/api/logout", csrf=False)
    assert st == 403 and "CSRF" in j["error"]
    st, j = c.request("POST", "/api/logout", headers={"X-CSRF-Token": "0" * 64}, csrf=False)
    assert st == 403
    # Still signed in; with the token the logout works and the session is gone.
    assert c.get("/api/stats")[0] == 200
    st, j = c.request("POST", "/api/logout")
    assert st == 200
    assert c.get("/api/stats")[0] == 401


def test_bearer_token(web):
    c = webenv.Client(web["base"])
    st, j = c.get("/api/stats", headers={"Authorization": "Bearer " + webenv.TOKEN})
    assert st == 200
    st, j = c.get("/api/stats", headers={"Authorization": "Bearer wrong"})
    assert st == 401


def test_stats_count_what_was_sent(web):
    c = webenv.Client(web["base"])
    c.login()
    st, s = c.get("/api/stats")
    assert st == 200
    t = s["totals"][0]
    assert t["dns_queries"] >= web["dns"] and t["trap_connections"] >= web["trap"]
    assert any(d["domain"] == webenv.DOMAIN for d in s["top_domains"])
    assert any(h["ip"] == "127.0.0.1" for h in s["top_hosts"])
    assert any(p["port"] == web["trap_port"] for p in s["top_ports"])
    assert s["timeline"]


def test_paging(web):
    c = webenv.Client(web["base"])
    c.login()
    st, all_ = c.get("/api/dns?limit=1000")
    assert st == 200 and all_["total"] >= 3
    seen = []
    for off in range(all_["total"]):
        st, p = c.get(f"/api/dns?limit=1&offset={off}")
        assert st == 200 and p["limit"] == 1 and p["offset"] == off
        assert len(p["items"]) == 1
        seen.append(p["items"][0]["id"])
    assert seen == [i["id"] for i in all_["items"]]
    st, p = c.get(f"/api/dns?limit=1&offset={all_['total']}")
    assert p["items"] == []
    for bad in ("limit=0", "limit=100000", "offset=-1", "limit=abc"):
        st, j = c.get("/api/dns?" + bad)
        assert st == 400 and "error" in j


def test_filters_and_host(web):
    c = webenv.Client(web["base"])
    c.login()
    st, p = c.get("/api/dns?domain=" + webenv.DOMAIN)
    assert p["total"] >= 3
    st, p = c.get("/api/dns?domain=evil-e2e.example")  # subdomains match
    assert p["total"] >= 3
    st, p = c.get("/api/dns?domain=nothing.invalid")
    assert p["total"] == 0
    st, p = c.get(f"/api/trap?port={web['trap_port']}")
    assert p["total"] >= 3
    st, h = c.get("/api/hosts")
    assert any(x["ip"] == "127.0.0.1" and x["trap"] >= 3 for x in h["items"])
    st, h = c.get("/api/hosts/127.0.0.1")
    types = [e["event_type"] for e in h["events"]]
    assert "dns" in types and "trap" in types
    ts = [e["ts"] for e in h["events"]]
    assert ts == sorted(ts)
    # The hostile request is stored as sent, and returned as JSON text.
    assert any(webenv.HOSTILE in str(e["event"]) for e in h["events"])
    st, j = c.get("/api/hosts/1.2.3.4%3Cx%3E")
    assert st == 400


def test_lists_check(web):
    c = webenv.Client(web["base"])
    c.login()
    st, j = c.get("/api/lists/check?name=" + webenv.DOMAIN)
    assert st == 200 and j["sinkholed"] is True and j["explanation"]
    st, j = c.get("/api/lists/check")
    assert st == 400


def payload_sha(web):
    def pred(c):
        r = c.execute("SELECT json_extract(json, '$.fileinfo.sha256') FROM events "
                      "WHERE event_type = 'fileinfo'").fetchall()
        return r
    rows = webenv.wait_db(web["st"], pred, "a stored payload")
    want = hashlib.sha256(webenv.PAYLOAD).hexdigest()
    shas = [r[0] for r in rows]
    return want if want in shas else shas[0]


def test_payload_zip_opens_with_infected(web, tmp_path):
    c = webenv.Client(web["base"])
    c.login()
    sha = payload_sha(web)
    st, p = c.get("/api/payloads")
    assert sha in [x["sha256"] for x in p["items"]]
    st, hdrs, body = c.get("/api/payloads/" + sha, raw=True)
    assert st == 200 and hdrs["Content-Type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(body))
    info = z.infolist()[0]
    assert info.flag_bits & 1  # encrypted
    with pytest.raises(RuntimeError):
        z.read(info.filename)
    data = z.read(info.filename, pwd=b"infected")
    assert hashlib.sha256(data).hexdigest() == sha
    if shutil.which("unzip"):
        zp = tmp_path / "p.zip"
        zp.write_bytes(body)
        r = subprocess.run(["unzip", "-P", "infected", "-p", str(zp)], capture_output=True)
        assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == sha
        r = subprocess.run(["unzip", "-P", "wrong", "-p", str(zp)], capture_output=True)
        assert r.returncode != 0 or hashlib.sha256(r.stdout).hexdigest() != sha


@pytest.mark.parametrize("path", [
    "/api/payloads/../../../etc/passwd",
    "/api/payloads/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/payloads/..%2f..%2fsinktrap.db",
    "/api/payloads/" + "A" * 64,
    "/api/payloads/" + "0" * 63,
    "/api/payloads/" + "0" * 64 + "/../x",
    "/api/sessions/..%2f..%2fetc%2fpasswd/pcap",
    "/api/sessions/../../etc/passwd/pcap",
    "/api/sessions/1;id/pcap",
    "/api/pcap?host=..%2f..%2fetc%2fpasswd",
    "/api/pcap?host=-w%20/tmp/x",
])
def test_path_traversal_refused(web, path):
    c = webenv.Client(web["base"])
    c.login()
    st, hdrs, body = c.get(path, raw=True)
    assert st in (400, 404), (path, st)
    assert b"root:" not in body and b"SQLite format" not in body


def test_payloads_listing(web):
    """One row per payload (the store's payloads table, or the fileinfo events of
    a store that does not fill it), paged, filtered by host."""
    c = webenv.Client(web["base"])
    c.login()
    sha = payload_sha(web)
    st, p = c.get("/api/payloads?limit=1")
    assert st == 200 and p["limit"] == 1 and p["total"] >= 1
    item = p["items"][0]
    for k in ("sha256", "size", "first_seen", "last_seen", "seen", "kind", "name", "src_ip"):
        assert k in item, (k, item)
    st, p = c.get("/api/payloads?host=127.0.0.1")
    assert sha in [x["sha256"] for x in p["items"]]
    assert [x for x in p["items"] if x["sha256"] == sha][0]["size"] == len(webenv.PAYLOAD)
    st, p = c.get("/api/payloads?host=192.0.2.1")
    assert st == 200 and p["total"] == 0 and p["items"] == []


def test_missing_payload_is_404(web):
    c = webenv.Client(web["base"])
    c.login()
    st, j = c.get("/api/payloads/" + "0" * 64)
    assert st == 404 and "error" in j



def test_report_console(web):
    st = web["st"]
    r = st.run_cmd("report", "--host", "127.0.0.1")
    assert r.returncode == 0, r.stderr
    assert webenv.DOMAIN in r.stdout and "trap" in r.stdout and "payload sha256" in r.stdout
    assert "\x1b" not in r.stdout
    r = st.run_cmd("report", "--host", "127.0.0.1", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["ip"] == "127.0.0.1" and any(e["event_type"] == "trap" for e in j["events"])
    r = st.run_cmd("report", "--host", "192.0.2.99")
    assert r.returncode == 1 and "nothing stored" in r.stdout


def test_report_console_finds_the_host_written_in_any_form(web):
    """The console report looks for the address as the store writes it, as
    --json and the API do: a v4-mapped or zero-padded address is the same host."""
    st = web["st"]
    for form in ("::ffff:127.0.0.1", "::FFFF:7f00:1"):
        r = st.run_cmd("report", "--host", form)
        assert r.returncode == 0, (form, r.stdout, r.stderr)
        assert r.stdout.startswith("host 127.0.0.1: ") and webenv.DOMAIN in r.stdout, form
        r = st.run_cmd("report", "--host", form, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["ip"] == "127.0.0.1", form
    r = st.run_cmd("report", "--host", "127.0.0.1<x>")
    assert r.returncode == 2 and "not an IPv4 or IPv6 address" in r.stderr
    assert r.stdout == ""


def test_login_needs_json(web):
    c = webenv.Client(web["base"])
    body = ('{"username": "%s", "password": "%s"}' % (webenv.USER, webenv.PASSWORD)).encode()
    st, j = c.request("POST", "/api/login", body, headers={"Content-Type": "text/plain"})
    assert st == 415
    st, j = c.request("GET", "/api/login")
    assert st == 405


def test_lists(web):
    c = webenv.Client(web["base"])
    c.login()
    st, j = c.get("/api/lists")
    assert st == 200 and j["sinkholed_domains"] >= 1
    assert sum(x["queries"] for x in j["decided_by"]) >= web["dns"]


def test_domain_filter_finds_a_name_sent_in_capitals(web):
    """A Host header is stored as the client sent it: malware writing its C&C
    name in capitals (and with a final dot) is still found under the name."""
    import harness
    webenv.http_to_trap(web["trap_port"], path="/caps", host="C2.Upper-E2E.EXAMPLE.")
    c = webenv.Client(web["base"])
    auth = {"Authorization": "Bearer " + webenv.TOKEN}

    def found(q):
        st, p = c.get("/api/trap?limit=100&domain=" + q, headers=auth)
        assert st == 200, p
        return [i for i in p["items"] if "/caps" in json.dumps(i)]

    harness.wait_until(lambda: found("C2.Upper-E2E.EXAMPLE."), 10, what="the trap event")
    for q in ("upper-e2e.example", "c2.upper-e2e.example", "UPPER-E2E.example."):
        assert found(q), q
    assert not found("other-e2e.example")


# Last in this module: afterwards this address cannot sign in, nor use a token, for a minute.
def test_login_rate_limited(web):
    c = webenv.Client(web["base"])
    codes = [c.login(password="nope")[0] for _ in range(8)]
    assert 429 in codes
    # The right password is refused too while the limit holds.
    assert c.login()[0] == 429


def test_report_console_shows_what_follows_a_nul(res):
    """A User-Agent with a NUL in it: the console report shows the NUL as \\x00 and
    everything after it (it used to stop at the NUL, hiding the rest)."""
    st, _, trap_port = webenv.start(res)
    webenv.raw_to_trap(trap_port, b"GET /nul HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0"
                       b"\x00 HIDDEN-PART evil-bot\r\nConnection: close\r\n\r\n")
    webenv.wait_db(st, lambda c: c.execute(
        "SELECT count(*) FROM events WHERE event_type = 'trap' AND json LIKE '%HIDDEN%'"
    ).fetchone()[0], "the trap event")
    r = st.run_cmd("report", "--host", "127.0.0.1")
    assert r.returncode == 0, r.stderr
    assert "Mozilla/5.0\\x00 HIDDEN-PART evil-bot" in r.stdout, r.stdout


def test_domain_search_finds_names_with_hostile_bytes(res):
    """Host headers with a byte that is not UTF-8 and with a NUL: a search by their
    domain finds them with the clean ones, and the stored event keeps the bytes
    (escaped in its JSON). Before, the names came back from the JSON list the
    search builds as other bytes (or cut at the NUL) and matched nothing."""
    st, base, trap_port = webenv.start(res)
    hosts = [b"a.bytes-e2e.example", b"c2\xff.bytes-e2e.example", b"zz\x00.bytes-e2e.example",
             b"b.bytes-e2e.example"]
    for h in hosts:
        webenv.raw_to_trap(trap_port,
                           b"GET /x HTTP/1.1\r\nHost: " + h + b"\r\nConnection: close\r\n\r\n")
    webenv.wait_db(st, lambda c: c.execute(
        "SELECT count(*) FROM events WHERE event_type = 'trap'").fetchone()[0] >= 4,
        "the four trap events")
    c = webenv.Client(base)
    c.login()
    code, j = c.get("/api/trap?domain=bytes-e2e.example&limit=100")
    assert code == 200 and j["total"] == 4, j
    got = sorted(i["event"]["http"]["hostname"] for i in j["items"])
    assert "c2\u00ff.bytes-e2e.example" in got, got
    assert "zz\u0000.bytes-e2e.example" in got, got
