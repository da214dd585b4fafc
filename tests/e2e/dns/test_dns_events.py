"""Every sinkholed query is an event, in the JSON lines file and in SQLite;
forwarded queries are events only with log_forwarded = yes."""

import datetime
import json
import socket

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import harness


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")


@pytest.fixture(scope="module")
def quiet(mres):
    """log_forwarded = no (the default)."""
    up = mres.dnsmasq(["address=/fwd.test/127.0.2.2", "address=/#/"])
    bl = harness.write_list(mres.path("ev.hosts"), ["# events", "0.0.0.0 ev.test"])
    st = mres.sinktrap({"dns": {"blocklist": str(bl), "log_forwarded": None}}, upstream=up)
    st.list_path = str(bl)
    return st


@pytest.mark.parametrize("proto,addr", [("udp", "127.0.0.1"), ("tcp", "127.0.0.1"),
                                        ("udp", "::1"), ("tcp", "::1")])
def test_sinkholed_query_is_an_event_in_json_and_sqlite(quiet, proto, addr):
    name = f"{proto}{addr.count(':')}.ev.test"
    q = harness.make_query(name.upper(), "A")
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if proto == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.bind((addr, 0))
        s.sendto(q.to_wire(), (addr, quiet.port))
        wire, _ = s.recvfrom(4096)
    else:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.bind((addr, 0))
        s.connect((addr, quiet.port))
        s.sendall(harness.tcp_frame(q.to_wire()))
        wire = harness.tcp_read_msg(s)
    client_port = s.getsockname()[1]
    s.close()
    r = dns.message.from_wire(wire)
    answer = harness.a_records(r)[0]

    ev = quiet.wait_dns_event(name)
    assert len(ev) == 1, ev
    ev = ev[0]
    ts = parse_ts(ev["timestamp"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - ts).total_seconds()) < 60
    assert ev["event_type"] == "dns"
    assert ev["src_ip"] == addr
    assert ev["src_port"] == client_port
    assert ev["dest_ip"] == addr
    assert ev["dest_port"] == quiet.port
    assert ev["proto"] == proto.upper()
    assert ev["dns"]["rrname"] == name
    assert ev["dns"]["rrtype"] == "A"
    assert ev["dns"]["rcode"] == "NOERROR"
    assert ev["dns"]["id"] == q.id
    assert [a["rdata"] for a in ev["dns"]["answers"]] == [answer]
    sk = ev["sinkhole"]
    assert sk["action"] == "sinkhole"
    assert sk["reason"] == "blocklist"
    assert sk["rule"] == "ev.test"
    assert sk["list"] == quiet.list_path
    assert sk["line"] == 2
    assert sk["answer"] == answer

    # The same event in SQLite.
    rows = harness.wait_until(
        lambda: quiet.db_rows("SELECT * FROM events WHERE event_id = ?", (ev["event_id"],)),
        10, what="the event in SQLite")
    row = rows[0]
    assert row["event_type"] == "dns"
    assert row["src_ip"] == addr and row["src_port"] == client_port
    assert row["dest_ip"] == addr and row["dest_port"] == quiet.port
    assert row["proto"] == proto.upper()
    assert row["domain"] == name
    assert abs(row["ts"] / 1e6 - ts.timestamp()) < 0.001
    assert json.loads(row["json"]) == ev


def test_nodata_answer_is_an_event(quiet):
    r = quiet.query("mx.ev.test", "MX")
    assert not r.answer
    ev = quiet.wait_dns_event("mx.ev.test")[0]
    assert ev["dns"]["rrtype"] == "MX"
    assert ev["sinkhole"]["answer"] == "NODATA"
    assert ev["sinkhole"]["rule"] == "ev.test"


@pytest.mark.parametrize("qtype,rtype", [("ANY", "A"), ("AAAA", "AAAA")])
def test_answer_records_carry_their_own_type(quiet, qtype, rtype):
    """An ANY query is answered with an A record, and its event says A: the
    answer's type is the record's, the question's stays in dns.rrtype."""
    name = f"{qtype.lower()}.ev.test"
    r = quiet.query(name, qtype)
    assert [dns.rdatatype.to_text(rr.rdtype) for rr in r.answer] == [rtype]
    ev = quiet.wait_dns_event(name)[0]
    assert ev["dns"]["rrtype"] == qtype
    assert [(a["rrtype"], a["rdata"]) for a in ev["dns"]["answers"]] == \
        [(rtype, r.answer[0][0].address)]


def test_forwarded_queries_are_not_events_by_default(quiet):
    for i in range(5):
        assert harness.a_records(quiet.query("fwd.test")) == ["127.0.2.2"]
        assert quiet.query(f"nx{i}.test").rcode() == dns.rcode.NXDOMAIN
    # A sinkholed query after them: once its event is in, theirs would be too.
    quiet.query("marker-quiet.ev.test")
    quiet.wait_dns_event("marker-quiet.ev.test")
    assert quiet.dns_events(action="forward") == []
    assert all(e["sinkhole"]["action"] == "sinkhole" for e in quiet.events("dns"))
    rows = quiet.db_rows("SELECT domain FROM events WHERE event_type = 'dns'")
    assert "fwd.test" not in {r["domain"] for r in rows}


def test_forwarded_queries_are_events_with_log_forwarded(res):
    up = res.dnsmasq(["address=/fwd.test/127.0.2.2", "address=/#/"])
    bl = harness.write_list(res.path("ev.plain"), ["ev.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl), "log_forwarded": "yes"}}, upstream=up)
    st.query("fwd.test")
    st.query("nothing.test")
    st.query("fwd.test", proto="tcp", addr="::1")
    evs = st.wait_dns_event("fwd.test", "forward", count=2)
    assert evs[0]["sinkhole"]["reason"] == "unlisted"
    assert evs[0]["dns"]["rcode"] == "NOERROR"
    assert "rule" not in evs[0]["sinkhole"]
    assert evs[1]["proto"] == "TCP" and evs[1]["src_ip"] == "::1"
    nx = st.wait_dns_event("nothing.test", "forward")[0]
    assert nx["dns"]["rcode"] == "NXDOMAIN"
    rows = harness.wait_until(lambda: st.db_rows(
        "SELECT * FROM events WHERE event_type = 'dns' AND domain = 'fwd.test'"), 10)
    assert {r["event_id"] for r in rows} >= {e["event_id"] for e in evs[:1]}
