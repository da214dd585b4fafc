"""Field-by-field comparison of an event (as in the JSON lines file) with the
syslog message a real rsyslog received for it."""

import datetime
import json
import subprocess

import harness
from evlib import eve_time, parse_3164, parse_5424, parse_cef, rfc3339

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def version():
    out = subprocess.run([str(harness.sinktrap_bin()), "version"], capture_output=True,
                         text=True).stdout
    return out.split()[1]


def severity(e):
    t = e["event_type"]
    if t in ("alert", "trap", "fileinfo"):
        return 4
    if (t == "dns" and e.get("sinkhole", {}).get("action") == "sinkhole") or t == "sinkhole_map":
        return 5
    return 6


def cef_severity(e):
    t = e["event_type"]
    if t == "dns":
        return 5 if e.get("sinkhole", {}).get("action") == "sinkhole" else 1
    return {"fileinfo": 8, "trap": 7, "alert": 6, "sinkhole_map": 3, "flow": 2,
            "stats": 0}.get(t, 3)


def domain(e):
    for path in (("dns", "rrname"), ("sinkhole_map", "domain"), ("trap", "domain"),
                 ("fileinfo", "domain"), ("http", "hostname"), ("tls", "sni")):
        v = e.get(path[0], {})
        if isinstance(v, dict) and v.get(path[1]):
            return v[path[1]]
    return None


def utf8_clean(s):
    """What a syslog field shows of a JSON string: control characters and
    bytes that were not UTF-8 become U+FFFD. The JSON escapes such a byte as
    \\u0080-\\u00ff, so the tests never send real U+0080-U+00FF characters
    (they would be indistinguishable here)."""
    out = []
    for ch in s:
        o = ord(ch)
        if o < 0x20 or o == 0x7f or 0x80 <= o <= 0xff:
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def expected_sd(e, sensor):
    """The SD-PARAMs sinktrap writes for the event."""
    sk = e.get("sinkhole", {})
    m = e.get("sinkhole_map", {})
    d = e.get("dns", {})
    pairs = [("event_type", e["event_type"]), ("event_id", e["event_id"]), ("host", sensor),
             ("src_ip", e.get("src_ip")), ("src_port", e.get("src_port")),
             ("dest_ip", e.get("dest_ip")), ("dest_port", e.get("dest_port")),
             ("proto", e.get("proto")), ("app_proto", e.get("app_proto")),
             ("community_id", e.get("community_id")), ("flow_id", e.get("flow_id")),
             ("domain", domain(e)), ("rrtype", d.get("rrtype")), ("rcode", d.get("rcode")),
             ("action", sk.get("action")), ("reason", sk.get("reason")),
             ("rule", sk.get("rule")), ("list", sk.get("list")), ("answer", sk.get("answer")),
             ("address", m.get("address")), ("url", e.get("http", {}).get("url")),
             ("method", e.get("http", {}).get("http_method")),
             ("user", e.get("credentials", {}).get("username")),
             ("sha256", e.get("fileinfo", {}).get("sha256")),
             ("signature", e.get("alert", {}).get("signature"))]
    out = {}
    for k, v in pairs:
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        out[k] = utf8_clean(str(v))
    return out


def check_5424(e, m, ctx):
    """ctx: facility, hostname, app, pid, sensor."""
    raw = m["raw"].encode("utf-8")
    hdr, sd, msg = parse_5424(raw)
    assert hdr["pri"] == ctx["facility"] * 8 + severity(e), (hdr, e)
    assert rfc3339(hdr["timestamp"]) == eve_time(e["timestamp"])
    assert hdr["hostname"] == ctx["hostname"]
    assert hdr["app"] == ctx["app"]
    assert hdr["procid"] == str(ctx["pid"])
    assert hdr["msgid"] == e["event_type"]
    assert sd == expected_sd(e, ctx.get("sensor")), (sd, e)
    assert json.loads(msg) == e
    # rsyslog's own parse agrees.
    assert m["msgid"] == e["event_type"]
    assert m["hostname"] == ctx["hostname"]
    assert m["app"] == ctx["app"]
    assert m["procid"] == str(ctx["pid"])
    assert m["sd"].startswith("[sinktrap@32473 event_type=")
    assert json.loads(m["msg"]) == e
    assert int(m["pri"]) == hdr["pri"]


def local_3164(e):
    t = eve_time(e["timestamp"]).astimezone()  # the sensor's local time
    return f"{MONTHS[t.month - 1]} {t.day:2d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def check_3164(e, m, ctx, with_host=True):
    raw = m["raw"].encode("utf-8")
    hdr, msg = parse_3164(raw, with_host)
    assert hdr["pri"] == ctx["facility"] * 8 + severity(e)
    assert hdr["timestamp"] == local_3164(e)
    if with_host:
        assert hdr["hostname"] == ctx["hostname"]
    assert hdr["tag"] == ctx["app"]
    assert hdr["pid"] == str(ctx["pid"])
    assert json.loads(msg) == e


def check_cef(e, m, ctx, with_host=True):
    raw = m["raw"].encode("utf-8")
    hdr, head, ext = parse_cef(raw, with_host)
    assert hdr["pri"] == ctx["facility"] * 8 + severity(e)
    assert hdr["timestamp"] == local_3164(e)
    if with_host:
        assert hdr["hostname"] == ctx["hostname"]
    sk = e.get("sinkhole", {})
    sig = e["event_type"] + (":" + sk["action"] if e["event_type"] == "dns" and sk else "")
    assert head[:5] == ["CEF:0", "sinktrap", "sinktrap", ctx["version"], sig]
    assert head[6] == str(cef_severity(e))
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    usec = (eve_time(e["timestamp"]) - epoch) // datetime.timedelta(microseconds=1)
    want = {"rt": str(usec // 1000), "cat": e["event_type"], "externalId": e["event_id"]}
    if ctx.get("sensor"):
        want["dvchost"] = ctx["sensor"]
    for k, src in (("spt", "src_port"), ("dpt", "dest_port"), ("proto", "proto"),
                   ("app", "app_proto")):
        if src in e:
            want[k] = str(e[src])
    for k, lab, src in (("src", "c6a2", "src_ip"), ("dst", "c6a3", "dest_ip")):
        if src in e:
            if ":" in e[src]:
                want[lab] = e[src]
                want[lab + "Label"] = ("Source" if k == "src" else "Destination") + \
                    " IPv6 Address"
            else:
                want[k] = e[src]
    if domain(e):
        want["dhost"] = utf8_clean_cef(domain(e))
    act = sk.get("action") or e.get("sinkhole_map", {}).get("action")
    if act:
        want["act"] = act
    if sk.get("reason"):
        want["reason"] = sk["reason"]
    for n, label, v in (("cs1", "rule", sk.get("rule")), ("cs2", "list", sk.get("list")),
                        ("cs3", "communityId", e.get("community_id")),
                        ("cs4", "sinkholeAddress",
                         sk.get("answer") or e.get("sinkhole_map", {}).get("address")),
                        ("cs5", "rrtype", e.get("dns", {}).get("rrtype")),
                        ("cs6", "flowId", e.get("flow_id"))):
        if v is not None:
            want[n + "Label"] = label
            want[n] = utf8_clean_cef(str(v))
    for k, path in (("request", ("http", "url")), ("requestMethod", ("http", "http_method")),
                    ("requestClientApplication", ("http", "http_user_agent")),
                    ("suser", ("credentials", "username")), ("fileHash", ("fileinfo", "sha256")),
                    ("fsize", ("fileinfo", "size")), ("fname", ("fileinfo", "filename")),
                    ("msg", ("alert", "category"))):
        v = e.get(path[0], {}).get(path[1]) if isinstance(e.get(path[0]), dict) else None
        if v is not None:
            want[k] = utf8_clean_cef(str(v))
    assert ext == want, (ext, want)


def utf8_clean_cef(s):
    """CEF keeps CR and LF (escaped, and unescaped by the parser); the rest as utf8_clean."""
    return "".join(ch if ch in "\r\n" else utf8_clean(ch) for ch in s)


def ids_5424(m):
    try:
        return parse_5424(m["raw"].encode("utf-8"))[1].get("event_id")
    except (AssertionError, ValueError):
        return None


def ids_json(m):
    raw = m["raw"]
    i = raw.find("{")
    try:
        return json.loads(raw[i:]).get("event_id") if i >= 0 else None
    except ValueError:
        return None


def ids_cef(m):
    raw = m["raw"]
    i = raw.find(" externalId=")
    if i < 0:
        return None
    return raw[i + 12:].split(" ", 1)[0]


def store_pid(st):
    return json.loads((st.state_dir / "status.json").read_text())["pid"]


def settle(st, quiet=1.0, timeout=30):
    """Wait until the JSON file stops growing; return its events."""
    last, since = -1, None
    deadline = datetime.datetime.now().timestamp() + timeout
    import time
    while True:
        evs = st.events()
        now = time.monotonic()
        if len(evs) != last:
            last, since = len(evs), now
        elif now - since >= quiet:
            return evs
        assert datetime.datetime.now().timestamp() < deadline, "events kept coming"
        time.sleep(0.1)
