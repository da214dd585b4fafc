"""TCP clients cannot hold a connection slot for ever: a query must arrive
whole within tcp_idle_timeout of its first byte (a byte now and then keeps
nothing open), and when the table is full the connection made to give way is
one with no query in flight."""

import select
import socket
import threading

import dns.message
import dns.rcode

import harness

IDLE_S = 1.0


def closed_by_server(s, wait):
    """Whether the server closes s within wait seconds (it sends nothing else:
    the query it gets is never whole)."""
    r, _, _ = select.select([s], [], [], wait)
    if not r:
        return False
    try:
        data = s.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return True
    assert data == b"", f"an answer to a query not yet whole: {data!r}"
    return True


def test_query_dribbled_a_byte_at_a_time_is_cut_off(res):
    """One byte every half idle timeout: each byte used to make the connection
    new again, so the slot was kept as long as the client liked."""
    bl = harness.write_list(res.path("b.plain"), ["dribble.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl),
                               "tcp_idle_timeout": f"{int(IDLE_S * 1000)}ms"}},
                      upstream=res.dnsmasq(["address=/#/127.0.9.9"]))
    q = harness.make_query("a-rather-long-name-to-dribble.dribble.test", "A")
    frame = harness.tcp_frame(q.to_wire())
    s = harness.tcp_connect("127.0.0.1", st.port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent, closed = 0, False
    try:
        while sent < len(frame) - 1 and not closed:  # never the last byte
            try:
                s.sendall(frame[sent:sent + 1])
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            sent += 1
            closed = closed_by_server(s, IDLE_S / 2)
    finally:
        s.close()
    assert closed, f"all but the last of {len(frame)} bytes dribbled in and still open"
    # The server itself goes on answering, over TCP too.
    r = st.query("dribble.test", proto="tcp")
    assert r.rcode() == dns.rcode.NOERROR and harness.a_records(r)


def test_full_table_closes_a_connection_with_nothing_in_flight(res):
    """tcp_max_clients 2: A waits for a forwarded answer, B (idle less long)
    has nothing in flight; a third connection makes B give way, not A, whose
    answer (SERVFAIL: the upstream never answers) still comes."""
    asked = threading.Event()

    def silent(q):
        asked.set()
        return None

    up = harness.ScriptUpstream(silent)
    bl = harness.write_list(res.path("b.plain"), ["blocked.test"])
    try:
        st = res.sinktrap({"dns": {"blocklist": str(bl), "upstream": f"127.0.0.1:{up.port}",
                                   "tcp_max_clients": 2, "upstream_timeout": "2s"}})
        a = harness.tcp_connect("127.0.0.1", st.port, timeout=15)
        b = harness.tcp_connect("127.0.0.1", st.port, timeout=15)
        c = None
        try:
            qa = harness.make_query("waits.forwarded.test", "A")
            a.sendall(harness.tcp_frame(qa.to_wire()))
            harness.wait_until(asked.is_set, 10, what="the upstream to be asked")
            # B is used after A: A is the one idle longest.
            qb = harness.make_query("b.blocked.test", "A")
            b.sendall(harness.tcp_frame(qb.to_wire()))
            assert dns.message.from_wire(harness.tcp_read_msg(b)).id == qb.id
            c = harness.tcp_connect("127.0.0.1", st.port, timeout=15)
            qc = harness.make_query("c.blocked.test", "A")
            c.sendall(harness.tcp_frame(qc.to_wire()))
            assert dns.message.from_wire(harness.tcp_read_msg(c)).id == qc.id
            assert harness.tcp_read_msg(b) is None, "B, with nothing in flight, still open"
            wire = harness.tcp_read_msg(a)
            assert wire is not None, "A was closed with its query in flight"
            ra = dns.message.from_wire(wire)
            assert ra.id == qa.id and ra.rcode() == dns.rcode.SERVFAIL, ra
        finally:
            for s in (a, b, c):
                if s is not None:
                    s.close()
    finally:
        up.close()
