"""Every thread of every worker is under the seccomp filter, those a worker made
before it locked down as well (the web server's threads, the capture's finisher),
and no worker holds the parent's event loop or signal descriptor (with them it
could take the parent's signals off its loop: no restarts, no reload, no stop)."""

import ctypes
import os

import pytest

import caplib
import harness

SYS_KCMP = 312  # x86_64
KCMP_FILE = 0


@pytest.fixture
def veth():
    v = caplib.Veth()
    yield v
    v.close()


def kcmp_same_file(pid1, fd1, pid2, fd2):
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(SYS_KCMP, pid1, pid2, KCMP_FILE, fd1, fd2) == 0


def fds(pid):
    out = {}
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(n)] = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            pass
    return out


def test_workers_confined_and_apart_from_the_parent(res, veth):
    if os.uname().machine != "x86_64":
        pytest.skip("kcmp's number is x86_64's here")
    up = res.dnsmasq()
    port, trap_port = harness.free_port(v6=False), harness.free_port(v6=False)
    conf = caplib.capture_conf(dns=True, extra={
        "capture": {"enabled": "yes", "interface": veth.host_if},
        "web": {"enabled": "yes", "listen": f"127.0.0.1:{port}"},
        "trap": {"enabled": "yes", "listen": "127.0.0.1", "ports": str(trap_port)},
    })
    st = res.sinktrap(conf, upstream=up)
    harness.wait_until(lambda: "ready: every worker is up" in st.log(), 20, what="ready")
    # names as the kernel keeps them (15 characters: "sinktrap-captur")
    pids = {name[len("sinktrap-"):]: pid for name, pid in st.workers().items()}
    assert sorted(pids) == ["captur", "dns", "store", "trap", "web"], pids

    sanitized = bool(os.environ.get("SINKTRAP_SANITIZED"))
    for kind, pid in pids.items():
        tasks = os.listdir(f"/proc/{pid}/task")
        if kind in ("web", "captur"):
            assert len(tasks) > 1, f"{kind}: one thread only, nothing to show"
        if sanitized:
            continue  # a sanitizer build runs unconfined
        for t in tasks:
            status = harness.proc_status(f"{pid}/task/{t}")
            assert status["Seccomp"] == "2", f"{kind} worker thread {t}: {status['Seccomp']}"

    parent = fds(st.pid)
    own = {fd for fd, target in parent.items()
           if target in ("anon_inode:[eventpoll]", "anon_inode:[signalfd]")}
    assert own, parent
    for kind, pid in pids.items():
        for wfd, target in fds(pid).items():
            if not target.startswith("anon_inode:"):
                continue
            for pfd in own:
                assert not kcmp_same_file(st.pid, pfd, pid, wfd), \
                    f"the {kind} worker holds the parent's {parent[pfd]} (its fd {wfd})"
    st.stop()
