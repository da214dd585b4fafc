"""The local CA is made as root in a directory the workers' user owns, whose
parent (the state directory) that user can write too. A compromised worker can
swap the CA directory for a symbolic link to a root directory at any moment
while the CA is being made: root must never make a file where the link points.
The CA's files are read and written through the directory's descriptor, opened
once and never through a link.

`sinktrap trap` runs the trap alone, as root: it makes the CA while privileged
(as the parent does) and then opens it again for the worker, so each start
opens it twice as root. The CA directory is exchanged with a link to a root
directory (renameat2 RENAME_EXCHANGE: the name is always there, now the one,
now the other) as fast as possible during each start.
"""

import ctypes
import os
import signal
import threading

import pytest

import harness

NOBODY = 65534
AT_FDCWD = -100
RENAME_EXCHANGE = 2
ROUNDS = 12

_libc = ctypes.CDLL(None, use_errno=True)


@pytest.fixture(autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.skip("the CA is made as root for the workers' user")


def exchange(a, b):
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b),
                       RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"renameat2 {a} {b}: {os.strerror(e)}")


class Swapper(threading.Thread):
    """Exchanges `ca` and `ca.swap` (the real directory and the planted link)
    until stopped; leaves `ca` the directory."""

    def __init__(self, state):
        super().__init__(daemon=True)
        self.ca, self.swap = state / "ca", state / "ca.swap"
        self.halt = threading.Event()
        self.flips = 0

    def run(self):
        while not self.halt.is_set():
            exchange(self.ca, self.swap)
            self.flips += 1

    def stop(self):
        self.halt.set()
        self.join(10)
        if self.ca.is_symlink():
            exchange(self.ca, self.swap)


def trap_conf(res, state):
    st = res.sinktrap({"sinktrap": {"state_dir": str(state)},
                       "dns": {"upstream": "127.0.0.1:9"},  # not started: the trap alone
                       "trap": {"enabled": "yes", "listen": "127.0.0.1",
                                "ports": harness.free_port(v6=False)}},
                      start=False)
    return st.write_conf()


def run_trap_once(res, conf, log):
    """`sinktrap trap` until its worker has opened the CA (or given TLS up)."""
    p = harness.Proc([harness.sinktrap_bin(), "trap", "-c", conf], log)
    try:
        harness.wait_until(lambda: "TLS: local CA" in p.log() or "TLS disabled" in p.log()
                           or not p.alive(), 60, what="the trap to open its CA")
        p.signal(signal.SIGTERM)
        p.wait(10)
    finally:
        p.kill_all()
    return log.read_text(errors="replace")


def test_ca_directory_swapped_for_a_link_while_made(res):
    state = res.dir / "state"
    state.mkdir(mode=0o750)
    os.chown(state, NOBODY, NOBODY)
    ca = state / "ca"
    ca.mkdir(mode=0o700)
    os.chown(ca, NOBODY, NOBODY)  # as the parent leaves it for the workers
    victim = res.dir / "victim"  # a root directory (standing for /etc/cron.d)
    victim.mkdir(mode=0o700)
    os.symlink(victim, state / "ca.swap")
    conf = trap_conf(res, state)

    for i in range(ROUNDS):
        for f in os.listdir(ca):  # a new CA to make each time
            os.unlink(ca / f)
        log = res.path(f"trap-{i}.log")
        sw = Swapper(state)
        sw.start()
        try:
            text = run_trap_once(res, conf, log)
        finally:
            sw.stop()
        assert sw.flips > 0
        assert "TLS: local CA" in text or "TLS disabled" in text, text
        assert harness.sanitizer_lines(text) == [], text
        assert os.listdir(victim) == [], \
            f"round {i}: root made {os.listdir(victim)} through the link:\n{text}"
        # Nothing half-made is left behind in the real directory either.
        assert set(os.listdir(ca)) <= {"ca.key", "ca.crt"}, os.listdir(ca)

    # Left alone, the directory the workers' user owns serves its CA.
    for f in os.listdir(ca):
        os.unlink(ca / f)
    text = run_trap_once(res, conf, res.path("trap-last.log"))
    assert "TLS: local CA" in text, text
    assert sorted(os.listdir(ca)) == ["ca.crt", "ca.key"]
    assert os.stat(ca / "ca.key").st_mode & 0o777 == 0o600
    text = run_trap_once(res, conf, res.path("trap-again.log"))
    assert "TLS: local CA" in text and "made a new CA key" not in text, text
    assert os.listdir(victim) == []
