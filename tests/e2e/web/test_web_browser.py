"""The page in a real browser (Debian's chromium, headless, playwright-core):
sign in, the overview counts what the test sent, the infected host's chain,
and hostile values shown as text with no dialog and no console error."""

import webenv


def test_page_in_chromium(web):
    r = webenv.run_browser("browser.mjs", web["base"], webenv.USER, webenv.PASSWORD, web["dns"],
                           web["trap"], "127.0.0.1", webenv.HOSTILE,
                           "<script>alert(3)</script>", "javascript:alert(4)",
                           webenv.BIDI_SHOWN)
    assert r.returncode == 0, r.stdout + r.stderr
