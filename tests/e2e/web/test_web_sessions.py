"""Captured sessions through the web API: search, paging, PCAP downloads."""

import struct

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


def test_session_pcap_download(cap):
    st, p = cap.get("/api/sessions?port=80&limit=1")
    sid = p["items"][0]["id"]
    st, hdrs, body = cap.get(f"/api/sessions/{sid}/pcap", raw=True)
    assert st == 200, body[:200]
    assert hdrs["Content-Type"] == "application/vnd.tcpdump.pcap"
    assert "attachment" in hdrs["Content-Disposition"]
    assert is_pcap(body)
    st, j = cap.get("/api/sessions/999999999/pcap")
    assert st == 404 and "error" in j


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
