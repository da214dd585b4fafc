"""Guessing API tokens: wrong tokens count as failed sign-ins of their address,
so after 5 in a minute the address is refused (429), a right token too, while
other addresses and a script using its right token many times at once are not."""

import http.client
import time
from concurrent.futures import ThreadPoolExecutor

import harness
import pytest

import webenv

BURST = 5


@pytest.fixture(scope="module")
def web(mres):
    st, base, _ = webenv.start(mres)
    return {"st": st, "port": int(base.rsplit(":", 1)[1])}


def call(web, token, source):
    """GET /api/stats with a Bearer token from the loopback address source. A
    connection the server turns away at its connection limit (threads of closed
    connections not yet gone) is made again: that limit is not what is tested."""
    for _ in range(100):
        c = http.client.HTTPConnection("127.0.0.1", web["port"], timeout=30,
                                       source_address=(source, 0))
        try:
            c.request("GET", "/api/stats", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            return r.status
        except (ConnectionResetError, http.client.RemoteDisconnected):
            time.sleep(0.05)
        finally:
            c.close()
    raise AssertionError("the web worker kept refusing connections from %s" % source)


def test_right_token_many_at_once_is_never_refused(web):
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda _: call(web, webenv.TOKEN, "127.0.0.3"), range(48)))
    assert set(codes) == {200}, codes


def test_wrong_tokens_are_limited_per_address(web):
    codes = [call(web, "guess-%d" % i, "127.0.0.2") for i in range(BURST + 3)]
    assert codes == [401] * BURST + [429] * 3, codes
    # The right token waits for the minute like the rest, from that address...
    assert call(web, webenv.TOKEN, "127.0.0.2") == 429
    # ...and only from that one.
    assert call(web, webenv.TOKEN, "127.0.0.4") == 200
    harness.wait_until(lambda: "invalid API token from 127.0.0.2" in web["st"].log(),
                     what="the failed tokens logged")


def test_guessing_from_many_addresses_does_not_reset_a_limit(web):
    """The limiter keeps 256 addresses; guesses from more addresses than that, in
    turn, neither wipe out a limited address's count nor pass unlimited: past the
    table, new addresses share one count."""
    for i in range(BURST):
        assert call(web, "guess-%d" % i, "127.0.0.5") == 401
    assert call(web, "guess", "127.0.0.5") == 429
    codes = [call(web, "guess", "127.1.%d.%d" % (i // 200, 1 + i % 200)) for i in range(300)]
    assert codes.count(401) < 256 + BURST, codes
    assert codes[-20:] == [429] * 20, codes
    assert call(web, webenv.TOKEN, "127.0.0.5") == 429
    assert "the limit; its tokens are refused for a minute" in web["st"].log()
