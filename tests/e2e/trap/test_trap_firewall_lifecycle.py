"""`sinktrap firewall --apply/--remove` as the unit runs them (ExecStartPre, ExecStopPost),
whatever became of the configuration in between: --remove takes away what was applied
(the pool routes read back from the kernel, not computed from the configuration of now)
even with a list file gone, and --apply with the trap disabled removes and succeeds.

Each test runs in a network namespace of its own, made and deleted here."""

import os
import subprocess

import pytest

import trapenv

POOL_A, POOL_B = "10.66.0.0/16", "10.77.0.0/16"
POOL6_A, POOL6_B = "fd66::/64", "fd77::/64"


@pytest.fixture
def fw(tmp_path):
    name = f"stfw-{os.getpid()}"
    trapenv.run(["ip", "netns", "del", name])
    trapenv.run(["ip", "netns", "add", name], check=True)
    try:
        trapenv.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield Fw(name, tmp_path)
    finally:
        trapenv.run(["ip", "netns", "exec", name, "nft", "delete", "table", "inet",
                     "sinktrap"])
        trapenv.run(["ip", "netns", "del", name])


class Fw:
    def __init__(self, ns, d):
        self.ns = ns
        self.dir = d
        self.conf = d / "fw.conf"
        self.blocklist = d / "block.hosts"
        self.blocklist.write_text("0.0.0.0 evil.example\n")

    def write(self, pool=POOL_A, pool6=POOL6_A, trap=True):
        self.conf.write_text(
            f"[sinktrap]\nstate_dir = {self.dir / 'state'}\n"
            "[dns]\nlisten = 10.0.0.2:53\nupstream = 127.0.0.1:5399\n"
            f"blocklist = {self.blocklist}\n"
            f"sinkhole_ipv4 = {pool}\nsinkhole_ipv6 = {pool6}\n"
            f"[trap]\nenabled = {'yes' if trap else 'no'}\nlisten = 10.0.0.2\n"
            "redirect_port = 10000\ntproxy_port = 10001\n")

    def sinktrap(self, *args):
        return subprocess.run(["ip", "netns", "exec", self.ns, os.environ["SINKTRAP_BIN"],
                               "firewall", "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=60)

    def ip(self, *args):
        return trapenv.run(["ip", "netns", "exec", self.ns, "ip", *args], check=True).stdout

    def tables(self):
        return trapenv.run(["ip", "netns", "exec", self.ns, "nft", "list", "tables"],
                           check=True).stdout

    def local_routes(self):
        return self.ip("-4", "route", "show", "table", "local") + \
            self.ip("-6", "route", "show", "table", "local")

    def assert_applied(self, pool, pool6):
        assert "table inet sinktrap" in self.tables()
        routes = self.local_routes()
        assert f"local {pool} dev lo" in routes, routes
        assert f"local {pool6} dev lo" in routes, routes
        for fam in ("-4", "-6"):
            assert "fwmark 0x5354 lookup 5354" in self.ip(fam, "rule", "list")

    def assert_nothing(self):
        assert "sinktrap" not in self.tables()
        routes = self.local_routes()
        for p in (POOL_A, POOL_B, POOL6_A, POOL6_B):
            assert f"local {p} " not in routes, routes
        for fam in ("-4", "-6"):
            assert "0x5354" not in self.ip(fam, "rule", "list")
            r = trapenv.run(["ip", "netns", "exec", self.ns, "ip", fam, "route", "show",
                             "table", "5354"])
            assert r.stdout.strip() == "", r.stdout

    def apply(self):
        r = self.sinktrap("--apply")
        assert r.returncode == 0, r.stdout + r.stderr
        return r


def test_remove_takes_the_routes_that_were_applied_not_the_configured_ones(fw):
    """The pool changed in the configuration after --apply: --remove still removes
    the route of the pool that was applied (no `local 10.66.0.0/16 dev lo` left)."""
    fw.write(pool=POOL_A, pool6=POOL6_A)
    fw.apply()
    fw.assert_applied(POOL_A, POOL6_A)
    fw.write(pool=POOL_B, pool6=POOL6_B)
    r = fw.sinktrap("--remove")
    assert r.returncode == 0, r.stdout + r.stderr
    fw.assert_nothing()
    # removing twice is fine
    r = fw.sinktrap("--remove")
    assert r.returncode == 0, r.stdout + r.stderr
    fw.assert_nothing()


def test_apply_again_with_another_pool_leaves_no_old_route(fw):
    fw.write(pool=POOL_A, pool6=POOL6_A)
    fw.apply()
    fw.write(pool=POOL_B, pool6=POOL6_B)
    fw.apply()
    fw.assert_applied(POOL_B, POOL6_B)
    routes = fw.local_routes()
    assert f"local {POOL_A} " not in routes and f"local {POOL6_A} " not in routes, routes
    for fam in ("-4", "-6"):
        assert fw.ip(fam, "rule", "list").count("fwmark 0x5354 lookup 5354") == 1


def test_remove_with_an_invalid_configuration_still_removes(fw):
    """ExecStopPost after a list file went away (or any error in the file): the
    ruleset and routes are removed all the same, and the command succeeds."""
    fw.write()
    fw.apply()
    fw.blocklist.unlink()
    assert fw.sinktrap().returncode != 0  # the configuration is invalid now
    r = fw.sinktrap("--remove")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removing the ruleset and routes anyway" in r.stderr, r.stderr
    fw.assert_nothing()
    # not even a configuration file
    fw.blocklist.write_text("0.0.0.0 evil.example\n")
    fw.write()
    fw.apply()
    fw.conf.unlink()
    r = fw.sinktrap("--remove")
    assert r.returncode == 0, r.stdout + r.stderr
    fw.assert_nothing()


def test_trap_disabled_apply_removes_and_succeeds(fw):
    """[trap] enabled = no: the unit's ExecStartPre (--apply) succeeds, so the
    service starts, and the ruleset applied while the trap was on is gone."""
    fw.write(trap=True)
    fw.apply()
    fw.assert_applied(POOL_A, POOL6_A)
    fw.write(trap=False)
    r = fw.sinktrap("--apply")
    assert r.returncode == 0, r.stdout + r.stderr
    fw.assert_nothing()
    r = fw.sinktrap()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[trap] is not enabled" in r.stdout
    r = fw.sinktrap("--remove")
    assert r.returncode == 0, r.stdout + r.stderr
    fw.assert_nothing()


def test_trap_disabled_remove_leaves_a_pool_routed_by_hand(fw):
    """With the trap off, the DNS pool may be routed by the administrator: the
    unit's ExecStopPost (--remove) takes only what sinktrap marked."""
    fw.write(trap=False)
    fw.ip("-4", "route", "add", "local", POOL_A, "dev", "lo", "table", "local")
    r = fw.sinktrap("--remove")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"local {POOL_A} dev lo" in fw.local_routes()
