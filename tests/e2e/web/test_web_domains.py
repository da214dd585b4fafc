"""The domain filter past 2000 stored names under the name asked for: the API then
scans with LIKE instead of listing the names, and must find what the listing
finds (names with '_', any case, a final dot) and nothing else."""

import sqlite3
import time

import pytest

import webenv

MANY = 2100  # more names under _srv.u4.example than the API lists (2000)
UNDER = [f"h{i}._srv.u4.example" for i in range(MANY)] + ["_srv.u4.example",
                                                          "H9999._SRV.U4.EXAMPLE."]
# Under u4.example, not under _srv.u4.example (an unescaped '_' is any character).
BESIDE = ["h.srv.u4.example", "h.xsrv.u4.example", "x_srv.u4.example"]
ELSEWHERE = ["_srv.u4.example2", "h.u4.example.x"]
# Addresses outside the sinkhole's pool, whose sessions belong to these names.
SESSIONS = {"127.77.0.1": "h7._srv.u4.example", "127.77.0.2": "h.srv.u4.example",
            "127.77.0.3": "h.xsrv.u4.example"}


@pytest.fixture(scope="module")
def many(mres):
    st, base, _ = webenv.start(mres)
    now = int(time.time() * 1e6)
    db = sqlite3.connect(st.db_path(), timeout=30)
    with db:
        db.executemany(
            "INSERT INTO events (event_id, ts, event_type, src_ip, src_port, dest_ip, "
            "dest_port, proto, domain, json) VALUES (?, ?, 'dns', '10.9.0.1', 5353, "
            "'127.0.0.1', 53, 'UDP', ?, ?)",
            [(f"e2e-domains-{i}", now + i, name,
              '{"event_type":"dns","dns":{"rrname":"%s","rrtype":"A"}}' % name)
             for i, name in enumerate(UNDER + BESIDE + ELSEWHERE)])
        for i, (addr, name) in enumerate(SESSIONS.items()):
            db.execute("INSERT INTO sinkhole_map (address, family, domain, first_seen, "
                       "last_seen) VALUES (?, 'ipv4', ?, ?, ?)", (addr, name, now, now))
            db.execute("INSERT INTO sessions (flow_id, src_ip, src_port, dest_ip, dest_port, "
                       "proto, start_ts, end_ts) VALUES (?, '10.9.0.1', 40000, ?, 443, "
                       "'TCP', ?, ?)", (77000 + i, addr, now + 1000, now + 2000))
    db.close()
    c = webenv.Client(base)
    assert c.login()[0] == 200
    return c


def total(c, path, domain):
    # A page past the first 2000 rows: the total is counted exactly up to there.
    st, p = c.get(f"{path}?domain={domain}&limit=1000&offset=2000")
    assert st == 200, p
    assert p["total_exact"], p
    return p["total"]


@pytest.mark.parametrize("domain", ["_srv.u4.example", "_SRV.U4.Example",
                                    "_srv.u4.example."])
def test_names_with_underscore(many, domain):
    for path in ("/api/dns", "/api/events"):
        assert total(many, path, domain) == len(UNDER), (path, domain)


@pytest.mark.parametrize("domain", ["u4.example", "u4.example.", "U4.EXAMPLE."])
def test_final_dot_and_case(many, domain):
    assert total(many, "/api/dns", domain) == len(UNDER) + len(BESIDE), domain


def test_the_listing_agrees(many):
    """Under fewer names the API lists them: the same rules."""
    st, p = many.get("/api/dns?domain=H7._srv.U4.example.")
    assert [i["domain"] for i in p["items"]] == ["h7._srv.u4.example"]
    for domain in ("%25.u4.example", "_.u4.example", "h_._srv.u4.example"):
        st, p = many.get(f"/api/dns?domain={domain}")
        assert st == 200 and p["total"] == 0, (domain, p)


def test_sessions_by_a_name_with_underscore(many):
    for domain in ("_srv.u4.example", "_SRV.u4.example."):
        st, p = many.get(f"/api/sessions?domain={domain}")
        assert st == 200, p
        assert [s["dest_ip"] for s in p["items"]] == ["127.77.0.1"], (domain, p)
        assert p["items"][0]["domain"] == "h7._srv.u4.example"
    st, p = many.get("/api/sessions?domain=u4.example.")
    assert sorted(s["dest_ip"] for s in p["items"]) == sorted(SESSIONS), p
