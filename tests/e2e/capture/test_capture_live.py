"""Live capture on a veth pair into a network namespace of the test's own, while
dig and curl run in it: sessions, the sinkhole map, the packets of a session
byte for byte as a tcpdump beside it saw them, stats in `sinktrap status`, a
capture worker without privileges; a kill -9 in the middle of a capture
that leaves every file readable and the unfinished one recovered; and a start
that inflates the indexes of the newest files only, an older one's corrupt
block left to the query, which reads its capture instead."""

import os
import signal
import subprocess
import time
from decimal import Decimal

import pytest

import caplib
import harness

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not caplib.have("ip", "curl", "dig", "tcpdump", "tshark"),
    reason="needs root, ip, curl, dig, tcpdump and tshark")


# 600-byte datagrams to the discard port, about 2000 a second, until killed
FLOOD = '''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    for _ in range(20):
        s.sendto(b"x" * 600, (sys.argv[1], 9))
    time.sleep(0.01)
'''


@pytest.fixture
def veth():
    v = caplib.Veth()
    yield v
    v.close()


def _live_conf(veth, blocklist, extra=None):
    octet = veth.host_ip.split(".")[2]
    conf = caplib.capture_conf(dns=True, extra={
        "capture": {"enabled": "yes", "interface": veth.host_if, "stats_interval": "1s",
                    "udp_timeout": "2s", "tcp_new_timeout": "3s", "tcp_closed_timeout": "1s",
                    "file_time": "1m"},
        "dns": {"blocklist": str(blocklist), "sinkhole_ipv4": f"10.232.{octet}.0/24",
                "log_forwarded": "yes"},
    })
    for sec, kv in (extra or {}).items():
        conf.setdefault(sec, {}).update(kv)
    return conf


def _wait_sessions(st, pred, what, timeout=20):
    return harness.wait_until(lambda: (lambda s: s if pred(s) else None)(caplib.sessions(st)),
                              timeout, interval=0.3, what=what)


def test_live_capture(res, veth, tmp_path):
    up = res.dnsmasq([f"address=/good.example/{veth.host_ip}"])
    blocklist = harness.write_list(tmp_path / "block.txt", ["evil.example"])
    st = res.sinktrap(_live_conf(veth, blocklist), upstream=up, start=False)
    st.conf["dns"]["listen"] = st.conf["dns"]["listen"] + [f"{veth.host_ip}:{st.port}"]
    # a web server on the host side, and a tcpdump beside sinktrap on the same interface
    web_port = harness.free_port(v6=False)
    web = subprocess.Popen(["python3", "-m", "http.server", "--bind", veth.host_ip,
                            str(web_port)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    dump = tmp_path / "tcpdump.pcap"
    td = subprocess.Popen(["tcpdump", "-i", veth.host_if, "-n", "-U", "-w", dump],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    try:
        st.start()
        time.sleep(1.0)  # tcpdump and the capture worker are reading
        pid = st.workers().get("sinktrap-captur")  # comm keeps 15 characters
        assert pid, st.workers()
        status = harness.proc_status(pid)
        assert status["Uid"].split()[0] == str(harness.nobody_uid())
        assert int(status["CapEff"], 16) == 0, "the capture worker keeps no capability"

        r = veth.ns_run("dig", f"@{veth.host_ip}", "-p", st.port, "+short", "+tries=1",
                        "good.example")
        assert r.stdout.decode().strip() == veth.host_ip
        r = veth.ns_run("dig", f"@{veth.host_ip}", "-p", st.port, "+short", "+tries=1",
                        "evil.example")
        trap_addr = r.stdout.decode().strip()
        assert trap_addr.startswith("10.232.")
        r = veth.ns_run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://{veth.host_ip}:{web_port}/")
        assert r.stdout == b"200"
        # the sinkholed address answers nothing here: a half-open session
        veth.ns_run("curl", "-s", "--max-time", "1", f"http://{trap_addr}:8080/", check=False)

        def done(ss):
            kinds = {(s["proto"], s["dest_port"]) for s in ss if s["src_ip"] == veth.ns_ip}
            return {("UDP", st.port), ("TCP", web_port), ("TCP", 8080)} <= kinds
        ss = _wait_sessions(st, done, "the sessions of dig and curl")
        mine = [s for s in ss if s["src_ip"] == veth.ns_ip]
        http = [s for s in mine if s["dest_port"] == web_port][0]
        assert http["conn_state"] == "SF" and http["reason"] == "fin"
        assert http["pkts_toserver"] >= 4 and http["pkts_toclient"] >= 4
        half = [s for s in mine if s["dest_port"] == 8080][0]
        assert half["dest_ip"] == trap_addr and half["conn_state"] in ("S0", "OTH")
        assert len([s for s in mine if s["proto"] == "UDP"]) >= 2
        # the sinkhole map leads from the domain to its session
        by_domain = caplib.sessions(st, "--domain", "evil.example")
        assert [s["flow_id"] for s in by_domain] == [half["flow_id"]]
        assert caplib.sessions(st, "--domain", "good.example") == []
        # and to its packets: those of the session to its trap address, nothing else
        by_dom = caplib.read_pcap(caplib.pcap(st, "--domain", "evil.example").stdout)
        by_sess = caplib.read_pcap(caplib.pcap(st, "--session", half["flow_id"]).stdout)
        assert by_dom and by_dom == by_sess
        r = caplib.pcap(st, "--domain", "good.example", check=False)
        assert r.returncode == 1 and caplib.read_pcap(r.stdout) == []
        assert b"has given good.example (or a name under it) no address" in r.stderr
        r = caplib.pcap(st, "--session", half["flow_id"], "--domain", "evil.example",
                        check=False)
        assert r.returncode == 2 and b"do not go with it" in r.stderr
        r = caplib.pcap(st, "--limit", "5", check=False)
        assert r.returncode == 2 and b"--limit is for sessions" in r.stderr

        # stats: in the events and in `sinktrap status`
        def stats():
            evs = [e for e in st.events("stats") if e["stats"].get("worker") == "capture"]
            return evs[-1] if evs and evs[-1]["stats"]["capture"]["captured"] > 0 else None
        ev = harness.wait_until(stats, 10, what="a capture stats event")
        cap = ev["stats"]["capture"]
        assert cap["kernel_drops"] == 0 and cap["ifdrops"] == 0
        assert cap["interfaces"][veth.host_if]["captured"] > 0
        out = harness.wait_until(
            lambda: (lambda r: r if "capture worker" in r else None)(
                caplib.cmd(st, "status").stdout.decode()), 10, what="capture in status")
        assert "kernel_drops=0" in out and f"interfaces.{veth.host_if}.captured=" in out

        # the packets of the HTTP session, as tcpdump saw them
        ours = caplib.read_pcap(caplib.pcap(st, "--session", http["flow_id"]).stdout)
    finally:
        for p in (td, web):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=10)
    theirs = caplib.tshark_select(dump, caplib.five_tuple_filter(http), tmp_path / "t.pcap")
    assert len(ours) == http["pkts_toserver"] + http["pkts_toclient"]
    # each packet socket stamps its own copy (microseconds apart): the bytes must agree
    assert [(ol, b) for _, ol, b in ours] == [(ol, b) for _, ol, b in theirs]
    st.stop()


def test_kill_9_mid_capture(res, veth, tmp_path):
    up = res.dnsmasq()
    blocklist = harness.write_list(tmp_path / "block.txt", ["evil.example"])
    st = res.sinktrap(_live_conf(veth, blocklist, {"capture": {"file_size": "256k",
                                                               "file_time": "10m"}}),
                      upstream=up)
    time.sleep(0.5)
    # steady traffic into the namespace's side: several files' worth
    flood = veth.ns_popen("python3", "-c", FLOOD, veth.host_ip)
    spool = caplib.spool(st)

    def parts():
        return [p for p in spool.iterdir() if p.name.endswith(".part") and p.stat().st_size > 24]
    harness.wait_until(lambda: len(caplib.spool_files(st)) >= 3 and parts(), 20,
                       what="finished files and one being written")
    time.sleep(0.3)
    harness.wait_until(parts, 5, interval=0.001, what="a file being written")
    os.killpg(st.pid, signal.SIGKILL)  # parent and workers at once
    flood.kill()
    st.proc.wait(10)
    time.sleep(0.2)
    # the file being written stays under its temporary name; so do those finished before
    # it that the finisher had not yet indexed and renamed when the kill landed
    part = sorted(parts(), key=lambda p: p.name)
    assert part
    writing = part[-1]
    finished = [p for p in spool.iterdir()
                if p.name.startswith("sinktrap-") and p.name.endswith(".pcap")]
    assert len(finished) + len(part) >= 3
    for p in finished + part:
        r = caplib.run(["tcpdump", "-nr", p], check=False)
        lines = r.stdout.decode().splitlines()
        assert lines, f"{p.name}: nothing readable"
        # a kill can land inside the write of a record: only the file being written may
        # end in a cut one (recovery removes it); files the writer finished are whole
        if p != writing:
            assert b"truncated" not in r.stderr, f"{p.name}: {r.stderr!r}"
    in_part = sum(len(caplib.run(["tcpdump", "-nr", p]).stdout.decode().splitlines())
                  for p in part)
    names = [p.name[:-len(".part")] for p in part]

    # a new start recovers every unfinished file: final name, an index, its packets found
    st.start()
    harness.wait_until(lambda: all((spool / n).exists() and (spool / (n + ".idx")).exists()
                                   for n in names),
                       15, what="the unfinished files recovered")
    assert st.log().count("recovered after a crash") >= len(names)
    got = caplib.read_pcap(caplib.pcap(st, "--host", veth.ns_ip, "--port", "9").stdout)
    assert len(got) >= in_part
    st.stop()


def test_quota_deletes_oldest_first(res):
    names = ["honeynet_fc2010-1_attack-trace.pcap", "ek_to_cryptowall4.pcapng",
             "http_espn.pcapng", "evilfingers_xscan_capture.pcap", "cryptowall4_c2.pcapng"]
    if not all((caplib.PCAPS / n).exists() for n in names):
        pytest.skip("captures missing")
    st = res.sinktrap(caplib.capture_conf(extra={"capture": {"file_size": "256k",
                                                              "max_disk": "2500k"}}),
                      start=False)
    for n in names:
        caplib.ingest(st, caplib.PCAPS / n)
    files = caplib.spool_files(st)
    seqs = [int(f.split("-")[2].split(".")[0]) for f in files]
    total = sum(p.stat().st_size for p in caplib.spool(st).iterdir() if p.name[0] != ".")
    assert total <= 2500 * 1024
    # the survivors are the newest files, with no gap
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] > 1
    expired = [e["pcap_expired"] for e in st.events("pcap_expired")]
    assert [int(e["file"].split("-")[2].split(".")[0]) for e in expired] == \
        list(range(1, seqs[0])), "oldest first, each once"
    assert all(e["reason"] == "max_disk" for e in expired)
    gone = {e["file"] for e in expired}
    ss = caplib.sessions(st)
    for s in ss:
        assert s["expired"] == (s["pcap_last"] in gone), s
    old = [s for s in ss if s["expired"]][0]
    r = caplib.pcap(st, "--session", old["flow_id"], check=False)
    assert r.returncode == 1 and b"expired" in r.stderr
    new = [s for s in ss if not s["expired"] and s["proto"] == "TCP"][0]
    assert caplib.read_pcap(caplib.pcap(st, "--session", new["flow_id"]).stdout)


def test_start_checks_blocks_of_the_newest_files_only(res, veth):
    """A worker start reads the header and block table of every index but inflates
    the blocks of the newest few files only, so a large spool does not hold capture
    back: an older index with a block that does not decode is left as it is, and a
    query through it still finds every packet, reading that capture instead and
    saying so. A corrupt block of the newest file is indexed again."""
    ek = caplib.PCAPS / "ek_to_cryptowall4.pcapng"
    if not (caplib.ATTACK.exists() and ek.exists()):
        pytest.skip("captures missing")
    st = res.sinktrap(caplib.capture_conf(
        extra={"capture": {"enabled": "yes", "interface": veth.host_if, "file_size": "64k"}},
        timeouts=caplib.LONG), start=False)
    # a first start gives the spool to the workers' user: the ingest (as root) then
    # gives it the files
    st.start(wait=False)
    harness.wait_until(lambda: "capture: capturing on" in st.log(), 15,
                       what="the capture worker")
    st.stop()
    caplib.ingest(st, caplib.ATTACK, ek)
    files = caplib.spool_files(st)
    deep = 8  # SPOOL_RECOVER_DEEP
    assert len(files) > deep + 2, files
    s = [x for x in caplib.sessions(st) if x["dest_port"] == 1080][0]
    assert files.index(s["pcap_first"]) < len(files) - deep
    want = caplib.read_pcap(caplib.pcap(st, "--port", "1080").stdout)
    assert len(want) == 271
    spool = caplib.spool(st)
    old, new = spool / (s["pcap_first"] + ".idx"), spool / (files[-1] + ".idx")
    for idx in (old, new):
        data = bytearray(idx.read_bytes())
        data[-1] ^= 0x55  # the last block's Adler-32: header and table still check out
        idx.write_bytes(bytes(data))
    corrupt = old.read_bytes()
    st.start(wait=False)
    try:
        # files are recovered in sequence order: the newest is the last one looked at
        harness.wait_until(lambda: f"{files[-1]}: indexed again (its index is corrupt"
                           in st.log(), 15, what="the newest index made again")
        assert f"{s['pcap_first']}: indexed again" not in st.log()
        assert old.read_bytes() == corrupt
        r = caplib.pcap(st, "--port", "1080", check=False)
        assert r.returncode == 0, r.stderr
        assert caplib.read_pcap(r.stdout) == want
        err = r.stderr.decode()
        assert f"{old.name}: " in err and "reading the capture instead" in err, err
    finally:
        st.stop()


def test_drops_counted(res, veth, tmp_path):
    """Packets the ring had no room for are counted: in the `stats` events (in total
    and per interface), in `sinktrap status`, and raised as an alert. The worker is
    stopped (SIGSTOP) while a flood fills its 1 MB ring."""
    up = res.dnsmasq()
    blocklist = harness.write_list(tmp_path / "block.txt", ["evil.example"])
    st = res.sinktrap(_live_conf(veth, blocklist, {"capture": {"buffer": "1M"}}),
                      upstream=up)

    def last_stats():
        evs = [e for e in st.events("stats") if e["stats"].get("worker") == "capture"]
        return evs[-1]["stats"]["capture"] if evs else None
    harness.wait_until(last_stats, 10, what="a first capture stats event")
    pid = st.workers().get("sinktrap-captur")
    assert pid
    flood = veth.ns_popen("python3", "-c", FLOOD, veth.host_ip)
    time.sleep(0.5)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(3)  # some 6,000 packets of 600 bytes for a ring that holds about 1,500
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(0.5)
    flood.kill()
    cap = harness.wait_until(lambda: (lambda c: c if c and c["kernel_drops"] > 0 else None)(
        last_stats()), 10, what="kernel drops in a stats event")
    iface = cap["interfaces"][veth.host_if]
    assert iface["kernel_drops"] == cap["kernel_drops"]
    assert cap["captured"] + cap["kernel_drops"] <= cap["packets"]
    alerts = harness.wait_until(
        lambda: [e for e in st.events("alert")
                 if e["alert"].get("signature") == "capture dropped packets"], 10,
        what="the drop alert")
    assert alerts[0]["stats"]["kernel_drops"] > 0
    out = harness.wait_until(
        lambda: (lambda r: r if "capture worker" in r else None)(
            caplib.cmd(st, "status").stdout.decode()), 10, what="capture in status")
    drops = [int(w.split("=")[1]) for w in out.split() if w.startswith("kernel_drops=")]
    assert drops and drops[0] > 0, out
    st.stop()
    # after the stop, the last stats event has every packet the spool holds
    final = last_stats()
    assert final["kernel_drops"] >= cap["kernel_drops"]
    written = sum(len(caplib.read_pcap(caplib.spool(st) / f)) for f in caplib.spool_files(st))
    assert written == final["written"]


def test_live_pcapng_nanoseconds(res, veth, tmp_path):
    """format = pcapng: the spool files are pcapng with nanosecond time stamps
    (if_tsresol 9) as the kernel gave them, and `sinktrap pcap` returns a session
    in nanosecond pcap with those very time stamps."""
    up = res.dnsmasq([f"address=/good.example/{veth.host_ip}"])
    blocklist = harness.write_list(tmp_path / "block.txt", ["evil.example"])
    st = res.sinktrap(_live_conf(veth, blocklist, {"capture": {"format": "pcapng"}}),
                      upstream=up, start=False)
    st.conf["dns"]["listen"] = st.conf["dns"]["listen"] + [f"{veth.host_ip}:{st.port}"]
    st.start()
    time.sleep(1.0)
    for _ in range(3):
        r = veth.ns_run("dig", f"@{veth.host_ip}", "-p", st.port, "+short", "+tries=1",
                        "good.example")
        assert r.stdout.decode().strip() == veth.host_ip
    ss = _wait_sessions(st, lambda ss: len([s for s in ss if s["src_ip"] == veth.ns_ip and
                                            s["dest_port"] == st.port]) >= 3,
                        "the sessions of dig")
    st.stop()
    files = caplib.spool_files(st)
    assert files and all(f.endswith(".pcapng") for f in files), files
    s = [s for s in ss if s["src_ip"] == veth.ns_ip and s["dest_port"] == st.port][0]
    path = caplib.spool(st) / s["pcap_first"]
    info = caplib.run(["capinfos", "-M", path]).stdout.decode()
    assert "nanoseconds" in info, info
    text = caplib.tshark("-r", path, "-Y", caplib.five_tuple_filter(s), "-T", "fields",
                         "-e", "frame.time_epoch")
    theirs = [int(Decimal(t) * 1_000_000_000) for t in text.split()]
    assert len(theirs) == s["pkts_toserver"] + s["pkts_toclient"] >= 2
    assert any(t % 1000 for t in theirs), "time stamps below the microsecond are kept"
    r = caplib.pcap(st, "--session", s["flow_id"])
    assert r.stdout[:4] == b"\x4d\x3c\xb2\xa1", "nanosecond pcap"
    assert [ts for ts, _, _ in caplib.read_pcap(r.stdout)] == theirs
