"""What the trap worker holds for each connection itself (its own state, some
2.6 KiB, from the moment it is accepted) counts in [trap] memory_max, as the
responders' state does: idle connections that send nothing cannot hold
memory no budget sees. With memory_max 1M, those past about 390 are closed
("memory") as they are accepted, and counted; FTP data connections count
too; once the connections are gone the worker holds nothing (the stats event
at stop says memory_held 0). The per-source limits are set out of the way
here, so that only the memory budget refuses."""

import ftplib
import io
import os
import socket

import harness

TRAP_CONF = {"trap": {"memory_max": "1M", "rate_per_source": "100000",
                      "max_per_source": "100000", "read_timeout": "60s"}}
IDLE = 500  # more than fit in 1M at some 2.6 KiB each
PORT = 4444  # no banner: the trap waits for the client to speak


def is_open(s):
    """The trap has not closed s: nothing to read, no end, no reset."""
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def test_idle_connections_count_in_memory_max(env):
    pid = env.trap_pid()
    addr = env.resolve("idle.evil.example")
    mark = env.mark()
    held = []
    try:
        for _ in range(IDLE):
            held.append(env.tcp(addr, PORT))
        # Accepted in order: once this last one is closed past the budget,
        # every earlier one has been accepted and its fate is in the events.
        probe = env.tcp(addr, PORT)
        held.append(probe)
        env.wait_trap(dest_ip=addr, src_port=probe.getsockname()[1], since=mark,
                      pred=lambda e: e["trap"]["end"] == "memory")
        ends = [e for e in env.events(mark, "trap")
                if e["dest_ip"] == addr and e["trap"]["phase"] == "end"]
        closed = [e for e in ends if e["trap"]["end"] == "memory"]
        assert len(closed) == len(ends), [e["trap"]["end"] for e in ends]
        # 1 MiB at some 2.6 KiB each: about 390 fit, never all of them.
        fit = IDLE + 1 - len(closed)
        assert 250 <= fit <= 420, fit
        assert all(e["trap"]["detected"] == "unknown" and e["trap"]["bytes_toserver"] == 0
                   for e in closed)
        closed_ports = {e["src_port"] for e in closed}
        still = [s for s in held if s.getsockname()[1] not in closed_ports]
        assert len(still) == fit and all(is_open(s) for s in still)
        assert env.trap_pid() == pid
    finally:
        for s in held:
            s.close()
    harness.wait_until(
        lambda: len([e for e in env.events(mark, "trap") if e["dest_ip"] == addr]) >= IDLE + 1,
        30, what="every idle connection to end")
    # What they held is given back: a new one is served.
    env.assert_serving()


def ftp_session(env, addr, data):
    """ftplib: login, a listing and an upload over passive data connections."""
    with env.in_client():
        f = ftplib.FTP()
        try:
            f.connect(addr, 21, timeout=8)
            f.login("anon", "guest")
            f.set_pasv(True)
            lines = []
            f.retrlines("LIST", lines.append)
            assert any("backup.tar.gz" in x for x in lines), lines
            assert f.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
            f.quit()
        finally:
            f.close()


def test_ftp_data_connections_and_stop_leave_nothing_held(env):
    """FTP sessions with passive data connections (a listing, an upload), one
    that leaves a passive port it asked for unused, and idle connections left
    open at stop: the worker holds nothing once they are gone, and closed
    none of them for memory."""
    addr = env.resolve("ftpmem.evil.example")
    mark = env.mark()
    for _ in range(3):
        ftp_session(env, addr, os.urandom(20000))
    c = env.tcp(addr, 21, timeout=8)
    try:
        for line in (b"USER a", b"PASS b", b"EPSV"):
            c.sendall(line + b"\r\n")
        harness.wait_until(lambda: b"229 " in c.recv(4096, socket.MSG_PEEK), 10,
                           what="the EPSV reply")
    finally:
        c.close()
    idle = [env.tcp(addr, PORT) for _ in range(5)]
    try:
        env.wait_for(lambda e: e["dest_ip"] == addr and e["dest_port"] == 21, since=mark,
                     count=4, what="FTP sessions")
        ends = [e for e in env.events(mark, "trap") if e["dest_ip"] == addr]
        assert not [e for e in ends if e["trap"]["end"] == "memory"], ends
        st = env.trap_stats_after_stop()
    finally:
        for s in idle:
            s.close()
    assert st["memory_held"] == 0, st
    env.st.start()
