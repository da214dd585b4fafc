"""Syslog to a real rsyslog over UDP, TCP, TLS and a unix socket, in RFC 5424,
RFC 3164 and CEF; each message parsed back and compared with the event field
by field, hostile values included."""

import json

import dns.name
import pytest

import harness
from checks import (check_3164, check_5424, check_cef, ids_5424, ids_cef, ids_json, settle,
                    store_pid, version)
from evlib import Rsyslog, accepts, add, sinkhole_conf

# Labels a malicious client can put in a query: quotes, ']', '=', '|', backslash,
# control bytes and bytes that are not UTF-8 (the DNS worker shows the last two
# as \DDD; the rest reach the formatters as they are).
HOSTILE = [
    dns.name.Name([b'q"uo]te=eq|pipe', b"evil", b"test", b""]),
    dns.name.Name([b"back\\slash]", b"evil", b"test", b""]),
    dns.name.Name([b"nl\nx\xff\xfe\x00y", b"evil", b"test", b""]),
    dns.name.Name([b"cef=\\|x", b"evil", b"test", b""]),
]
PLAIN = ["plain-1.evil.test", "plain-2.evil.test"]


def wait_all(rs, ids, extract, timeout=20, what="every event"):
    want = set(ids)
    rs.wait_for(lambda ms: want <= {extract(m) for m in ms}, timeout, what=what)
    return {extract(m): m for m in rs.messages()}


@pytest.fixture
def plain_rsyslog(res):
    return add(res, Rsyslog(res.dir, udp=True, tcp=True, unix=True)).start()


def test_rfc5424_3164_cef_over_udp_tcp_unix(res, plain_rsyslog):
    rs = plain_rsyslog
    events = {
        "syslog": [
            f"udp://127.0.0.1:{rs.udp_port} format=rfc5424 facility=local3",
            f"tcp://127.0.0.1:{rs.tcp_port} format=rfc3164",
            f"unix://{rs.socket} format=cef facility=local7 types=dns,sinkhole_map",
        ],
        "syslog_hostname": "sensor-e2e.example",
        "syslog_app_name": "sinktrapd",
    }
    st = res.sinktrap(sinkhole_conf(events, sinktrap={"sensor": "e2e-sensor"}))
    for n in PLAIN + HOSTILE:
        st.query(n)
    evs = [e for e in settle(st) if e["event_type"] in ("dns", "sinkhole_map")]
    assert len(evs) == 2 * (len(PLAIN) + len(HOSTILE))
    ctx = {"hostname": "sensor-e2e.example", "app": "sinktrapd", "pid": store_pid(st),
           "sensor": "e2e-sensor", "version": version()}
    # Hostile bytes made it into the events as they are (no accidental cleaning).
    names = {e["dns"]["rrname"] for e in evs if e["event_type"] == "dns"}
    assert 'q"uo]te=eq|pipe.evil.test' in names
    assert "back\\\\slash].evil.test" in names
    assert "nl\\010x\\255\\254\\000y.evil.test" in names

    ids = [e["event_id"] for e in evs]
    msgs = [m for m in wait_all(rs, ids, lambda m: m["input"] == "imudp" and ids_5424(m))
            .values()]
    udp = {ids_5424(m): m for m in rs.messages() if m["input"] == "imudp"}
    tcp = {ids_json(m): m for m in rs.messages() if m["input"] == "imtcp"}
    wait_all(rs, ids, lambda m: m["input"] == "imtcp" and ids_json(m), what="tcp messages")
    wait_all(rs, ids, lambda m: m["input"] == "imuxsock" and ids_cef(m), what="unix messages")
    tcp = {ids_json(m): m for m in rs.messages() if m["input"] == "imtcp"}
    unix = {ids_cef(m): m for m in rs.messages() if m["input"] == "imuxsock"}
    assert msgs
    for e in evs:
        check_5424(e, udp[e["event_id"]], dict(ctx, facility=19))
        check_3164(e, tcp[e["event_id"]], dict(ctx, facility=16))
        check_cef(e, unix[e["event_id"]], dict(ctx, facility=23), with_host=False)
    # One message per event on each input: nothing twice, nothing else.
    for inp, key in (("imudp", ids_5424), ("imtcp", ids_json), ("imuxsock", ids_cef)):
        got = [key(m) for m in rs.messages() if m["input"] == inp and key(m) in set(ids)]
        assert sorted(got) == sorted(ids), inp


def test_types_filter(res, plain_rsyslog):
    """types= is the filter: the SIEM gets the sinkhole maps only, JSON keeps all."""
    rs = plain_rsyslog
    st = res.sinktrap(sinkhole_conf({
        "syslog": [f"tcp://127.0.0.1:{rs.tcp_port} types=sinkhole_map",
                   f"udp://127.0.0.1:{rs.udp_port} types=dns:forward"],
        "json_types": "dns"}))
    for n in PLAIN:
        st.query(n)
    evs = settle(st)
    assert {e["event_type"] for e in evs} == {"dns"}  # json_types = dns
    maps = st.db_rows("SELECT event_id FROM events WHERE event_type = 'sinkhole_map'")
    assert len(maps) == len(PLAIN)
    want = {r["event_id"] for r in maps}
    rs.wait_for(lambda ms: want <= {ids_json(m) for m in ms}, what="map events")
    harness.wait_until(lambda: st.run_cmd("status").stdout.count(" up ") >= 4, 10,
                       what="status")
    tcp = [json.loads(m["msg"]) for m in rs.messages() if m["input"] == "imtcp"]
    assert {e["event_type"] for e in tcp} == {"sinkhole_map"}
    assert not [m for m in rs.messages() if m["input"] == "imudp"]  # nothing was forwarded


@pytest.mark.parametrize("mode", ["server", "mutual"])
def test_tls(res, certs, mode):
    rs = add(res, Rsyslog(res.dir, tcp=True, certs=certs,
                          tls="anon" if mode == "server" else "x509/certvalid")).start()
    dest = f"tls://127.0.0.1:{rs.tcp_port} ca={certs.ca} format=rfc5424"
    if mode == "mutual":
        dest += f" cert={certs.client_cert} key={certs.client_key}"
    st = res.sinktrap(sinkhole_conf({"syslog": dest, "syslog_hostname": "tls-sensor"}))
    for n in PLAIN + HOSTILE[:2]:
        st.query(n)
    evs = [e for e in settle(st) if e["event_type"] in ("dns", "sinkhole_map")]
    ids = [e["event_id"] for e in evs]
    got = wait_all(rs, ids, ids_5424, what="TLS messages")
    ctx = {"hostname": "tls-sensor", "app": "sinktrap", "pid": store_pid(st), "sensor": None,
           "facility": 16}
    for e in evs:
        check_5424(e, got[e["event_id"]], ctx)
    assert "tls://" in st.run_cmd("status").stdout


def test_tls_refuses_an_unknown_server(res, certs):
    """A server whose certificate the CA did not sign gets nothing; the events wait."""
    rs = add(res, Rsyslog(res.dir, tcp=True, certs=certs, tls="anon")).start()
    st = res.sinktrap(sinkhole_conf({
        "syslog": f"tls://127.0.0.1:{rs.tcp_port} ca={certs.other_ca} name=siem"}))
    st.query(PLAIN[0])
    settle(st)

    def refused():
        s = json.loads(st.run_cmd("status", "--json").stdout)
        k = [x for x in s["sinks"] if x["name"] == "siem"][0]
        return k if (not k["connected"] and "certificate" in k["last_error"]
                     and k["queued"] >= 2) else None

    k = harness.wait_until(refused, 15, what="a certificate error in the status")
    assert k["delivered"] == 0
    assert not [m for m in rs.messages() if ids_5424(m)]


def test_hostile_request_bytes_from_the_trap(res, plain_rsyslog):
    """A malicious HTTP request to the trap: quotes, ']', '=', '|', newlines and bytes
    that are not UTF-8 in the URL and Host. Framing holds, every receiver parses
    every field, SD and CEF values are valid UTF-8."""
    rs = plain_rsyslog
    port = harness.free_port(v6=False)
    conf = sinkhole_conf({
        "syslog": [f"udp://127.0.0.1:{rs.udp_port} format=rfc5424 types=trap",
                   f"tcp://127.0.0.1:{rs.tcp_port} format=cef types=trap"]},
        trap={"enabled": "yes", "listen": "127.0.0.1", "ports": str(port)})
    st = res.sinktrap(conf)
    if st.run_cmd("check-config").returncode != 0:
        pytest.skip("this build has no trap worker")
    req = (b'GET /gate.php?id="1"]&x=a|b\\c\xff\xfe\xc3( HTTP/1.1\r\n'
           b'Host: ev"il]=\xff\xe2\x82\xac.test\r\n'
           b'User-Agent: bot\x01\r\n\r\n')
    import socket
    import time
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.sendall(req)
                try:
                    s.recv(4096)
                except OSError:
                    pass
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.skip("the trap worker does not listen")
            time.sleep(0.2)
    try:
        evs = st.wait_events(lambda es: any(e["event_type"] == "trap" and "http" in e
                                            for e in es), timeout=10, what="a trap event")
    except harness.Timeout:
        pytest.skip("the trap worker made no event with the request")
    e = [e for e in evs if e["event_type"] == "trap" and "http" in e][0]
    assert "\u00ff" in e["http"]["url"]  # the raw byte, escaped in the JSON
    got5424 = rs.wait_for(lambda ms: any(ids_5424(m) == e["event_id"] for m in ms))
    gotcef = rs.wait_for(lambda ms: any(ids_cef(m) == e["event_id"] for m in ms))
    m5 = [m for m in got5424 if ids_5424(m) == e["event_id"]][0]
    mc = [m for m in gotcef if ids_cef(m) == e["event_id"]][0]
    ctx = {"hostname": m5["hostname"], "app": "sinktrap", "pid": store_pid(st), "sensor": None,
           "version": version()}
    check_5424(e, m5, dict(ctx, facility=16))
    check_cef(e, mc, dict(ctx, facility=16, hostname=mc["hostname"]))
    assert "\ufffd" in m5["sd"] and "\n" not in m5["raw"] and "\n" not in mc["raw"]


def test_a_message_too_long_for_a_datagram_is_cut_whole_characters_and_said(res):
    """UDP carries at most 65,000 bytes of a message: a longer one (here a trapped
    request whose headers hold control bytes, six bytes each in JSON, then
    three-byte characters) is cut at a character's start, so the datagram stays
    UTF-8, and the log says it was cut."""
    import socket
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(15)
    port = harness.free_port(v6=False)
    conf = sinkhole_conf(
        {"syslog": f"udp://127.0.0.1:{rx.getsockname()[1]} format=rfc5424 types=trap"},
        trap={"enabled": "yes", "listen": "127.0.0.1", "ports": str(port)})
    st = res.sinktrap(conf)
    harness.wait_until(lambda: accepts(port), 15, what="the trap listening")
    for lead in ("A", "AB", "ABC"):  # every alignment of the characters against the cut
        head = [f"X-{lead}: ".encode() + b"\x01" * 500]
        head += [f"X-C{i}: ".encode() + b"\x01" * 500 for i in range(19)]
        head += [f"X-E{i}: {chr(0x20ac) * 166}".encode() for i in range(10)]
        req = b"GET / HTTP/1.1\r\nHost: cut.test\r\n" + b"\r\n".join(head) + b"\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req)
            try:
                s.recv(4096)
            except OSError:
                pass
    got = []
    while len([d for d in got if len(d) > 64000]) < 3:  # the three requests' events
        got.append(rx.recv(1 << 17))
    rx.close()
    for d in got:
        assert len(d) <= 65000
        d.decode("utf-8")  # no character split by the cut
    harness.wait_until(lambda: "to fit a datagram" in st.log(), 10, what="the cut in the log")
