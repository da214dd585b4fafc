"""Replies that show what a client sent, met by real clients. The responders
end a command line at LF only, so a CR or a NUL can sit inside an argument;
a reply that showed it raw would end early for a client splitting lines at
CR (as a bot doing str.splitlines does), and the rest of the argument would
reach it as a line the server never sent. Each such byte is shown as '?': an
IRC bot's raw socket reads no line of the client's making and its next
command is answered in step; ftplib reads a 257 reply whole, a quote in the
path doubled as RFC 959 has it. The events record the arguments as sent."""

import ftplib
import re

# What a client would take for a line of the server's own.
FAKE = ":irc.evil.example NOTICE bot :FAKE"


def irc_read_until(s, marker):
    """Bytes from the server until one ending in CRLF holds marker."""
    buf = b""
    while not (marker in buf and buf.endswith(b"\r\n")):
        chunk = s.recv(65536)
        assert chunk, f"closed before {marker!r}; got {buf!r}"
        buf += chunk
    return buf


def test_irc_replies_show_arguments_on_one_line(env):
    """PING, JOIN, WHOIS, MODE and an unknown command, each with a CR (or a NUL)
    and a line of the client's own after it: every reply is one line, no line
    of the client's making reaches a bot that splits at CR, and the PING after
    them is answered in step."""
    addr = env.resolve("echo.irc.evil.example")
    mark = env.mark()
    s = env.tcp(addr, 6667, timeout=8)
    sent = [
        f"PING :tok\r{FAKE}-1",
        f"JOIN :#c\r{FAKE}-2",
        f"WHOIS :x\r{FAKE}-3",
        f"MODE #c :+k\r{FAKE}-4",
        "X\r:FAKE-5",
        "PING :nul\0byte",
    ]
    try:
        s.sendall(b"NICK bot\r\nUSER bot 0 * :Bot\r\n")
        irc_read_until(s, b" 001 bot ")
        s.sendall("".join(c + "\r\n" for c in sent).encode() + b"PING :end\r\n")
        raw = irc_read_until(s, b" :end\r\n")
        s.sendall(b"QUIT :bye\r\n")
        while s.recv(65536):
            pass
    finally:
        s.close()
    assert b"\0" not in raw
    assert re.search(rb"\r(?!\n)", raw) is None, raw
    lines = raw.decode("latin-1").splitlines()  # a bot's split: at CR, LF or CRLF
    assert not [x for x in lines if x.startswith((":irc.evil.example", ":FAKE"))], lines
    for want in (
        rf"^:\S+ PONG \S+ :tok\?{re.escape(FAKE)}-1$",
        rf"^:bot!bot@\S+ JOIN :#c\?{re.escape(FAKE)}-2$",
        rf"^:\S+ 318 bot x\?{re.escape(FAKE)}-3 :End of /WHOIS list\.$",
        rf"^:bot!bot@\S+ MODE #c \+k\?{re.escape(FAKE)}-4$",
        r"^:\S+ 421 bot X\?:FAKE-5 :Unknown command$",
        r"^:\S+ PONG \S+ :nul\?byte$",
    ):
        assert [x for x in lines if re.match(want, x)], (want, lines)
    # in step: the last reply is the answer to the last PING
    assert re.match(r"^:\S+ PONG \S+ :end$", lines[-1]), lines[-1]
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 6667)[0]
    irc = ev["irc"]
    for c in sent:
        assert c in irc["commands"], (c, irc["commands"])
    assert irc["channels"] == [f"#c\r{FAKE}-2"]


def test_ftp_path_replies_quoted_and_on_one_line(env):
    """ftplib makes a directory and changes to one whose names hold a quote: the
    257 replies double it, so ftplib reads the paths whole. A MKD whose name
    holds a CR and a reply line of the client's own (sent as a bot would: ftplib
    refuses a CR in a command) is answered on one line, and the next command
    in step."""
    addr = env.resolve("echo.ftp.evil.example")
    mark = env.mark()
    raw_mkd = b"MKD x\r226 Transfer complete."
    with env.in_client():
        f = ftplib.FTP()
        try:
            f.connect(addr, 21, timeout=8)
            f.login("anon", "guest")
            assert f.mkd('a"b') == '/a"b'
            f.cwd('/d"q')
            assert f.pwd() == '/d"q'
            f.sock.sendall(raw_mkd + b"\r\n")
            assert f.getresp() == '257 "/d""q/x?226 Transfer complete." created'
            assert f.voidcmd("NOOP") == "200 NOOP ok."
            f.quit()
        finally:
            f.close()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 21)[0]
    cmds = ev["ftp"]["command"]
    assert 'MKD a"b' in cmds and 'CWD /d"q' in cmds, cmds
    assert raw_mkd.decode() in cmds, cmds


def test_irc_long_argument_is_cut_and_says_so(env):
    """A PING token longer than a reply shows is cut, ending "...", on one line."""
    addr = env.resolve("long.irc.evil.example")
    s = env.tcp(addr, 6667, timeout=8)
    try:
        s.sendall(b"NICK bot\r\nUSER bot 0 * :Bot\r\n")
        irc_read_until(s, b" 001 bot ")
        s.sendall(b"PING :" + b"t" * 1000 + b"\r\nPING :end\r\n")
        lines = irc_read_until(s, b" :end\r\n").decode().split("\r\n")
    finally:
        s.close()
    pong = [x for x in lines if " PONG " in x and ":t" in x]
    assert len(pong) == 1 and pong[0].endswith(":" + "t" * 400 + "..."), pong
