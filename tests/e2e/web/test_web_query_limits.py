"""Limits on what one API request can make the store do: paging stops at an offset of
100,000, and a request's queries are stopped after [web] query_timeout (503 with a
message saying to narrow the filter), so a filter no index serves over a large store
cannot hold a thread and the store's read snapshot for long."""

import os
import sqlite3

import webenv

ROWS = 1_500_000


def fill(db):
    """ROWS trap events on port 80, written straight into the store's database."""
    con = sqlite3.connect(db, timeout=30)
    con.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO events (event_id, ts, event_type, src_ip, src_port, dest_ip, "
        "dest_port, proto, json) SELECT 'bulk-' || i, 1700000000000000 + i, 'trap', "
        "'10.9.' || (i % 200) || '.' || (i % 250), 40000, '127.66.0.1', 80, 'TCP', "
        "'{\"event_type\":\"trap\"}' FROM n", (ROWS,))
    con.commit()
    con.close()


def test_a_slow_query_is_stopped_and_paging_is_bounded(res):
    st, base, _ = webenv.start(res, web={"query_timeout": "100ms"})
    fill(st.db_path())
    c = webenv.Client(base)
    c.login()
    # An indexed filter answers at once.
    code, j = c.get("/api/trap?host=10.9.1.1&limit=5")
    assert code == 200 and j["items"], j
    # No index serves a port: counting and skipping reads the whole table.
    code, j = c.get("/api/trap?port=1&limit=1")
    assert code == 503, (code, j)
    assert "query_timeout" in j["error"]
    # The worker goes on serving.
    code, j = c.get("/api/trap?host=10.9.2.2&limit=1")
    assert code == 200 and j["items"]
    assert c.get("/api/trap?limit=1&offset=100000")[0] == 200
    code, j = c.get("/api/trap?limit=1&offset=100001")
    assert code == 400 and "100000" in j["error"]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0


def test_running_totals_stop_growing_at_their_bound(res):
    """A million DNS events, each for a name of its own (a flood of random
    subdomains), stored while the web worker runs: its running totals stop taking
    new names at their bound (128 MiB) instead of growing with the flood (about
    550 bytes a name: over 500 MB here), the overview says its totals are not
    complete, and a search for a name past the bound still finds it (the store is
    asked)."""
    st, base, _ = webenv.start(res)
    con = sqlite3.connect(st.db_path(), timeout=30)
    con.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) "
        "INSERT INTO events (event_id, ts, event_type, src_ip, src_port, dest_ip, "
        "dest_port, proto, domain, json) SELECT 'flood-' || i, 1700000000000000 + i, "
        "'dns', '10.8.0.1', 40000, '127.0.0.1', 53, 'UDP', "
        "'r' || i || '.flood.example', '{\"event_type\":\"dns\"}' FROM n")
    con.execute(
        "INSERT INTO events (event_id, ts, event_type, src_ip, domain, json) VALUES "
        "('flood-tail', 1700000002000000, 'dns', '10.8.0.2', 'late.tail.example', "
        "'{\"event_type\":\"dns\"}')")
    con.commit()
    con.close()
    c = webenv.Client(base)
    c.login()
    code, s = c.get("/api/stats")
    assert code == 200, s
    assert s["totals"][0]["complete"] is False
    assert s["totals"][0]["dns_queries"] >= 1000001
    code, j = c.get("/api/dns?domain=late.tail.example")
    assert code == 200 and [i["domain"] for i in j["items"]] == ["late.tail.example"], j
    if not os.environ.get("SINKTRAP_SANITIZED"):  # ASan's redzones and quarantine
        pid = st.worker_pid("web")
        assert rss_mb(pid) < 250, f"the web worker holds {rss_mb(pid):.0f} MB of its own"


def test_a_store_error_is_a_500_not_a_timeout(res):
    """A query the store cannot answer (here a store whose events table lacks the
    columns asked for) is answered 500 'could not answer', not the 503 of a query
    stopped for its time, and nothing crashes. Before, the error path called itself
    (a stack overflow without optimisation, the timeout's 503 with it)."""
    st = res.sinktrap({"dns": {"mode": "allowlist"}}, start=False)
    st.state_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(st.db_path())
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER)")
    con.commit()
    con.close()
    r = st.run_cmd("report", "--host", "10.0.0.1", "--json")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "could not answer" in r.stdout and "query_timeout" not in r.stdout, r.stdout
