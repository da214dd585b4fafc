"""Two `sinktrap ingest` at the same time into one new state directory: both
create the database at once (each schema step is taken once, under the write
lock) and each session gets a flow id of its own (ids are taken in blocks
recorded in the spool, not from the clock alone)."""

import subprocess
import time

import pytest

import caplib

A = caplib.PCAPS / "capture-Thu-11-24-16-10-28-11_cerber.pcap"
B = caplib.PCAPS / "evilfingers_xscan_capture.pcap"


@pytest.mark.parametrize("round_", range(3))
def test_two_ingests_at_once(mres, round_):
    if not (A.exists() and B.exists()):
        pytest.skip("captures missing")
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    st.write_conf()
    procs = [subprocess.Popen([st.bin, "ingest", "-q", "-c", str(st.conf_path), str(p)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for p in (A, B)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()
    rows = st.db().execute("SELECT flow_id FROM sessions").fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) > 1000
    assert len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} flow ids shared"
    # one counter for every run, from the clock (ms << 10) up: no kind bit on
    # top, which would bring the ids near 2^53 (JSON's exact integers)
    now_ms = time.time_ns() // 1_000_000
    assert max(ids) < (now_ms << 10) + (1 << 26)
    # every session's packets come back by its id, from its own capture alone
    for s in caplib.sessions(st)[:: max(1, len(ids) // 20)]:
        got = caplib.read_pcap(caplib.pcap(st, "--session", s["flow_id"]).stdout)
        assert len(got) == s["pkts_toserver"] + s["pkts_toclient"], s
    ids_file = (caplib.spool(st) / ".flow-ids").read_text()
    assert ids_file.startswith("capture ") and "\ningest " in ids_file
