"""`sinktrap pcap --session` from the spool's indexes alone, and when it must
ask the store: a session spread over several files comes back whole without the
store; one whose packets go on into a file still being written (no index yet)
is found through the store; a file being written that starts after the session
ended does not stop the index-only way."""

import os
import shutil

import pytest

import caplib

EK = caplib.PCAPS / "ek_to_cryptowall4.pcapng"


def _spread_st(mres, *captures):
    """A spool of small files (64 KB) holding the captures, and its sessions."""
    for c in captures:
        if not c.exists():
            pytest.skip(f"{c.name} missing")
    st = mres.sinktrap(caplib.capture_conf(extra={"capture": {"file_size": "64k"}},
                                           timeouts=caplib.LONG), start=False)
    caplib.ingest(st, *captures)
    return st, caplib.sessions(st)


def _spread(sessions):
    return [s for s in sessions if s["pcap_first"] != s["pcap_last"]]


class _StoreBroken:
    """The store's database replaced by bytes SQLite refuses, then put back:
    a command that asks the store then fails."""

    def __init__(self, st):
        self.db = st.db_path()
        self.saved = self.db.with_name("saved.db")

    def __enter__(self):
        for ext in ("-wal", "-shm"):
            p = self.db.with_name(self.db.name + ext)
            if p.exists():
                p.unlink()
        shutil.move(self.db, self.saved)
        self.db.write_bytes(b"not a database, " * 512)
        return self

    def __exit__(self, *exc):
        self.db.unlink()
        shutil.move(self.saved, self.db)


def _packets(st, flow_id, check=True):
    r = caplib.pcap(st, "--session", flow_id, check=check)
    return r, caplib.read_pcap(r.stdout) if r.returncode == 0 else None


def test_session_over_several_files_without_the_store(mres):
    st, ss = _spread_st(mres, EK)
    assert len(caplib.spool_files(st)) >= 5
    spread = _spread(ss)
    assert spread, "no session spans two files"
    chosen = spread[:4] + [s for s in ss if s not in spread][:2]
    want = {s["flow_id"]: _packets(st, s["flow_id"])[1] for s in chosen}
    for s in chosen:
        assert len(want[s["flow_id"]]) == s["pkts_toserver"] + s["pkts_toclient"]
    with _StoreBroken(st):
        # the store cannot be read: the index-only way must not need it
        r = caplib.cmd(st, "sessions", check=False)
        assert r.returncode != 0
        for s in chosen:
            r, got = _packets(st, s["flow_id"], check=False)
            assert r.returncode == 0, r.stderr
            assert got == want[s["flow_id"]], s["flow_id"]


def test_session_going_on_into_a_file_being_written(mres):
    """The last file of a session as if still being written (NAME.part, no
    index yet): the indexes cannot vouch for it, so the store is asked, and
    the session still comes back whole."""
    st, ss = _spread_st(mres, EK)
    s = max(_spread(ss), key=lambda s: s["pkts_toserver"] + s["pkts_toclient"])
    whole = _packets(st, s["flow_id"])[1]
    last = caplib.spool(st) / s["pcap_last"]
    os.rename(last, last.with_name(last.name + ".part"))
    last.with_name(last.name + ".idx").unlink()
    r, got = _packets(st, s["flow_id"])
    assert got == whole
    with _StoreBroken(st):
        r, _ = _packets(st, s["flow_id"], check=False)
        assert r.returncode != 0, "the store was not asked"


def test_file_being_written_after_the_session_ended(mres):
    """A file being written whose first packet comes after the session's last
    one plus the longest flow timeout cannot hold more of it: the index-only
    way stands."""
    st, ss = _spread_st(mres, caplib.ATTACK, EK)
    # the attack trace (2009) and the exploit kit (2016): an exploit kit file
    # being written cannot continue a session of the attack trace
    attack = [s for s in ss if s["start"] < "2012"]
    ek = [s for s in ss if s["start"] > "2014"]
    assert attack and ek
    s = max(attack, key=lambda s: s["pkts_toserver"] + s["pkts_toclient"])
    whole = _packets(st, s["flow_id"])[1]
    last = caplib.spool(st) / caplib.spool_files(st)[-1]
    assert last.name not in {x["pcap_first"] for x in attack}
    os.rename(last, last.with_name(last.name + ".part"))
    last.with_name(last.name + ".idx").unlink()
    with _StoreBroken(st):
        r, got = _packets(st, s["flow_id"], check=False)
        assert r.returncode == 0, r.stderr
        assert got == whole
