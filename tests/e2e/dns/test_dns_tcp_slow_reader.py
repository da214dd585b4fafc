"""A TCP client that reads its answers slowly, a little behind its queries
but never far enough behind to be cut off: the DNS worker keeps only the
answers still waiting for it, not every byte the connection ever carried."""

import socket
import struct
import subprocess
import time

import dns.message
import dns.rdatatype

import harness

# Eight TXT records of three 250-byte strings: a 6.2 KB answer, cached after the first.
GIANT_TXT = [f'txt-record=giant.test,"{c * 250}","{c * 250}","{c * 250}"'
             for c in "stuvwxyz"]
N_QUERIES = 12000        # some 75 MB of answers
WAITING = 100 * 1024     # answers left waiting in the worker itself (it cuts off at 256 KB)


def rss_kb(pid):
    return int(harness.proc_status(pid)["VmRSS"].split()[0])


def send_q(port, cport):
    """Bytes in the kernel's send queue of the server's end of the connection."""
    out = subprocess.run(["ss", "-tnH", "state", "established",
                          f"( sport = :{port} and dport = :{cport} )"],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[1])


def read_answer(s, buf):
    while True:
        if len(buf) >= 2:
            n = struct.unpack("!H", buf[:2])[0]
            if len(buf) >= 2 + n:
                return buf[2:2 + n], buf[2 + n:]
        chunk = s.recv(65536)
        assert chunk, "the server closed the connection"
        buf += chunk


def test_slow_reader_does_not_grow_the_worker(res):
    up = res.dnsmasq(["address=/#/", "edns-packet-max=4096", "local-ttl=300"] + GIANT_TXT)
    st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{up.port}"}})
    first = st.query("giant.test", "TXT", proto="tcp")
    size = len(first.to_wire()) + 2
    assert size > 6000
    pid = st.worker_pid("dns")
    q = dns.message.make_query("giant.test", dns.rdatatype.TXT, use_edns=0, payload=4096)
    wire = q.to_wire()
    frame = struct.pack("!H", len(wire)) + wire

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", st.port))
    s.settimeout(10)
    cport = s.getsockname()[1]
    # Fill what the kernel holds for the connection (the server's send queue grows
    # to its limit, some 4 MB), then some more: that much waits in the worker.
    sent = got = 0
    last = -1
    while True:
        for _ in range(10):
            s.sendall(frame)
        sent += 10
        time.sleep(0.05)
        q_now = send_q(st.port, cport)
        if q_now == last:
            break
        last = q_now
        assert sent < 4000, "the server's send queue never filled"
    for _ in range(WAITING // size - 10):
        s.sendall(frame)
        sent += 1
    behind = sent
    # Then one query for each answer read: the worker's part stays where it is.
    buf = b""
    rss = []
    t0 = time.monotonic()
    try:
        while got < N_QUERIES:
            ans, buf = read_answer(s, buf)
            assert dns.message.from_wire(ans).id == q.id
            got += 1
            if sent < N_QUERIES:
                s.sendall(frame)
                sent += 1
            if got in (behind, N_QUERIES - behind):
                rss.append(rss_kb(pid))
    finally:
        s.close()
    took = time.monotonic() - t0
    grew = rss[1] - rss[0]
    print(f"[dns tcp] {N_QUERIES} answers of {size} bytes to a slow reader {behind} behind "
          f"in {took:.1f}s; dns worker VmRSS {rss[0]} KB -> {rss[1]} KB")
    # Every answer sent stayed in the worker's buffer before: some 60 MB of them here.
    assert grew < 16 * 1024, f"the dns worker grew by {grew} KB"
    assert st.query("giant.test", "TXT", proto="tcp").answer
