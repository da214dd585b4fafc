"""Fixtures of the capture suite: the shared captures ingested once per module."""

import shutil

import pytest

import caplib


@pytest.fixture(scope="session", autouse=True)
def _capture_tools():
    missing = [t for t in ("tshark", "tcpdump", "capinfos") if shutil.which(t) is None]
    if missing:
        pytest.exit(f"{', '.join(missing)} missing (scripts/deps.sh test installs them)",
                    returncode=1)


@pytest.fixture(scope="module")
def ingested(mres):
    """{capture name: a Sinktrap (not running) whose spool and store hold it alone},
    with flow timeouts long enough that no session of these captures is split."""
    out = {}
    for name in caplib.CAPTURES:
        path = caplib.PCAPS / name
        if not path.exists():
            continue
        st = mres.sinktrap(caplib.capture_conf(timeouts=caplib.LONG), start=False)
        caplib.ingest(st, path)
        out[name] = st
    if not out:
        pytest.skip("no shared captures")
    return out
