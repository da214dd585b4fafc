"""Flow control over TCP: while the store is behind, the DNS worker stops
reading TCP connections as it stops reading UDP, so a flood of queries over
TCP waits for the store instead of outrunning it until events are dropped.

The store is slowed by stopping it for 90 ms of every 100 ms (80 ms against the
sanitizer build, whose store is several times slower: there, at 10 %, it took
too little for the hold to bridge 6 s, and the worker, which lets answers wait
at most 200 ms, dropped an event at the end); clients pipeline queries for
subdomains of a listed name over a few connections as fast as the worker reads
them. Every query answered must have its event."""

import os
import signal
import socket
import struct
import threading
import time

import dns.message

import harness

FLOOD_S = 6
CONNS = 4
STOPPED_S = 0.08 if os.environ.get("SINKTRAP_SANITIZED") else 0.09


def _queries(first, n):
    out = bytearray()
    for i in range(first, first + n):
        w = dns.message.make_query(f"q{i}.flood.example", "A", id=i & 0xFFFF).to_wire()
        out += struct.pack(">H", len(w)) + w
    return bytes(out)


def _client(port, start, stop, answered):
    """Sends batches of queries and counts the answers, until stop."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = bytearray()
    n = 0
    i = start
    while not stop.is_set():
        s.sendall(_queries(i, 500))
        i += 500
        want = n + 500
        while n < want:
            chunk = s.recv(1 << 16)
            assert chunk, "connection closed"
            got += chunk
            while len(got) >= 2 and len(got) - 2 >= (got[0] << 8 | got[1]):
                del got[:2 + (got[0] << 8 | got[1])]
                n += 1
    s.close()
    answered.append(n)


def test_tcp_flood_waits_for_a_slow_store(res):
    bl = harness.write_list(res.path("flood.plain"), ["flood.example"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=res.dnsmasq([]))
    store = st.worker_pid("store")
    assert store
    stop = threading.Event()

    def throttle():
        while not stop.is_set():
            os.kill(store, signal.SIGSTOP)
            time.sleep(STOPPED_S)
            os.kill(store, signal.SIGCONT)
            time.sleep(0.1 - STOPPED_S)

    answered = []
    threads = [threading.Thread(target=throttle)]
    threads += [threading.Thread(target=_client, args=(st.port, k * 10_000_000, stop, answered))
                for k in range(CONNS)]
    before = len(st.dns_events())
    for t in threads:
        t.start()
    try:
        time.sleep(FLOOD_S)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        os.kill(store, signal.SIGCONT)
    total = sum(answered)
    assert len(answered) == CONNS and total > 0
    print(f"\n[flow control] {total} queries answered over TCP in {FLOOD_S} s")
    assert "events dropped" not in st.log(), st.log()[-2000:]
    harness.wait_until(lambda: len(st.dns_events()) - before >= total, 120,
                       what=f"{total} events")
    assert len(st.dns_events()) - before == total
