"""The forwarder against forged answers: each upstream query in flight has a
socket of its own, from a random port, with a random id, and a socket carries
at most 64 queries before a new port is used; an answer is taken only on that
socket, with that id and the question asked; clients asking a question already
in flight wait for it instead of sending it again (so a forger cannot try
against many copies)."""

import os
import socket
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

import harness


class ScriptedUpstream:
    """A UDP DNS server on 127.0.0.1 that logs every query (source port, id,
    name) and answers A 127.0.8.N after `delay` seconds. `forge_first` makes it
    send, before each real answer, a forged one (another id, another address)
    from the same address and port; `drop_first` leaves the first query of
    each name unanswered."""

    def __init__(self, delay=0.0, forge_first=False, drop_first=False, silent_for=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.delay, self.forge_first, self.drop_first = delay, forge_first, drop_first
        self.silent_for = silent_for  # names containing it are never answered
        self.log = []
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def answer(self, q, addr, rdata):
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", rdata))
        self.sock.sendto(r.to_wire(), addr)

    def reply_later(self, q, src):
        time.sleep(self.delay)
        if self.forge_first:
            forged = dns.message.from_wire(q.to_wire())
            forged.id = (q.id + 1) % 65536
            self.answer(forged, src, "6.6.6.6")
        self.answer(q, src, f"127.0.8.{len(self.log) % 250 + 1}")

    def run(self):
        while not self.stop:
            try:
                wire, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            q = dns.message.from_wire(wire)
            name = q.question[0].name.to_text().lower()
            with self.lock:
                seen_before = any(n == name for _, _, n in self.log)
                self.log.append((src[1], q.id, name))
            if (self.drop_first and not seen_before) or (
                    self.silent_for and self.silent_for in name):
                continue
            threading.Thread(target=self.reply_later, args=(q, src), daemon=True).start()

    def queries(self, name=None):
        with self.lock:
            return [e for e in self.log if name is None or e[2] == name]

    def close(self):
        self.stop = True
        self.sock.close()
        self.t.join(2)


@pytest.fixture
def upstream_factory():
    made = []

    def make(**kw):
        u = ScriptedUpstream(**kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def start(res, up, **dns_conf):
    conf = {"upstream": f"127.0.0.1:{up.port}", "cache_size": 0}
    conf.update(dns_conf)
    return res.sinktrap({"dns": conf})


def test_queries_in_flight_never_share_a_port_and_ports_keep_changing(res, upstream_factory):
    up = upstream_factory(delay=0.3)
    st = start(res, up)
    # 30 different questions at once: 30 sockets, each from its own random port
    threads = [threading.Thread(target=lambda i=i: st.query(f"at-once{i}.ports.test"))
               for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    qs = up.queries()
    assert len(qs) == 30
    assert len({p for p, _, _ in qs}) == 30, sorted(qs)
    ids = {i for _, i, _ in qs}
    assert len(ids) >= 28  # random: a coincidence or two at most

    # one after another: a socket carries at most 64 tries, then a new port is used
    up.delay = 0
    for i in range(200):
        assert harness.a_records(st.query(f"serial{i}.ports.test"))
    serial = [p for p, _, n in up.queries() if n.startswith("serial")]
    assert len(serial) == 200
    per_port = {p: serial.count(p) for p in serial}
    assert max(per_port.values()) <= 64, per_port
    assert len(per_port) >= 4, per_port


def test_a_retry_leaves_from_a_new_port_with_a_new_id(res, upstream_factory):
    up = upstream_factory(drop_first=True)
    # named twice: each try gets half the time, the second goes to the "next" one
    st = start(res, up, upstream=[f"127.0.0.1:{up.port}"] * 2, upstream_timeout="2s")
    r = st.query("retry.ports.test", timeout=5)
    assert harness.a_records(r), r
    qs = up.queries("retry.ports.test.")
    assert len(qs) == 2, qs
    assert qs[0][0] != qs[1][0] and qs[0][1] != qs[1][1], qs


def test_forged_answer_with_another_id_is_not_taken(res, upstream_factory):
    up = upstream_factory(forge_first=True)
    st = start(res, up)
    for i in range(5):
        r = st.query(f"forged{i}.ports.test")
        assert harness.a_records(r)[0].startswith("127.0.8."), r


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_clients_asking_the_same_question_share_one_upstream_query(res, upstream_factory,
                                                                    proto):
    up = upstream_factory(delay=0.5)
    st = start(res, up)
    n = 40
    results = [None] * n

    def ask(i):
        # each its own spelling and id: the answers must carry them back
        name = "".join(c.upper() if (i >> k) & 1 else c
                       for k, c in enumerate("same.coalesce.test"))
        q = harness.make_query(name, "A")
        r = st.query(name, proto=proto, q=q)
        results[i] = (q, r)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(up.queries("same.coalesce.test.")) == 1, up.queries()
    addrs = set()
    for q, r in results:
        assert r is not None and r.id == q.id
        assert r.question[0].name.to_text() == q.question[0].name.to_text()
        addrs.update(harness.a_records(r))
    assert len(addrs) == 1  # one answer for everyone

    # a question that differs (the type, the DO bit) is asked on its own
    t1 = threading.Thread(target=lambda: st.query("same.coalesce.test", "AAAA", proto=proto))
    t2 = threading.Thread(target=lambda: st.query("same.coalesce.test", proto=proto,
                                                  edns=0, want_dnssec=True))
    t1.start(), t2.start()
    t1.join(10), t2.join(10)
    assert len(up.queries("same.coalesce.test.")) == 3


def test_waiting_clients_share_a_failure(res):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        st = res.sinktrap({"dns": {"upstream": f"127.0.0.1:{silent.getsockname()[1]}",
                                   "upstream_timeout": "1s"}})
        out = []

        def ask():
            t0 = time.monotonic()
            r = st.query("dead.coalesce.test", timeout=8)
            out.append((r.rcode(), time.monotonic() - t0))

        threads = [threading.Thread(target=ask) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(out) == 10
        assert all(rc == dns.rcode.SERVFAIL and took < 3.5 for rc, took in out), out
        # the worker is fine afterwards
        assert st.probe()
    finally:
        silent.close()


def test_one_client_cannot_take_the_forwarder_from_the_others(res, upstream_factory):
    """A host asking unique names the upstream never answers (a random-subdomain
    flood) fills its own share of queries in flight, and its further ones get
    SERVFAIL at once; another host's queries are forwarded and answered."""
    up = upstream_factory(silent_for="flood")
    st = start(res, up, client_pending_max=50, upstream_timeout="4s")
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.2", 0))
    flooder.settimeout(0.5)
    try:
        for i in range(80):
            flooder.sendto(harness.make_query(f"x{i}.flood.test").to_wire(),
                           ("127.0.0.1", st.port))
        t0 = time.monotonic()
        refused = []
        while len(refused) < 30 and time.monotonic() - t0 < 2:
            try:
                refused.append(dns.message.from_wire(flooder.recv(4096)))
            except socket.timeout:
                break
        # the 30 past its 50 come back at once, long before the upstream timeout
        assert len(refused) == 30, len(refused)
        assert all(r.rcode() == dns.rcode.SERVFAIL for r in refused)
        assert {r.question[0].name.to_text() for r in refused} == {
            f"x{i}.flood.test." for i in range(50, 80)}
        # another host meanwhile: answered
        q = harness.make_query("other.ok.test")
        r = dns.query.udp(q, "127.0.0.1", port=st.port, source="127.0.0.3", timeout=3)
        assert harness.a_records(r), r
        # its 50 in flight fail at the upstream timeout; then it is answered again
        flooder.settimeout(8)
        late = [dns.message.from_wire(flooder.recv(4096)) for _ in range(50)]
        assert all(r.rcode() == dns.rcode.SERVFAIL for r in late)
        r = dns.query.udp(harness.make_query("back.ok.test"), "127.0.0.1", port=st.port,
                          source="127.0.0.2", timeout=3)
        assert harness.a_records(r), r
        assert len(up.queries()) == 52
        assert "client 127.0.0.2 has 50 queries waiting" in st.log()
    finally:
        flooder.close()


def tcp_query(port, name, shut=False, timeout=5):
    """One query over TCP; shut: the client closes its side once it has asked.
    The answer, or None when the server closed without one."""
    q = dns.message.make_query(name, "A")
    wire = q.to_wire()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        if shut:
            s.shutdown(socket.SHUT_WR)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
            chunk = s.recv(4096)
            if not chunk:
                return None
            buf += chunk
        return dns.message.from_wire(buf[2:2 + int.from_bytes(buf[:2], "big")])
    finally:
        s.close()


def test_tcp_client_that_closes_its_side_still_gets_the_forwarded_answer(res, upstream_factory):
    """RFC 7766: a client may close its sending side after its queries; the
    answers still come (the upstream takes 0.3 s here)."""
    up = upstream_factory(delay=0.3)
    st = start(res, up)
    r = tcp_query(st.port, "halfclose.tcp.test", shut=True)
    assert r is not None and harness.a_records(r), r


def test_tcp_client_gone_before_its_forwarded_answer(res, upstream_factory):
    """Clients that ask over TCP and go at once, before the upstream answers:
    the answers come to nothing, and the worker goes on (it read the freed
    connection before)."""
    up = upstream_factory(delay=0.3)
    st = start(res, up, tcp_max_clients=4)
    for i in range(20):
        q = dns.message.make_query(f"gone{i}.tcp.test", "A").to_wire()
        with socket.create_connection(("127.0.0.1", st.port), timeout=5) as s:
            s.sendall(len(q).to_bytes(2, "big") + q)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    # More connections than tcp_max_clients, each with a query in flight: the
    # ones made room for are closed while their queries are out.
    held = []
    for i in range(8):
        q = dns.message.make_query(f"evicted{i}.tcp.test", "A").to_wire()
        s = socket.create_connection(("127.0.0.1", st.port), timeout=5)
        s.sendall(len(q).to_bytes(2, "big") + q)
        held.append(s)
    time.sleep(1.0)
    for s in held:
        s.close()
    r = tcp_query(st.port, "after.tcp.test")
    assert r is not None and harness.a_records(r)
    assert st.proc.alive()
    assert st.probe()


def test_tcp_client_that_never_reads_is_cut_off_without_spinning(res):
    """Pipelined queries whose answers the client never reads: past 256 KB of
    answers waiting the connection is cut off at once, and whatever else the
    client sends costs the worker nothing (it spun on it before)."""
    bl = harness.write_list(res.path("never-reads.hosts"), ["0.0.0.0 pipelined.test"])
    st = res.sinktrap({"dns": {"blocklist": str(bl)}}, upstream=res.dnsmasq(["address=/#/"]))
    pid = st.worker_pid("dns")
    q = dns.message.make_query("x.pipelined.test", "A").to_wire()
    msg = len(q).to_bytes(2, "big") + q
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", st.port))
    s.setblocking(False)
    try:
        # answers past the kernel's socket buffers (several MB on loopback)
        for _ in range(1500):
            try:
                s.send(msg * 200)
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break  # cut off
        t0 = time.monotonic()
        with open(f"/proc/{pid}/stat") as f:
            before = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(1.5)
        with open(f"/proc/{pid}/stat") as f:
            after = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        used = (after - before) / os.sysconf("SC_CLK_TCK")
        assert used < 0.5 * (time.monotonic() - t0), f"{used:.2f} s of CPU in 1.5 s"
    finally:
        s.close()
    assert st.probe()
