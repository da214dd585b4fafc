"""Fixtures of the web suite: one sinktrap (DNS, trap, web on loopback) per module,
with traffic already sent: sinkholed queries and trap connections, some hostile."""

import time

import pytest

import webenv

QUERIES = 3
CONNECTIONS = 4


@pytest.fixture(scope="module")
def web(mres):
    st, base, trap_port = webenv.start(mres)
    for _ in range(QUERIES):
        st.query(webenv.DOMAIN)
    webenv.http_to_trap(trap_port, path=webenv.HOSTILE_PATH, ua=webenv.HOSTILE)
    webenv.http_to_trap(trap_port, path="/javascript:alert(4)", ua="javascript:alert(5)")
    webenv.http_to_trap(trap_port, path="/upload", body=webenv.PAYLOAD)
    webenv.http_to_trap(trap_port, path=webenv.BIDI_PATH)
    dns_n, trap_n = webenv.wait_counts(st, QUERIES, CONNECTIONS)
    time.sleep(0.2)
    return {"st": st, "base": base, "trap_port": trap_port, "dns": dns_n, "trap": trap_n}
