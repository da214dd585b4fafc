"""The command line: `sinktrap check NAME`, `sinktrap check-config`, `run`
refusing a bad configuration, and `sinktrap dns` running alone."""

import json
import signal
import subprocess

import pytest

import harness


def sinktrap(*args, timeout=30):
    return subprocess.run([str(harness.sinktrap_bin())] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


GOOD = """\
[sinktrap]
state_dir = {dir}/state
[dns]
listen = 127.0.0.1:{port}
upstream = 127.0.0.1:{up}
blocklist = {dir}/block.hosts
allowlist = {dir}/allow.plain
sinkhole_ipv4 = 127.66.0.0/16
sinkhole_ipv6 = ::1
ttl = 60
[events]
json = {dir}/state/events.json
"""


@pytest.fixture
def cfg(res):
    harness.write_list(res.path("block.hosts"), ["# cli", "0.0.0.0 blocked.test",
                                                 "0.0.0.0 ok.blocked.test"])
    harness.write_list(res.path("allow.plain"), ["ok.blocked.test"])

    def write(text=GOOD, name="c.conf"):
        p = res.path(name)
        p.write_text(text.format(dir=res.dir, port=harness.free_port(), up=harness.free_port()))
        return p

    write.dir = res.dir
    return write


def test_check_config_ok(cfg):
    r = sinktrap("check-config", "-c", cfg())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "configuration OK"


def test_check_sinkholed_name(cfg):
    c = cfg()
    for name in ("blocked.test", "www.Blocked.Test."):
        r = sinktrap("check", "-c", c, name)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"{cfg.dir}/block.hosts:2" in r.stdout
        assert "sinkholed" in r.stdout
        assert "127.66.0.0/16" in r.stdout


def test_check_allowed_and_unlisted_names(cfg):
    c = cfg()
    r = sinktrap("check", "-c", c, "ok.blocked.test")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{cfg.dir}/allow.plain:1" in r.stdout
    assert "forwarded" in r.stdout
    r = sinktrap("check", "-c", c, "example.org")
    assert r.returncode == 1
    assert "forwarded" in r.stdout and "no list entry" in r.stdout


def test_check_with_bad_config_is_an_error(cfg):
    c = cfg(GOOD + "[dns2]\n")
    r = sinktrap("check", "-c", c, "blocked.test")
    assert r.returncode not in (0, 1)
    assert f"{c}:{len(GOOD.splitlines()) + 1}:" in r.stderr


# (replace this line of GOOD, by this one) -> expected message part
BAD = [
    ("ttl = 60", "colour = blue", "unknown key 'colour' in [dns]"),
    ("ttl = 60", "ttl = forever", "ttl"),
    ("listen = 127.0.0.1:{port}", "listen = 999.1.1.1:53", "listen"),
    ("listen = 127.0.0.1:{port}", "listen = 127.0.0.1:99999", "listen"),
    ("upstream = 127.0.0.1:{up}", "upstream = resolver.example", "upstream"),
    ("sinkhole_ipv4 = 127.66.0.0/16", "sinkhole_ipv4 = 127.66.0", "sinkhole_ipv4"),
    ("sinkhole_ipv4 = 127.66.0.0/16", "sinkhole_ipv4 = 127.66.0.0/33", "sinkhole_ipv4"),
    ("sinkhole_ipv4 = 127.66.0.0/16", "sinkhole_ipv4 = fd00::1", "sinkhole_ipv4"),
    ("sinkhole_ipv6 = ::1", "sinkhole_ipv6 = 127.0.0.1", "sinkhole_ipv6"),
    ("blocklist = {dir}/block.hosts", "blocklist = {dir}/missing.hosts",
     "missing.hosts"),
    ("allowlist = {dir}/allow.plain", "allowlist = {dir}", "allowlist"),
    ("[events]", "[evnets]", "unknown section"),
]


@pytest.mark.parametrize("old,new,msg", BAD, ids=[b[1].split(" =")[0] + ":" + b[1][-12:]
                                                  for b in BAD])
def test_check_config_errors_name_file_and_line(cfg, old, new, msg):
    text = GOOD.replace(old, new)
    assert text != GOOD
    lineno = GOOD.splitlines().index(old) + 1
    c = cfg(text)
    r = sinktrap("check-config", "-c", c)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "configuration OK" not in out
    lines = [l for l in out.splitlines() if l.startswith(f"{c}:{lineno}:")]
    assert lines, out
    assert msg.format(dir=cfg.dir) in lines[0], out

    # `run` refuses it with the same message and starts nothing.
    r2 = sinktrap("run", "-c", c, timeout=30)
    assert r2.returncode != 0
    assert lines[0] in r2.stderr, r2.stderr


def test_check_config_reports_every_error(cfg):
    text = GOOD.replace("ttl = 60", "ttl = -5\nbogus = 1").replace(
        "sinkhole_ipv6 = ::1", "sinkhole_ipv6 = nope")
    c = cfg(text)
    r = sinktrap("check-config", "-c", c)
    assert r.returncode == 1
    errs = [l for l in r.stderr.splitlines() if l.startswith(f"{c}:")]
    assert len(errs) == 3, r.stderr
    nums = [int(l.split(":")[1]) for l in errs]
    assert nums == sorted(nums)


def test_check_config_missing_file(cfg):
    missing = cfg.dir / "nope.conf"
    r = sinktrap("check-config", "-c", missing)
    assert r.returncode == 1
    assert str(missing) in r.stderr


@pytest.mark.parametrize("cmd", ["check-config", "run", "dns"])
def test_a_file_named_without_c_is_refused(cfg, cmd):
    """`sinktrap check-config FILE` (no -c) must not check the embedded default
    and say OK, nor `run FILE` run it: the stray argument is a usage error."""
    bad = cfg.dir / "bad.conf"
    bad.write_text("[dns]\nbogus = 1\n")
    r = sinktrap(cmd, bad, timeout=10)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"unexpected argument '{bad}'" in r.stderr
    assert "configuration OK" not in r.stdout
    # --apply belongs to firewall alone
    r = sinktrap("check-config", "--apply", timeout=10)
    assert r.returncode == 2 and "configuration OK" not in r.stdout


def test_dns_worker_alone_prints_events(res):
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    bl = harness.write_list(res.path("alone.plain"), ["alone.test"])
    st = harness.Sinktrap(res.dir, {"dns": {"blocklist": str(bl),
                                            "upstream": f"127.0.0.1:{up.port}"}},
                          name="alone")
    res.objs.append(st)
    st.write_conf()
    out = res.path("alone.stdout")
    st.proc = harness.Proc([st.bin, "dns", "-c", st.conf_path], st.log_path, stdout_path=out)
    harness.wait_until(st.probe, 20, what="sinktrap dns to answer")
    r = st.query("www.alone.test")
    addr = harness.a_records(r)[0]
    assert harness.a_records(st.query("other.test")) == ["127.0.9.9"]

    def event():
        for line in out.read_text().splitlines():
            e = json.loads(line)
            if e.get("event_type") == "dns" and e["dns"]["rrname"] == "www.alone.test":
                return e
        return None

    e = harness.wait_until(event, 10, what="the event on stdout")
    assert e["sinkhole"]["answer"] == addr
    st.proc.signal(signal.SIGTERM)
    assert st.proc.wait(15) == 0
