"""A producer that sends the store what no worker makes (a malformed event record, a
broken frame, a message type the store does not take, a second request for the
sinkhole map): the message is dropped, said in
the log and as an alert, and the channel is kept, so the events the worker makes after
it still reach the store.

The bad messages are sent on the DNS worker's own channel to the store: the test takes
a copy of that descriptor out of the worker (pidfd_getfd, as root) and writes on it."""

import ctypes
import os
import re
import socket
import struct
import subprocess

import harness

SYS_PIDFD_GETFD = 438  # the same number on x86_64 and aarch64
IPC_EVENTS = 1
IPC_MAP_REQUEST = 2
IPC_NO_SUCH_TYPE = 999


def unix_sockets():
    """{inode: (peer inode, pid, fd)} for every Unix socket `ss` can see."""
    out = subprocess.run(["ss", "-x", "-a", "-p", "-n"], capture_output=True, text=True,
                         check=True).stdout
    socks = {}
    for line in out.splitlines():
        m = re.search(r"\s\S+\s+(\d+)\s+\S+\s+(\d+)\s+users:\((.*)\)\s*$", line)
        if not m:
            continue
        for pid, fd in re.findall(r"pid=(\d+),fd=(\d+)", m.group(3)):
            socks.setdefault(int(m.group(1)), []).append((int(m.group(2)), int(pid), int(fd)))
    return socks


def store_channel_of(worker, store):
    """The descriptor in `worker` whose other end the store holds."""
    socks = unix_sockets()
    for entries in socks.values():
        for peer, pid, fd in entries:
            if pid == worker and any(p == store for _, p, _ in socks.get(peer, [])):
                return fd
    raise AssertionError(f"no channel from pid {worker} to the store (pid {store})")


def steal_fd(pid, fd):
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return socket.socket(fileno=got)
    finally:
        os.close(pidfd)


def frame(msg_type, payload):
    return struct.pack("=II", msg_type, len(payload)) + payload


def test_a_bad_message_is_dropped_and_the_worker_keeps_its_channel(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("bad.plain"), ["bad.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=up)
    assert harness.a_records(st.query("before.bad.test"))[0].startswith("127.66.")
    st.wait_dns_event("before.bad.test")

    pids = {k: st.worker_pid(k) for k in ("dns", "store")}
    ch = steal_fd(pids["dns"], store_channel_of(pids["dns"], pids["store"]))
    with ch:
        # A record whose length runs past its message, then a header that says more
        # than the frame holds, then a type the store does not take.
        ch.send(frame(IPC_EVENTS, struct.pack("=I", 1 << 30) + b"garbage" * 4))
        ch.send(struct.pack("=II", IPC_EVENTS, 4000) + b"short")
        ch.send(frame(IPC_NO_SUCH_TYPE, b"x"))
        # The worker asked for the sinkhole map as it started: asking again (sending the
        # map takes the store's time) is refused, twice.
        ch.send(frame(IPC_MAP_REQUEST, b"\x01"))
        ch.send(frame(IPC_MAP_REQUEST, b""))

    harness.wait_until(lambda: "malformed message" in st.log(), 10,
                       what="the store to say what it dropped")
    assert "dns sent" in st.log() and "the channel kept" in st.log()
    assert "closed" not in "".join(l for l in st.log().splitlines() if "channel from dns" in l)

    # Later events of the same worker still arrive, on the same channel.
    for i in range(3):
        assert harness.a_records(st.query(f"after{i}.bad.test"))[0].startswith("127.66.")
    for i in range(3):
        st.wait_dns_event(f"after{i}.bad.test")
    def dropped():
        alerts = [e for e in st.events("alert")
                  if e["alert"]["signature"] == "malformed message from a worker: dropped"]
        assert all(a["stats"]["worker"] == "dns" for a in alerts)
        return sum(a["stats"]["messages_dropped"] for a in alerts)

    # The five are counted, those after the first within its second by the next tick.
    harness.wait_until(lambda: dropped() == 5, 10, what="an alert for each dropped message")
    assert "(the last: a second sinkhole map request)" in st.log()
    assert re.search(r"dns sent 1 malformed message \(the last: a malformed event record\)",
                     st.log())
    # The store and the worker are the ones that were there: nothing was restarted.
    assert {k: st.worker_pid(k) for k in ("dns", "store")} == pids
    assert "killed by signal" not in st.log() and "exited with status" not in st.log()
