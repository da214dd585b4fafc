"""Requests are served concurrently: a request that takes long (here a sign-in
whose argon2id hash costs seconds) does not hold up the others, and a client
that stops reading a PCAP download holds only its own connection."""

import ctypes
import ctypes.util
import socket
import threading
import time

import pytest

import webenv

SLOW_USER, SLOW_PASSWORD = "slow", "a password with an expensive hash"


def argon2id(password, t_cost, m_kib):
    name = ctypes.util.find_library("argon2") or "libargon2.so.1"
    lib = ctypes.CDLL(name)
    buf = ctypes.create_string_buffer(256)
    pw = password.encode()
    salt = b"e2e-slow-salt-16"
    rc = lib.argon2id_hash_encoded(ctypes.c_uint32(t_cost), ctypes.c_uint32(m_kib),
                                   ctypes.c_uint32(1), pw, ctypes.c_size_t(len(pw)), salt,
                                   ctypes.c_size_t(len(salt)), ctypes.c_size_t(32), buf,
                                   ctypes.c_size_t(len(buf)))
    assert rc == 0
    return buf.value.decode()


@pytest.fixture(scope="module")
def slow(mres):
    try:
        enc = argon2id(SLOW_PASSWORD, 40, 65536)  # a couple of seconds to check
    except OSError:
        pytest.skip("libargon2 is missing")
    st, base, trap_port = webenv.start(mres)
    with open(mres.path("users"), "a") as f:
        f.write(f"{SLOW_USER}:{enc}\n")
    st.query(webenv.DOMAIN)
    webenv.wait_counts(st, 1, 0)
    return {"st": st, "base": base}


def token_get(base, path):
    c = webenv.Client(base)
    t0 = time.monotonic()
    st, j = c.get(path, headers={"Authorization": "Bearer " + webenv.TOKEN})
    return st, j, time.monotonic() - t0


def assert_answers_at_once(base):
    for _ in range(3):
        st, j, secs = token_get(base, "/api/stats")
        assert st == 200 and secs < 1.0, (st, secs)


def test_a_slow_request_does_not_block_the_others(slow):
    base = slow["base"]
    result = {}

    def login():
        t0 = time.monotonic()
        result["status"] = webenv.Client(base).login(SLOW_USER, SLOW_PASSWORD)[0]
        result["secs"] = time.monotonic() - t0

    th = threading.Thread(target=login)
    th.start()
    time.sleep(0.3)  # the sign-in is being checked now
    answered = []
    for path in ("/api/stats", "/api/hosts", "/api/dns", "/api/session"):
        st, j, secs = token_get(base, path)
        assert st == 200, (path, j)
        answered.append((path, secs, th.is_alive()))
    th.join(60)
    assert result.get("status") == 200, result
    # Every call came back while the sign-in was still being checked.
    assert all(alive for _, _, alive in answered), (answered, result)
    assert all(secs < 1.0 for _, secs, _ in answered), answered
    assert result["secs"] > max(secs for _, secs, _ in answered)


def test_a_stalled_client_holds_only_its_connection(slow):
    """Connections that send half a request, or stop reading, keep their own
    thread only; the API answers the others meanwhile."""
    host, port = slow["base"].removeprefix("http://").rsplit(":", 1)
    stalled = []
    for _ in range(8):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
        stalled.append(s)
    try:
        assert_answers_at_once(slow["base"])
    finally:
        for s in stalled:
            s.close()


def test_idle_connections_from_one_address_leave_room_for_others(slow):
    """A client that opens connections and leaves them idle gets at most its
    share (16 per address); a client from another address is still served
    at once, not after the idle ones time out."""
    host, port = slow["base"].removeprefix("http://").rsplit(":", 1)
    idle = []
    try:
        for _ in range(80):  # more than the 64 threads the server has
            s = socket.socket()
            s.settimeout(5)
            s.bind(("127.0.0.3", 0))
            s.connect((host, int(port)))
            idle.append(s)
        time.sleep(0.5)
        # The server closed what it would not serve: beyond 16, a read sees
        # the end of the connection at once.
        open_ = 0
        for s in idle:
            s.settimeout(0.05)
            try:
                if s.recv(1) == b"":
                    continue
            except socket.timeout:
                open_ += 1
            except OSError:
                continue
        assert open_ == 16, open_
        assert_answers_at_once(slow["base"])
    finally:
        for s in idle:
            s.close()


def test_slow_headers_from_many_addresses_do_not_shut_others_out(slow):
    """Five addresses each open 16 connections (80: more than the 64 the server
    serves at once) and trickle their request headers. A client with a whole
    request is still answered (the connection that waited longest without a
    request makes room for it), and every trickling connection is closed once
    it has gone 10 s without a whole request. Before, the 64 slots stayed taken
    for as long as the headers kept coming, and every other client was refused."""
    host, port = slow["base"].removeprefix("http://").rsplit(":", 1)
    held = []
    try:
        for a in range(2, 7):
            for _ in range(16):
                s = socket.socket()
                s.settimeout(5)
                s.bind((f"127.0.0.{a}", 0))
                try:
                    s.connect((host, int(port)))
                    s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")
                except OSError:
                    s.close()
                    continue
                held.append(s)
        st, _, _ = token_get(slow["base"], "/api/stats")
        assert st == 200, st

        def all_closed():
            for s in held:
                s.settimeout(0.05)
                try:
                    s.sendall(b"X-Slow: 1\r\n")  # what keeps an idle timer from firing
                    if s.recv(1) != b"":
                        return False
                except socket.timeout:
                    return False
                except OSError:
                    pass
            return True
        deadline = time.monotonic() + 30
        while not all_closed():
            assert time.monotonic() < deadline, "trickling connections still open"
            time.sleep(1)
    finally:
        for s in held:
            s.close()
