"""The trap on explicit ports alone (no catch-all): an FTP passive data
connection comes to the data listener the trap opened for it, not to a
redirect listener. When the worker is out of descriptors, that listener
rests instead of spinning, and takes the connection once it can."""

import os
import re
import resource
import time

import harness
from trapenv import TRAP_IP, fd_count

TRAP_CONF = {"trap": {"redirect_port": 0, "tproxy_port": 0, "ports": "21,80",
                      "read_timeout": "20s"}}


def trap_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def nofile_soft(pid, soft=None):
    """The worker's soft descriptor limit, set to soft when given; (soft, hard)
    before. Done as the worker's own user: root without CAP_SYS_RESOURCE may
    not touch another user's limits."""
    st = harness.proc_status(pid)
    uid, gid = int(st["Uid"].split()[0]), int(st["Gid"].split()[0])
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            if soft is not None:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, old[1]))
            os.write(w, f"{old[0]} {old[1]}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    out = os.read(r, 100).decode()
    os.close(r)
    _, status = os.waitpid(child, 0)
    assert status == 0 and out, f"prlimit of {pid} as {uid}:{gid} failed"
    return tuple(int(x) for x in out.split())


def read_reply(s, code):
    """Lines from the control connection up to the final reply with this code."""
    buf = b""
    while True:
        chunk = s.recv(4096)
        assert chunk, f"closed before a {code} reply; got {buf!r}"
        buf += chunk
        for line in buf.split(b"\r\n"):
            if line.startswith(code.encode() + b" "):
                return buf.decode(errors="replace")


def test_ftp_data_listener_rests_without_descriptors(env):
    pid = env.trap_pid()
    c = env.tcp(TRAP_IP, 21, timeout=10)
    read_reply(c, "220")
    c.sendall(b"USER anon\r\n")
    read_reply(c, "331")
    c.sendall(b"PASS x\r\n")
    read_reply(c, "230")
    c.sendall(b"PASV\r\n")
    m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", read_reply(c, "227"))
    dport = int(m.group(5)) * 256 + int(m.group(6))

    fill, d = [], None
    soft, _ = nofile_soft(pid, fd_count(pid) + 2)
    try:
        # Take the worker's last descriptors: connections until it accepts no more.
        for _ in range(10):
            before = fd_count(pid)
            fill.append(env.tcp(TRAP_IP, 80))
            time.sleep(0.3)
            if fd_count(pid) == before:
                break
        else:
            raise AssertionError("the worker kept taking connections past its limit")
        d = env.tcp(TRAP_IP, dport)  # waits in the data listener's backlog
        time.sleep(0.3)
        cpu0 = trap_cpu_seconds(pid)
        time.sleep(2)
        used = trap_cpu_seconds(pid) - cpu0
        # Spinning on the listener took a whole core; resting takes next to nothing.
        assert used < 0.3, f"the trap worker used {used:.2f} s of CPU in 2 s"
    finally:
        nofile_soft(pid, soft)
        for s in fill:
            s.close()
    try:
        # With descriptors again, the data connection is taken and carries the listing.
        c.sendall(b"LIST\r\n")
        r = read_reply(c, "226")
        assert "150" in r, r
        listing = b""
        d.settimeout(5)
        while True:
            chunk = d.recv(4096)
            if not chunk:
                break
            listing += chunk
        assert listing, "no listing on the data connection"
    finally:
        d.close()
        c.close()
    assert env.trap_pid() == pid
    harness.wait_until(lambda: fd_count(pid) < 30, 10, what="the connections to be closed")
