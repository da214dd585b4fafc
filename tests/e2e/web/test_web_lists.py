"""The lists page's API: every list with its entry count (the DNS worker's
parser on the files), what the DNS worker took at its last reload, and which
entry decides a name."""

import urllib.parse

import harness
import webenv


def test_lists_counts_and_reload(mres):
    block = harness.write_list(mres.path("block.hosts"),
                               ["0.0.0.0 one.web-lists.test", "0.0.0.0 two.web-lists.test",
                                "0.0.0.0 three.web-lists.test", "not a valid line !!"])
    st, base, _ = webenv.start(mres, dns={"blocklist": str(block),
                                            "upstream": "127.0.0.1:9"})
    c = webenv.Client(base)
    assert c.login()[0] == 200

    st_, j = c.get("/api/lists")
    assert st_ == 200, j
    assert [x["path"] for x in j["lists"]] == [str(block)]
    ent = {e["path"]: e for e in j["entries"]}
    assert ent[str(block)]["entries"] == 3 and ent[str(block)]["allow"] is False
    assert ent[str(block)]["invalid"] == 1
    assert j["rules"] == 3 and j["lists_error"] is None
    assert j["last_reload"] is None

    st_, k = c.get("/api/lists/check?name=sub.two.web-lists.test")
    assert st_ == 200 and k["sinkholed"] is True and f"{block}:2" in k["explanation"]
    st_, k = c.get("/api/lists/check?name=other.web-lists.test")
    assert st_ == 200 and "no list entry" in k["explanation"]
    # The same words as `sinktrap check`, a name in Unicode too.
    for name in ("Sub.Two.web-lists.test.", "other.web-lists.test", "bücher.web-lists.test"):
        _, k = c.get("/api/lists/check?name=" + urllib.parse.quote(name))
        r = st.run_cmd("check", name)
        assert r.stdout == k["explanation"], (r.stdout, k)

    # A new list and a reload: the counts follow the file, the reload is reported.
    harness.replace_file(block, "0.0.0.0 one.web-lists.test\n0.0.0.0 four.web-lists.test\n"
                                "0.0.0.0 five.web-lists.test\n0.0.0.0 six.web-lists.test\n"
                                "0.0.0.0 seven.web-lists.test\n")
    st.hup()

    def reloaded():
        _, j = c.get("/api/lists")
        return j if j.get("last_reload") else None

    j = harness.wait_until(reloaded, 20, what="the reload in /api/lists")
    ent = {e["path"]: e for e in j["entries"]}
    assert ent[str(block)]["entries"] == 5
    rl = {x["path"]: x for x in j["last_reload"]["stats"]["lists"]}
    assert rl[str(block)]["entries"] == 5
    assert j["last_reload"]["stats"]["rules"] == 5
    assert j["last_reload"]["ts"] > 0


def test_check_an_address_against_rpz_ip_entries(res):
    rpz = harness.write_list(res.path("ip.rpz"), [
        "$TTL 300", "@ SOA localhost. root.localhost. 1 1 1 1 1",
        "24.0.2.0.192.rpz-ip CNAME .", "c2.web-lists.test CNAME ."])
    st, base, _ = webenv.start(res, dns={"blocklist": str(rpz), "upstream": "127.0.0.1:9"})
    c = webenv.Client(base)
    assert c.login()[0] == 200
    _, j = c.get("/api/lists")
    assert j["rules"] == 2
    st_, k = c.get("/api/lists/check?name=192.0.2.9")
    assert st_ == 200 and k["sinkholed"] is True, k
    assert f"{rpz}:3 (192.0.2.0/24)" in k["explanation"]
    for addr in ("192.0.2.9", "192.0.3.1"):
        _, k = c.get("/api/lists/check?name=" + addr)
        assert k["explanation"] == st.run_cmd("check", addr).stdout
