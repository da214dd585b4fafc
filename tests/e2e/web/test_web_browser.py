"""The page in a real browser (Debian's chromium, headless, playwright-core):
sign in, the overview counts what the test sent, the infected host's chain,
and hostile values shown as text with no dialog and no console error."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import webenv

ROOT = Path(__file__).resolve().parents[3]
PW = ROOT / "web" / "node_modules" / "playwright-core"


def test_page_in_chromium(web):
    if not Path("/usr/bin/chromium").exists() or shutil.which("node") is None:
        pytest.skip("chromium and nodejs are needed (scripts/deps.sh test)")
    if not PW.is_dir():
        pytest.skip("playwright-core is missing: run `npm ci` in web/")
    env = dict(os.environ, PLAYWRIGHT_CORE=str(PW), PLAYWRIGHT_BROWSERS_PATH="0")
    r = subprocess.run(
        ["node", str(Path(__file__).with_name("browser.mjs")), web["base"], webenv.USER,
         webenv.PASSWORD, str(web["dns"]), str(web["trap"]), "127.0.0.1",
         webenv.HOSTILE, "<script>alert(3)</script>", "javascript:alert(4)"],
        capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
