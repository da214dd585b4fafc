"""Per-source limits: past max_per_source concurrent connections, or past
rate_per_source new connections a second, a source is refused with a reset
(counted on the wire), while other sources are served as usual."""

import math
import random
import socket
import struct
import time

import harness
import trapcap
from trapenv import CLIENT_IP, CLIENT_IP6, CLIENT_IP_B

TRAP_CONF = {"trap": {"read_timeout": "60s", "max_per_source": 20, "rate_per_source": 1000}}


def open_and_classify(env, addr, port, n, src, settle=1.0):
    """n connections from src, one after the other; then which were reset."""
    socks = []
    reset = 0
    t0 = time.monotonic()
    for _ in range(n):
        try:
            socks.append(env.tcp(addr, port, src=src))
        except ConnectionResetError:
            # The refusal's RST can beat connect() to its wake-up: refused all the same.
            reset += 1
    elapsed = time.monotonic() - t0
    time.sleep(settle)
    alive = []
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(1)
            raise AssertionError(f"unexpected {'data' if data else 'close'} from the trap")
        except BlockingIOError:
            alive.append(s)
        except ConnectionResetError:
            reset += 1
            s.close()
    return alive, reset, elapsed


def rst_count(frames, addr, port, dst):
    """TCP segments with RST from addr:port to dst in captured Ethernet frames."""
    n = 0
    a, d = socket.inet_aton(addr), socket.inet_aton(dst)
    for _, f in frames:
        if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 6:
            continue
        ihl = (f[14] & 15) * 4
        if f[26:30] != a or f[30:34] != d:
            continue
        tcp = f[14 + ihl:]
        sport = struct.unpack("!H", tcp[0:2])[0]
        if sport == port and tcp[13] & 0x04:
            n += 1
    return n


def curl_from(env, src, addr, path):
    return env.curl("--interface", src, f"http://{addr}:8080{path}", "-o", "/dev/null",
                    "-w", "%{http_code}")


def test_max_per_source(env):
    addr = env.resolve("limit.drop.example")
    port = random.randint(20000, 60999)
    with trapcap.Capture(env.in_client(), env.topo.v_client) as cap:
        alive, reset, _ = open_and_classify(env, addr, port, 30, CLIENT_IP)
        try:
            resets_on_wire = rst_count(cap.drain(), addr, port, CLIENT_IP)
            assert len(alive) == 20 and reset == 10, (len(alive), reset)
            assert resets_on_wire == 10
            # The same source is refused while it holds its 20...
            r = curl_from(env, CLIENT_IP, addr, "/refused")
            assert r.returncode != 0 and r.stdout != "200", "over the limit yet served"
            # ...another source is served.
            mark = env.mark()
            r = curl_from(env, CLIENT_IP_B, addr, "/other-source")
            assert r.stdout == "200", r.stderr
            ev = env.wait_trap(dest_ip=addr, since=mark,
                               pred=lambda e: e.get("http", {}).get("url") == "/other-source")[0]
            assert ev["src_ip"] == CLIENT_IP_B
        finally:
            mark = env.mark()
            for s in alive:
                s.close()
    # Once they are gone the source is welcome again.
    env.wait_for(lambda e: e["dest_ip"] == addr and e["dest_port"] == port, since=mark,
                 count=20, what="the held connections to end")
    r = curl_from(env, CLIENT_IP, addr, "/back")
    assert r.stdout == "200", r.stderr
    st = env.trap_stats_after_stop()
    assert st["refused"] == reset + 1  # the 10 resets and the refused curl
    env.st.start()


def test_rate_per_source(env):
    env.restart({"trap": {"rate_per_source": 10, "max_per_source": 1000}})
    addr = env.resolve("rate.drop.example")
    port = random.randint(20000, 60999)
    alive, reset, elapsed = open_and_classify(env, addr, port, 40, CLIENT_IP_B)
    alive2 = []
    try:
        admitted = len(alive)
        # A bucket of 10, refilled at 10 a second while the 40 were opened.
        assert 10 <= admitted <= 10 + math.ceil(10 * elapsed) + 1, (admitted, elapsed)
        assert reset == 40 - admitted
        # The other source has its own bucket.
        r = curl_from(env, CLIENT_IP, addr, "/unaffected")
        assert r.stdout == "200", r.stderr
        # After a pause the bucket is full again (and no fuller than 10).
        time.sleep(1.5)
        alive2, reset2, elapsed2 = open_and_classify(env, addr, port, 14, CLIENT_IP_B)
        assert 10 <= len(alive2) <= 10 + math.ceil(10 * elapsed2) + 1, (len(alive2), elapsed2)
        assert reset2 == 14 - len(alive2)
    finally:
        for s in alive + alive2:
            s.close()
    st = env.trap_stats_after_stop()
    assert st["refused"] == reset + reset2
    env.restart(TRAP_CONF)
    harness.wait_until(lambda: env.trap_pid(), 10, what="trap worker")


def test_ipv6_sources_count_by_their_64(env):
    """A host holds a /64 and can take a new source address in it for every
    connection: the limits count the /64, so max_per_source (20) holds for the
    whole of it, while another /64 is another source."""
    addr6 = env.resolve("limit6.drop.example", "AAAA")
    port = random.randint(20000, 60999)
    dev = env.topo.v_client
    srcs = [f"fd99::{0x100 + i:x}" for i in range(30)]
    other = "fd97::1"
    added = []
    try:
        for a in srcs:
            env.client(["ip", "addr", "add", f"{a}/64", "dev", dev, "nodad"], check=True)
            added.append(f"{a}/64")
        env.client(["ip", "addr", "add", f"{other}/64", "dev", dev, "nodad"], check=True)
        added.append(f"{other}/64")
        env.in_trap(["ip", "-6", "route", "add", "fd97::/64", "via", CLIENT_IP6], check=True)
        socks, reset = [], 0
        for a in srcs:  # one connection from each address of the /64
            try:
                socks.append(env.tcp(addr6, port, src=a))
            except ConnectionResetError:
                reset += 1
        time.sleep(1.0)
        alive = []
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(1)
                raise AssertionError(f"unexpected {'data' if data else 'close'} from the trap")
            except BlockingIOError:
                alive.append(s)
            except ConnectionResetError:
                reset += 1
                s.close()
        try:
            assert len(alive) == 20 and reset == 10, (len(alive), reset)
            # Another address of the same /64 is refused while the 20 are held...
            r = env.curl("--interface", "fd99::1", "-g", f"http://[{addr6}]:8080/same64",
                         "-o", "/dev/null", "-w", "%{http_code}")
            assert r.stdout != "200", "over the limit from the same /64, yet served"
            # ...another /64 is served.
            mark = env.mark()
            r = env.curl("--interface", other, "-g", f"http://[{addr6}]:8080/other64",
                         "-o", "/dev/null", "-w", "%{http_code}")
            assert r.stdout == "200", r.stderr
            ev = env.wait_trap(dest_ip=addr6, since=mark,
                               pred=lambda e: e.get("http", {}).get("url") == "/other64")[0]
            assert ev["src_ip"] == other
        finally:
            for s in alive:
                s.close()
    finally:
        env.in_trap(["ip", "-6", "route", "del", "fd97::/64"])
        for a in added:
            env.client(["ip", "addr", "del", a, "dev", dev])
