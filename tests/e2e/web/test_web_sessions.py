"""Captured sessions through the web API: search, paging, PCAP downloads."""

import ipaddress
import json
import sqlite3
import struct
from pathlib import Path
from urllib.parse import quote

import pytest

import harness
import webenv

PCAP = harness.pcaps_dir() / "http_espn.pcapng"
PCAP_MAGICS = (0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a)


@pytest.fixture(scope="module")
def cap(mres):
    if not PCAP.exists():
        pytest.skip(f"{PCAP} is missing")
    st, base, _ = webenv.start(mres)
    r = st.run_cmd("ingest", str(PCAP))
    assert r.returncode == 0, r.stderr
    c = webenv.Client(base)
    assert c.login()[0] == 200
    c.st = st
    return c


def is_pcap(body):
    return len(body) >= 24 and struct.unpack("<I", body[:4])[0] in PCAP_MAGICS


def test_sessions_search_and_paging(cap):
    st, all_ = cap.get("/api/sessions?limit=1000")
    assert st == 200 and all_["total"] > 10
    ids = [s["id"] for s in all_["items"]]
    got = []
    for off in range(0, all_["total"], 7):
        st, p = cap.get(f"/api/sessions?limit=7&offset={off}")
        got += [s["id"] for s in p["items"]]
    assert got == ids
    st, p = cap.get("/api/sessions?port=80&proto=tcp&limit=1000")
    assert p["total"] > 0
    assert all(80 in (s["src_port"], s["dest_port"]) and s["proto"] == "TCP" for s in p["items"])
    one = p["items"][0]
    st, q = cap.get("/api/sessions?community_id=" + one["community_id"].replace("+", "%2B"))
    assert [s["id"] for s in q["items"]] == [one["id"]]
    st, q = cap.get("/api/sessions?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z")
    assert q["total"] == 0
    st, j = cap.get("/api/sessions?since=yesterday")
    assert st == 400


def cli_pcap(cap, session, out):
    r = cap.st.run_cmd("pcap", "--session", session, "-w", out)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def test_session_pcap_download(cap, tmp_path):
    """A session is named by its flow id on the page, in the API and in the CLI,
    and its download is what `sinktrap pcap --session` writes."""
    st, p = cap.get("/api/sessions?port=80&limit=1")
    one = p["items"][0]
    sid = one["flow_id"]
    assert isinstance(sid, str) and sid.isdigit()
    st, q = cap.get(f"/api/sessions?session={sid}")
    assert st == 200 and [s["flow_id"] for s in q["items"]] == [sid]
    r = cap.st.run_cmd("sessions", "--session", sid, "--json")
    assert r.returncode == 0, r.stderr
    assert [str(x["flow_id"]) for x in map(json.loads, r.stdout.splitlines())] == [sid]

    st, hdrs, body = cap.get(f"/api/sessions/{sid}/pcap", raw=True)
    assert st == 200, body[:200]
    assert hdrs["Content-Type"] == "application/vnd.tcpdump.pcap"
    assert f'filename="session-{sid}.pcap"' in hdrs["Content-Disposition"]
    assert is_pcap(body)
    assert body == cli_pcap(cap, sid, tmp_path / "cli.pcap")
    # the row number is not a session's name
    if str(one["id"]) != sid:
        st, j = cap.get(f"/api/sessions/{one['id']}/pcap")
        assert st == 404 and "error" in j
    st, j = cap.get("/api/sessions/999999999/pcap")
    assert st == 404 and "error" in j
    st, j = cap.get("/api/sessions?session=x1")
    assert st == 400 and "session" in j["error"]


def test_sessions_page_in_chromium(cap, tmp_path):
    """The sessions page shows each session's id, filters by it, and its PCAP
    button downloads what the CLI writes for that id."""
    r = webenv.run_browser("sessions_browser.mjs", cap.base, webenv.USER, webenv.PASSWORD,
                           tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    st, p = cap.get("/api/sessions?limit=50")
    assert got["shown"] == [s["flow_id"] for s in p["items"]]
    assert got["rows"] == [got["picked"]]
    assert Path(got["file"]).name == f"session-{got['picked']}.pcap"
    assert Path(got["file"]).read_bytes() == cli_pcap(cap, got["picked"], tmp_path / "cli.pcap")
    # the download under a filtered list is what `sinktrap pcap` writes for that filter
    st, u = cap.get("/api/sessions?proto=udp&limit=50")
    assert got["udpRows"] == [s["flow_id"] for s in u["items"]] != []
    r = cap.st.run_cmd("pcap", "--proto", "udp", "-w", str(tmp_path / "udp.pcap"))
    assert r.returncode == 0, r.stderr
    assert Path(got["udpFile"]).read_bytes() == (tmp_path / "udp.pcap").read_bytes()
    # a Community ID's download takes no other filter, so it is not refused
    assert got["cidHref"] == "/api/pcap?community_id=" + quote(got["cid"], safe=""), got
    assert got["cidStatus"] == 200, got


def test_pcap_download_by_domain_and_proto(cap, tmp_path):
    """/api/pcap takes the sessions page's proto and domain filters, as
    `sinktrap pcap` does, instead of refusing or dropping them; a domain's
    sessions are those to its address since the sinkhole gave it, on the page
    as in the CLI."""
    st, p = cap.get("/api/sessions?proto=tcp&limit=1000")
    server = max({s["dest_ip"] for s in p["items"]},
                 key=lambda a: sum(s["dest_ip"] == a for s in p["items"]))
    to_server = sorted((s for s in p["items"] if s["dest_ip"] == server),
                       key=lambda s: s["start_ts"])
    assert len(to_server) >= 3
    # a name the sinkhole answers (every name is, here); its address then
    # moved onto the capture's server, handed out in the middle of its sessions
    name = "cdn.c2.web-pcap.test"
    assert harness.a_records(cap.st.query(name))
    db = sqlite3.connect(cap.st.db_path(), timeout=10)
    harness.wait_until(lambda: db.execute("SELECT 1 FROM sinkhole_map WHERE domain = ?",
                                          (name,)).fetchone(), 10, what="the mapping")
    since = to_server[len(to_server) // 2]["start_ts"]
    db.execute("UPDATE sinkhole_map SET address = ?, first_seen = ? WHERE domain = ?",
               (server, since, name))
    db.commit()
    db.close()
    want = sorted(s["flow_id"] for s in to_server if s["start_ts"] >= since)
    st, d = cap.get("/api/sessions?domain=web-pcap.test&limit=1000")
    assert st == 200 and sorted(s["flow_id"] for s in d["items"]) == want
    assert {s["domain"] for s in d["items"]} == {name}
    r = cap.st.run_cmd("sessions", "--json", "--limit", "0", "--domain", "web-pcap.test")
    assert r.returncode == 0, r.stderr
    assert sorted(str(json.loads(line)["flow_id"]) for line in r.stdout.splitlines()) == want
    for q, cli in (("domain=web-pcap.test", ["--domain", "web-pcap.test"]),
                   ("proto=udp", ["--proto", "udp"])):
        st, hdrs, body = cap.get("/api/pcap?" + q, raw=True)
        assert st == 200 and is_pcap(body), q
        out = tmp_path / "cli.pcap"
        r = cap.st.run_cmd("pcap", *cli, "-w", str(out))
        assert r.returncode == 0, r.stderr
        assert body == out.read_bytes(), q
    st, j = cap.get("/api/pcap?domain=never.web-pcap.example")
    assert st == 404 and "no address" in j["error"], j


def test_filter_pcap_download(cap):
    st, p = cap.get("/api/sessions?port=80&limit=1")
    host = p["items"][0]["src_ip"]
    st, hdrs, body = cap.get(f"/api/pcap?host={host}&port=80", raw=True)
    assert st == 200 and is_pcap(body)
    st, j = cap.get("/api/pcap")
    assert st == 400


def test_filter_pcap_by_time(cap):
    st, p = cap.get("/api/sessions?port=80&limit=1000")
    s = min(p["items"], key=lambda x: x["start_ts"])
    since, until = s["start_ts"] // 1000000, s["end_ts"] // 1000000 + 1
    st, hdrs, body = cap.get(f"/api/pcap?host={s['src_ip']}&since={since}&until={until}",
                             raw=True)
    assert st == 200 and is_pcap(body)
    st, j = cap.get("/api/pcap?since=2001-01-01T00:00:00Z&until=2001-01-02T00:00:00Z")
    assert st == 404 and "error" in j
    st, j = cap.get("/api/pcap?since=soon")
    assert st == 400


def test_filters_are_checked_and_net_agrees_with_the_cli(cap, tmp_path):
    """A misspelt or malformed filter is a 400 naming it, never a search over
    everything; net= selects what `sinktrap sessions --net` and `pcap --net` do."""
    st, all_ = cap.get("/api/sessions?limit=1000")
    items = all_["items"]
    assert st == 200 and 0 < len(items) < 1000
    # The /24 of the busiest server, given with its host bits set.
    server = max({s["dest_ip"] for s in items},
                 key=lambda a: sum(a in (s["src_ip"], s["dest_ip"]) for s in items))
    net = ipaddress.ip_network(server + "/24", strict=False)
    want = sorted(s["flow_id"] for s in items
                  if any(ipaddress.ip_address(a) in net for a in (s["src_ip"], s["dest_ip"])))
    assert 0 < len(want) < len(items)
    st, p = cap.get(f"/api/sessions?net={server}/24&limit=1000")
    assert st == 200 and sorted(s["flow_id"] for s in p["items"]) == want
    r = cap.st.run_cmd("sessions", "--json", "--limit", "0", "--net", f"{server}/24")
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(line)["flow_id"] for line in r.stdout.splitlines()) == \
        [int(f) for f in want]
    # A /32 is the host itself.
    st, h = cap.get(f"/api/sessions?host={server}&limit=1000")
    st, n = cap.get(f"/api/sessions?net={server}/32&limit=1000")
    assert [s["id"] for s in n["items"]] == [s["id"] for s in h["items"]] != []
    # The packets: the same file as the CLI's.
    st, hdrs, body = cap.get(f"/api/pcap?net={server}/24", raw=True)
    assert st == 200 and is_pcap(body)
    r = cap.st.run_cmd("pcap", "--net", f"{server}/24", "-w", str(tmp_path / "net.pcap"))
    assert r.returncode == 0, r.stderr
    assert body == (tmp_path / "net.pcap").read_bytes()
    # Refused, each with what is wrong.
    for path, says in (("/api/sessions?hosts=" + server, "unknown parameter 'hosts'"),
                       ("/api/events?ip=" + server, "unknown parameter 'ip'"),
                       ("/api/dns?type=trap", "unknown parameter 'type'"),
                       ("/api/stats?host=" + server, "takes none"),
                       ("/api/pcap?limit=5&host=" + server, "unknown parameter 'limit'"),
                       ("/api/sessions?host=server.example", "host: not an IPv4 or IPv6"),
                       (f"/api/sessions?net={server}/33", "bad prefix length (0-32)"),
                       ("/api/pcap?net=nonsense/8", "net: 'nonsense/8'"),
                       ("/api/events?order=newest", "order: asc or desc")):
        st, j = cap.get(path)
        assert st == 400 and says in j["error"], (path, j)
    # An address is looked for as the store writes it.
    v6 = ipaddress.ip_address("::1").exploded
    st, a = cap.get(f"/api/hosts/{v6}")
    assert st == 200 and a["ip"] == "::1"
    st, m = cap.get(f"/api/sessions?host=::ffff:{server}&limit=1000")
    assert [s["id"] for s in m["items"]] == [s["id"] for s in h["items"]]
    r = cap.st.run_cmd("sessions", "--json", "--limit", "0", "--host", f"::ffff:{server}")
    assert sorted(json.loads(line)["flow_id"] for line in r.stdout.splitlines()) == \
        sorted(int(s["flow_id"]) for s in h["items"])


def test_pcap_download_with_a_configuration_only_root_reads(res):
    """The configuration file is root's alone (mode 0600), as a deployment may keep
    it (it can hold a database password). A PCAP download still works: the query
    reads the configuration the worker kept at its start, not the file (which the
    unprivileged worker cannot read). Before, every download answered 400 with
    'Permission denied' and the file's path."""
    if not PCAP.exists():
        pytest.skip(f"{PCAP} is missing")
    st, base, _ = webenv.start(res)
    r = st.run_cmd("ingest", str(PCAP))
    assert r.returncode == 0, r.stderr
    st.conf_path.chmod(0o600)
    c = webenv.Client(base)
    assert c.login()[0] == 200
    code, p = c.get("/api/sessions?port=80&limit=1")
    assert code == 200 and p["items"], p
    host = p["items"][0]["src_ip"]
    code, _, body = c.get(f"/api/pcap?host={host}&port=80", raw=True)
    assert code == 200 and is_pcap(body), (code, body[:200])
