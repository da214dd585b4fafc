"""The bounds of what the responders record and hold, met by real clients
(smtplib, imaplib, poplib) from the client namespace: credentials far longer
than a recorded string are accepted as a server would and recorded cut, with
the cut counted (strings_truncated); a To: header of 150 addresses (5 KB)
offers all of them to the record; a mailbox name holding a CRLF is shown back
on one line, so the client's next command is answered in step; and what each
IMAP connection holds from its start (some 26 KiB of state and buffers)
counts in [trap] memory_max, given back, all of it, when it ends."""

import base64
import imaplib
import poplib
import smtplib
import socket
import time

import harness

STR_MAX = 512  # bytes kept of one recorded string
# A mailbox name with a line of its own in it, that a client would read as the server's.
LITERAL = b"box\r\nX1 OK [ALERT] not the server's"


def smtp_session(env, addr, login=None, to_header=None):
    """smtplib from the client: EHLO, a login if given, a message if given."""
    with env.in_client():
        s = smtplib.SMTP(addr, 25, timeout=10)
    try:
        s.ehlo("bot.example")
        if login:
            code, _ = s.login(*login)
            assert code == 235
        if to_header:
            s.sendmail("bot@evil.example", ["v000@example.org"],
                       f"To: {to_header}\r\nSubject: long\r\n\r\nbody\r\n")
        s.quit()
    finally:
        s.close()


def test_smtp_long_plain_credentials(env):
    """smtplib logs in with a 1500-byte password (AUTH PLAIN, an initial response
    of some 2000 base64 bytes): the login succeeds, the password is kept cut and
    counted."""
    addr = env.resolve("longauth.mail.evil.example")
    password = "p" * 1500
    mark = env.mark()
    smtp_session(env, addr, login=("admin", password))
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 25)[0]
    cred = ev["credentials"]
    assert cred["username"] == "admin"
    assert cred["password"] == password[:STR_MAX]
    assert cred["method"] == "PLAIN"
    assert cred["strings_truncated"] == 1


def test_smtp_to_header_of_150_addresses(env):
    """A message whose To: header names 150 addresses (about 5 KB in one line):
    every address is offered to the record, 32 kept and the rest counted."""
    addr = env.resolve("longto.mail.evil.example")
    to = ", ".join(f"Victim {i:03d} <v{i:03d}@example.org>" for i in range(150))
    mark = env.mark()
    smtp_session(env, addr, to_header=to)
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 25)[0]
    assert "truncated" not in ev, "the event was cut"
    e = ev["email"]
    assert e["to"][:2] == ["Victim 000 <v000@example.org>", "Victim 001 <v001@example.org>"]
    assert len(e["to"]) == 32
    assert e["to_not_kept"] == 150 - 32
    assert e["subject"] == "long"
    assert "strings_truncated" not in e


def test_imap_long_sasl_plain(env):
    """imaplib authenticates with PLAIN and a 2000-byte password (after the
    continuation request): logged in, the password kept cut and counted."""
    addr = env.resolve("longauth.imap.evil.example")
    mark = env.mark()
    with env.in_client():
        m = imaplib.IMAP4(addr, 143, timeout=10)
    try:
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0mallory\0" + b"s" * 2000)
        assert typ == "OK"
        m.logout()
    finally:
        if m.state != "LOGOUT":
            m.shutdown()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 143)[0]
    cred = ev["credentials"]
    assert cred["username"] == "mallory"
    assert cred["password"] == "s" * STR_MAX
    assert cred["method"] == "PLAIN"
    assert cred["strings_truncated"] == 1


def test_imap_mailbox_echo_keeps_the_client_in_step(env):
    """imaplib SELECTs a mailbox given as a literal that holds a CRLF and a line
    of its own: the NO reply shows the name on one line, and the client's next
    command is answered in step."""
    addr = env.resolve("echo.imap.evil.example")
    mark = env.mark()
    with env.in_client():
        m = imaplib.IMAP4(addr, 143, timeout=10)
    try:
        m.login("mallory", "secret")
        m.literal = LITERAL
        typ, data = m._simple_command("SELECT")
        assert typ == "NO", (typ, data)
        assert data == [b"Mailbox doesn't exist: box??X1 OK [ALERT] not the server's"], data
        typ, _ = m.noop()  # answered in step: no stray line before it
        assert typ == "OK"
        m.logout()
    finally:
        if m.state != "LOGOUT":
            m.shutdown()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 143)[0]
    # recorded as sent
    sent = "SELECT {%d}\r\n%s" % (len(LITERAL), LITERAL.decode())
    assert any(c.endswith(sent) for c in ev["imap"]["command"]), ev["imap"]["command"]


def test_pop3_long_auth_plain(env):
    """poplib sends AUTH PLAIN with a 1200-byte password as its initial response:
    logged in, the password kept cut and counted."""
    addr = env.resolve("longauth.pop.evil.example")
    blob = base64.b64encode(b"\0bob\0" + b"w" * 1200).decode()
    mark = env.mark()
    with env.in_client():
        p = poplib.POP3(addr, 110, timeout=10)
    try:
        resp = p._shortcmd("AUTH PLAIN " + blob)
        assert resp.startswith(b"+OK"), resp
        p.quit()
    finally:
        p.close()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 110)[0]
    cred = ev["credentials"]
    assert cred["username"] == "bob"
    assert cred["password"] == "w" * STR_MAX
    assert cred["strings_truncated"] == 1


def test_imap_connections_count_in_memory_max(env):
    """IMAP speaks first: its state, a 16 KiB command buffer and an 8 KiB line
    reader are taken as the connection is accepted. With memory_max 1M, about
    38 idle IMAP connections fit and those past them are closed ("memory") as
    they start; once all are gone a new one is served, and the worker holds
    nothing when it stops."""
    env.restart({"trap": {"memory_max": "1M"}})
    harness.wait_until(lambda: env.trap_pid(), 10, what="trap worker")
    pid = env.trap_pid()
    addr = env.resolve("imapmem.evil.example")
    mark = env.mark()
    held = []
    try:
        for _ in range(80):
            held.append(env.tcp(addr, 143))
        time.sleep(1)
        closed = [e for e in env.events(mark, "trap")
                  if e["dest_ip"] == addr and e["trap"]["end"] == "memory"]
        # 1 MiB at about 27 KiB each (the greeting's buffer included): some 38 fit.
        assert 80 - 50 <= len(closed) <= 80 - 30, len(closed)
        assert all(e["trap"]["detected"] == "imap" for e in closed), \
            [e for e in closed if e["trap"]["detected"] != "imap"][:1]
        assert env.trap_pid() == pid
    finally:
        for s in held:
            s.close()
    harness.wait_until(
        lambda: len([e for e in env.events(mark, "trap") if e["dest_ip"] == addr]) >= 80,
        15, what="every IMAP connection to end")
    # What they held is given back: a new one is greeted and served.
    s = env.tcp(addr, 143)
    try:
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            assert chunk, f"closed before its greeting: {got!r}"
            got += chunk
        assert got.startswith(b"* OK [CAPABILITY "), got
        s.sendall(b"a1 LOGOUT\r\n")
        s.settimeout(5)
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        assert b"a1 OK Logout completed" in got, got
    finally:
        s.close()
    st = env.trap_stats_after_stop()
    assert st["memory_closed"] == len(closed)
    assert st["memory_held"] == 0, st
    env.restart({"trap": {"memory_max": "512M"}})
    harness.wait_until(lambda: env.trap_pid(), 10, what="trap worker")
