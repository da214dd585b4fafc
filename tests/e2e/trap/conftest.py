"""Fixtures of the trap suite: a three-namespace topology and a sinktrap in it.

    client (10.99.0.1, fd99::1) ──veth── trap (10.99.0.2, fd99::2 | 10.98.0.1) ──veth── outside (10.98.0.2)

The client routes the sinkhole pools (10.66.0.0/16, fd66::/64) to the trap.
In `trap` run a dnsmasq upstream on 127.0.0.1:5399 (answers from its own
config only), `sinktrap run` (DNS on 10.99.0.2:53, the catch-all trap) and
`sinktrap firewall --apply`. Every address used lives inside namespaces the
fixture creates; the finalizers stop every process, remove the ruleset and
delete the namespaces (and with them the veths), whatever the outcome.

Each test module gets its own topology and trap; a module may set
TRAP_CONF = {section: {key: value}} to change the configuration.
"""

import os
import shutil

import pytest

import trapenv


@pytest.fixture(scope="session", autouse=True)
def _trap_prerequisites():
    if os.geteuid() != 0:
        pytest.fail("the trap suite needs root (network namespaces, nftables)")
    missing = [t for t in trapenv.TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools: {' '.join(missing)} (scripts/deps.sh test installs them)")
    trapenv.remove_stale_namespaces()


@pytest.fixture(scope="module")
def env(request):
    e = trapenv.TrapEnv(getattr(request.module, "TRAP_CONF", None))
    try:
        e.up()
    except BaseException:
        e.down()
        raise
    yield e
    reports = e.down()
    assert not reports, "sanitizer reports in the sinktrap log:\n" + "\n".join(reports)
