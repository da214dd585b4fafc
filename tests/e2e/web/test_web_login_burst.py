"""Sign-in attempts made together from one address: no more of them reach the
password check than the limit allows (5 a minute), however many come at once."""

from concurrent.futures import ThreadPoolExecutor

import webenv

BURST = 5


def test_parallel_wrong_passwords_are_limited(web):
    def attempt(_):
        return webenv.Client(web["base"]).login(password="nope")[0]

    with ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(attempt, range(16)))
    assert sorted(set(codes)) == [401, 429], codes
    assert codes.count(401) == BURST, codes
    # The right password waits for the minute like the rest.
    assert webenv.Client(web["base"]).login()[0] == 429
