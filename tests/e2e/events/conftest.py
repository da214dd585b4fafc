"""Fixtures of the event delivery tests (the helpers are in evlib.py)."""

import shutil

import pytest

import harness
from evlib import Certs, Postgres


@pytest.fixture(scope="module")
def certs():
    d = harness.make_workdir("sinktrap-certs-")
    c = Certs(d)
    yield c
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(mres):
    p = Postgres(mres.dir)
    mres.objs.append(p)
    return p.start()

