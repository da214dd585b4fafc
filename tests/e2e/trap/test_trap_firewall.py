"""`sinktrap firewall`: the catch-all ruleset, idempotent apply, clean removal,
and the containment that keeps the trap host from reaching anything."""

import re
import socket

import pytest

import harness
import trapenv
from trapenv import OUTSIDE_IP, TRAP_IP, TRAP_IP6


@pytest.fixture(scope="module")
def outside_http(env):
    """A web server in the outside namespace: what a trapped payload would call home to."""
    p = harness.Proc(["ip", "netns", "exec", env.topo.outside, "/usr/bin/python3", "-m",
                      "http.server", "8000", "--bind", OUTSIDE_IP, "--directory", str(env.dir)],
                     env.dir / "outside-http.log")
    try:
        def up():
            with env.topo.ns("outside"):
                try:
                    socket.create_connection((OUTSIDE_IP, 8000), timeout=0.5).close()
                    return True
                except OSError:
                    return False

        harness.wait_until(up, 10, what="the outside web server")
        yield p
    finally:
        p.kill_all()


def nft_tables(env):
    return env.in_trap(["nft", "list", "tables"], check=True).stdout


def drop_counter(env):
    out = env.in_trap(["nft", "list", "chain", "inet", "sinktrap", "contain"], check=True).stdout
    m = re.search(r"counter packets (\d+) bytes \d+ comment \"dropped", out)
    assert m, out
    return int(m.group(1))


def curl_outside_from_trap(env):
    return env.in_trap(["curl", "-sS", "--max-time", "2", "-o", "/dev/null", "-w",
                        "%{http_code}", f"http://{OUTSIDE_IP}:8000/"], timeout=20)


def test_ruleset_printed(env):
    r = env.st.firewall()
    out = r.stdout
    assert "table inet sinktrap {" in out
    assert re.search(r"set trap4 \{[^}]*elements = \{ 10\.99\.0\.2 \}", out), out
    assert re.search(r"set pool4 \{[^}]*elements = \{ 10\.66\.0\.0/16 \}", out), out
    assert re.search(r"set pool6 \{[^}]*elements = \{ fd66::/64 \}", out), out
    assert re.search(r"set excluded \{[^}]*elements = \{ 53 \}", out), out
    # the pools are caught on every port; exclusions apply to the listen addresses
    rport = f"{trapenv.REDIRECT_PORT}-{trapenv.REDIRECT_PORT + 15}"
    assert f"ip daddr @pool4 meta l4proto tcp redirect to :{rport}" in out, out
    assert f"ip daddr @trap4 tcp dport != @excluded redirect to :{rport}" in out, out
    # the host's own connections: to the pools only, never to its listen addresses
    local = re.search(r"chain divert_tcp_local \{[^}]*\}", out)
    assert local and "type nat hook output priority -100" in local.group(0), out
    assert f"ip daddr @pool4 meta l4proto tcp redirect to :{rport}" in local.group(0)
    assert f"ip6 daddr @pool6 meta l4proto tcp redirect to :{rport}" in local.group(0)
    assert "@trap4" not in local.group(0) and "@trap6" not in local.group(0)
    assert "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert" in out, out
    assert f"tproxy ip to :{trapenv.TPROXY_PORT}" in out
    assert f"tproxy ip6 to :{trapenv.TPROXY_PORT}" in out
    assert re.search(r"chain contain \{\s*type filter hook output priority filter; policy drop;",
                     out)
    assert 'ip daddr 127.0.0.1 udp dport 5399 accept comment "dns upstream"' in out
    assert "ip -4 route replace local 10.66.0.0/16 dev lo" in out
    assert "ip -6 route replace local fd66::/64 dev lo" in out


def test_apply_twice_is_idempotent(env):
    before = env.in_trap(["nft", "list", "table", "inet", "sinktrap"], check=True).stdout
    env.st.firewall("--apply")
    env.st.firewall("--apply")
    assert nft_tables(env).count("table inet sinktrap") == 1
    after = env.in_trap(["nft", "list", "table", "inet", "sinktrap"], check=True).stdout
    for chain in ("divert_tcp", "divert_udp", "contain"):
        assert after.count(f"chain {chain} {{") == 1
    strip = lambda t: re.sub(r"counter packets \d+ bytes \d+", "counter", t)  # noqa: E731
    assert strip(after) == strip(before)
    for fam in ("-4", "-6"):
        rules = env.in_trap(["ip", fam, "rule", "list"], check=True).stdout
        assert rules.count("fwmark 0x5354 lookup 5354") == 1, rules
        routes = env.in_trap(["ip", fam, "route", "show", "table", "5354"], check=True).stdout
        assert len(routes.strip().splitlines()) == 1, routes
    env.assert_serving()


def test_containment_blocks_outbound_until_removed(env, outside_http):
    """From the trap host nothing new goes out; the rule is what stops it."""
    try:
        dropped = drop_counter(env)
        r = curl_outside_from_trap(env)
        assert r.returncode != 0 and r.stdout != "200", "the trap host reached the outside"
        assert drop_counter(env) > dropped, "not dropped by the contain chain"
        # Client -> trap still works under containment (replies are let out).
        env.assert_serving("contained.evil.example")
        # DNS answers from upstream still work (forwarded name).
        r = env.client(["dig", "+short", f"@{TRAP_IP}", "benign.example"], check=True)
        assert r.stdout.split() == [OUTSIDE_IP]

        env.st.firewall("--remove")
        assert "sinktrap" not in nft_tables(env)
        r = curl_outside_from_trap(env)
        assert r.stdout == "200", f"still blocked after --remove: {r.stderr}"
        for fam in ("-4", "-6"):
            assert "0x5354" not in env.in_trap(["ip", fam, "rule", "list"]).stdout
            assert env.in_trap(["ip", fam, "route", "show", "table", "5354"]).stdout.strip() == ""
        assert "10.66.0.0/16" not in env.in_trap(["ip", "route", "show", "table", "local"]).stdout
    finally:
        env.st.firewall("--apply")
    r = curl_outside_from_trap(env)
    assert r.stdout != "200"
    env.assert_serving("reapplied.evil.example")


def test_ipv6_neighbour_discovery_survives_containment(env):
    """IPv6 to the sinkhole's own DNS listener, with cold neighbour caches."""
    env.in_trap(["ip", "-6", "neigh", "flush", "all"])
    env.client(["ip", "-6", "neigh", "flush", "all"])
    r = env.client(["dig", "+time=2", "+tries=2", f"@{TRAP_IP6}", "evil.example", "AAAA",
                    "+short"], timeout=20)
    assert r.returncode == 0 and r.stdout.strip().startswith("fd66::"), (
        f"DNS over IPv6 to [{TRAP_IP6}]:53 failed under the contain chain: {r.stdout}")


def test_containment_lets_the_configured_sinks_out(tmp_path):
    """The event sinks and the database are reachable; nothing else is added."""
    import os
    import subprocess
    conf = tmp_path / "fw.conf"
    conf.write_text(
        "[dns]\nlisten = 10.0.0.2:53\nupstream = 127.0.0.1:5399\nsinkhole_ipv4 = 10.66.0.0/16\n"
        "[trap]\nenabled = yes\nredirect_port = 10000\n"
        "[events]\nsyslog = tcp://127.0.0.1:6514 format=cef\nsyslog = udp://[::1]:514\n"
        "syslog = local\ndatabase = postgresql://sinktrap@127.0.0.2:5433/events\n")
    out = subprocess.run([os.environ["SINKTRAP_BIN"], "firewall", "-c", str(conf)],
                         capture_output=True, text=True, check=True).stdout
    contain = out[out.index("chain contain"):]
    assert 'ip daddr 127.0.0.1 tcp dport 6514 accept comment "event sink"' in contain
    assert 'ip6 daddr ::1 udp dport 514 accept comment "event sink"' in contain
    assert 'ip daddr 127.0.0.2 tcp dport 5433 accept comment "database"' in contain
    # the local syslog socket needs no rule; the upstream is there as before
    assert contain.count('comment "event sink"') == 2
    assert 'ip daddr 127.0.0.1 udp dport 5399 accept comment "dns upstream"' in contain
