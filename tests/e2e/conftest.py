"""Shared fixtures of the end-to-end tests.

`res` (per test) and `mres` (per module) hand out started dnsmasq upstreams
and sinktrap instances in a private work directory, and stop every process
they started when the test (module) ends, whatever its outcome.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

import harness  # noqa: E402


def pytest_report_header(config):
    return [f"sinktrap binary: {harness.sinktrap_bin()}",
            f"shared data: {harness.shared_dir()}"]


@pytest.fixture(scope="session", autouse=True)
def _prerequisites():
    b = harness.sinktrap_bin()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.exit(f"sinktrap binary not found at {b} (build it, or set SINKTRAP_BIN)",
                    returncode=1)
    for tool in ("dnsmasq", "dig", "pgrep"):
        if shutil.which(tool) is None:
            pytest.exit(f"{tool} is missing (scripts/deps.sh test installs it)", returncode=1)
    if os.environ.get("SINKTRAP_SANITIZED"):
        # A sanitizer finding ends the process with an exit status no test
        # expects, so that a finding in a command (`sinktrap pcap`, `check`...)
        # fails its test even where only the status is looked at; the daemons'
        # findings are caught in their logs as well.
        for var, opts in (("ASAN_OPTIONS", f"exitcode={harness.SANITIZER_EXIT}"),
                          ("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:"
                                            f"exitcode={harness.SANITIZER_EXIT}")):
            os.environ[var] = ":".join(filter(None, (os.environ.get(var), opts)))
    # The whole run uses one copy of the binary, so a rebuild in the tree while
    # the tests run cannot swap it (or make it briefly unexecutable) under them.
    snap = harness.make_workdir("sinktrap-e2e-bin-")
    shutil.copy2(b, snap / "sinktrap")
    saved = os.environ.get("SINKTRAP_BIN")
    os.environ["SINKTRAP_BIN"] = str(snap / "sinktrap")
    yield
    if saved is None:
        del os.environ["SINKTRAP_BIN"]
    else:
        os.environ["SINKTRAP_BIN"] = saved
    shutil.rmtree(snap, ignore_errors=True)


class Resources:
    def __init__(self):
        self.dir = harness.make_workdir()
        self.objs = []

    def dnsmasq(self, lines=(), start=True, **kw):
        d = harness.Dnsmasq(self.dir, lines, name=f"dnsmasq{len(self.objs)}", **kw)
        self.objs.append(d)
        return d.start() if start else d

    def sinktrap(self, conf=None, start=True, upstream=None, **kw):
        """A sinktrap; upstream (a Dnsmasq) sets [dns] upstream unless conf does."""
        conf = {k: dict(v) for k, v in (conf or {}).items()}
        if upstream is not None:
            conf.setdefault("dns", {}).setdefault("upstream", f"127.0.0.1:{upstream.port}")
        s = harness.Sinktrap(self.dir, conf, name=f"sinktrap{len(self.objs)}", **kw)
        self.objs.append(s)
        return s.start() if start else s

    def path(self, name):
        return self.dir / name

    def close(self):
        for o in reversed(self.objs):
            o.close()
        reports = [(o.name, r) for o in self.objs if isinstance(o, harness.Sinktrap)
                   for r in o.sanitizer_reports()]
        if os.environ.get("SINKTRAP_E2E_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return reports


def _finish(r):
    reports = r.close()
    assert not reports, "sanitizer reports in the sinktrap log:\n" + "\n".join(
        f"{name}: {line}" for name, line in reports)


@pytest.fixture
def res():
    r = Resources()
    yield r
    _finish(r)


@pytest.fixture(scope="module")
def mres():
    r = Resources()
    yield r
    _finish(r)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the logs of every sinktrap and dnsmasq still running."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        for o in list(harness.LIVE):
            text = o.log()
            if len(text) > 6000:
                text = "...\n" + text[-6000:]
            rep.sections.append((f"{o.__class__.__name__} log ({getattr(o, 'name', '')})",
                                 text))
