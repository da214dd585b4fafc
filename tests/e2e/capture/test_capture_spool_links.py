"""`sinktrap ingest` run as root writes into a spool the workers' user owns:
whatever that user has put there (a symbolic link under a name root is about to
write, create or lock) must not make root write, create or chown a file
elsewhere."""

import os
import struct
import time

import pytest

import caplib
import harness

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _udp_pcap(path, n=10):
    """n UDP packets of one session, raw IP, a classic microsecond pcap."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    for i in range(n):
        udp = struct.pack(">HHHH", 40000, 53, 12, 0) + struct.pack(">I", i)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        out += struct.pack("<IIII", 1700000000 + i, 0, len(ip), len(ip)) + ip
    path.write_bytes(out)


def _victim(tmp_path, name):
    v = tmp_path / name
    v.write_bytes(b"root's own file\n")
    os.chmod(v, 0o644)
    return v


def _unchanged(v):
    st = v.stat()
    assert v.read_bytes() == b"root's own file\n", v
    assert (st.st_uid, st.st_gid) == (0, 0), v


def _spool_of_nobody(st):
    sp = caplib.spool(st)
    sp.mkdir(parents=True)
    os.chown(sp.parent, 0, 0)
    os.chown(sp, harness.nobody_uid(), -1)
    return sp


def test_ingest_as_root_never_writes_through_a_link_in_the_spool(mres, tmp_path):
    """Links planted under the flow-id counter's temporary name and under the
    temporary names the next file's index will be written as: the files they
    point to stay as they were, and the ingest works."""
    src = tmp_path / "udp.pcap"
    _udp_pcap(src)
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    sp = _spool_of_nobody(st)
    ids_victim = _victim(tmp_path, "ids-victim")
    (sp / ".flow-ids.tmp").symlink_to(ids_victim)
    # The first file of an empty spool is number 1, named after the time of
    # the ingest: every second of the next minute is covered.
    idx_victims = []
    now = int(time.time())
    for t in range(now - 2, now + 60):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
        v = _victim(tmp_path, f"idx-victim-{t}")
        (sp / f"sinktrap-{stamp}-0000000001.pcap.idx.tmp").symlink_to(v)
        idx_victims.append(v)
    r = caplib.ingest(st, src)
    assert b"ingested 10 packets" in r.stdout
    _unchanged(ids_victim)
    for v in idx_victims:
        _unchanged(v)
    assert not (sp / ".flow-ids").is_symlink()
    assert b"capture " in (sp / ".flow-ids").read_bytes()
    # the counter is the spool owner's, who reads it next
    assert (sp / ".flow-ids").stat().st_uid == harness.nobody_uid()
    files = caplib.spool_files(st)
    assert len(files) == 1 and files[0].endswith("-0000000001.pcap"), files
    assert (sp / (files[0] + ".idx")).is_file() and not (sp / (files[0] + ".idx")).is_symlink()
    ss = caplib.sessions(st)
    assert len(ss) == 1 and ss[0]["pkts_toserver"] == 10
    assert len(caplib.read_pcap(caplib.pcap(st, "--session", ss[0]["flow_id"]).stdout)) == 10


def test_ingest_as_root_never_creates_the_lock_through_a_link(mres, tmp_path):
    """A dangling link as the spool's lock: root does not create the file it
    names; the ingest stops with a message saying what is wrong."""
    src = tmp_path / "udp.pcap"
    _udp_pcap(src)
    st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
    sp = _spool_of_nobody(st)
    target = tmp_path / "made-by-root"
    (sp / ".lock").symlink_to(target)
    r = caplib.ingest(st, src, check=False)
    assert not os.path.lexists(target)
    assert r.returncode == 1, r
    assert f"lock {sp}/.lock: a symbolic link (never followed)".encode() in r.stderr, r.stderr
    assert caplib.spool_files(st) == []
